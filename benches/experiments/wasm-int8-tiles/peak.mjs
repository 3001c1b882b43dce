// The rate of `i32x4.dot_i16x8_s` alone in headless Chromium (this crate's `peak`: 16 distinct
// dot products per iteration into 8 accumulators, operands in registers), each sample followed
// by the crate's kernel (v0) on fc1 (768x3072, M = 52) in the same page: 9 sample pairs and
// the kernel's share of the peak in each.
//   node peak.mjs target/wasm32-unknown-unknown/release/wasm_int8_tiles.wasm
import { createRequire } from "node:module";
import fs from "node:fs";
const require = createRequire(new URL("../../../package.json", import.meta.url));
const { chromium } = require("playwright-core");
const wasm = fs.readFileSync(process.argv[2]).toString("base64");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
const page = await browser.newPage();
page.on("console", (m) => console.log(m.text()));
await page.evaluate(async (b64) => {
  const buf = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const { instance } = await WebAssembly.instantiate(buf, {});
  const e = instance.exports;
  e.peak(1e6, 3);
  e.setup(13, 768, 6);
  for (let i = 0; i < 20; i++) e.run(0, 13, 768, 6);
  const macs = 52 * 3072 * 768;
  for (let r = 0; r < 9; r++) {
    const n = 1e7;
    let t = performance.now();
    e.peak(n, 3);
    const peak = (n * 16 * 8) / (performance.now() - t) / 1e6;
    t = performance.now();
    let k = 0;
    while (performance.now() - t < 100) { e.run(0, 13, 768, 6); k++; }
    const kern = (k * macs) / (performance.now() - t) / 1e6;
    console.log(`dot_i16x8 alone ${(peak / 8).toFixed(2)} G/s = ${peak.toFixed(1)} GMAC/s | kernel ${kern.toFixed(1)} GMAC/s = ${((100 * kern) / peak).toFixed(0)} % of it`);
  }
}, wasm);
await browser.close();
