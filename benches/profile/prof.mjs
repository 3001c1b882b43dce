// Where an image's (or a query's) time goes in headless Chromium: the V8 sampling profiler (CDP
// Profiler domain, 200 µs) over 10 image embeddings (or 20 queries) of the relaxed module built
// by site.sh, in-process (useWorker: false), after 3 warm-ups; prints self time per function.
//   benches/profile/site.sh /tmp/vitb32-q8_0.gguf && node benches/profile/prof.mjs [image|text]
//   SITE=/other/dir node benches/profile/prof.mjs        # compare two builds alternately
// Writes the raw profile to $SITE/<mode>.cpuprofile (open it in Chrome DevTools).
import { createRequire } from "node:module";
import http from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join, extname } from "node:path";
const require = createRequire(new URL("../../package.json", import.meta.url));
const { chromium } = require("playwright-core");
const root = process.env.SITE ?? "/tmp/clipsearch-prof";
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".png": "image/png" };
const srv = http.createServer((q, r) => { try { const p = join(root, decodeURIComponent(new URL(q.url, "http://x").pathname)); const b = readFileSync(p); r.writeHead(200, { "content-type": types[extname(p)] ?? "application/octet-stream" }); r.end(b); } catch { r.writeHead(404); r.end(); } });
await new Promise((ok) => srv.listen(0, "127.0.0.1", ok));
const url = `http://127.0.0.1:${srv.address().port}/index.html`;
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"] });
const page = await browser.newPage();
page.on("console", (m) => console.log("page:", m.text()));
await page.goto(url);
await page.waitForFunction(() => window.setup);
console.log(JSON.stringify(await page.evaluate(() => window.setup())));
console.log("warm", await page.evaluate(() => window.run(3)));
const mode = process.argv[2] ?? "image";
const cdp = await page.context().newCDPSession(page);
await cdp.send("Profiler.enable");
await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
await cdp.send("Profiler.start");
const times = mode === "text" ? await page.evaluate(() => window.runText(20, "a photo of a dog")) : await page.evaluate(() => window.run(10));
const { profile } = await cdp.send("Profiler.stop");
console.log("timed", times.map((t) => t.toFixed(1)).join(" "));
writeFileSync(join(root, `${mode}.cpuprofile`), JSON.stringify(profile));
// self time per function
const dt = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
for (let i = 0; i < profile.samples.length; i++) { const n = byId.get(profile.samples[i]); const name = n.callFrame.functionName || `(${n.callFrame.url.split("/").pop()})`; dt.set(name, (dt.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0)); }
const total = [...dt.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...dt.entries()].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log((100 * v / total).toFixed(1).padStart(5) + "%  " + (v / 1000 / times.length).toFixed(2).padStart(7) + " ms/call  " + k.slice(0, 150));
await browser.close(); srv.close();
