// The demo page in real headless Chromium: it loads the wasm module in a worker and calls into it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { launch, serveDemo, OUT } from "./helpers.mjs";

let server, browser;
before(async () => {
  server = await serveDemo();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test("the demo page loads the wasm module in a worker and reports ready", async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url + "/");
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
  const status = await page.textContent("#status");
  assert.match(status, /^clipsearch \d+\.\d+\.\d+ ready$/);
  await page.screenshot({ path: join(OUT, "demo-ready.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
