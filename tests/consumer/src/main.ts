// A consumer of the packed clipsearch package, as a web developer would write it. The browser
// test (tests/npm/consumer.test.mjs) drives it through `window.app`.
import { ClipSearch, clearModelCache, type LoadProgress, type SearchHit, type AddImagesResult } from "clipsearch";

const params = new URLSearchParams(location.search);
const MODEL = new URL(params.get("model") ?? "models/tiny-clip.gguf", location.href).href;
const MANIFEST = new URL("models/manifest.json", location.href).href;

let cs: ClipSearch | null = null;
const progress: LoadProgress[] = [];

// Main-thread frame monitor: requestAnimationFrame deltas while `monitoring`.
let monitoring = false;
let gaps: number[] = [];
let last = performance.now();
function tick(t: number) {
  if (monitoring) gaps.push(t - last);
  last = t;
  requestAnimationFrame(tick);
}
requestAnimationFrame(tick);

function need(): ClipSearch {
  if (!cs) throw new Error("call open() first");
  return cs;
}

/** PNG blobs of `n` distinct small images drawn on a canvas. */
async function makeImages(n: number, side = 64): Promise<Blob[]> {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = side;
  const ctx = canvas.getContext("2d")!;
  const out: Blob[] = [];
  for (let i = 0; i < n; i++) {
    ctx.fillStyle = `hsl(${(i * 137) % 360} 70% 50%)`;
    ctx.fillRect(0, 0, side, side);
    ctx.fillStyle = `hsl(${(i * 59) % 360} 60% ${20 + (i % 60)}%)`;
    ctx.fillRect((i * 7) % side, (i * 13) % side, side / 2, side / 3);
    out.push(await new Promise<Blob>((ok) => canvas.toBlob((b) => ok(b!), "image/png")));
  }
  return out;
}

const app = {
  async open(workers?: number) {
    progress.length = 0;
    await cs?.dispose();
    cs = await ClipSearch.open("consumer", { model: MODEL, manifest: MANIFEST, workers, onProgress: (p) => progress.push(p) });
    return { size: cs.size, info: cs.info, workers: cs.workers, progress: progress.map((p) => ({ ...p })) };
  },
  async addBytes(images: Array<{ id: string; bytes: number[]; type: string; metadata?: Record<string, unknown> }>): Promise<AddImagesResult> {
    const items = images.map((im) => ({ id: im.id, blob: new Blob([new Uint8Array(im.bytes)], { type: im.type }), metadata: im.metadata }));
    return need().addImages(items);
  },
  /** Adds images by presigned URL (fetched, decoded and embedded in the package's workers). */
  async addUrls(items: Array<{ url: string; metadata?: Record<string, unknown> }>) {
    const r = await need().addImages(items);
    const qdrant = await need().exportTable("qdrant");
    return { ...r, ids: await need().ids(), qdrant: qdrant.pointsNdjson };
  },
  async searchText(q: string, k = 10): Promise<SearchHit[]> {
    return need().searchText(q, { k });
  },
  async searchImage(bytes: number[], k = 10): Promise<SearchHit[]> {
    return need().searchImage(new Blob([new Uint8Array(bytes)]), { k });
  },
  async searchSimilar(id: string): Promise<SearchHit[]> {
    return need().searchSimilar(id, { k: 5 });
  },
  async exportAll() {
    const c = need();
    const parquet = await c.exportTable("parquet");
    const npy = await c.exportTable("npy");
    const qdrant = await c.exportTable("qdrant");
    return { parquetMagic: new TextDecoder().decode(parquet.subarray(0, 4)), parquetBytes: parquet.length, npyBytes: npy.npy.length, qdrantPoints: qdrant.points };
  },
  async save() {
    await need().save();
    return need().size;
  },
  async clear() {
    await need().clear({ deleteSaved: true });
  },
  /** Embeds `n` generated images while measuring main-thread frame gaps. */
  async ingestMeasured(n: number, concurrency?: number) {
    const blobs = await makeImages(n);
    const c = need();
    const events: number[] = [];
    await new Promise((r) => requestAnimationFrame(r));
    gaps = [];
    monitoring = true;
    const t0 = performance.now();
    const r = await c.addImages(
      blobs.map((blob, i) => ({ id: `gen-${i}`, blob, metadata: { i } })),
      { concurrency, onProgress: (p) => events.push(p.done + p.failed) },
    );
    const ms = performance.now() - t0;
    monitoring = false;
    const engines = (await c.memoryUsage()).length;
    const sorted = [...gaps].sort((a, b) => a - b);
    const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))] ?? 0;
    return {
      embedded: r.embedded.length,
      failed: r.failed,
      size: r.size,
      engines,
      hardwareConcurrency: navigator.hardwareConcurrency,
      ms,
      progressEvents: events.length,
      frames: gaps.length,
      gapMedian: q(0.5),
      gapP95: q(0.95),
      gapMax: sorted[sorted.length - 1] ?? 0,
    };
  },
  /** Adds `n` generated images with a signal aborted after `after` are done. */
  async ingestAborted(n: number, after: number) {
    const blobs = await makeImages(n);
    const ctl = new AbortController();
    const r = await need().addImages(
      blobs.map((blob, i) => ({ id: `abort-${i}`, blob })),
      { signal: ctl.signal, onProgress: (p) => p.done >= after && ctl.abort() },
    );
    return { aborted: r.aborted, embedded: r.embedded.map((e) => e.index), failed: r.failed.map((f) => [f.index, f.name]), size: need().size };
  },
  /** Tries to load the model from `url` with an empty model cache; reports the error and what the cache holds then. */
  async tryLoad(url: string) {
    await clearModelCache();
    let result: { ok: true } | { ok: false; name: string; message: string };
    try {
      const c = await ClipSearch.create({ model: new URL(url, location.href).href, manifest: MANIFEST, workers: 1 });
      await c.dispose();
      result = { ok: true };
    } catch (e) {
      result = { ok: false, name: (e as Error).name, message: (e as Error).message };
    }
    const cache = await caches.open("clipsearch-models-v1");
    const keys = (await cache.keys()).map((r) => r.url);
    return { ...result, cacheKeys: keys };
  },
  /** Two early `create` calls for one model, with the model cache emptied first. */
  async twoEarly() {
    await clearModelCache();
    const [a, b] = await Promise.all([
      ClipSearch.create({ model: MODEL, manifest: MANIFEST, workers: 1 }),
      ClipSearch.create({ model: MODEL, manifest: MANIFEST, workers: 1 }),
    ]);
    const same = a.info.key === b.info.key;
    const dims = [(await a.embedText("x")).length, (await b.embedText("x")).length];
    await a.dispose();
    await b.dispose();
    return { same, dims };
  },
  /** Wasm memory of each started worker, bytes. */
  async memory(): Promise<number[]> {
    return need().memoryUsage();
  },
  async dispose() {
    await cs?.dispose();
    cs = null;
  },
};

(window as unknown as { app: typeof app }).app = app;
document.getElementById("status")!.textContent = "ready";
document.body.dataset.ready = "1";
