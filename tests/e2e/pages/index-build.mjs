// Harness of tests/e2e/index_build.test.mjs: the npm package (dist/) builds a collection's HNSW
// segments in several workers; a reference collection in this page (the wasm module, no
// worker) builds the same items in place with `maintain()`.
import { ClipSearch } from "/dist/index.js";
import init, { ClipModel, Collection } from "/pkg/clipsearch.js";

const MODEL = "/models/tiny-clip.gguf";
const POLICY = { minIndexSize: 100, minTail: 50, maxSegmentSize: 400 };
let space = null;

/** `n` seeded clustered vectors of `dim` values (ids `v00000`...). */
function vectors(seed, n, dim, from = 0) {
  let s = BigInt(seed);
  const next = () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(s >> 40n) / 2 ** 24 - 0.5;
  };
  const centres = Array.from({ length: 8 }, () => Array.from({ length: dim }, next));
  return Array.from({ length: n }, (_, i) => ({
    id: `v${String(from + i).padStart(5, "0")}`,
    vector: Float32Array.from(centres[i % 8], (c) => c + 0.4 * next()),
  }));
}

/**
 * Imports `sizes[0]` items, then `sizes[1]` more, ... into a ClipSearch with `workers`, and
 * the same into an in-page collection maintained in place; returns each step's index stats,
 * and whether 20 searches gave the same ids and scores (to the bit) in both.
 */
window.compare = async (workers, sizes) => {
  await init({ module_or_path: "/pkg/clipsearch_bg.wasm" });
  if (!space) {
    const bytes = new Uint8Array(await (await fetch(MODEL)).arrayBuffer());
    const m = ClipModel.fromGguf(bytes);
    space = m.spaceInfo();
    m.free();
  }
  const cs = await ClipSearch.create({ model: MODEL, workers, cache: false, index: POLICY });
  const ref = new Collection(space, POLICY);
  const steps = [];
  let from = 0;
  try {
    for (const [k, n] of sizes.entries()) {
      const items = vectors(100 + k, n, space.dim, from);
      from += n;
      const table = new Collection(space, { minIndexSize: 1e9 });
      for (const it of items) table.upsert(it.id, it.vector, {});
      const parquet = table.exportParquet({ idColumns: ["locator"] });
      table.free();
      const report = await cs.importTable(parquet, { idColumn: "locator" });
      for (const it of items) ref.upsert(it.id, it.vector, {});
      if (ref.needsRebuild()) ref.maintain();
      const stats = await cs.indexStats();
      let same = 0;
      const queries = vectors(999, 20, space.dim);
      for (const q of queries) {
        const a = await cs.searchVector(q.vector, { k: 10 });
        const b = ref.search(q.vector, { k: 10 });
        const key = (hits) => JSON.stringify(hits.map((h) => [h.id, h.score]));
        if (key(a) === key(b)) same++;
      }
      steps.push({ inserted: report.inserted, stats, refStats: ref.stats(), same, queries: queries.length });
    }
  } finally {
    ref.free();
    await cs.dispose();
  }
  return steps;
};
document.body.dataset.ready = "true";

/**
 * `n` vectors as in `examples/bench_index.rs`: 100 Gaussian centres, Gaussian noise of σ 1 per
 * value (seeded; not the same generator, the same distribution).
 */
function benchVectors(seed, n, dim) {
  let s = BigInt(seed);
  const uniform = () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return (Number(s >> 40n) + 0.5) / 2 ** 24;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const centres = Array.from({ length: 100 }, () => Array.from({ length: dim }, gauss));
  return Array.from({ length: n }, (_, i) => ({
    id: `v${String(i).padStart(6, "0")}`,
    vector: Float32Array.from(centres[Math.floor(uniform() * 100)], (c) => c + gauss()),
  }));
}

/**
 * Benchmark (benches/index_workers.mjs): imports `n` items (default policy: segments of 25k)
 * in the space of `model` (a URL; default the tiny model) into a ClipSearch with `workers`; returns the import's wall-clock ms (the index build
 * included) and the build in workers, if one ran.
 */
window.timeBuild = async (workers, n, model = MODEL) => {
  await init({ module_or_path: "/pkg/clipsearch_bg.wasm" });
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const m = ClipModel.fromGguf(bytes);
  const space = m.spaceInfo();
  m.free();
  const table = new Collection(space, { minIndexSize: 1e9 });
  for (const it of benchVectors(42, n, space.dim)) table.upsert(it.id, it.vector, {});
  const parquet = table.exportParquet({ idColumns: ["locator"] });
  table.free();
  const cs = await ClipSearch.create({ model, workers, cache: false });
  try {
    const t = performance.now();
    await cs.importTable(parquet, { idColumn: "locator" });
    const ms = performance.now() - t;
    const stats = await cs.indexStats();
    return { workers, n, dim: space.dim, importMs: Math.round(ms), segments: stats.segments, lastBuild: stats.lastBuild };
  } finally {
    await cs.dispose();
  }
};

/** `n` small distinct PNG images (colour gradients), as Blobs. */
async function images(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = new OffscreenCanvas(24, 24);
    const g = c.getContext("2d");
    const grad = g.createLinearGradient(0, 0, 24, (i % 7) * 4);
    grad.addColorStop(0, `hsl(${(i * 37) % 360} 80% 50%)`);
    grad.addColorStop(1, `hsl(${(i * 91 + 120) % 360} 60% ${20 + (i % 5) * 12}%)`);
    g.fillStyle = grad;
    g.fillRect(0, 0, 24, 24);
    out.push(await c.convertToBlob({ type: "image/png" }));
  }
  return out;
}

/**
 * Adds `n` images through `addImages` with `workers` (the helpers embed, the primary upserts
 * and builds the index in workers between its batches); returns the index stats and the
 * progress statuses seen.
 */
window.ingest = async (workers, n, index) => {
  const cs = await ClipSearch.create({ model: MODEL, workers, cache: false, index });
  try {
    const blobs = await images(n);
    const seen = new Set();
    const r = await cs.addImages(blobs.map((blob, i) => ({ id: `img${i}`, blob })), { onProgress: (p) => seen.add(p.status) });
    return { embedded: r.embedded.length, failed: r.failed, stats: await cs.indexStats(), statuses: [...seen] };
  } finally {
    await cs.dispose();
  }
};
