#!/usr/bin/env node
// Multi-worker ingestion through the npm package in headless Chromium: images per second and
// wasm memory per worker for 1, 2 and 4 workers. Uses the consumer app built by the consumer test.
//   make package && node --test tests/npm/consumer.test.mjs   # builds tests/consumer/dist
//   node benches/npm_workers.mjs [MODEL.gguf] [IMAGES=200] [RUNS=3]
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { basename, join, resolve } from "node:path";
import { launch } from "../tests/e2e/helpers.mjs";
import { serve } from "../scripts/serve.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const DIST = join(ROOT, "tests/consumer/dist");
const model = resolve(process.argv[2] ?? join(ROOT, "models/tiny-clip.gguf"));
const images = Number(process.argv[3] ?? 200);
const runs = Number(process.argv[4] ?? 3);

// Serve the model beside the app with a manifest entry for it.
mkdirSync(join(DIST, "models"), { recursive: true });
const file = basename(model);
cpSync(model, join(DIST, "models", file));
const bytes = readFileSync(model);
const manifest = JSON.parse(readFileSync(join(ROOT, "models/manifest.json"), "utf8"));
if (!manifest.models.some((m) => m.file === file)) {
  manifest.models.push({ file, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex"), modelKey: "", towers: "both" });
}
writeFileSync(join(DIST, "models/manifest.json"), JSON.stringify(manifest));

const server = await serve(DIST, 0);
const browser = await launch();
const page = await browser.context.newPage();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const hc = await page.evaluate(() => navigator.hardwareConcurrency).catch(() => "?");
console.log(`model ${file} (${(bytes.length / 1e6).toFixed(1)} MB), ${images} images of 64x64 PNG, ${runs} runs, hardwareConcurrency ${hc}`);
console.log("| workers | ms (median) | images/s | speed-up | wasm memory, all workers (MB) | per worker (MB) | max frame gap (ms) |");
console.log("|---|---|---|---|---|---|---|");
let base = 0;
for (const workers of [1, 2, 4]) {
  const ms = [];
  let mem = [];
  let gap = [];
  for (let r = 0; r < runs; r++) {
    await page.goto(`${server.url}/?model=models/${encodeURIComponent(file)}`);
    await page.waitForSelector("body[data-ready='1']");
    await page.evaluate((w) => window.app.open(w), workers);
    // Warm-up: starts the extra workers (each loads the model from the cache) outside the timing.
    await page.evaluate(([n, w]) => window.app.ingestMeasured(n, w), [Math.max(workers, Math.min(8 * workers, Math.ceil(images / 4))), workers]);
    await page.evaluate(() => window.app.clear());
    const m = await page.evaluate(([n, w]) => window.app.ingestMeasured(n, w), [images, workers]);
    if (m.embedded !== images) throw new Error(`only ${m.embedded} of ${images} embedded`);
    ms.push(m.ms);
    gap.push(m.gapMax);
    mem = await page.evaluate(() => window.app.memory());
    await page.evaluate(() => window.app.dispose());
  }
  const t = median(ms);
  if (workers === 1) base = t;
  const total = mem.reduce((a, b) => a + b, 0) / 1e6;
  console.log(
    `| ${workers} | ${t.toFixed(0)} | ${((images * 1000) / t).toFixed(1)} | ${(base / t).toFixed(2)}x | ${total.toFixed(1)} | ${mem.map((b) => (b / 1e6).toFixed(1)).join(" / ")} | ${median(gap).toFixed(0)} |`,
  );
}
await browser.close();
await server.close();
