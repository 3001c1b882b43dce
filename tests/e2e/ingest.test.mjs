// embedImages in real headless Chromium against a real S3-compatible server on 127.0.0.1 (the
// JuiceFS gateway, see s3server.mjs): presigned URLs, Blobs and bytes, in a Worker and in a
// Window; every failure typed; nothing lost; a presigned query string never shown or exported.
//
// CLIPSEARCH_PKG=/target/ingest-pkg picks another package than the release one in www/pkg
// (`make www`), e.g. a dev build made with wasm-bindgen for iteration.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { launch, ROOT } from "./helpers.mjs";
import { serve } from "../../scripts/serve.mjs";
import { startS3, freePort } from "./s3server.mjs";

const PKG = process.env.CLIPSEARCH_PKG ?? "/www/pkg";
const PAGE = `/tests/e2e/pages/ingest.html?pkg=${encodeURIComponent(PKG)}`;
const fixture = (p) => readFileSync(join(ROOT, "tests/fixtures", p));
const JPEG = fixture("model/gradient.jpg");
const PNG = fixture("model/checker.png");
const B = "photos";

function pngChunk(kind, data) {
  const body = Buffer.concat([Buffer.from(kind, "latin1"), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A well-formed PNG header declaring `w x h`, a token IDAT and IEND: no pixel data. */
function pngHeader(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from("\x89PNG\r\n\x1a\n", "latin1"),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", Buffer.from([0x78, 0x9c])),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

let site, other, s3, browser, page;
const secrets = new Set(); // every X-Amz-Signature / X-Amz-Credential value handed out
const consoleSeen = [];

function presign(key, opts) {
  const url = s3.presign("GET", B, key, opts);
  const q = new URL(url).searchParams;
  secrets.add(q.get("X-Amz-Signature"));
  secrets.add(encodeURIComponent(q.get("X-Amz-Signature")));
  return url;
}

/** Fails if any signature appears anywhere in `what` (any JSON-able value). */
function assertNoSecret(what, label) {
  const text = typeof what === "string" ? what : JSON.stringify(what);
  for (const s of secrets) assert.ok(!text.includes(s), `${label}: presigned signature leaked`);
  assert.ok(!/X-Amz-Signature|X-Amz-Credential/i.test(text), `${label}: presigned query leaked`);
}

async function openPage(origin) {
  const p = await browser.context.newPage();
  const errors = [];
  p.on("pageerror", (e) => errors.push(String(e)));
  p.on("console", (m) => consoleSeen.push(m.text()));
  await p.goto(origin + PAGE);
  await p.waitForSelector("body[data-ready='1']", { state: "attached", timeout: 120_000 });
  p.errors = errors;
  return p;
}

/** Runs a spec in the page's worker (default) or window; checks the result's invariants. */
async function run(spec, where = "worker", onPage = page) {
  const out = await onPage.evaluate(
    ([spec, where]) => (where === "window" ? window.harness.run(spec) : window.inWorker(spec)),
    [spec, where],
  );
  const { embedded, failed } = out.result;
  const indices = [...embedded, ...failed].map((r) => r.index).sort((a, b) => a - b);
  assert.deepEqual(indices, spec.items.map((_, i) => i), "every item reported exactly once");
  const last = out.progress.at(-1);
  if (spec.items.length) {
    assert.equal(last.done + last.failed, spec.items.length);
    assert.equal(last.done, embedded.length);
  }
  assertNoSecret(out, `result of ${JSON.stringify(spec.options ?? {})}`);
  return out;
}

const one = async (item, options = {}, where) => (await run({ items: [item], options }, where)).result;

before(async () => {
  site = await serve(ROOT, 0);
  other = await serve(ROOT, 0);
  s3 = await startS3({ allowOrigin: site.url });
  await s3.createBucket(B);
  await s3.put(B, "cats/a b.jpg", JPEG, "image/jpeg");
  await s3.put(B, "checker.png", PNG, "image/png");
  await s3.put(B, "truncated.jpg", JPEG.subarray(0, JPEG.length >> 1), "image/jpeg");
  await s3.put(B, "garbage.jpg", Buffer.concat([JPEG.subarray(0, 4), Buffer.alloc(600, 0x5a)]), "image/jpeg");
  await s3.put(B, "empty.jpg", Buffer.alloc(0), "image/jpeg");
  await s3.put(B, "login.html", Buffer.from("<!doctype html><html><body>Please sign in</body></html>"), "text/html");
  await s3.put(B, "huge.png", pngHeader(50_000, 50_000), "image/png");
  browser = await launch();
  page = await openPage(site.url);
});

after(async () => {
  await page?.close();
  await browser?.close();
  await s3?.close();
  await site?.close();
  await other?.close();
  assertNoSecret(consoleSeen.filter(ours), "console");
});

// Chromium's own network log ("Access to fetch at '<url>' ... blocked by CORS policy", "Failed to
// load resource") names the URL it was given; that text is written by the browser, not by
// clipsearch, and only shown in DevTools. Every other console message is checked.
const ours = (text) => !/^Access to fetch at |^Failed to load resource/.test(text);

for (const where of ["worker", "window"]) {
  test(`a presigned URL is embedded in a ${where}, with its locator as id`, async () => {
    const url = presign("cats/a b.jpg");
    const out = await run({ items: [{ url, metadata: { album: "cats" } }], exports: true }, where);
    const id = `${s3.endpoint}/${B}/cats/a%20b.jpg`;
    assert.deepEqual(out.result, { embedded: [{ index: 0, id }], failed: [], aborted: false });
    assert.equal(out.seen.length, 1);
    assert.equal(out.seen[0].dim, 32);
    assert.deepEqual(out.seen[0].metadata, { album: "cats" });
    assert.deepEqual(out.ids, [id]);
    assert.equal(out.progress.at(-1).bytes, JPEG.length);
    assert.ok(out.exports.qdrant.includes(id) || out.exports.npyIndex.includes(id));
    assertNoSecret(out.exports, "exports");
  });
}

test("Blobs, Files and bytes are embedded; a File's name is its id", async () => {
  const b64 = PNG.toString("base64");
  const out = await run({
    items: [
      { fileB64: b64, fileName: "dropped.png", fileType: "image/png" },
      { bytesB64: JPEG.toString("base64"), id: "mine" },
      { bytesB64: b64 }, // neither id nor name
    ],
  });
  assert.deepEqual(out.result.embedded, [
    { index: 0, id: "dropped.png" },
    { index: 1, id: "mine" },
  ]);
  assert.equal(out.result.failed[0].index, 2);
  assert.equal(out.result.failed[0].name, "InvalidArgument");
});

test("an expired presigned URL fails with UrlExpired", async () => {
  const url = presign("cats/a b.jpg", { date: new Date(Date.now() - 2 * 3600e3), expires: 60 });
  const { failed } = await one({ url });
  assert.equal(failed[0].name, "UrlExpired");
  assert.match(failed[0].message, /fresh URL/);
  assert.ok(failed[0].message.includes(`${s3.endpoint}/${B}/cats/a%20b.jpg`));
});

test("a tampered presigned URL fails with AccessDenied", async () => {
  const url = presign("cats/a b.jpg");
  const sig = new URL(url).searchParams.get("X-Amz-Signature");
  const bad = url.replace(sig, [...sig].reverse().join(""));
  secrets.add([...sig].reverse().join(""));
  const { failed } = await one({ url: bad });
  assert.equal(failed[0].name, "AccessDenied");
});

test("a missing object fails with NotFound, without retries", async () => {
  const { failed } = await one({ url: presign("nope/missing.jpg") }, { baseDelayMs: 5000 });
  assert.equal(failed[0].name, "NotFound");
  assert.equal(failed[0].id, `${s3.endpoint}/${B}/nope/missing.jpg`);
});

test("a page on an origin the bucket does not allow gets CorsBlocked with the rule to add", async () => {
  const p = await openPage(other.url);
  for (const where of ["worker", "window"]) {
    const out = await run({ items: [{ url: presign("checker.png") }], options: { maxAttempts: 2 } }, where, p);
    const f = out.result.failed[0];
    assert.equal(f.name, "CorsBlocked", f.message);
    const rule = JSON.stringify({
      AllowedOrigins: [other.url],
      AllowedMethods: ["GET"],
      AllowedHeaders: ["*"],
      MaxAgeSeconds: 3600,
    });
    assert.ok(f.message.includes(rule), f.message);
  }
  assert.deepEqual(p.errors, []);
  await p.close();
});

test("a response slower than timeoutMs fails with Timeout after the allowed attempts", async () => {
  let requests = 0;
  const slow = createServer((req, res) => {
    requests++;
    const t = setTimeout(() => {
      res.writeHead(200, { "access-control-allow-origin": "*", "content-type": "image/png" });
      res.end(PNG);
    }, 5000);
    res.on("close", () => clearTimeout(t));
  });
  const port = await freePort();
  await new Promise((ok) => slow.listen(port, "127.0.0.1", ok));
  try {
    const url = `http://127.0.0.1:${port}/slow.png?X-Amz-Signature=slowsecret`;
    secrets.add("slowsecret");
    const { failed } = await one({ url }, { timeoutMs: 200, maxAttempts: 2, baseDelayMs: 10 });
    assert.equal(failed[0].name, "Timeout");
    assert.match(failed[0].message, /timed out after 200 ms/);
    assert.equal(requests, 2);
  } finally {
    slow.closeAllConnections();
    await new Promise((ok) => slow.close(ok));
  }
});

test("a truncated or corrupt JPEG fails with ImageDecode, with either decoder", async () => {
  for (const decoder of ["browser", "image"]) {
    const { failed } = await run({
      items: [{ url: presign("truncated.jpg") }, { url: presign("garbage.jpg") }],
      options: { decoder },
    }).then((o) => o.result);
    assert.deepEqual(failed.map((f) => f.name), ["ImageDecode", "ImageDecode"], decoder);
  }
});

test("an empty object fails with EmptyInput", async () => {
  const { failed } = await one({ url: presign("empty.jpg") });
  assert.equal(failed[0].name, "EmptyInput");
});

test("an HTML page served with status 200 fails with NotAnImage", async () => {
  const { failed } = await one({ url: presign("login.html") });
  assert.equal(failed[0].name, "NotAnImage");
  assert.match(failed[0].message, /HTML or XML/);
});

test("a PNG declaring 50000x50000 pixels fails with ImageTooLarge before decoding", async () => {
  for (const decoder of ["browser", "image"]) {
    const { failed } = await one({ url: presign("huge.png") }, { decoder });
    assert.equal(failed[0].name, "ImageTooLarge");
    assert.match(failed[0].message, /50000x50000/);
  }
});

test("500 URLs at concurrency 6 are all embedded, none lost", async () => {
  const keys = Array.from({ length: 500 }, (_, i) => `many/${i}.png`);
  for (let i = 0; i < keys.length; i += 50) {
    await Promise.all(keys.slice(i, i + 50).map((k) => s3.put(B, k, PNG, "image/png")));
  }
  const out = await run({ items: keys.map((k) => ({ url: presign(k) })), options: { concurrency: 6 } });
  assert.equal(out.result.failed.length, 0, JSON.stringify(out.result.failed.slice(0, 3)));
  assert.equal(out.result.embedded.length, 500);
  assert.equal(out.size, 500);
  assert.deepEqual(
    new Set(out.ids),
    new Set(keys.map((k) => `${s3.endpoint}/${B}/${k}`)),
  );
  assert.equal(out.progress.at(-1).bytes, 500 * PNG.length);
});

test("an abort half-way stops early and reports every item as embedded or AbortError", async () => {
  const keys = Array.from({ length: 300 }, (_, i) => `many/${i}.png`);
  const concurrency = 6;
  const out = await run({
    items: keys.map((k) => ({ url: presign(k) })),
    options: { concurrency },
    abortAfter: 40,
  });
  const { embedded, failed, aborted } = out.result;
  assert.equal(aborted, true);
  assert.ok(embedded.length >= 40, `${embedded.length} embedded`);
  // At the abort at most `concurrency` items were in flight: nothing else started.
  assert.ok(embedded.length <= 40 + concurrency, `${embedded.length} embedded after the abort`);
  assert.ok(failed.length > 0);
  for (const f of failed) assert.equal(f.name, "AbortError");
  assert.equal(out.size, embedded.length);
  // Aborted items keep their ids.
  assert.ok(failed.every((f) => f.id === `${s3.endpoint}/${B}/many/${f.index}.png`));
});

test("in Node, where createImageBitmap is absent, URLs are fetched and decoded by the image crate", async () => {
  const dir = join(ROOT, PKG);
  const cs = await import(join(dir, "clipsearch.js"));
  await cs.default({ module_or_path: readFileSync(join(dir, "clipsearch_bg.wasm")) });
  assert.equal(typeof globalThis.createImageBitmap, "undefined");
  const model = cs.ClipModel.fromGguf(readFileSync(join(ROOT, "models/tiny-clip.gguf")));
  const got = [];
  const res = await cs.embedImages(model, [{ url: presign("cats/a b.jpg") }, { url: presign("login.html") }], {
    onItem: (r) => got.push(r),
  });
  assertNoSecret(res, "node result");
  assert.deepEqual(res.embedded, [{ index: 0, id: `${s3.endpoint}/${B}/cats/a%20b.jpg` }]);
  assert.equal(res.failed[0].name, "NotAnImage");
  // The image-crate path gives exactly embedImage's vector.
  assert.deepEqual(Array.from(got[0].embedding), Array.from(model.embedImage(JPEG)));
  await assert.rejects(cs.embedImages(model, [], { decoder: "browser" }), { name: "InvalidArgument" });
  model.free();
});

test("the browser decoder and the image crate agree, EXIF orientation included", async () => {
  const upright = fixture("textimg/images/exif_1.jpg").toString("base64");
  const rotated = fixture("textimg/images/exif_6.jpg").toString("base64");
  const [u, r] = await page.evaluate(
    ([a, b]) => Promise.all([window.harness.decodeBoth(a), window.harness.decodeBoth(b)]),
    [upright, rotated],
  );
  const meanAbs = (a, b) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
    return s / a.length;
  };
  for (const d of [u, r]) {
    assert.equal(d.browser.width, d.image.width);
    assert.equal(d.browser.height, d.image.height);
    const m = meanAbs(d.browser.rgba, d.image.rgba);
    assert.ok(m < 2, `browser vs image crate: mean |diff| ${m} levels`);
    const dot = d.emb.browser.reduce((s, x, i) => s + x * d.emb.image[i], 0);
    assert.ok(dot > 0.99, `embeddings through both decoders: cosine ${dot}`);
  }
  // Orientation 6: stored sideways, shown rotated 90° clockwise.
  assert.deepEqual([r.browser.width, r.browser.height], [u.browser.height, u.browser.width]);
  const rot = rotateCw(u.image);
  for (const d of ["browser", "image"]) {
    const m = meanAbs(r[d].rgba, rot);
    assert.ok(m < 4, `${d}: EXIF-6 image vs the upright one rotated: mean |diff| ${m}`);
  }
});

function rotateCw({ width: w, height: h, rgba }) {
  const out = new Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const nx = h - 1 - y;
      const ny = x;
      for (let c = 0; c < 4; c++) out[(ny * h + nx) * 4 + c] = rgba[(y * w + x) * 4 + c];
    }
  }
  return out;
}

test("a stopped server fails with NetworkError after the bounded attempts", async () => {
  const url = presign("checker.png");
  await s3.stop();
  const { failed } = await one({ url }, { maxAttempts: 3, baseDelayMs: 10 });
  assert.equal(failed[0].name, "NetworkError");
  assert.match(failed[0].message, /after 3 attempt\(s\)/);
  assert.deepEqual(page.errors, []);
});
