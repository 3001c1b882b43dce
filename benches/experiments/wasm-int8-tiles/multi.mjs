// Times kernel variants of this crate in one headless Chromium page, alternating, on the
// ViT-B/32 shapes at M = 52 (13 tiles of 4 rows): prints per round the summed ms of one call
// of each shape (qkv 768x2304, fc1 768x3072, fc2 3072x768, out 768x768), then the medians.
//   RUSTFLAGS="-C target-feature=+simd128" cargo build --release --target wasm32-unknown-unknown
//   node multi.mjs ROUNDS FILE.wasm:VARIANT [FILE.wasm:VARIANT ...]
import { createRequire } from "node:module";
import fs from "node:fs";
const require = createRequire(new URL("../../../package.json", import.meta.url));
const { chromium } = require("playwright-core");
const rounds = Number(process.argv[2]);
const specs = process.argv.slice(3).map((s) => {
  const [f, v] = s.split(":");
  return { f, v: Number(v), b64: fs.readFileSync(f).toString("base64") };
});
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
const page = await browser.newPage();
page.on("console", (m) => console.log(m.text()));
await page.evaluate(async ([specs, rounds]) => {
  const inst = [];
  for (const s of specs) {
    const buf = Uint8Array.from(atob(s.b64), (c) => c.charCodeAt(0));
    const { instance } = await WebAssembly.instantiate(buf, {});
    inst.push({ e: instance.exports, v: s.v, name: s.f.split("/").pop() + ":" + s.v });
  }
  const shapes = [["qkv", 13, 576, 6], ["fc1", 13, 768, 6], ["fc2", 13, 192, 24], ["out", 13, 192, 6]];
  for (const x of inst) { x.e.setup(13, 576, 6); for (let i = 0; i < 20; i++) x.e.run(x.v, 13, 576, 6); }
  const tot = inst.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const sum = inst.map(() => 0);
    for (const [, mt, nt, g] of shapes) {
      for (const x of inst) x.e.setup(mt, nt, g);
      const res = inst.map(() => []);
      for (let rep = 0; rep < 5; rep++) inst.forEach((x, i) => {
        const t = performance.now(); let n = 0;
        while (performance.now() - t < 30) { x.e.run(x.v, mt, nt, g); n++; }
        res[i].push((performance.now() - t) / n);
      });
      res.forEach((r, i) => { r.sort((a, b) => a - b); sum[i] += r[2]; });
    }
    sum.forEach((s, i) => tot[i].push(s));
    console.log(`round ${round}: ` + inst.map((x, i) => `${x.name} ${sum[i].toFixed(2)} ms (${(368e6 / sum[i] / 1e6).toFixed(1)} GMAC/s)`).join(" | "));
  }
  console.log("median: " + inst.map((x, i) => { const a = tot[i].slice().sort((p, q) => p - q); return `${x.name} ${a[a.length >> 1].toFixed(2)} ms`; }).join(" | "));
}, [specs, rounds]);
await browser.close();
