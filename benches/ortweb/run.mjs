// onnxruntime-web vs clipsearch's wasm, the same random-weight ViT-B/32, same headless Chromium
// run, one thread each (issue #3). Results: benches/RESULTS-ortweb.md.
//
// Setup (once; paths are examples):
//   cd benches/ortweb && npm ci                      # onnxruntime-web + playwright-core, pinned
//   clipsearch random-model --preset vit-b-32 -o /tmp/ortweb/vitb32 --seed 1
//   clipsearch convert /tmp/ortweb/vitb32 -o /tmp/ortweb/models/vitb32-q8_0.gguf --quant q8_0 --tower vision
//   PYTHONPATH=/work/benchvenv-ort/lib/python3.11/site-packages \
//     /work/refvenv/bin/python benches/ort_vision.py export /tmp/ortweb/vitb32 /tmp/ortweb/onnx
//   /work/benchvenv-ort/bin/python benches/ortweb/quantize.py /tmp/ortweb/onnx   # web_{f32,int8,uint8}.onnx
//   ln -s /tmp/ortweb/onnx/web_*.onnx /tmp/ortweb/models/
//   make www                                         # www/dist + www/pkg (both wasm modules)
// Run (from the repo root):
//   node benches/ortweb/run.mjs --models /tmp/ortweb/models [--gguf vitb32-q8_0.gguf]
//       [--engines ort-f32,ort-int8,cs-relaxed,cs-simd128] [--rounds 3] [--runs 7] [--warmup 2]
//       [--eager-tierup] [--out results.json]
//
// Each engine gets its own tab (ours: one realm can load only one of the two wasm modules), set up
// once with `--warmup` untimed runs; then, in each of `--rounds` rounds, the engines take turns
// (brought to front) doing `--runs` timed single-image runs. Prints one JSON line per run, then
// per-round and overall medians, cosines of each engine's embedding against ort-f32's, and the
// load average before/after. www/dist and www/pkg are copied to a snapshot dir at start, so a
// rebuild during the run does not mix builds. Static server on 127.0.0.1, no COOP/COEP.
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { cpSync, createReadStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const models = resolve(arg("models", "/tmp/ortweb/models"));
const gguf = arg("gguf", "vitb32-q8_0.gguf");
const engines = arg("engines", "ort-f32,ort-int8,cs-relaxed,cs-simd128").split(",");
const rounds = Number(arg("rounds", 3));
const runs = Number(arg("runs", 7));
const warmup = Number(arg("warmup", 2));
const out = arg("out", null);
// --eager-tierup: V8 compiles all wasm with TurboFan up front (no Liftoff baseline, no dynamic
// tier-up), so a function that stays on baseline code for a while cannot skew a round.
const eager = process.argv.includes("--eager-tierup");

// Snapshot of the package build.
const snap = mkdtempSync(join(tmpdir(), "ortweb-cs-"));
cpSync(join(repo, "www/dist"), join(snap, "dist"), { recursive: true });
cpSync(join(repo, "www/pkg"), join(snap, "pkg"), { recursive: true });
const wasmBuilds = Object.fromEntries(
  readdirSync(join(snap, "pkg"))
    .filter((f) => f.endsWith(".wasm"))
    .map((f) => {
      const p = join(snap, "pkg", f);
      return [f, { sha256: createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16), mtime: statSync(join(repo, "www/pkg", f)).mtime.toISOString() }];
    }),
);

const roots = [
  ["/ort/", join(here, "node_modules/onnxruntime-web/dist")],
  ["/cs/", snap],
  ["/models/", models],
  ["/", here],
];
const types = { ".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm" };
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  for (const [prefix, dir] of roots) {
    if (!path.startsWith(prefix)) continue;
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir)) break;
    try {
      const st = statSync(file);
      if (!st.isFile()) break;
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "content-length": st.size, "cache-control": "no-store" });
      createReadStream(file).pipe(res);
      return;
    } catch {
      break;
    }
  }
  res.writeHead(404).end();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r1 = (x) => Math.round(x * 10) / 10;
const log = (o) => console.log(JSON.stringify(o));

const load0 = loadavg();
log({ event: "start", date: new Date().toISOString(), loadavg: load0.map(r1), engines, rounds, runs, warmup, eager, wasmBuilds });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync",
    // several tabs: keep the ones not in front at full speed (only one ever computes at a time)
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
    ...(eager ? ["--js-flags=--no-wasm-dynamic-tiering"] : []),
  ],
});
const results = { engines: {}, runs: [], load: { before: load0 }, wasmBuilds };
try {
  const ctx = await browser.newContext();
  const pages = {};
  for (const e of engines) {
    const page = await ctx.newPage();
    page.on("console", (m) => (m.type() === "error" || m.type() === "warning") && log({ engine: e, console: m.text().slice(0, 300) }));
    page.on("pageerror", (err) => log({ engine: e, pageerror: String(err).slice(0, 300) }));
    await page.goto(`${base}/page.html?engine=${e}&gguf=${encodeURIComponent(gguf)}`);
    const info = await page.evaluate(() => window.bench.setup());
    await page.evaluate((n) => window.bench.runs(n), warmup);
    log({ event: "setup", ...info });
    results.engines[e] = { info };
    pages[e] = page;
  }
  // Same-model check: cosine of each engine's embedding of the test image against ort-f32's.
  const embs = {};
  for (const e of engines) embs[e] = await pages[e].evaluate(() => window.bench.embedding());
  if (embs["ort-f32"]) {
    for (const e of engines) {
      const cos = embs[e].reduce((s, v, i) => s + v * embs["ort-f32"][i], 0);
      results.engines[e].cosineVsOrtF32 = cos;
      log({ event: "cosine", engine: e, vs: "ort-f32", cosine: Number(cos.toFixed(6)) });
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const e of engines) {
      await pages[e].bringToFront();
      const rs = await pages[e].evaluate((n) => window.bench.runs(n), runs);
      rs.forEach((t, run) => {
        const row = { round, engine: e, run, ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, r1(v)])) };
        results.runs.push(row);
        log(row);
      });
    }
  }
  const load1 = loadavg();
  results.load.after = load1;
  // Summary: per-round medians and the overall median of all timed runs.
  const ref = engines.includes("ort-int8") ? "ort-int8" : engines[0];
  const overall = {};
  for (const e of engines) {
    const mine = results.runs.filter((r) => r.engine === e);
    const perRound = Array.from({ length: rounds }, (_, k) => median(mine.filter((r) => r.round === k).map((r) => r.ms)));
    const s = { perRound, median: median(mine.map((r) => r.ms)) };
    if (mine[0].pre_ms !== undefined) s.preMedian = median(mine.map((r) => r.pre_ms));
    if (mine[0].rgba_ms !== undefined) {
      s.rgbaMedian = median(mine.map((r) => r.rgba_ms));
      s.decodeMedian = median(mine.map((r) => r.ms - r.rgba_ms));
    }
    overall[e] = s;
  }
  for (const e of engines) {
    overall[e].ratioToRef = overall[e].median / overall[ref].median;
    log({ event: "median", engine: e, ...overall[e], ref, fileBytes: results.engines[e].info.fileBytes });
  }
  results.overall = overall;
  log({ event: "end", date: new Date().toISOString(), loadavg: load1.map(r1) });
  if (out) writeFileSync(out, JSON.stringify(results, null, 1));
} finally {
  await browser.close();
  server.close();
  rmSync(snap, { recursive: true, force: true });
}
