// The demo page (www/, on the npm package's ClipSearch API) in real headless Chromium, driven as
// a person would: one test per flow. Screenshots go to test-results/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch, serveDemo, OUT, ROOT } from "./helpers.mjs";
import { startS3 } from "./s3server.mjs";

const fixture = (name) => readFileSync(join(ROOT, "tests/fixtures/model", name));
const IMAGES = [
  { name: "gradient.jpg", mimeType: "image/jpeg", buffer: fixture("gradient.jpg") },
  { name: "noise.png", mimeType: "image/png", buffer: fixture("noise.png") },
  { name: "checker.png", mimeType: "image/png", buffer: fixture("checker.png") },
];
const SECRET = "X-Amz-Signature=deadbeefsecret";
const BUCKET = "https://demo-bucket.s3.eu-west-1.amazonaws.com";

let server, browser;
before(async () => {
  server = await serveDemo();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * A fresh page with the default model loaded and (unless `keep`) an empty collection; `allow`
 * lists origins the user allowed ("Allow and reload"), which widen the page's CSP.
 */
async function openDemo({ keep = false, allow = [] } = {}) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.url + "/");
  await page.evaluate((o) => localStorage.setItem("clipsearch.allowedOrigins", JSON.stringify(o)), allow);
  if (allow.length) await page.reload();
  await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
  if (!keep) {
    await page.click("#clear");
    await page.waitForSelector("body[data-size='0']");
  }
  return { page, errors };
}
async function addImages(page, files = IMAGES) {
  await page.setInputFiles("#files", files);
  await page.waitForSelector(`body[data-added='${files.length}']`, { timeout: 60_000 });
}
async function searchText(page, q) {
  const before = await page.evaluate(() => Number(document.body.dataset.searches ?? 0));
  await page.fill("#query", q);
  await page.click("#search");
  await page.waitForFunction((n) => Number(document.body.dataset.searches ?? 0) > n, before);
}
const ids = (page) => page.$$eval("#results .id", (els) => els.map((e) => e.textContent));
const bodyText = (page) => page.evaluate(() => document.documentElement.outerHTML);

test("the default model loads with a plain notice that it is the random test model", async () => {
  const { page, errors } = await openDemo({ keep: true });
  assert.match(await page.textContent("#model-info"), /tiny-clip · 32-d · q8_0 · towers: both/);
  assert.equal(await page.isVisible("#model-warning"), true);
  assert.match(await page.textContent("#model-warning"), /results carry no meaning/);
  await page.screenshot({ path: join(OUT, "demo-ready.png"), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a model chosen with the file picker loads and is recognised as the random test model", async () => {
  const { page, errors } = await openDemo({ keep: true });
  await page.evaluate(() => (document.body.dataset.model = "old"));
  await page.setInputFiles("#model-file", [{ name: "tiny-clip.gguf", mimeType: "application/octet-stream", buffer: readFileSync(join(ROOT, "models/tiny-clip.gguf")) }]);
  await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
  assert.match(await page.textContent("#model-info"), /tiny-clip · 32-d/);
  assert.equal(await page.isVisible("#model-warning"), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a model URL that does not exist is reported with the error name", async () => {
  const { page } = await openDemo({ keep: true });
  await page.fill("#model-url", "models/missing.gguf");
  await page.click("#model-load");
  await page.waitForFunction(() => document.querySelector("#status").classList.contains("error"));
  assert.match(await page.textContent("#status"), /^(HttpError|NotFound): .*missing\.gguf/);
  await page.close();
});

test("dropped files are embedded with progress counts and the collection size shown", async () => {
  const { page, errors } = await openDemo();
  await addImages(page);
  assert.match(await page.textContent("#add-status"), /^3 embedded, 0 failed/);
  assert.equal(await page.$eval("#add-progress", (p) => p.value), 1);
  assert.match(await page.textContent("#collection-info"), /^3 images indexed/);
  assert.deepEqual(errors, []);
  await page.close();
});

test("a chosen folder is embedded with its relative paths as ids and the folder as metadata", async () => {
  const dir = mkdtempSync(join(tmpdir(), "clipsearch-folder-"));
  mkdirSync(join(dir, "holiday"));
  writeFileSync(join(dir, "holiday", "noise.png"), fixture("noise.png"));
  writeFileSync(join(dir, "holiday", "checker.png"), fixture("checker.png"));
  try {
    const { page } = await openDemo();
    await page.setInputFiles("#folder", join(dir, "holiday"));
    await page.waitForSelector("body[data-added='2']", { timeout: 60_000 });
    await searchText(page, "anything");
    assert.deepEqual((await ids(page)).sort(), ["holiday/checker.png", "holiday/noise.png"]);
    assert.match(await page.textContent("#results .meta"), /folder: holiday/);
    await page.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a folder dragged onto the drop zone is walked recursively, subfolders included", async () => {
  // A real OS-level drag (CDP Input.dispatchDragEvent with file paths), so the page sees the same
  // DataTransfer a person's drag from a file manager gives: a directory entry to walk.
  const dir = mkdtempSync(join(tmpdir(), "clipsearch-drop-"));
  mkdirSync(join(dir, "trip", "day2"), { recursive: true });
  writeFileSync(join(dir, "trip", "noise.png"), fixture("noise.png"));
  writeFileSync(join(dir, "trip", "day2", "checker.png"), fixture("checker.png"));
  try {
    const { page, errors } = await openDemo();
    await page.locator("#drop").scrollIntoViewIfNeeded(); // clicking "Clear" scrolled it away
    const box = await page.locator("#drop").boundingBox();
    const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    const cdp = await page.context().newCDPSession(page);
    const data = { items: [], files: [join(dir, "trip")], dragOperationsMask: 1 };
    for (const type of ["dragEnter", "dragOver", "drop"]) await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
    await page.waitForSelector("body[data-added='2']", { timeout: 60_000 });
    await searchText(page, "anything");
    assert.deepEqual((await ids(page)).sort(), ["trip/day2/checker.png", "trip/noise.png"]);
    const metas = await page.$$eval("#results .meta", (els) => els.map((e) => e.textContent).sort());
    assert.match(metas.join("\n"), /folder: trip\/day2/);
    assert.match(metas.join("\n"), /folder: trip(?!\/)/);
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a text search shows every image with descending scores and thumbnails", async () => {
  const { page, errors } = await openDemo();
  await addImages(page);
  await searchText(page, "a photo of a cat");
  assert.deepEqual((await ids(page)).sort(), ["checker.png", "gradient.jpg", "noise.png"]);
  const scores = await page.$$eval("#results .score", (els) => els.map((e) => Number(e.textContent)));
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), "scores descend");
  assert.ok(scores.every((s) => s >= -1 && s <= 1));
  const srcs = await page.$$eval("#results img", (els) => els.map((e) => e.getAttribute("src")));
  assert.ok(srcs.every((s) => s.startsWith("blob:")), "thumbnails are object URLs of the dropped files");
  await page.waitForFunction(() => [...document.querySelectorAll("#results img")].every((i) => i.complete && i.naturalWidth > 0));
  await page.screenshot({ path: join(OUT, "demo-results.png"), fullPage: true });
  await page.locator("#results").screenshot({ path: join(OUT, "demo-results-grid.png") });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a search by an uploaded image puts that image first with score ~1", async () => {
  const { page } = await openDemo();
  await addImages(page);
  await page.setInputFiles("#query-image", [IMAGES[1]]);
  await page.waitForFunction(() => document.querySelector("#results .id")?.textContent === "noise.png");
  const top = Number(await page.textContent("#results .score"));
  assert.ok(top > 0.999, `self-similarity ${top}`);
  assert.match(await page.textContent("#results-title"), /Image noise\.png: 3 results/);
  await page.close();
});

test("clicking More like this on a result shows the other images, not the item itself", async () => {
  const { page } = await openDemo();
  await addImages(page);
  await searchText(page, "anything");
  const first = (await ids(page))[0];
  await page.click("#results li:first-child button.similar");
  await page.waitForFunction(() => document.body.dataset.results === "2");
  const similar = await ids(page);
  assert.equal(similar.length, 2);
  assert.ok(!similar.includes(first));
  assert.match(await page.textContent("#results-title"), new RegExp(`Similar to ${first.replace(".", "\\.")}`));
  await page.close();
});

test("a metadata filter keeps only the matching images", async () => {
  const { page } = await openDemo();
  await addImages(page);
  await page.fill("#filter-key", "type");
  await page.fill("#filter-value", "image/png");
  await searchText(page, "anything");
  assert.deepEqual((await ids(page)).sort(), ["checker.png", "noise.png"]);
  await page.fill("#filter-value", "image/jpeg");
  await searchText(page, "anything");
  assert.deepEqual(await ids(page), ["gradient.jpg"]);
  await page.fill("#filter-value", "image/gif");
  await searchText(page, "anything");
  assert.deepEqual(await ids(page), []);
  await page.close();
});

async function downloads(page, selector, n) {
  const got = [];
  const done = new Promise((ok) => {
    page.on("download", async function onDl(d) {
      const path = join(OUT, d.suggestedFilename());
      await d.saveAs(path);
      got.push(d.suggestedFilename());
      if (got.length === n) {
        page.off("download", onDl);
        ok();
      }
    });
  });
  await page.click(selector);
  await done;
  return got.sort();
}

test("exports download Parquet, Qdrant and NPY files that parse", async () => {
  const { page } = await openDemo();
  await addImages(page);
  assert.deepEqual(await downloads(page, "[data-export=parquet]", 1), ["embeddings.parquet"]);
  const parquet = readFileSync(join(OUT, "embeddings.parquet"));
  assert.equal(parquet.subarray(0, 4).toString(), "PAR1");
  assert.equal(parquet.subarray(-4).toString(), "PAR1");

  assert.deepEqual(await downloads(page, "[data-export=qdrant]", 2), ["qdrant-create-collection.json", "qdrant-points.ndjson"]);
  const create = JSON.parse(readFileSync(join(OUT, "qdrant-create-collection.json"), "utf8"));
  assert.equal(create.vectors.size, 32);
  const lines = readFileSync(join(OUT, "qdrant-points.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.flatMap((l) => l.points).length, 3);

  assert.deepEqual(await downloads(page, "[data-export=npy]", 2), ["embeddings.json", "embeddings.npy"]);
  const npy = readFileSync(join(OUT, "embeddings.npy"));
  assert.equal(npy.subarray(0, 6).toString("latin1"), "\x93NUMPY");
  const headerLen = npy.readUInt16LE(8);
  const header = npy.subarray(10, 10 + headerLen).toString("latin1");
  assert.match(header, /'shape': \(3, 32\)/);
  assert.equal(npy.length, 10 + headerLen + 3 * 32 * 4);
  const index = JSON.parse(readFileSync(join(OUT, "embeddings.json"), "utf8"));
  assert.ok(JSON.stringify(index).includes("noise.png"));
  await page.close();
});

test("an exported Parquet table imported into an empty collection is searchable again", async () => {
  const { page } = await openDemo();
  await addImages(page);
  await downloads(page, "[data-export=parquet]", 1);
  await page.click("#clear");
  await page.waitForSelector("body[data-size='0']");
  await page.setInputFiles("#import", join(OUT, "embeddings.parquet"));
  await page.waitForSelector("body[data-imported='3']");
  assert.match(await page.textContent("#status"), /Imported 3 new, 0 replaced, 0 rejected/);
  assert.match(await page.textContent("#collection-info"), /^3 images indexed/);
  await page.setInputFiles("#query-image", [IMAGES[2]]);
  await page.waitForFunction(() => document.querySelector("#results .id")?.textContent === "checker.png");
  await page.close();
});

test("the collection comes back after a reload", async () => {
  const { page, errors } = await openDemo();
  await addImages(page);
  await page.reload();
  await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
  assert.match(await page.textContent("#collection-info"), /^3 images indexed/);
  await searchText(page, "anything");
  assert.deepEqual((await ids(page)).sort(), ["checker.png", "gradient.jpg", "noise.png"]);
  assert.deepEqual(errors, []);
  await page.close();
});

test("clear everything empties the collection and its saved copy", async () => {
  const { page } = await openDemo();
  await addImages(page);
  await page.click("#clear");
  await page.waitForSelector("body[data-size='0']");
  await searchText(page, "anything");
  assert.deepEqual(await ids(page), []);
  await page.reload();
  await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
  assert.equal(await page.getAttribute("body", "data-size"), "0");
  assert.match(await page.textContent("#collection-info"), /No images yet/);
  await page.close();
});

test("failed items are listed with their reasons: a corrupt image and a URL item", async () => {
  const { page } = await openDemo();
  await page.setInputFiles("#files", [IMAGES[0], { name: "broken.jpg", mimeType: "image/jpeg", buffer: Buffer.from("<html>not an image</html>") }]);
  await page.waitForSelector("body[data-added='1']", { timeout: 60_000 });
  assert.match(await page.textContent("#add-status"), /^1 embedded, 1 failed/);
  assert.match(await page.textContent("#failed"), /broken\.jpg: NotAnImage: \S/);

  await page.fill("#urls", `${BUCKET}/photos/cat.jpg?${SECRET}\n`);
  await page.click("#urls-form button[type=submit]");
  await page.waitForSelector("body[data-failed='2']", { timeout: 60_000 });
  const items = await page.$$eval("#failed li", (els) => els.map((e) => e.textContent));
  assert.equal(items.length, 2);
  // The page's CSP does not allow the bucket's origin: the item is listed at once, named by its
  // URL without the query string, with what to do; never the signature.
  assert.match(items[1], /^https:\/\/demo-bucket\.s3\.eu-west-1\.amazonaws\.com\/photos\/cat\.jpg: OriginNotAllowed: .*Allow and reload/);
  assert.equal(await page.inputValue("#urls"), "", "the pasted URLs leave the screen");
  assert.ok(!(await bodyText(page)).includes(SECRET), "the presigned query string is never rendered");
  await page.screenshot({ path: join(OUT, "demo-failed.png"), fullPage: true });
  await page.close();
});

test("a CSV manifest of URLs is read with ids and metadata; failures carry those ids", async () => {
  const { page } = await openDemo();
  const csv = `id,url,city\nlondon-1,${BUCKET}/a.jpg?${SECRET},London\n"paris, 2","${BUCKET}/b.jpg?${SECRET}",Paris\n`;
  await page.setInputFiles("#url-manifest", [{ name: "images.csv", mimeType: "text/csv", buffer: Buffer.from(csv) }]);
  await page.waitForSelector("body[data-failed='2']", { timeout: 60_000 });
  const items = await page.$$eval("#failed .failed-id", (els) => els.map((e) => e.textContent));
  assert.deepEqual(items, ["london-1", "paris, 2"]);
  assert.ok(!(await bodyText(page)).includes(SECRET));
  await page.close();
});

test("a hostile file name is shown as text and never runs", async () => {
  const { page } = await openDemo();
  let alerted = false;
  page.on("dialog", async (d) => {
    alerted = true;
    await d.dismiss();
  });
  const hostile = "<img src=x onerror=alert(1)>.png";
  await addImages(page, [{ name: hostile, mimeType: "image/png", buffer: fixture("checker.png") }]);
  await searchText(page, "anything");
  assert.equal(await page.textContent("#results .id"), hostile);
  assert.equal(await page.$$eval("#results img", (els) => els.length), 1, "only the thumbnail is an img");
  assert.equal(alerted, false);
  await page.close();
});

test("a search can be done with the keyboard only, with a visible focus", async () => {
  const { page } = await openDemo();
  await addImages(page);
  await page.focus("body");
  let id = "";
  for (let i = 0; i < 40 && id !== "query"; i++) {
    await page.keyboard.press("Tab");
    id = await page.evaluate(() => document.activeElement?.id ?? "");
  }
  assert.equal(id, "query", "Tab reaches the search box");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, "none", "focus is visible");
  await page.keyboard.type("sunset");
  await page.keyboard.press("Enter");
  await page.waitForSelector("body[data-results='3']");
  // Tab on to a result's More like this button and press Enter.
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate(() => document.activeElement?.classList.contains("similar"))) break;
  }
  await page.keyboard.press("Enter");
  await page.waitForSelector("body[data-results='2']");
  await page.close();
});

test("every control has a label", async () => {
  const { page } = await openDemo();
  const unlabelled = await page.$$eval("input, textarea, button, select, progress", (els) =>
    els.filter((e) => !(e.labels?.length || e.getAttribute("aria-label") || (e.tagName === "BUTTON" && e.textContent.trim()))).map((e) => e.outerHTML),
  );
  assert.deepEqual(unlabelled, []);
  await page.close();
});

test("the page's CSP is default-src 'self', widened only by https origins the user allowed", async () => {
  const { page } = await openDemo();
  const csp = () => page.$eval("meta[http-equiv=Content-Security-Policy]", (m) => m.content);
  const strict = await csp();
  assert.match(strict, /default-src 'self'/);
  assert.match(strict, /connect-src 'self';/);
  // The package's workers start from blob: modules, which inherit this policy.
  assert.match(strict, /worker-src 'self' blob:;/);
  assert.doesNotMatch(strict, /https:|\*/);
  // Pasting a URL from a new origin offers to allow exactly that origin.
  await page.fill("#urls", `${BUCKET}/c.jpg?${SECRET}`);
  await page.click("#urls-form button[type=submit]");
  await page.waitForSelector("#origins-box:not([hidden])");
  assert.match(await page.textContent("#origins-text"), new RegExp(BUCKET.replace(/\./g, "\\.")));
  assert.match(await page.textContent("#failed"), /amazonaws\.com\/c\.jpg: OriginNotAllowed: /);
  await page.evaluate(() => {
    // A stored junk entry is ignored: only exact https origins widen the policy.
    const k = "clipsearch.allowedOrigins";
    localStorage.setItem(k, JSON.stringify(["http://evil.example", "*", "javascript:alert(1)"]));
  });
  await Promise.all([page.waitForEvent("load"), page.click("#origins-allow")]);
  await page.waitForSelector("body[data-model=loaded]", { timeout: 120_000 });
  const wide = await csp();
  assert.match(wide, /img-src 'self' blob: data:;/, "thumbnails never load from a remote origin");
  assert.match(wide, new RegExp(`connect-src 'self' ${BUCKET.replace(/\./g, "\\.")};`));
  assert.doesNotMatch(wide, /evil|\*|javascript/);
  assert.match(await page.textContent("#origins-current"), /demo-bucket/);
  // The policy is in force: an origin not allowed cannot be fetched from the page.
  const blocked = await page.evaluate(() => {
    const v = new Promise((ok) => document.addEventListener("securitypolicyviolation", (e) => ok(`${e.effectiveDirective} ${e.blockedURI}`), { once: true }));
    fetch("https://other.example/x").catch(() => {});
    return v;
  });
  assert.match(blocked, /^connect-src https:\/\/other\.example/);
  await page.evaluate(() => localStorage.removeItem("clipsearch.allowedOrigins"));
  await page.close();
});

test("presigned URLs from a real S3 server are embedded and searchable; an expired one is listed as UrlExpired", async () => {
  const s3 = await startS3({ allowOrigin: server.url });
  try {
    const B = "demo-photos";
    await s3.createBucket(B);
    for (const im of IMAGES) await s3.put(B, `trip/${im.name}`, im.buffer, im.mimeType);
    const good = IMAGES.slice(0, 2).map((im) => s3.presign("GET", B, `trip/${im.name}`));
    const expired = s3.presign("GET", B, `trip/${IMAGES[2].name}`, { date: new Date(Date.now() - 2 * 3600e3), expires: 60 });
    const sigs = [...good, expired].map((u) => new URL(u).searchParams.get("X-Amz-Signature"));
    const { page } = await openDemo({ allow: [s3.endpoint] });
    await page.fill("#urls", [...good, expired].join("\n"));
    await page.click("#urls-form button[type=submit]");
    await page.waitForSelector("body[data-failed='1']", { timeout: 60_000 });
    await page.waitForSelector("body[data-size='2']", { timeout: 60_000 });
    const failed = await page.$$eval("#failed li", (els) => els.map((e) => e.textContent));
    assert.equal(failed.length, 1);
    assert.ok(failed[0].startsWith(`${s3.endpoint}/${B}/trip/${IMAGES[2].name}: UrlExpired: `), failed[0]);
    await searchText(page, "a photo");
    const ids = await page.$$eval("#results .id", (els) => els.map((e) => e.textContent));
    assert.deepEqual([...ids].sort(), IMAGES.slice(0, 2).map((im) => `${s3.endpoint}/${B}/trip/${im.name}`).sort());
    // Thumbnails are the fetched bytes shown from blob: URLs, never the presigned URL itself.
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll("#results img")];
      return imgs.length === 2 && imgs.every((i) => i.getAttribute("src")?.startsWith("blob:") && i.complete && i.naturalWidth > 0);
    }, null, { timeout: 30_000 });
    const text = await page.evaluate(() => document.documentElement.outerHTML);
    for (const sig of sigs) assert.ok(sig && !text.includes(sig), "no signature anywhere in the page");
    await page.screenshot({ path: join(OUT, "demo-s3-urls.png"), fullPage: true });
    await page.close();
  } finally {
    await s3.close();
  }
});

test("a bucket that does not allow the page's origin is listed as CorsBlocked with the rule to add", async () => {
  const s3 = await startS3({ allowOrigin: "http://127.0.0.1:1" }); // not this page's origin
  try {
    const B = "demo-cors";
    await s3.createBucket(B);
    await s3.put(B, "x.png", IMAGES[2].buffer, "image/png");
    const url = s3.presign("GET", B, "x.png");
    const { page } = await openDemo({ allow: [s3.endpoint] });
    await page.fill("#urls", url);
    await page.click("#urls-form button[type=submit]");
    await page.waitForSelector("body[data-failed='1']", { timeout: 120_000 });
    const failed = await page.textContent("#failed li");
    assert.ok(failed.startsWith(`${s3.endpoint}/${B}/x.png: CorsBlocked: `), failed);
    assert.ok(failed.includes(`"AllowedOrigins":["${server.url}"]`), `the rule names this page's origin: ${failed}`);
    assert.ok(!failed.includes(new URL(url).searchParams.get("X-Amz-Signature")));
    await page.close();
  } finally {
    await s3.close();
  }
});

test("the query language model can be switched to the multilingual tower: the same images are searched in French", async () => {
  const { page, errors } = await openDemo();
  await addImages(page);
  await searchText(page, "a photo of a cat");
  const english = await page.$$eval("#results .score", (els) => els.map((e) => e.textContent));
  assert.equal(english.length, IMAGES.length);
  await page.selectOption("#query-model", "models/tiny-multilingual.gguf");
  await page.waitForSelector("body[data-query-model=distilbert]", { timeout: 60_000 });
  assert.match(await page.textContent("#query-model-info"), /tiny-multilingual · distilbert · space clip-fbda421a014b2990/);
  await searchText(page, "une photo d'un chat");
  const french = await page.$$eval("#results .score", (els) => els.map((e) => e.textContent));
  assert.equal(french.length, IMAGES.length, "every image is found: no re-embedding needed");
  assert.notDeepEqual(french, english, "the query went through the other text tower");
  await page.selectOption("#query-model", "");
  await page.waitForSelector("body[data-query-model=clip]");
  await searchText(page, "a photo of a cat");
  assert.deepEqual(await page.$$eval("#results .score", (els) => els.map((e) => e.textContent)), english);
  assert.deepEqual(errors, []);
  await page.close();
});
