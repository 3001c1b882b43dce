// The demo page stays responsive while it indexes: main-thread frame gaps and keyboard input
// delay while N images are added through the file input (embedding runs in the package's
// workers). A benchmark, not a test: figures go to benches/RESULTS-demo.md.
//
//   make www && node benches/demo_responsiveness.mjs [IMAGES=200] [RUNS=3]
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { launch, serveDemo, ROOT } from "../tests/e2e/helpers.mjs";

const N = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 3);
const dir = join(ROOT, "tests/fixtures/model");
const srcs = readdirSync(dir).filter((f) => /\.(png|jpg)$/.test(f)).map((f) => readFileSync(join(dir, f)));
// Distinct names (one item each); contents cycle through the fixture images.
const files = Array.from({ length: N }, (_, i) => ({ name: `img-${String(i).padStart(4, "0")}.png`, mimeType: "image/png", buffer: srcs[i % srcs.length] }));

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const pct = (v, p) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.round((v.length - 1) * p))];

const server = await serveDemo();
const browser = await launch();
const rows = [];
try {
  for (let run = 0; run < RUNS; run++) {
    const page = await browser.context.newPage();
    await page.goto(server.url + "/");
    await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
    await page.click("#clear");
    await page.waitForSelector("body[data-size='0']");
    await page.evaluate(() => {
      // Frame gaps (rAF deltas) and input delay (handler start minus the event's timestamp).
      // Only frames that start after the file input's `change` event count: before it, the
      // renderer is busy receiving the files from the test harness (CDP
      // DOM.setFileInputFiles: ~3 s for 200 files), which is not the page's work.
      const m = (window.__m = { gaps: [], delays: [], last: performance.now(), on: true, changeAt: null, harness: 0 });
      document.getElementById("files").addEventListener("change", () => (m.changeAt ??= performance.now()), { capture: true });
      const tick = (t) => {
        if (m.changeAt === null || m.last < m.changeAt) m.harness = Math.max(m.harness, t - m.last);
        else m.gaps.push(t - m.last);
        m.last = t;
        if (m.on) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      document.getElementById("query").addEventListener("keydown", (e) => m.delays.push(performance.now() - e.timeStamp));
    });
    const t0 = Date.now();
    await page.setInputFiles("#files", files);
    // Type while indexing runs: one key every 100 ms until the images are in.
    await page.focus("#query");
    let typed = 0;
    while ((await page.evaluate(() => document.body.dataset.added)) !== String(N)) {
      await page.keyboard.press(typed % 2 ? "Backspace" : "a");
      typed++;
      await page.waitForTimeout(100);
      if (Date.now() - t0 > 600_000) throw new Error("indexing did not finish in 10 minutes");
    }
    const ms = Date.now() - t0;
    const m = await page.evaluate(() => {
      window.__m.on = false;
      return { gaps: window.__m.gaps, delays: window.__m.delays, harness: window.__m.harness };
    });
    rows.push({
      run,
      ms,
      frames: m.gaps.length,
      gapP50: median(m.gaps),
      gapP99: pct(m.gaps, 0.99),
      gapMax: Math.max(...m.gaps),
      keys: m.delays.length,
      delayP50: median(m.delays),
      delayMax: Math.max(...m.delays),
      harnessStall: m.harness,
    });
    console.log(JSON.stringify(rows.at(-1)));
    await page.close();
  }
  const f = (k) => median(rows.map((r) => r[k])).toFixed(1);
  console.log(
    `MEDIAN of ${RUNS} runs, ${N} images: ${f("ms")} ms to index; frame gap p50 ${f("gapP50")} ms, p99 ${f("gapP99")} ms, max ${f("gapMax")} ms; keydown delay p50 ${f("delayP50")} ms, max ${f("delayMax")} ms (longest frame while the harness sent the files, not counted: ${f("harnessStall")} ms)`,
  );
} finally {
  await browser.close();
  await server.close();
}
