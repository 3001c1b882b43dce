// The side of clipsearch that owns the wasm: a model and (in the primary engine) the collection.
// It runs inside a Web Worker (worker.ts) or, where there are no workers (Node), in-process.
// Every public method is one RPC: plain data and typed arrays in, plain data out.

import type * as Wasm from "../pkg/clipsearch.js";
import { errorInfo, namedError, JsErrorNames } from "./errors.js";
import { chooseWasmKernel, type WasmKernel } from "./loader.js";
import type { FailedItem, IndexOptions, Metadata, ModelInfo } from "./types.js";

/** One item as the engine receives it (normalised on the calling side). */
export interface WireItem {
  /** Index in the caller's array. */
  index: number;
  id?: string;
  url?: string;
  blob?: Blob;
  bytes?: Uint8Array;
  /** File name, the default id of a `File`. */
  name?: string;
  metadata?: Metadata;
}

/** An embedded item handed back by a helper engine (no collection there). */
export interface EmbeddedItem {
  index: number;
  id: string;
  embedding: Float32Array;
  metadata: Metadata;
}

/** Per-call context: progress to the caller and the call's abort signal. */
export interface CallContext {
  progress: (p: unknown) => void;
  signal: AbortSignal;
}

/** The contract of the wasm ingestion pipeline (issue #5), present once it is merged. */
type EmbedImagesFn = (
  model: Wasm.ClipModel,
  items: Array<{ id?: string; url?: string; blob?: Blob; bytes?: Uint8Array; metadata?: Metadata }>,
  options: {
    concurrency?: number;
    timeoutMs?: number;
    maxAttempts?: number;
    signal?: AbortSignal;
    onProgress?: (p: { done: number; failed: number; total: number; bytes: number }) => void;
    onItem?: (r: { index: number; id: string; embedding: Float32Array; metadata: Metadata }) => void;
  },
) => Promise<{
  embedded: Array<{ index: number; id: string }>;
  failed: Array<{ index: number; id: string | null; name: string; message: string }>;
  aborted: boolean;
}>;

let wasmReady: Promise<void> | null = null;
let wasmMemory: WebAssembly.Memory | null = null;
/** The module this realm instantiated (one per realm: its JS glue holds one instance). */
let wasmKernel: WasmKernel | null = null;
/** The bindings of the instantiated module (set by `initWasm`). */
let wasm: typeof Wasm;

/** The wasm module instantiated in this realm, or null before the first load. */
export function loadedWasmKernel(): WasmKernel | null {
  return wasmKernel;
}

/**
 * Instantiates the wasm once per realm (one shared promise: concurrent calls never load twice).
 * `kernel` picks the module (see `chooseWasmKernel`): `pkg/clipsearch_relaxed.js` +
 * `clipsearch_relaxed_bg.wasm` or `pkg/clipsearch.js` + `clipsearch_bg.wasm` (each module has
 * its own wasm-bindgen glue: their closure shims' mangled names differ). Only the chosen module
 * is downloaded. A realm that already runs the other module throws `Unsupported` for a forced
 * kernel (use a worker per model instead); `"auto"` reuses whatever runs.
 */
export function initWasm(kernel: WasmKernel | "auto" = "auto"): Promise<void> {
  const want = chooseWasmKernel(kernel);
  if (wasmKernel !== null && wasmKernel !== want && kernel !== "auto") {
    return Promise.reject(
      namedError(
        JsErrorNames.Unsupported,
        `this realm already runs the ${wasmKernel} wasm module and cannot load the ${want} one: use a worker (useWorker: true) per model`,
      ),
    );
  }
  wasmReady ??= (async () => {
    wasmKernel = want;
    const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown };
    // Literal `import()` and `new URL(..., import.meta.url)` forms, so bundlers emit both modules.
    const [glue, url] =
      want === "relaxed"
        ? [(await import("../pkg/clipsearch_relaxed.js")) as unknown as typeof Wasm, new URL("../pkg/clipsearch_relaxed_bg.wasm", import.meta.url)]
        : [await import("../pkg/clipsearch.js"), new URL("../pkg/clipsearch_bg.wasm", import.meta.url)];
    if (g.process?.versions?.node && url.protocol === "file:") {
      // Node: no fetch of file: URLs; read the module from beside this file.
      const fsName = "node:fs/promises";
      const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(u: URL): Promise<Uint8Array> };
      wasmMemory = (await glue.default({ module_or_path: await fs.readFile(url) })).memory;
    } else {
      wasmMemory = (await glue.default({ module_or_path: url })).memory;
    }
    wasm = glue;
  })().catch((e) => {
    wasmReady = null;
    wasmKernel = null;
    throw e;
  });
  return wasmReady;
}

interface SavedRecord {
  bytes: Uint8Array;
  modelKey: string;
  savedAt: string;
  size: number;
}

const DB_NAME = "clipsearch";
const STORE = "collections";

function idbOpen(): Promise<IDBDatabase> {
  if (typeof indexedDB === "undefined") {
    return Promise.reject(
      namedError(
        JsErrorNames.Unsupported,
        "IndexedDB is not available here (Node?): keep the collection with exportTable('parquet') and importTable() instead",
      ),
    );
  }
  return new Promise((ok, fail) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

async function idbRequest<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await idbOpen();
  try {
    return await new Promise<T>((ok, fail) => {
      const tx = db.transaction(STORE, mode);
      const req = f(tx.objectStore(STORE));
      tx.oncomplete = () => ok(req.result as T);
      tx.onerror = () => fail(tx.error);
      tx.onabort = () => fail(tx.error);
    });
  } finally {
    db.close();
  }
}

function disposedError(): Error {
  return namedError(JsErrorNames.Disposed, "this ClipSearch was disposed before this item was embedded");
}

/** Owns one model and, when primary, the collection. */
export class Engine {
  private model: Wasm.ClipModel | null = null;
  /** A separate query text model in the same space (e.g. multilingual), when set. */
  private textModel: Wasm.ClipModel | null = null;
  private collection: Wasm.Collection | null = null;
  /** The `index` option of `create` (the collection's policy), if given. */
  private indexOptions: IndexOptions | undefined = undefined;
  private loading: Promise<ModelInfo> | null = null;
  /** Controllers of the ingestion runs in progress (dispose() aborts them). */
  private active = new Set<AbortController>();

  /** Loads the model from verified bytes (once; a second call returns the same promise). */
  load(args: { bytes: Uint8Array; kernel?: WasmKernel | "auto"; index?: IndexOptions }): Promise<ModelInfo> {
    this.loading ??= (async () => {
      await initWasm(args.kernel ?? "auto");
      this.model = wasm.ClipModel.fromGguf(args.bytes);
      if (args.index !== undefined) {
        // Created now, so an unusable policy fails `create` rather than the first add.
        this.indexOptions = args.index;
        this.col();
      }
      return { ...(this.model.info as ModelInfo), wasmModule: wasmKernel ?? "simd128" };
    })().catch((e) => {
      this.loading = null;
      throw e;
    });
    return this.loading;
  }

  private requireModel(): Wasm.ClipModel {
    if (!this.model) throw namedError("InvalidArgument", "the model is not loaded yet");
    return this.model;
  }

  /** The model text queries go through: the separate text model when set, else the model. */
  private queryModel(): Wasm.ClipModel {
    return this.textModel ?? this.requireModel();
  }

  /**
   * Loads a separate query text model (e.g. a multilingual tower), replacing the previous one;
   * `bytes: null` goes back to the model's own text tower. Throws `ModelMismatch` when its
   * space is not the model's, `TowerNotLoaded` when it has no text tower.
   */
  async loadTextModel(args: { bytes: Uint8Array | null }): Promise<ModelInfo | null> {
    if (this.loading) await this.loading;
    const main = this.requireModel().info as ModelInfo;
    if (args.bytes === null) {
      this.textModel?.free();
      this.textModel = null;
      return null;
    }
    const m = wasm.ClipModel.fromGguf(args.bytes);
    const info = m.info as ModelInfo;
    if (!info.hasText) {
      m.free();
      throw namedError("TowerNotLoaded", `the text model ${info.name} has no text tower`);
    }
    if (info.space !== main.space || info.dim !== main.dim) {
      m.free();
      throw namedError(
        "ModelMismatch",
        `the text model ${info.name} lives in space ${info.space} (${info.dim}-d), but the collection's model is ${main.space} (${main.dim}-d): load a text model converted with --space ${main.space}`,
      );
    }
    this.textModel?.free();
    this.textModel = m;
    return { ...info, wasmModule: wasmKernel ?? "simd128" };
  }

  private col(): Wasm.Collection {
    this.collection ??= new wasm.Collection(this.requireModel().spaceInfo(), this.indexOptions);
    return this.collection;
  }

  /** Number of items in the collection. */
  size(): number {
    return this.collection ? this.collection.size : 0;
  }

  /** Embeds a text query. */
  embedText(args: { text: string }): Float32Array {
    return toF32(this.queryModel().embedText(args.text));
  }

  /** Embeds an encoded image. */
  async embedImage(args: { blob?: Blob; bytes?: Uint8Array }): Promise<Float32Array> {
    return toF32(this.requireModel().embedImage(await bytesOf(args)));
  }

  /**
   * Embeds items; with `upsert` (the primary engine) each result goes into the collection and
   * the index is maintained when `needsRebuild()` says so; otherwise the embeddings are
   * returned. Every item ends in `embedded` or `failed`.
   */
  async embedItems(
    args: { items: WireItem[]; upsert: boolean; concurrency?: number; timeoutMs?: number; maxAttempts?: number; deferIndex?: boolean },
    ctx: CallContext,
  ): Promise<{ embedded: EmbeddedItem[] | Array<{ index: number; id: string }>; failed: FailedItem[]; size: number; needsIndex: boolean }> {
    const model = this.requireModel();
    const { items, upsert } = args;
    const embedded: EmbeddedItem[] = [];
    const failed: FailedItem[] = [];
    const report = (ok: boolean, bytes: number) => ctx.progress({ ok, bytes });
    const accept = (index: number, id: string, embedding: Float32Array, metadata: Metadata) => {
      if (upsert && !this.model) {
        failed.push({ index, id, ...errorInfo(disposedError()) });
        return false;
      }
      if (upsert) {
        try {
          this.col().upsert(id, embedding, metadata);
        } catch (e) {
          failed.push({ index, id, ...errorInfo(e) });
          return false;
        }
        embedded.push({ index, id, embedding: EMPTY, metadata });
      } else {
        embedded.push({ index, id, embedding, metadata });
      }
      return true;
    };

    // The wasm ingestion pipeline: fetch with timeout and retries, the browser's decoder (the
    // image crate where there is none), typed failures, bounded concurrency. Its own controller
    // follows the caller's signal and is aborted by dispose(), which also ends the run.
    const embedImages = (wasm as unknown as { embedImages: EmbedImagesFn }).embedImages;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    if (ctx.signal.aborted) ac.abort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    this.active.add(ac);
    let bytesSoFar = 0;
    const seen = new Set<number>();
    try {
      const r = await embedImages(
        model,
        items.map((it) => ({ id: it.id ?? it.name, url: it.url, blob: it.blob, bytes: it.bytes, metadata: it.metadata })),
        {
          concurrency: args.concurrency,
          timeoutMs: args.timeoutMs,
          maxAttempts: args.maxAttempts,
          signal: ac.signal,
          onProgress: (p) => {
            bytesSoFar = p.bytes;
          },
          onItem: (r) => {
            const it = items[r.index];
            if (it && !seen.has(r.index)) {
              seen.add(r.index);
              report(accept(it.index, r.id, toF32(r.embedding), r.metadata ?? it.metadata ?? {}), 0);
            }
          },
        },
      );
      for (const f of r.failed) {
        const it = items[f.index];
        if (it && !seen.has(f.index)) {
          seen.add(f.index);
          const info = !this.model && f.name === "AbortError" ? errorInfo(disposedError()) : { name: f.name, message: f.message };
          failed.push({ index: it.index, id: f.id, ...info });
          report(false, 0);
        }
      }
    } catch (e) {
      // The pipeline itself failed: every item it did not report fails with that reason.
      const info = errorInfo(e);
      items.forEach((it, i) => {
        if (!seen.has(i)) {
          seen.add(i);
          failed.push({ index: it.index, id: it.id ?? null, ...info });
          report(false, 0);
        }
      });
    } finally {
      this.active.delete(ac);
      ctx.signal.removeEventListener("abort", onAbort);
    }
    // Nothing dropped silently, even if the pipeline forgot an item.
    items.forEach((it, i) => {
      if (!seen.has(i)) {
        failed.push({ index: it.index, id: it.id ?? null, name: "InvalidData", message: "the ingestion pipeline reported neither a result nor a failure for this item" });
        report(false, 0);
      }
    });
    ctx.progress({ ok: null, bytes: bytesSoFar });
    const needsIndex = upsert ? this.maybeRebuild(ctx, args.deferIndex) : false;
    return { embedded, failed, size: this.size(), needsIndex };
  }

  /** Upserts embeddings computed by a helper engine; rebuilds the graph when it pays off. */
  upsertEmbedded(
    args: { items: EmbeddedItem[]; deferIndex?: boolean },
    ctx: CallContext,
  ): { embedded: Array<{ index: number; id: string }>; failed: FailedItem[]; size: number; needsIndex: boolean } {
    const embedded: Array<{ index: number; id: string }> = [];
    const failed: FailedItem[] = [];
    const c = this.col();
    for (const it of args.items) {
      try {
        c.upsert(it.id, it.embedding, it.metadata);
        embedded.push({ index: it.index, id: it.id });
      } catch (e) {
        failed.push({ index: it.index, id: it.id, ...errorInfo(e) });
      }
    }
    const needsIndex = this.maybeRebuild(ctx, args.deferIndex);
    return { embedded, failed, size: this.size(), needsIndex };
  }

  /**
   * Maintains the index when `needsRebuild()` says so, here and now; with `defer` only says
   * whether it is due (the caller then builds it with `planIndex` / `buildSegment` /
   * `applyIndex`, in several workers). Returns whether an index build is (still) due.
   */
  private maybeRebuild(ctx: CallContext, defer = false): boolean {
    const c = this.collection;
    if (!c || !c.needsRebuild()) return false;
    if (defer) return true;
    ctx.progress({ index: true });
    // New items become new graph segments when that is enough; otherwise a full rebuild.
    c.maintain();
    return false;
  }

  /** Starts this engine as a segment builder only: the wasm module, no model. */
  async initBuilder(args: { kernel?: WasmKernel | "auto" }): Promise<void> {
    await initWasm(args.kernel ?? "auto");
  }

  /**
   * The graph segments an index build needs (`Collection.planIndex`), or null when none is
   * due. The collection keeps answering searches on its current graph until `applyIndex`. A
   * build of fewer than `minJobs` segments is done here at once instead, as `maintain()` does
   * it (nothing to share out: no vectors copied, transferred or checked): `jobs` is then empty.
   */
  planIndex(args: { minJobs?: number } = {}): {
    rebuild: boolean;
    segments: number;
    jobs: Array<{ dim: number; params: unknown; vectors: Float32Array }>;
  } | null {
    const plan = this.collection?.planIndex(args.minJobs ?? 1) as
      | { rebuild: boolean; segments: number; jobs: Array<{ dim: number; params: unknown; vectors: Float32Array }> }
      | undefined;
    return plan ?? null;
  }

  /** Builds one segment of a plan (any engine whose wasm is loaded: no collection needed). */
  buildSegment(args: { dim: number; params: unknown; vectors: Float32Array }): Uint8Array {
    if (!wasmReady) throw namedError("InvalidArgument", "this engine has not loaded the wasm module");
    return wasm.buildIndexSegment(args.vectors, args.dim, args.params);
  }

  /** Attaches the segments built for the last plan; `applied` is false if the collection changed meanwhile. */
  applyIndex(args: { segments: Uint8Array[] }): { applied: boolean; size: number } {
    const applied = this.col().applyIndex(args.segments);
    return { applied, size: this.size() };
  }

  /** Maintains the index here and now (the fallback of a build in workers). */
  maintainIndex(): { maintained: boolean } {
    const c = this.collection;
    return { maintained: c ? c.maintain() : false };
  }

  /** `{ live, indexed, tail, tombstones, segments }` of the collection (zeros when empty). */
  indexStats(): { live: number; indexed: number; tail: number; tombstones: number; segments: number } {
    const c = this.collection;
    return c ? (c.stats() as ReturnType<Engine["indexStats"]>) : { live: 0, indexed: 0, tail: 0, tombstones: 0, segments: 0 };
  }

  /** Text search. */
  searchText(args: { text: string; options?: unknown }): unknown[] {
    const q = this.queryModel().embedText(args.text);
    return this.col().search(q, args.options);
  }

  /** Image search from encoded bytes. */
  async searchImage(args: { blob?: Blob; bytes?: Uint8Array; options?: unknown }): Promise<unknown[]> {
    const q = this.requireModel().embedImage(await bytesOf(args));
    return this.col().search(q, args.options);
  }

  /** Search by a raw embedding. */
  searchVector(args: { vector: Float32Array; options?: unknown }): unknown[] {
    return this.col().search(args.vector, args.options);
  }

  /** "More like this". */
  searchSimilar(args: { id: string; options?: unknown }): unknown[] {
    if (!this.collection) throw namedError("UnknownId", `no item with id ${JSON.stringify(args.id)}: the collection is empty`);
    return this.collection.searchById(args.id, args.options);
  }

  /** Recommendation by positive and negative examples. */
  recommend(args: { query: { positive: unknown[]; negative?: unknown[] }; options?: unknown }): unknown[] {
    const q = {
      positive: args.query.positive.map(plainExample),
      negative: (args.query.negative ?? []).map(plainExample),
    };
    return this.col().recommend(q, args.options);
  }

  /** Removes items; returns how many existed. */
  remove(args: { ids: string[] }): { removed: number; size: number } {
    const removed = this.collection ? this.collection.remove(args.ids) : 0;
    return { removed, size: this.size() };
  }

  /** The ids of all items, in insertion order. */
  ids(): string[] {
    return this.collection ? this.collection.ids() : [];
  }

  /** One item or null. */
  get(args: { id: string }): unknown {
    const it = this.collection ? (this.collection.get(args.id) as { embedding: number[] } | undefined) : undefined;
    return it ? { ...it, embedding: Float32Array.from(it.embedding) } : null;
  }

  /** Exports the collection as Parquet, Qdrant or NPY. */
  exportTable(args: { format: string; options?: Record<string, unknown> }): unknown {
    const c = this.col();
    const options = { createdAt: new Date().toISOString(), ...(args.options ?? {}) };
    switch (args.format) {
      case "parquet":
        return c.exportParquet(options);
      case "qdrant": {
        const q = c.exportQdrant(options) as { createCollection: unknown; pointsNdjson: string; points: number };
        return {
          points: q.points,
          createCollection: typeof q.createCollection === "string" ? q.createCollection : JSON.stringify(q.createCollection),
          pointsNdjson: q.pointsNdjson,
        };
      }
      case "npy": {
        const n = c.exportNpy(options) as unknown as { npy: Uint8Array; index: string };
        return { npy: n.npy, index: n.index };
      }
      default:
        throw namedError("InvalidArgument", `unknown export format ${JSON.stringify(args.format)}: use "parquet", "qdrant" or "npy"`);
    }
  }

  /** Imports a Parquet table (upsert by id). */
  importTable(args: { bytes: Uint8Array; options?: unknown; deferIndex?: boolean }, ctx: CallContext): unknown {
    const report = this.col().importParquet(args.bytes, args.options) as Record<string, unknown>;
    const needsIndex = this.maybeRebuild(ctx, args.deferIndex);
    return { ...report, size: this.size(), needsIndex };
  }

  /** Empties the collection (the saved copy stays until the next `save`). */
  clear(): { size: number } {
    this.collection?.free();
    this.collection = null;
    return { size: 0 };
  }

  /** Saves the collection in IndexedDB under `name`. */
  async save(args: { name: string }): Promise<{ size: number; bytes: number }> {
    const c = this.col();
    const bytes = c.toBytes();
    const rec: SavedRecord = {
      bytes,
      modelKey: (this.requireModel().info as ModelInfo).key,
      savedAt: new Date().toISOString(),
      size: c.size,
    };
    await idbRequest("readwrite", (s) => s.put(rec, args.name));
    return { size: rec.size, bytes: bytes.length };
  }

  /**
   * Restores the collection saved under `name`; `{ found: false }` when there is none. Throws
   * `ModelMismatch` when it was made with another model.
   */
  async restore(args: { name: string }): Promise<{ found: boolean; size: number }> {
    const rec = await idbRequest<SavedRecord | undefined>("readonly", (s) => s.get(args.name));
    if (!rec) return { found: false, size: this.size() };
    const key = (this.requireModel().info as ModelInfo).key;
    if (rec.modelKey !== key) {
      throw namedError(
        "ModelMismatch",
        `the collection saved as ${JSON.stringify(args.name)} was made with model ${rec.modelKey}, but ${key} is loaded: load that model, or use another name`,
      );
    }
    const restored = wasm.Collection.fromBytes(rec.bytes);
    this.collection?.free();
    this.collection = restored;
    return { found: true, size: this.size() };
  }

  /** Deletes the saved collection `name`. */
  async deleteSaved(args: { name: string }): Promise<void> {
    await idbRequest("readwrite", (s) => s.delete(args.name));
  }

  /** Bytes of this engine's wasm linear memory (its model, collection and scratch space). */
  memory(): number {
    return wasmMemory ? wasmMemory.buffer.byteLength : 0;
  }

  /** Releases the wasm objects. */
  dispose(): void {
    for (const ac of this.active) ac.abort();
    this.active.clear();
    this.collection?.free();
    this.model?.free();
    this.collection = null;
    this.model = null;
    this.loading = null;
  }
}

const EMPTY = new Float32Array(0);

function toF32(v: Float32Array | number[] | ArrayLike<number>): Float32Array {
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
}

function plainExample(e: unknown): unknown {
  return typeof e === "string" ? e : Array.from(e as ArrayLike<number>);
}

async function bytesOf(x: { blob?: Blob; bytes?: Uint8Array }): Promise<Uint8Array> {
  if (x.bytes) return x.bytes instanceof Uint8Array ? x.bytes : new Uint8Array(x.bytes as ArrayBuffer);
  if (x.blob) return new Uint8Array(await x.blob.arrayBuffer());
  throw namedError("InvalidArgument", "give the image as a Blob, File or bytes");
}

