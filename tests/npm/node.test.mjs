// The packed npm package in Node 20+ (no DOM, no Worker: the wasm runs in-process).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, importPacked } from "./helpers.mjs";

const MODEL = join(ROOT, "models", "tiny-clip.gguf");
const MANIFEST = JSON.parse(readFileSync(join(ROOT, "models", "manifest.json"), "utf8"));
const IMAGES = ["checker.png", "gradient.jpg", "noise.png"].map((f) => readFileSync(join(ROOT, "tests/fixtures/model", f)));
const { mod, pkgDir } = await importPacked();
const { ClipSearch } = mod;

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
async function rejectsWithName(p, name) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof Error, "an Error");
    assert.equal(e.name, name, e.message);
    assert.ok(e.message.length > 10, "a message that says something");
    return true;
  });
}

test("the tarball holds the wasm, its glue, the worker and types, and neither models nor www", () => {
  for (const f of ["package.json", "dist/index.js", "dist/index.d.ts", "dist/worker.js", "dist/engine.js", "pkg/clipsearch.js", "pkg/clipsearch_bg.wasm", "pkg/clipsearch.d.ts"]) {
    assert.ok(existsSync(join(pkgDir, f)), `${f} is in the package`);
  }
  for (const f of ["models", "www", "src", "js", "tests"]) assert.ok(!existsSync(join(pkgDir, f)), `${f} is not in the package`);
});

test("the model manifest matches the files in models/", () => {
  execFileSync("node", [join(ROOT, "scripts/make-manifest.mjs"), "--check"], { stdio: "pipe" });
  assert.equal(MANIFEST.models[0].file, "tiny-clip.gguf");
});

test("node embeds text and an image from bytes with the packed package", async () => {
  const cs = await ClipSearch.create({ model: readFileSync(MODEL) });
  try {
    assert.equal(cs.workers, 1, "no Worker in Node: one in-process engine");
    assert.equal(cs.info.key, MANIFEST.models[0].modelKey);
    const t = await cs.embedText("a photo of a cat");
    assert.ok(t instanceof Float32Array);
    assert.equal(t.length, cs.info.dim);
    assert.ok(Math.abs(norm(t) - 1) < 1e-4, `text embedding is L2-normalised (${norm(t)})`);
    const i = await cs.embedImage(IMAGES[0]);
    assert.equal(i.length, cs.info.dim);
    assert.ok(Math.abs(norm(i) - 1) < 1e-4, `image embedding is L2-normalised (${norm(i)})`);
  } finally {
    await cs.dispose();
  }
});

test("the index option reaches the collection: quantized scans answer as plain ones, bad values are refused", async () => {
  const plain = await ClipSearch.create({ model: readFileSync(MODEL) });
  const coded = await ClipSearch.create({ model: readFileSync(MODEL), index: { quantizedScan: true, minIndexSize: 1_000_000 } });
  try {
    const items = IMAGES.map((bytes, i) => ({ id: `img${i}`, bytes, metadata: { i } }));
    for (const cs of [plain, coded]) assert.equal((await cs.addImages(items)).embedded.length, 3);
    for (const q of ["a checkerboard", "noise", "a smooth gradient"]) {
      const [a, b] = [await plain.searchText(q, { k: 3 }), await coded.searchText(q, { k: 3 })];
      assert.equal(a.length, 3);
      assert.deepEqual(b, a, `same ids, order and scores for ${q}`);
    }
    assert.deepEqual(await coded.searchSimilar("img1", { k: 2 }), await plain.searchSimilar("img1", { k: 2 }));
  } finally {
    await plain.dispose();
    await coded.dispose();
  }
  await rejectsWithName(ClipSearch.create({ model: readFileSync(MODEL), index: { efSearch: 0 } }), "InvalidArgument");
  await rejectsWithName(ClipSearch.create({ model: readFileSync(MODEL), index: { quantizedScan: "yes" } }), "InvalidArgument");
  await rejectsWithName(ClipSearch.create({ model: readFileSync(MODEL), index: { vectorType: "f8" } }), "InvalidArgument");
});

test("an f16 collection stores each vector rounded to half precision and ranks as the f32 one", async () => {
  const plain = await ClipSearch.create({ model: readFileSync(MODEL) });
  const half = await ClipSearch.create({ model: readFileSync(MODEL), index: { vectorType: "f16", quantizedScan: true } });
  try {
    const items = IMAGES.map((bytes, i) => ({ id: `img${i}`, bytes }));
    for (const cs of [plain, half]) assert.equal((await cs.addImages(items)).embedded.length, 3);
    for (const q of ["a checkerboard", "noise", "a smooth gradient"]) {
      const [a, b] = [await plain.searchText(q, { k: 3 }), await half.searchText(q, { k: 3 })];
      assert.deepEqual(b.map((h) => h.id), a.map((h) => h.id), `same ranking for ${q}`);
      for (let i = 0; i < 3; i++) assert.ok(Math.abs(a[i].score - b[i].score) < 2e-3, `${q}: ${a[i].score} ~ ${b[i].score}`);
    }
  } finally {
    await plain.dispose();
    await half.dispose();
  }
});

test("add_images_reports_every_item_as_embedded_or_failed_with_a_reason", async () => {
  const cs = await ClipSearch.create({ model: readFileSync(MODEL) });
  try {
    const seen = [];
    const r = await cs.addImages(
      [
        { id: "checker", bytes: IMAGES[0], metadata: { kind: "png" } },
        { id: "gradient", bytes: IMAGES[1], metadata: { kind: "jpg" } },
        { id: "noise", bytes: new Uint8Array(IMAGES[2]).buffer, metadata: { kind: "png" } },
        { id: "broken", bytes: new Uint8Array([0xff, 0xd8, 0xff, 0x00, 1, 2, 3]) },
        { url: "https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Signature=secret" },
        { bytes: IMAGES[0] },
        { id: "two-sources", bytes: IMAGES[0], url: "https://example.com/x.jpg" },
      ],
      { onProgress: (p) => seen.push({ ...p }) },
    );
    assert.deepEqual(r.embedded.map((e) => e.id), ["checker", "gradient", "noise"]);
    assert.deepEqual(r.failed.map((f) => f.index), [3, 4, 5, 6]);
    assert.equal(r.failed[0].id, "broken");
    assert.match(r.failed[0].name, /^(ImageDecode|NotAnImage)$/);
    // Node has no route to the bucket: a network failure after the bounded retries.
    assert.equal(r.failed[1].name, "NetworkError", r.failed[1].message);
    assert.equal(r.failed[1].id, "s3://bucket/a.jpg", "the id of a URL item is its locator");
    for (const f of r.failed) assert.ok(!JSON.stringify(f).includes("secret"), "no presigned query string in a failure");
    assert.equal(r.failed[2].name, "InvalidArgument");
    assert.equal(r.failed[3].name, "InvalidArgument");
    assert.equal(r.size, 3);
    assert.equal(cs.size, 3);
    const last = seen.at(-1);
    assert.equal(last.done + last.failed, 7, "the last progress event accounts for every item");
    assert.equal(last.total, 7);

    const byImage = await cs.searchImage(IMAGES[1], { k: 3 });
    assert.equal(byImage[0].id, "gradient", "an image finds itself first");
    assert.ok(Math.abs(byImage[0].score - 1) < 1e-3);
    const byText = await cs.searchText("a gradient", { k: 2, filter: { must: [{ key: "kind", match: { value: "png" } }] } });
    assert.equal(byText.length, 2);
    for (const h of byText) assert.equal(h.metadata.kind, "png");
    const similar = await cs.searchSimilar("checker", { k: 5 });
    assert.ok(!similar.some((h) => h.id === "checker"), "more-like-this excludes the item itself");
    assert.equal(similar.length, 2);
    const rec = await cs.recommend({ positive: ["checker"], negative: ["noise"] }, { k: 5 });
    assert.deepEqual(rec.map((h) => h.id), ["gradient"]);

    const parquet = await cs.exportTable("parquet");
    assert.ok(parquet instanceof Uint8Array && parquet.length > 0);
    assert.equal(new TextDecoder().decode(parquet.subarray(0, 4)), "PAR1");
    const npy = await cs.exportTable("npy");
    assert.equal(npy.npy[1], "N".charCodeAt(0));
    assert.deepEqual(JSON.parse(npy.index).ids, ["checker", "gradient", "noise"]);
    assert.equal(npy.npy.length > 3 * 32 * 4, true);
    const qd = await cs.exportTable("qdrant");
    assert.equal(qd.points, 3);
    const points = qd.pointsNdjson.trim().split("\n").flatMap((l) => JSON.parse(l).points);
    assert.deepEqual(points.map((p) => p.payload.locator).sort(), ["checker", "gradient", "noise"]);

    const other = await ClipSearch.create({ model: readFileSync(MODEL) });
    const rep = await other.importTable(parquet);
    assert.equal(rep.inserted, 3);
    assert.equal(other.size, 3);
    assert.deepEqual((await other.searchImage(IMAGES[1], { k: 1 }))[0].id, "gradient");
    await other.dispose();

    assert.equal(await cs.remove(["noise", "missing"]), 1);
    assert.equal(cs.size, 2);
    await rejectsWithName(cs.searchSimilar("noise"), "UnknownId");
    await rejectsWithName(cs.exportTable("csv"), "InvalidArgument");
    await rejectsWithName(cs.save(), "Unsupported");
  } finally {
    await cs.dispose();
  }
  await rejectsWithName(cs.searchText("x"), "Disposed");
});

test("errors reach javascript as Error objects with a stable name", async () => {
  await rejectsWithName(ClipSearch.create({ model: new Uint8Array([1, 2, 3, 4]) }), "InvalidModel");
  await rejectsWithName(ClipSearch.create({ model: readFileSync(MODEL), sha256: "00".repeat(32) }), "ChecksumMismatch");
  const cs = await ClipSearch.create({ model: readFileSync(MODEL) });
  await rejectsWithName(cs.embedImage(new Uint8Array(0)), "EmptyInput");
  await rejectsWithName(cs.searchVector(new Float32Array(3)), "DimensionMismatch");
  await cs.dispose();
});

test("a model url is checked against the manifest before it is used", async () => {
  const manifest = structuredClone(MANIFEST);
  const cs = await ClipSearch.create({ model: pathToFileURL(MODEL), manifest });
  assert.equal(cs.info.key, MANIFEST.models[0].modelKey);
  await cs.dispose();
  manifest.models[0].sha256 = "ab".repeat(32);
  await rejectsWithName(ClipSearch.create({ model: pathToFileURL(MODEL), manifest }), "ChecksumMismatch");
  manifest.models[0].file = "other.gguf";
  await rejectsWithName(ClipSearch.create({ model: pathToFileURL(MODEL), manifest }), "InvalidArgument");
});

test("text_only_mode_refuses_to_add_images", async () => {
  const events = [];
  const cs = await ClipSearch.create({ model: readFileSync(MODEL), textOnly: true, onProgress: (p) => events.push(p.status) });
  assert.deepEqual(events, ["loading", "ready"]);
  assert.equal((await cs.embedText("hello")).length, cs.info.dim);
  await rejectsWithName(cs.addImages([{ id: "a", bytes: IMAGES[0] }]), "TowerNotLoaded");
  await cs.dispose();
});

test("an abort signal stops add_images promptly and every item is still accounted for", async () => {
  const cs = await ClipSearch.create({ model: readFileSync(MODEL) });
  const ctl = new AbortController();
  const items = Array.from({ length: 12 }, (_, i) => ({ id: `img-${i}`, bytes: IMAGES[i % 3] }));
  const r = await cs.addImages(items, {
    signal: ctl.signal,
    onProgress: (p) => p.done === 2 && ctl.abort(),
  });
  assert.equal(r.aborted, true);
  assert.deepEqual(r.embedded.map((e) => e.id), ["img-0", "img-1"]);
  assert.equal(r.failed.length, 10);
  for (const f of r.failed) assert.equal(f.name, "AbortError");
  assert.deepEqual([...r.embedded, ...r.failed].map((x) => x.index).sort((a, b) => a - b), items.map((_, i) => i));
  assert.equal(cs.size, 2);
  await cs.dispose();
});

test("dispose during add_images fails the remaining items with Disposed instead of dropping them", async () => {
  const cs = await ClipSearch.create({ model: readFileSync(MODEL) });
  const items = Array.from({ length: 20 }, (_, i) => ({ id: `img-${i}`, bytes: IMAGES[i % 3] }));
  const r = await cs.addImages(items, { onProgress: (p) => p.done === 2 && cs.dispose() });
  assert.equal(r.embedded.length, 2);
  assert.equal(r.failed.length, 18);
  for (const f of r.failed) assert.equal(f.name, "Disposed", f.message);
  assert.deepEqual([...r.embedded, ...r.failed].map((x) => x.index).sort((a, b) => a - b), items.map((_, i) => i));
});
