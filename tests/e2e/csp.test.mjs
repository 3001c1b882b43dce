// The npm package's workers under the page's Content-Security-Policy (`inheritCsp`), in real
// headless Chromium: a worker started from its script URL ignores the page's connect-src; one
// started with `inheritCsp: true` obeys it, so an origin the page does not allow is never
// contacted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, ROOT } from "./helpers.mjs";
import { serve } from "../../scripts/serve.mjs";

const PNG = readFileSync(join(ROOT, "tests/fixtures/model/checker.png"));

/** An image server on another origin that allows every origin by CORS and counts requests. */
async function imageServer() {
  const seen = [];
  const srv = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "image/png", "access-control-allow-origin": "*", "content-length": PNG.length });
    res.end(req.method === "HEAD" ? undefined : PNG);
  });
  await new Promise((ok) => srv.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${srv.address().port}`;
  return { url, seen, close: () => new Promise((ok) => srv.close(() => ok())) };
}

let site, images, browser, page;
before(async () => {
  site = await serve(ROOT, 0);
  images = await imageServer();
  browser = await launch();
  page = await browser.context.newPage();
  await page.goto(`${site.url}/tests/e2e/pages/csp.html`);
  await page.waitForSelector("body[data-ready=true]", { state: "attached" });
});
after(async () => {
  await browser?.close();
  await site?.close();
  await images?.close();
});

test("without inheritCsp the package's worker fetches from an origin the page's CSP does not allow", async () => {
  images.seen.length = 0;
  const r = await page.evaluate((url) => window.addOne(false, url), `${images.url}/a.png?X-Amz-Signature=s`);
  // This is the hole inheritCsp closes: the worker's own (empty) policy applies, not the page's.
  assert.equal(r.embedded.length, 1, JSON.stringify(r));
  assert.ok(images.seen.length >= 1);
});

test("with inheritCsp the worker obeys the page's connect-src: the other origin is never contacted and the item is reported", async () => {
  images.seen.length = 0;
  const r = await page.evaluate((url) => window.addOne(true, url), `${images.url}/b.png?X-Amz-Signature=s`);
  assert.equal(r.embedded.length, 0, JSON.stringify(r));
  assert.equal(r.failed.length, 1, "the item is reported, not dropped");
  assert.equal(r.failed[0].id, `${images.url}/b.png`);
  assert.ok(r.failed[0].name && r.failed[0].message, JSON.stringify(r.failed[0]));
  assert.ok(!JSON.stringify(r).includes("X-Amz-Signature"), "no credential in the report");
  assert.deepEqual(images.seen, [], "no request reached the disallowed origin");
});

test("with inheritCsp the worker still reaches its own origin", async () => {
  const r = await page.evaluate((url) => window.addOne(true, url), `${site.url}/tests/fixtures/model/checker.png`);
  assert.equal(r.embedded.length, 1, JSON.stringify(r));
});
