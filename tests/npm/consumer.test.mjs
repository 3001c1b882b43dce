// A fresh Vite app (tests/consumer) installs the packed tarball, type-checks, builds, and is
// driven in headless Chromium: the model loads from local files in a worker, images are added
// from Blobs, searched by text and by image, exported, restored after a reload, and the model
// loads a second time from the cache with its network route blocked. Frame gaps on the main
// thread while 200 images are embedded are measured and written to test-results/ (reported,
// not asserted beyond "frames kept coming").
// Images also come from presigned URLs of a real S3-compatible server (JuiceFS gateway, see
// tests/e2e/s3server.mjs) that allows the app's origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch, OUT } from "../e2e/helpers.mjs";
import { serve } from "../../scripts/serve.mjs";
import { ROOT, TARBALL } from "./helpers.mjs";
import { startS3 } from "../e2e/s3server.mjs";

const APP = join(ROOT, "tests/consumer");
const MANIFEST = JSON.parse(readFileSync(join(ROOT, "models/manifest.json"), "utf8"));
const fixture = (name) => [...readFileSync(join(ROOT, "tests/fixtures/model", name))];
const IMAGES = [
  { id: "gradient.jpg", type: "image/jpeg", bytes: fixture("gradient.jpg"), metadata: { kind: "jpg" } },
  { id: "noise.png", type: "image/png", bytes: fixture("noise.png"), metadata: { kind: "png" } },
  { id: "checker.png", type: "image/png", bytes: fixture("checker.png"), metadata: { kind: "png" } },
];

const run = (cmd, args) => execFileSync(cmd, args, { cwd: APP, stdio: ["ignore", "pipe", "pipe"] }).toString();

let server, browser, page, vitestOutput;
const modelRequests = [];

before(async () => {
  assert.ok(existsSync(TARBALL), "run `make package` first");
  // The lockfile pins vite, vitest and typescript; --prefer-offline serves them from npm's cache
  // after the first run. (`npm ci` refuses this lockfile: the registry mirror lacks rollup's
  // optional binaries for other platforms, so npm leaves them out of the lock.)
  run("npm", ["install", "--no-save", "--prefer-offline", "--no-audit", "--no-fund", TARBALL]);
  run("node_modules/.bin/tsc", ["--noEmit"]);
  run("node_modules/.bin/vite", ["build", "--logLevel", "warn"]);
  vitestOutput = run("node_modules/.bin/vitest", ["run"]);
  mkdirSync(join(APP, "dist/models"), { recursive: true });
  cpSync(join(ROOT, "models/tiny-clip.gguf"), join(APP, "dist/models/tiny-clip.gguf"));
  cpSync(join(ROOT, "models/manifest.json"), join(APP, "dist/models/manifest.json"));
  server = await serve(join(APP, "dist"), 0);
  browser = await launch();
  page = await browser.context.newPage();
  page.on("request", (r) => r.url().endsWith(".gguf") && modelRequests.push(r.url()));
  page.on("console", (m) => m.type() === "error" && console.log("[page]", m.text()));
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function openApp(workers) {
  await page.goto(server.url + "/");
  await page.waitForSelector("body[data-ready='1']");
  return page.evaluate((w) => window.app.open(w), workers);
}

test("the consumer app type-checks and builds against the packed package with its worker and wasm", () => {
  const assets = run("ls", ["dist/assets"]).split("\n");
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `the wasm is emitted (${assets})`);
  assert.ok(assets.filter((f) => f.endsWith(".js")).length >= 2, `the worker is emitted beside the app (${assets})`);
});

test("the package works under vitest in node (embeds text and an image in-process)", () => {
  assert.match(vitestOutput, /1 passed/);
});

test("the model loads from local files with byte progress whose total is known from the start", async () => {
  const r = await openApp(2);
  assert.equal(r.info.key, MANIFEST.models[0].modelKey);
  assert.equal(r.size, 0);
  const statuses = r.progress.map((p) => p.status);
  assert.equal(statuses[0], "initiate");
  assert.equal(r.progress[0].total, MANIFEST.models[0].size, "total known before the first byte");
  assert.ok(statuses.includes("progress") && statuses.includes("verify") && statuses.at(-1) === "ready", statuses.join(","));
  const done = r.progress.find((p) => p.status === "done");
  assert.equal(done.cached, false, "the first load comes from the network");
  assert.equal(modelRequests.length, 1, "one download");
});

test("images added from blobs are searchable by text and by image, exportable, and restored after a reload", async () => {
  await page.evaluate(() => window.app.clear());
  const added = await page.evaluate((imgs) => window.app.addBytes(imgs), IMAGES);
  assert.equal(added.embedded.length, 3, JSON.stringify(added.failed));
  assert.deepEqual(added.failed, []);
  const byText = await page.evaluate(() => window.app.searchText("a photo of a cat"));
  assert.deepEqual(byText.map((h) => h.id).sort(), ["checker.png", "gradient.jpg", "noise.png"]);
  const byImage = await page.evaluate((b) => window.app.searchImage(b), IMAGES[1].bytes);
  assert.equal(byImage[0].id, "noise.png");
  assert.ok(Math.abs(byImage[0].score - 1) < 1e-3);
  const ex = await page.evaluate(() => window.app.exportAll());
  assert.equal(ex.parquetMagic, "PAR1");
  assert.equal(ex.qdrantPoints, 3);
  assert.ok(ex.npyBytes >= 3 * 32 * 4);
  assert.equal(await page.evaluate(() => window.app.save()), 3);

  const again = await openApp(1);
  assert.equal(again.size, 3, "the collection is restored after a reload");
  const similar = await page.evaluate(() => window.app.searchSimilar("gradient.jpg"));
  assert.deepEqual(similar.map((h) => h.id).sort(), ["checker.png", "noise.png"]);
});

test("the second load of the model comes from the cache with the network route to the model blocked", async () => {
  let blocked = 0;
  await page.route("**/*.gguf", (r) => {
    blocked++;
    return r.abort();
  });
  try {
    const r = await openApp(1);
    assert.equal(r.info.key, MANIFEST.models[0].modelKey);
    const done = r.progress.find((p) => p.status === "done");
    assert.equal(done.cached, true);
    assert.equal(blocked, 0, "no request for the model reached the network");
  } finally {
    await page.unroute("**/*.gguf");
  }
});

test("an abort stops ingestion across workers and every item is reported", async () => {
  await openApp(2);
  await page.evaluate(() => window.app.clear());
  const r = await page.evaluate(() => window.app.ingestAborted(64, 10));
  assert.equal(r.aborted, true);
  assert.ok(r.embedded.length >= 10 && r.embedded.length < 64, `stopped early (${r.embedded.length} embedded)`);
  for (const [, name] of r.failed) assert.equal(name, "AbortError");
  const all = [...r.embedded, ...r.failed.map(([i]) => i)].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 64 }, (_, i) => i), "every item is embedded or failed, once");
  assert.equal(r.size, r.embedded.length);
});

test("only complete, verified, status-200 model responses are cached, and errors never show a query string", async () => {
  await openApp(1);
  const secret = "?X-Amz-Signature=topsecret";
  // A 404.
  await page.route("**/tiny-clip.gguf*", (r) => r.fulfill({ status: 404, body: "no such key" }));
  let r = await page.evaluate((u) => window.app.tryLoad(u), `models/tiny-clip.gguf${secret}`);
  assert.equal(r.ok, false);
  assert.equal(r.name, "NotFound");
  assert.ok(!r.message.includes("topsecret"), r.message);
  assert.ok(r.message.includes("/models/tiny-clip.gguf"), r.message);
  assert.ok(r.cacheKeys.every((k) => !k.includes("/sha256/")), "no model cached");
  await page.unroute("**/tiny-clip.gguf*");
  // Status 200 with the wrong bytes (a truncated file).
  const real = readFileSync(join(ROOT, "models/tiny-clip.gguf"));
  await page.route("**/tiny-clip.gguf*", (r) => r.fulfill({ status: 200, body: real.subarray(0, real.length - 100) }));
  r = await page.evaluate((u) => window.app.tryLoad(u), "models/tiny-clip.gguf");
  assert.equal(r.name, "ChecksumMismatch", r.message);
  assert.ok(r.cacheKeys.every((k) => !k.includes("/sha256/")), "nothing unverified cached");
  // Status 200, same length, one byte changed.
  const bad = Buffer.from(real);
  bad[bad.length >> 1] ^= 0xff;
  await page.unroute("**/tiny-clip.gguf*");
  await page.route("**/tiny-clip.gguf*", (r) => r.fulfill({ status: 200, body: bad }));
  r = await page.evaluate((u) => window.app.tryLoad(u), "models/tiny-clip.gguf");
  assert.equal(r.name, "ChecksumMismatch", r.message);
  assert.ok(r.cacheKeys.every((k) => !k.includes("/sha256/")), "nothing unverified cached");
  await page.unroute("**/tiny-clip.gguf*");
  // The real file: verified and cached, content-addressed (no URL in the key).
  r = await page.evaluate((u) => window.app.tryLoad(u), `models/tiny-clip.gguf${secret}`);
  assert.equal(r.ok, true, r.message);
  assert.deepEqual(
    r.cacheKeys.filter((k) => k.includes("/sha256/")),
    [`https://clipsearch.invalid/sha256/${MANIFEST.models[0].sha256}`],
  );
  assert.ok(r.cacheKeys.every((k) => !k.includes("topsecret")));
});

test("two early create calls share one download of the model", async () => {
  await openApp(1);
  const before = modelRequests.length;
  const r = await page.evaluate(() => window.app.twoEarly());
  assert.ok(r.same);
  assert.deepEqual(r.dims, [32, 32]);
  assert.equal(modelRequests.length - before, 1, "one request for two early loads");
});

test("the main thread keeps rendering frames while 200 images are embedded in workers", async () => {
  await openApp();
  await page.evaluate(() => window.app.clear());
  const m = await page.evaluate(() => window.app.ingestMeasured(200));
  assert.equal(m.embedded, 200, JSON.stringify(m.failed.slice(0, 3)));
  assert.equal(m.size, 200);
  assert.ok(m.frames > 0, "frames kept coming");
  assert.equal(m.engines, Math.min(m.hardwareConcurrency, 4), "the default worker count embedded them");
  const report = { images: 200, ...m, failed: m.failed.length };
  console.log("frame gaps while embedding 200 images:", JSON.stringify(report));
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "consumer-frames.json"), JSON.stringify(report, null, 2));
});

test("images added from presigned S3 URLs are embedded in the workers, searchable, and their signatures never kept", async () => {
  const s3 = await startS3({ allowOrigin: server.url });
  try {
    const B = "consumer-photos";
    await s3.createBucket(B);
    for (const im of IMAGES) await s3.put(B, `album/${im.id}`, Buffer.from(im.bytes), im.type);
    const urls = IMAGES.map((im) => s3.presign("GET", B, `album/${im.id}`));
    const signatures = urls.map((u) => new URL(u).searchParams.get("X-Amz-Signature"));
    await openApp(2);
    await page.evaluate(() => window.app.clear());
    const r = await page.evaluate((items) => window.app.addUrls(items), urls.map((url, i) => ({ url, metadata: { i } })));
    assert.equal(r.embedded.length, 3, JSON.stringify(r.failed));
    assert.equal(r.failed.length, 0);
    assert.deepEqual([...r.ids].sort(), IMAGES.map((im) => `${s3.endpoint}/${B}/album/${im.id}`).sort(), "ids are locators");
    const text = JSON.stringify(r);
    for (const sig of signatures) assert.ok(sig && !text.includes(sig), "no signature in ids, results or the Qdrant export");
    const hits = await page.evaluate(() => window.app.searchText("a colourful gradient", 3));
    assert.equal(hits.length, 3);
  } finally {
    await s3.close();
  }
});
