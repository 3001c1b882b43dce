// The demo page in real headless Chromium, driven as a person would: it loads the wasm module
// and the default model in a worker, embeds dropped images, searches by text and by image,
// shows similar images, exports, survives a reload, and renders hostile file names as text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, serveDemo, OUT, ROOT } from "./helpers.mjs";

const fixture = (name) => readFileSync(join(ROOT, "tests/fixtures/model", name));
const IMAGES = [
  { name: "gradient.jpg", mimeType: "image/jpeg", buffer: fixture("gradient.jpg") },
  { name: "noise.png", mimeType: "image/png", buffer: fixture("noise.png") },
  { name: "checker.png", mimeType: "image/png", buffer: fixture("checker.png") },
];

let server, browser;
before(async () => {
  server = await serveDemo();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function openDemo() {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url + "/");
  await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
  return { page, errors };
}

test("the demo loads the wasm module and the default model in a worker", async () => {
  const { page, errors } = await openDemo();
  assert.match(await page.textContent("#model-info"), /tiny-clip · 32-d · q8_0 · towers: both/);
  // The random test model is labelled as such.
  assert.equal(await page.isVisible("#model-warning"), true);
  await page.screenshot({ path: join(OUT, "demo-ready.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("dropped images are embedded, searchable by text and by image, and survive a reload", async () => {
  const { page, errors } = await openDemo();
  await page.click("#clear");
  await page.setInputFiles("#files", IMAGES);
  await page.waitForSelector("body[data-added='3']", { timeout: 60_000 });
  assert.match(await page.textContent("#add-status"), /3 embedded, 0 failed/);

  await page.fill("#query", "a photo of a cat");
  await page.click("#search-form button[type=submit]");
  await page.waitForSelector("body[data-results='3']");
  const ids = await page.$$eval("#results .id", (els) => els.map((e) => e.textContent));
  assert.deepEqual([...ids].sort(), ["checker.png", "gradient.jpg", "noise.png"]);
  const scores = await page.$$eval("#results .score", (els) => els.map((e) => Number(e.textContent)));
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), "scores descend");
  await page.screenshot({ path: join(OUT, "demo-results.png"), fullPage: true });

  // Search by an image: the same image comes first with score ~1.
  await page.setInputFiles("#query-image", [IMAGES[1]]);
  await page.waitForFunction(() => document.querySelector("#results .id")?.textContent === "noise.png");
  const top = Number(await page.textContent("#results .score"));
  assert.ok(top > 0.999, `self-similarity ${top}`);

  // More like this: the item itself is excluded.
  await page.click("#results li:first-child button");
  await page.waitForFunction(() => document.body.dataset.results === "2");
  const similar = await page.$$eval("#results .id", (els) => els.map((e) => e.textContent));
  assert.ok(!similar.includes("noise.png"));

  await page.reload();
  await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
  assert.match(await page.textContent("#collection-info"), /^3 images indexed/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a hostile file name is shown as text and a broken image is reported, not dropped", async () => {
  const { page } = await openDemo();
  await page.click("#clear");
  let alerted = false;
  page.on("dialog", async (d) => {
    alerted = true;
    await d.dismiss();
  });
  const hostile = "<img src=x onerror=alert(1)>.png";
  await page.setInputFiles("#files", [
    { name: hostile, mimeType: "image/png", buffer: fixture("checker.png") },
    { name: "broken.jpg", mimeType: "image/jpeg", buffer: Buffer.from("<html>not an image</html>") },
  ]);
  await page.waitForSelector("body[data-added='1']", { timeout: 60_000 });
  assert.match(await page.textContent("#add-status"), /1 embedded, 1 failed/);
  assert.match(await page.textContent("#failed"), /broken\.jpg: NotAnImage/);
  await page.fill("#query", "anything");
  await page.click("#search-form button[type=submit]");
  await page.waitForSelector("body[data-results='1']");
  assert.equal(await page.textContent("#results .id"), hostile);
  assert.equal(alerted, false);
  await page.close();
});

test("exports download Parquet, Qdrant and NPY files", async () => {
  const { page } = await openDemo();
  await page.click("#clear");
  await page.setInputFiles("#files", IMAGES);
  await page.waitForSelector("body[data-added='3']", { timeout: 60_000 });
  for (const [format, expected] of [
    ["parquet", ["embeddings.parquet"]],
    ["qdrant", ["qdrant-create-collection.json", "qdrant-points.ndjson"]],
    ["npy", ["embeddings.npy", "embeddings.json"]],
  ]) {
    const names = [];
    const done = new Promise((ok) => {
      page.on("download", async function onDl(d) {
        names.push(d.suggestedFilename());
        await d.saveAs(join(OUT, d.suggestedFilename()));
        if (names.length === expected.length) {
          page.off("download", onDl);
          ok();
        }
      });
    });
    await page.click(`[data-export=${format}]`);
    await done;
    assert.deepEqual(names.sort(), [...expected].sort());
  }
  const parquet = readFileSync(join(OUT, "embeddings.parquet"));
  assert.equal(parquet.subarray(0, 4).toString(), "PAR1");
  const points = readFileSync(join(OUT, "qdrant-points.ndjson"), "utf8");
  assert.equal(JSON.parse(points.trim().split("\n")[0]).points.length, 3);
  await page.close();
});
