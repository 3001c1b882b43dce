// Embedding tables move between the browser and the native CLI without re-embedding: a Parquet
// table exported in headless Chromium is searched by `clipsearch search` with the same results,
// and a table made by `clipsearch index` imports in the browser with the same results.
// Needs the CLI built (`cargo build --bin clipsearch`; `make test-e2e` does it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch, serveDemo, ROOT } from "./helpers.mjs";

const BIN = process.env.CLIPSEARCH_BIN ?? join(ROOT, process.env.CARGO_TARGET_DIR ?? "target", "debug", "clipsearch");
const MODEL = join(ROOT, "models/tiny-clip.gguf");
const NAMES = ["gradient.jpg", "noise.png", "checker.png"];
const fixture = (name) => join(ROOT, "tests/fixtures/model", name);

let server, browser, page, dir;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "clipsearch-roundtrip-"));
  server = await serveDemo();
  browser = await launch();
  page = await browser.context.newPage();
  await page.goto(server.url + "/");
  // The raw bindings, loaded as any page would (same origin, CSP default-src 'self').
  await page.evaluate(async () => {
    const cs = await import("/pkg/clipsearch.js");
    await cs.default();
    const bytes = new Uint8Array(await (await fetch("/models/tiny-clip.gguf")).arrayBuffer());
    globalThis.cs = cs;
    globalThis.model = cs.ClipModel.fromGguf(bytes);
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Native `clipsearch search --id` results. */
function nativeSearch(table, id, k) {
  const out = execFileSync(BIN, ["search", "--table", table, "--id", id, "-k", String(k)], { encoding: "utf8" });
  return out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

function sameResults(browserHits, nativeHits, label) {
  assert.deepEqual(browserHits.map((h) => h.id), nativeHits.map((h) => h.id), label);
  for (let i = 0; i < browserHits.length; i++) {
    assert.ok(Math.abs(browserHits[i].score - nativeHits[i].score) < 1e-5, `${label}: score ${i}`);
  }
}

test("a table exported in the browser is searched natively with the same results", async () => {
  const images = NAMES.map((n) => ({ id: `album/${n}`, bytes: [...readFileSync(fixture(n))], meta: { file: n, size: n.length } }));
  const { parquet, hits } = await page.evaluate(async (images) => {
    const col = new cs.Collection(model.spaceInfo());
    for (const im of images) col.upsert(im.id, model.embedImage(new Uint8Array(im.bytes)), im.meta);
    const hits = {};
    for (const im of images) hits[im.id] = col.searchById(im.id, { k: 2 });
    return { parquet: [...col.exportParquet({ createdAt: "2026-11-22T00:00:00Z" })], hits };
  }, images);
  const table = join(dir, "from-browser.parquet");
  writeFileSync(table, Uint8Array.from(parquet));
  for (const im of images) sameResults(hits[im.id], nativeSearch(table, im.id, 2), im.id);
  // Metadata survives the trip.
  const one = nativeSearch(table, "album/noise.png", 1)[0];
  assert.deepEqual(one.metadata, images.find((i) => i.id === one.id).meta);
});

test("a table made by the native CLI imports in the browser with the same results", async () => {
  const folder = join(dir, "photos");
  execFileSync("mkdir", ["-p", folder]);
  for (const n of NAMES) copyFileSync(fixture(n), join(folder, n));
  const table = join(dir, "from-cli.parquet");
  execFileSync(BIN, ["index", folder, "--model", MODEL, "-o", table, "--quiet"], { encoding: "utf8" });
  const { report, hits, ids } = await page.evaluate(async (bytes) => {
    const col = new cs.Collection(model.spaceInfo());
    const report = col.importParquet(new Uint8Array(bytes), {});
    const ids = col.ids();
    const hits = {};
    for (const id of ids) hits[id] = col.searchById(id, { k: 2 });
    return { report, hits, ids };
  }, [...readFileSync(table)]);
  assert.equal(report.inserted, NAMES.length, JSON.stringify(report));
  assert.equal(report.rejected.length, 0);
  assert.deepEqual([...ids].sort(), [...NAMES].sort());
  for (const id of ids) sameResults(hits[id], nativeSearch(table, id, 2), id);
});
