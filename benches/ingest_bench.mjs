// Ingest benchmarks in headless Chromium (see benches/RESULTS-ingest.md for figures):
//  1. images/s from presigned URLs on the loopback S3 server (JuiceFS gateway) into a Collection,
//     embedImages in a module worker at concurrency 6, with the model given by --model;
//  2. decode (+ preprocess) of a 12-MP JPEG through createImageBitmap vs the image crate.
//
//   make www && bash scripts/setup.sh
//   target/debug/clipsearch random-model -o target/bench/vitb32 --seed 1
//   target/debug/clipsearch convert target/bench/vitb32 -o target/bench/vitb32-vision-q8.gguf --tower vision
//   node benches/ingest_bench.mjs --model target/bench/vitb32-vision-q8.gguf [--n 48] [--runs 3]
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { launch, ROOT } from "../tests/e2e/helpers.mjs";
import { startS3 } from "../tests/e2e/s3server.mjs";
import { serve } from "../scripts/serve.mjs";

const { values: a } = parseArgs({
  options: {
    model: { type: "string", default: "models/tiny-clip.gguf" },
    pkg: { type: "string", default: "/www/pkg" },
    n: { type: "string", default: "48" },
    runs: { type: "string", default: "3" },
    decodeRuns: { type: "string", default: "5" },
  },
});
const n = Number(a.n);
const runs = Number(a.runs);
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const site = await serve(ROOT, 0);
const s3 = await startS3({ allowOrigin: site.url });
const browser = await launch();
try {
  await s3.createBucket("bench");
  const dir = join(ROOT, "tests/fixtures/textimg/images");
  const files = readdirSync(dir).filter((f) => /^(exif_\d|rgb).*\.(jpg|png)$/.test(f) && !f.includes("expected"));
  const keys = [];
  for (let i = 0; i < n; i++) {
    const f = files[i % files.length];
    keys.push(`img/${i}-${f}`);
    await s3.put("bench", keys[i], readFileSync(join(dir, f)));
  }
  const page = await browser.context.newPage();
  const q = new URLSearchParams({ pkg: a.pkg, model: "/" + a.model.replace(/^\//, "") });
  await page.goto(`${site.url}/tests/e2e/pages/ingest.html?${q}`);
  await page.waitForSelector("body[data-ready='1']", { state: "attached", timeout: 600_000 });

  const rates = [];
  for (let r = 0; r < runs; r++) {
    const items = keys.map((k) => ({ url: s3.presign("GET", "bench", k) }));
    const out = await page.evaluate((spec) => window.inWorker(spec), { items, options: { concurrency: 6 } });
    if (out.result.failed.length) throw new Error(JSON.stringify(out.result.failed.slice(0, 3)));
    rates.push((n * 1000) / out.elapsedMs);
    console.log(`run ${r + 1}: ${n} images in ${out.elapsedMs.toFixed(0)} ms = ${rates.at(-1).toFixed(2)} images/s`);
  }
  console.log(`ingest ${a.model}: median ${median(rates).toFixed(2)} images/s over ${runs} runs of ${n} URLs`);

  const d = await page.evaluate(
    ([runs]) => window.callWorker("benchDecode", 4000, 3000, runs),
    [Number(a.decodeRuns)],
  );
  console.log(`12-MP JPEG (4000x3000, ${d.jpegBytes} bytes), worker, median of ${d.browser.runs}:`);
  for (const k of ["browser", "image"]) {
    console.log(`  ${k}: decode ${d[k].decodeMs.toFixed(0)} ms, decode+preprocess ${d[k].decodePreprocessMs.toFixed(0)} ms`);
  }
  await page.close();
} finally {
  await browser.close();
  await s3.close();
  await site.close();
}
