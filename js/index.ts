// clipsearch: private, client-side image search. The high-level API; the wasm runs in a module
// Web Worker (worker.ts) by default, in-process where there are no workers (Node).

import { Engine, type EmbeddedItem, type WireItem } from "./engine.js";
import { errorInfo, namedError, JsErrorNames } from "./errors.js";
import { loadModelBytes, clearModelCache, relaxedSimdSupported, RELAXED_SIMD_PROBE, type LoadedModel } from "./loader.js";
import { LocalChannel, WorkerChannel, type Channel } from "./rpc.js";
import type {
  AddImagesOptions,
  AddImagesResult,
  CreateOptions,
  ExportOptions,
  FailedItem,
  ImageItem,
  ImportReport,
  IndexBuild,
  IndexStats,
  IngestProgress,
  ModelInfo,
  NpyExport,
  QdrantExport,
  RecommendQuery,
  SearchHit,
  SearchOptions,
  TextModelSource,
} from "./types.js";

export type * from "./types.js";
export { JsErrorNames, clearModelCache, relaxedSimdSupported, RELAXED_SIMD_PROBE };

/** Most items per RPC batch during ingestion (fewer when there are few items per worker). */
const MAX_BATCH = 8;

/** In-flight model loads by URL: two early `create` calls for one model share one download. */
interface Inflight {
  /** Callers waiting. */
  n: number;
  /** One result per caller. */
  p: Promise<LoadedModel[]>;
}
const inflight = new Map<string, Inflight>();

function defaultWorkers(): number {
  const hc = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(hc, 4));
}

function hasWorker(): boolean {
  return typeof Worker !== "undefined";
}

function spawnChannel(inheritCsp = false): Channel {
  if (inheritCsp) {
    // A `blob:` worker inherits the page's CSP (HTML: a worker whose URL is local gets a clone
    // of its creator's policy container); it only imports the real worker script, by absolute
    // URL, so the package's relative imports still resolve.
    const script = new URL("./worker.js", import.meta.url).href;
    const src = URL.createObjectURL(new Blob([`import ${JSON.stringify(script)};\n`], { type: "text/javascript" }));
    try {
      return new WorkerChannel(new Worker(src, { type: "module", name: "clipsearch" }));
    } finally {
      // The worker has fetched its script by the time it runs; revoking later is harmless.
      setTimeout(() => URL.revokeObjectURL(src), 60_000);
    }
  }
  // The literal `new Worker(new URL("./worker.js", import.meta.url), { type: "module" })` form
  // lets bundlers (Vite, webpack 5, Parcel) find and emit the worker.
  const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "clipsearch" });
  return new WorkerChannel(w);
}

function toImageBytes(img: Blob | Uint8Array | ArrayBuffer): { blob?: Blob; bytes?: Uint8Array } {
  if (typeof Blob !== "undefined" && img instanceof Blob) return { blob: img };
  if (img instanceof Uint8Array) return { bytes: img };
  if (img instanceof ArrayBuffer) return { bytes: new Uint8Array(img) };
  throw namedError("InvalidArgument", "give the image as a Blob, File, Uint8Array or ArrayBuffer");
}

/**
 * Private image search in the browser (or Node): CLIP embeddings and an HNSW index, all
 * client-side.
 *
 * ```ts
 * const cs = await ClipSearch.open("photos", { model: "/models/clip-vit-b32.gguf", manifest: "/models/manifest.json" });
 * await cs.addImages([...files].map((file) => ({ file })));
 * const hits = await cs.searchText("a dog on a beach", { k: 12 });
 * await cs.save();
 * ```
 */
export class ClipSearch {
  private primary: Channel;
  private helpers: Channel[] = [];
  private helpersReady: Promise<Channel[]> | null = null;
  private _size = 0;
  private disposed = false;
  /** The index build running in workers, if any (one at a time). */
  private indexing: Promise<void> | null = null;
  private lastBuild: IndexBuild | null = null;
  private _textInfo: ModelInfo | null = null;

  private constructor(
    primary: Channel,
    /** Facts about the loaded model. */
    readonly info: ModelInfo,
    private readonly opts: CreateOptions & { workers: number; useWorker: boolean },
    /** The IndexedDB name used by {@link ClipSearch.save}. */
    readonly name: string,
  ) {
    this.primary = primary;
  }

  /**
   * Loads the model and starts the worker. Resolves once the model is ready.
   *
   * @param options - the model (URL or bytes), its manifest, progress callback, worker count.
   * @returns a ready `ClipSearch` with an empty collection.
   * @throws `HttpError`, `NotFound`, `NetworkError` (download), `ChecksumMismatch` (bytes differ
   *   from the manifest), `InvalidModel` and the other model errors (bad file), `ModelMismatch`
   *   (the file is not the manifest's model), `WorkerError` (the worker could not start).
   */
  static async create(options: CreateOptions): Promise<ClipSearch> {
    const useWorker = options.useWorker ?? hasWorker();
    const workers = options.textOnly || !useWorker ? 1 : Math.max(1, Math.floor(options.workers ?? defaultWorkers()));
    const loaded = await ClipSearch.loadShared(options);
    const primary = useWorker ? spawnChannel(options.inheritCsp) : new LocalChannel(new Engine());
    try {
      options.onProgress?.({ status: "loading", file: loaded.file });
      const info = await primary.call<ModelInfo>(
        "load",
        { bytes: loaded.bytes, kernel: options.kernel ?? "auto", index: options.index },
        { transfer: useWorker ? [loaded.bytes.buffer as ArrayBuffer] : [] },
      );
      if (loaded.entry && loaded.entry.modelKey && loaded.entry.modelKey !== info.key) {
        throw namedError(
          "ModelMismatch",
          `the model ${loaded.file} has key ${info.key} but the manifest says ${loaded.entry.modelKey}: regenerate the manifest`,
        );
      }
      if (options.textOnly && !info.hasText) {
        throw namedError("TowerNotLoaded", `textOnly needs the text tower, but ${loaded.file} holds only the ${info.towers} tower`);
      }
      const cs = new ClipSearch(primary, info, { ...options, workers, useWorker }, options.name ?? "default");
      if (options.textModel !== undefined) await cs.setTextModel(options.textModel);
      options.onProgress?.({ status: "ready", file: loaded.file, info, workers });
      return cs;
    } catch (e) {
      primary.terminate();
      throw e;
    }
  }

  /**
   * Like {@link ClipSearch.create}, then restores the collection saved under `name` (if any).
   * {@link ClipSearch.save} saves it there again.
   *
   * @throws what `create` throws; `ModelMismatch` when the saved collection was made with
   *   another model; `Unsupported` without IndexedDB (Node).
   */
  static async open(name: string, options: CreateOptions): Promise<ClipSearch> {
    const cs = await ClipSearch.create({ ...options, name });
    try {
      const r = await cs.primary.call<{ found: boolean; size: number }>("restore", { name });
      cs._size = r.size;
      return cs;
    } catch (e) {
      await cs.dispose();
      throw e;
    }
  }

  /** One shared download per model URL: concurrent `create` calls never fetch twice. */
  private static loadShared(options: CreateOptions): Promise<LoadedModel> {
    const m = options.model;
    if (!(typeof m === "string" || m instanceof URL)) {
      // Bytes: copied, because the copy is transferred to the worker.
      return loadModelBytes({ ...options, model: m instanceof ArrayBuffer ? new Uint8Array(m.slice(0)) : new Uint8Array(m) });
    }
    const key = `${String(m)}#${options.sha256 ?? ""}`;
    let e = inflight.get(key);
    if (!e) {
      const entry: Inflight = { n: 0, p: Promise.resolve([]) };
      // One reaction hands out the bytes: the first caller gets them, later callers copies (each
      // copy is made before any caller can transfer the original to its worker).
      entry.p = loadModelBytes(options).then(
        (l) => {
          inflight.delete(key);
          return Array.from({ length: entry.n }, (_, i) => (i === 0 ? l : { ...l, bytes: l.bytes.slice() }));
        },
        (err) => {
          inflight.delete(key);
          throw err;
        },
      );
      inflight.set(key, entry);
      e = entry;
    }
    const i = e.n++;
    return e.p.then((all) => all[i]!);
  }

  /**
   * Facts about the separate query text model ({@link ClipSearch.setTextModel}), or `null`
   * when text queries use the model's own text tower.
   */
  get textInfo(): ModelInfo | null {
    return this._textInfo;
  }

  /**
   * Picks the model text queries go through: a text-tower GGUF whose space is this model's
   * (e.g. a multilingual tower converted with `clipsearch convert <dir> --space <CLIP>`), so
   * users can search one image collection in their own language; `null` goes back to the
   * model's own text tower. Images are never re-embedded.
   *
   * @param model - URL, bytes, or `{ model, manifest?, sha256?, onProgress? }`; or `null`.
   * @returns the text model's info (`textArchitecture` `distilbert` for a multilingual one), or
   *   `null`.
   * @throws `ModelMismatch` (the text model lives in another space), `TowerNotLoaded` (no text
   *   tower), the download errors of {@link ClipSearch.create} and the model errors
   *   (`InvalidModel`, ...).
   */
  async setTextModel(model: string | URL | Uint8Array | ArrayBuffer | TextModelSource | null): Promise<ModelInfo | null> {
    this.check();
    if (model === null) {
      await this.primary.call("loadTextModel", { bytes: null });
      this._textInfo = null;
      return null;
    }
    const src: TextModelSource =
      typeof model === "string" || model instanceof URL || model instanceof Uint8Array || model instanceof ArrayBuffer
        ? { model }
        : model;
    const m = src.model;
    const loaded = await loadModelBytes({
      ...src,
      cache: src.cache ?? this.opts.cache,
      model: typeof m === "string" || m instanceof URL ? m : m instanceof ArrayBuffer ? new Uint8Array(m.slice(0)) : new Uint8Array(m),
    });
    const info = await this.primary.call<ModelInfo>(
      "loadTextModel",
      { bytes: loaded.bytes },
      { transfer: this.opts.useWorker ? [loaded.bytes.buffer as ArrayBuffer] : [] },
    );
    this._textInfo = info;
    return info;
  }

  /** Items in the collection. */
  get size(): number {
    return this._size;
  }

  /** Workers used for ingestion (the primary included). */
  get workers(): number {
    return this.opts.workers;
  }

  private check() {
    if (this.disposed) throw namedError(JsErrorNames.Disposed, "this ClipSearch was disposed");
  }

  /** Starts the extra ingestion workers once (one shared promise), each with its own model. */
  private ensureHelpers(n: number): Promise<Channel[]> {
    if (this.helpers.length >= n) return Promise.resolve(this.helpers.slice(0, n));
    const prev = this.helpersReady ?? Promise.resolve([] as Channel[]);
    const next = prev.then(async (have) => {
      const extra = n - have.length;
      if (extra <= 0) return have;
      const started = await Promise.all(
        Array.from({ length: extra }, async () => {
          // Cache hit in browsers (the bytes were verified and cached by `create`).
          const loaded = await ClipSearch.loadShared({ ...this.opts, onProgress: undefined });
          const ch = spawnChannel(this.opts.inheritCsp);
          try {
            await ch.call("load", { bytes: loaded.bytes, kernel: this.info.wasmModule }, { transfer: [loaded.bytes.buffer as ArrayBuffer] });
          } catch (e) {
            ch.terminate();
            throw e;
          }
          return ch;
        }),
      );
      this.helpers = [...have, ...started];
      return this.helpers;
    });
    this.helpersReady = next.catch((e) => {
      this.helpersReady = null;
      throw e;
    });
    return next.then((all) => all.slice(0, n));
  }

  /** Whether index builds run in several workers (a worker per segment, up to `workers`). */
  private buildsInWorkers(): boolean {
    return this.opts.useWorker && this.opts.workers > 1 && !this.disposed;
  }

  /** Builds the index in workers now (one build at a time; callers share a running one). */
  private buildIndex(): Promise<void> {
    this.indexing ??= this.runIndexBuild().finally(() => {
      this.indexing = null;
    });
    return this.indexing;
  }

  /**
   * One index build in workers: the primary worker plans the segments (its graph keeps
   * answering searches), the primary and short-lived builder workers (wasm only, no model)
   * build one segment each at a time, and the primary attaches them. If the collection
   * changed meanwhile, or a builder fails, the primary maintains the index itself. A single
   * segment is built in place by the primary when it plans.
   */
  private async runIndexBuild(): Promise<void> {
    const t0 = performance.now();
    type Job = { dim: number; params: unknown; vectors: Float32Array };
    const plan = await this.primary.call<{ rebuild: boolean; segments: number; jobs: Job[] } | null>("planIndex", { minJobs: 2 });
    if (!plan) return;
    const jobs = plan.jobs;
    if (jobs.length === 0) {
      // One segment: the primary built it in place.
      this.lastBuild = { rebuild: plan.rebuild, segments: plan.segments, workers: 1, ms: performance.now() - t0, applied: true };
      return;
    }
    const want = Math.min(jobs.length, this.opts.workers) - 1;
    const builders: Channel[] = [];
    try {
      const started = await Promise.allSettled(
        Array.from({ length: Math.max(0, want) }, async () => {
          const ch = spawnChannel(this.opts.inheritCsp);
          builders.push(ch);
          await ch.call("initBuilder", { kernel: this.info.wasmModule });
          return ch;
        }),
      );
      const channels = [this.primary, ...started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []))];
      const segments: Uint8Array[] = new Array(jobs.length);
      let next = 0;
      await Promise.all(
        channels.map(async (ch) => {
          for (let i = next++; i < jobs.length; i = next++) {
            const job = jobs[i];
            segments[i] = await ch.call<Uint8Array>("buildSegment", job, { transfer: [job.vectors.buffer as ArrayBuffer] });
          }
        }),
      );
      const r = await this.primary.call<{ applied: boolean; size: number }>("applyIndex", { segments }, { transfer: segments.map((x) => x.buffer as ArrayBuffer) });
      if (!r.applied) await this.primary.call("maintainIndex");
      this.lastBuild = { rebuild: plan.rebuild, segments: jobs.length, workers: channels.length, ms: performance.now() - t0, applied: r.applied };
    } catch (e) {
      if (this.disposed) throw e;
      // A builder failed (a crash, out of memory): the primary builds the index in place.
      await this.primary.call("maintainIndex");
      this.lastBuild = { rebuild: plan.rebuild, segments: jobs.length, workers: 1, ms: performance.now() - t0, applied: false };
    } finally {
      for (const b of builders) b.terminate();
    }
  }

  /**
   * The sizes of the index: live items, indexed items, the exact-scan tail, tombstones, graph
   * segments, and the last build run in workers.
   */
  async indexStats(): Promise<IndexStats> {
    this.check();
    if (this.indexing) await this.indexing;
    const s = await this.primary.call<Omit<IndexStats, "lastBuild">>("indexStats");
    return { ...s, lastBuild: this.lastBuild };
  }

  /**
   * Embeds images and adds them to the collection (an existing id is replaced). Items are
   * shared among the workers; every item ends in `embedded` or in `failed` with a reason.
   *
   * @param items - `{ id?, url | blob | file | bytes, metadata? }` each.
   * @param options - `signal` to stop, `concurrency` (workers used), `onProgress`.
   * @returns which items were embedded and which failed (with `name` and `message`).
   * @throws `TowerNotLoaded` in text-only mode; `WorkerError`, `Disposed`. Per-item problems
   *   (`ImageDecode`, `NotAnImage`, `AbortError`, ...) are reported in `failed`, not thrown.
   */
  async addImages(items: ImageItem[], options: AddImagesOptions = {}): Promise<AddImagesResult> {
    this.check();
    if (this.opts.textOnly || !this.info.hasVision) {
      throw namedError("TowerNotLoaded", "this ClipSearch was created text-only: create it with a model that has the vision tower to add images");
    }
    const failed: FailedItem[] = [];
    const embedded: Array<{ index: number; id: string }> = [];
    const wire: WireItem[] = [];
    items.forEach((it, index) => {
      const sources = [it.url, it.blob, it.file, it.bytes].filter((s) => s !== undefined).length;
      if (sources !== 1) {
        failed.push({
          index,
          id: it.id ?? null,
          name: "InvalidArgument",
          message: `item ${index} must have exactly one of url, blob, file or bytes (it has ${sources})`,
        });
        return;
      }
      const bytes = it.bytes === undefined ? undefined : it.bytes instanceof Uint8Array ? it.bytes : new Uint8Array(it.bytes);
      wire.push({
        index,
        id: it.id,
        url: it.url,
        blob: it.blob ?? it.file,
        bytes,
        name: it.file?.name,
        metadata: it.metadata,
      });
    });

    const total = items.length;
    let bytesRead = 0;
    const progress: IngestProgress = { status: "embed", done: 0, failed: failed.length, total, bytes: 0 };
    const emit = (status: IngestProgress["status"]) => options.onProgress?.({ ...progress, status });
    const onWorkerProgress = (p: { ok?: boolean | null; bytes?: number; index?: boolean }) => {
      if (p.index) return emit("index");
      if (p.ok === true) progress.done++;
      else if (p.ok === false) progress.failed++;
      bytesRead += p.bytes ?? 0;
      progress.bytes = bytesRead;
      emit("embed");
    };

    const signal = options.signal;
    const wanted = Math.max(1, Math.min(options.concurrency ?? this.opts.workers, this.opts.workers, wire.length));
    // At least about four batches per worker, so the work is shared evenly to the end.
    const batch = Math.max(1, Math.min(MAX_BATCH, Math.ceil(wire.length / (wanted * 4))));
    const batches: WireItem[][] = [];
    for (let i = 0; i < wire.length; i += batch) batches.push(wire.slice(i, i + batch));
    const channels = [this.primary, ...(wanted > 1 ? await this.ensureHelpers(wanted - 1) : [])];

    const common = { timeoutMs: options.timeoutMs, maxAttempts: options.maxAttempts };
    /** A helper's upserts made an index build due; the primary's loop (or the end) runs it. */
    let indexDue = false;
    const run = async (ch: Channel) => {
      for (;;) {
        const batch = batches.shift();
        if (!batch) return;
        if (signal?.aborted) {
          for (const it of batch) {
            failed.push({ index: it.index, id: it.id ?? null, name: "AbortError", message: "stopped by the signal before this item was embedded" });
            progress.failed++;
          }
          emit("embed");
          continue;
        }
        try {
          if (ch === this.primary) {
            if (this.indexing) await this.indexing;
            const r = await ch.call<{ embedded: Array<{ index: number; id: string }>; failed: FailedItem[]; size: number; needsIndex: boolean }>(
              "embedItems",
              { items: batch, upsert: true, deferIndex: this.buildsInWorkers(), ...common },
              { onProgress: onWorkerProgress, signal },
            );
            embedded.push(...r.embedded.map(({ index, id }) => ({ index, id })));
            failed.push(...r.failed);
            this._size = r.size;
            // Builds start from here, between this worker's batches: the primary then has no
            // embedding in flight whose upserts would make the segments stale (the helpers'
            // upserts wait for the build).
            if (r.needsIndex || indexDue) {
              indexDue = false;
              emit("index");
              await this.buildIndex();
            }
          } else {
            const r = await ch.call<{ embedded: EmbeddedItem[]; failed: FailedItem[] }>(
              "embedItems",
              { items: batch, upsert: false, ...common },
              { onProgress: onWorkerProgress, signal },
            );
            failed.push(...r.failed);
            // Into the collection (in the primary worker); embeddings are transferred, not copied.
            // Not while an index build runs: the change would make its segments stale.
            if (this.indexing) await this.indexing;
            const u = await this.primary.call<{ embedded: Array<{ index: number; id: string }>; failed: FailedItem[]; size: number; needsIndex: boolean }>(
              "upsertEmbedded",
              { items: r.embedded, deferIndex: this.buildsInWorkers() },
              { transfer: r.embedded.map((e) => e.embedding.buffer as ArrayBuffer), onProgress: onWorkerProgress },
            );
            embedded.push(...u.embedded);
            failed.push(...u.failed);
            progress.failed += u.failed.length;
            progress.done -= u.failed.length;
            this._size = u.size;
            if (u.needsIndex) indexDue = true;
          }
        } catch (e) {
          // The worker failed (crashed, disposed): the batch's unreported items fail with that error.
          const info = errorInfo(e);
          const reported = new Set([...embedded, ...failed].map((x) => x.index));
          for (const it of batch) {
            if (!reported.has(it.index)) {
              failed.push({ index: it.index, id: it.id ?? null, ...info });
              progress.failed++;
            }
          }
          emit("embed");
        }
      }
    };
    await Promise.all(channels.map(run));
    if (indexDue) {
      emit("index");
      await this.buildIndex();
    }
    embedded.sort((a, b) => a.index - b.index);
    failed.sort((a, b) => a.index - b.index);
    return { embedded, failed, aborted: signal?.aborted ?? false, size: this._size };
  }

  /**
   * Text-to-image search.
   *
   * @param query - free text (truncated to CLIP's 77 tokens, or to the text model's
   *   `max_seq_length` when {@link ClipSearch.setTextModel} picked one).
   * @param options - `k` (default 10), `minScore`, `filter` on metadata, `ef` (graph search
   *   breadth, default the collection's `efSearch`).
   * @returns hits `{ id, score, metadata }`, best first; `[]` for an empty collection.
   * @throws `TowerNotLoaded` (vision-only model), `InvalidFilter`.
   */
  async searchText(query: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    this.check();
    return this.primary.call("searchText", { text: query, options });
  }

  /**
   * Image-to-image search from an encoded image.
   *
   * @param image - a `Blob`/`File` or the encoded bytes (JPEG, PNG, WebP, GIF, BMP).
   * @param options - `k`, `minScore`, `filter`, `ef`.
   * @returns hits, best first.
   * @throws `ImageDecode`, `NotAnImage`, `EmptyInput`, `ImageTooLarge`, `TowerNotLoaded`.
   */
  async searchImage(image: Blob | Uint8Array | ArrayBuffer, options: SearchOptions = {}): Promise<SearchHit[]> {
    this.check();
    return this.primary.call("searchImage", { ...toImageBytes(image), options });
  }

  /**
   * Search with an embedding you already have (e.g. from {@link ClipSearch.embedText}).
   *
   * @throws `DimensionMismatch`, `InvalidVector`.
   */
  async searchVector(vector: Float32Array, options: SearchOptions = {}): Promise<SearchHit[]> {
    this.check();
    return this.primary.call("searchVector", { vector, options });
  }

  /**
   * "More like this": the items most similar to item `id`, itself excluded.
   *
   * @throws `UnknownId` when there is no such item.
   */
  async searchSimilar(id: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    this.check();
    return this.primary.call("searchSimilar", { id, options });
  }

  /**
   * Recommendation: items like the `positive` examples and unlike the `negative` ones (ids or
   * embeddings; Qdrant's average-vector strategy). Examples given by id are not returned.
   *
   * @throws `UnknownId`, `InvalidArgument` (no positive example), `DimensionMismatch`.
   */
  async recommend(query: RecommendQuery, options: SearchOptions = {}): Promise<SearchHit[]> {
    this.check();
    return this.primary.call("recommend", { query, options });
  }

  /**
   * Embeds a text query: an L2-normalised `Float32Array` of the model's dimension.
   *
   * @throws `TowerNotLoaded` for a vision-only model.
   */
  async embedText(text: string): Promise<Float32Array> {
    this.check();
    return this.primary.call("embedText", { text });
  }

  /**
   * Embeds an encoded image: an L2-normalised `Float32Array`.
   *
   * @throws `ImageDecode`, `NotAnImage`, `EmptyInput`, `ImageTooLarge`, `TowerNotLoaded`.
   */
  async embedImage(image: Blob | Uint8Array | ArrayBuffer): Promise<Float32Array> {
    this.check();
    return this.primary.call("embedImage", toImageBytes(image));
  }

  /**
   * Removes items by id.
   *
   * @returns how many of them existed.
   */
  async remove(ids: string | string[]): Promise<number> {
    this.check();
    const r = await this.primary.call<{ removed: number; size: number }>("remove", { ids: Array.isArray(ids) ? ids : [ids] });
    this._size = r.size;
    return r.removed;
  }

  /** The ids of all items, in insertion order. */
  async ids(): Promise<string[]> {
    this.check();
    return this.primary.call("ids");
  }

  /** One item `{ id, embedding, metadata }`, or `null`. */
  async get(id: string): Promise<{ id: string; embedding: Float32Array; metadata: Record<string, unknown> } | null> {
    this.check();
    return this.primary.call("get", { id });
  }

  /**
   * Exports the collection's embeddings (never the images): Parquet bytes, Qdrant request
   * bodies, or an NPY array with a JSON index. Presigned query strings never appear.
   *
   * @param format - `"parquet"`, `"qdrant"` or `"npy"`.
   * @param options - `idColumns`, `createdAt`, `rowGroupSize`, `ids` (a selection).
   * @throws `InvalidArgument` (unknown format or option).
   */
  exportTable(format: "parquet", options?: ExportOptions): Promise<Uint8Array>;
  exportTable(format: "qdrant", options?: ExportOptions): Promise<QdrantExport>;
  exportTable(format: "npy", options?: ExportOptions): Promise<NpyExport>;
  async exportTable(format: "parquet" | "qdrant" | "npy", options: ExportOptions = {}): Promise<Uint8Array | QdrantExport | NpyExport> {
    this.check();
    return this.primary.call("exportTable", { format, options });
  }

  /**
   * Imports a Parquet table written by `exportTable("parquet")` (or any table with an id column
   * and a float32 `embedding` column of the model's dimension), upserting by id.
   *
   * @returns counts and the rows refused, with reasons.
   * @throws `ModelMismatch` (the table records another model), `DimensionMismatch`, `InvalidData`.
   */
  async importTable(bytes: Uint8Array | ArrayBuffer | Blob, options: { idColumn?: string; embeddingColumn?: string; normalize?: boolean } = {}): Promise<ImportReport> {
    this.check();
    const b = typeof Blob !== "undefined" && bytes instanceof Blob ? new Uint8Array(await bytes.arrayBuffer()) : bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes as ArrayBuffer);
    if (this.indexing) await this.indexing;
    const { needsIndex, ...r } = await this.primary.call<ImportReport & { needsIndex: boolean }>("importTable", {
      bytes: b,
      options,
      deferIndex: this.buildsInWorkers(),
    });
    this._size = r.size;
    if (needsIndex) await this.buildIndex();
    return r;
  }

  /**
   * Saves the collection in IndexedDB under this instance's name (or `name`);
   * {@link ClipSearch.open} restores it.
   *
   * @throws `Unsupported` without IndexedDB (Node), `QuotaExceededError`.
   */
  async save(name: string = this.name): Promise<void> {
    this.check();
    await this.primary.call("save", { name });
  }

  /** Empties the collection (and deletes its saved copy when `deleteSaved` is true). */
  async clear(options: { deleteSaved?: boolean } = {}): Promise<void> {
    this.check();
    await this.primary.call("clear");
    if (options.deleteSaved) await this.primary.call("deleteSaved", { name: this.name });
    this._size = 0;
  }

  /**
   * Wasm linear memory of each started engine in bytes: the primary first, then the extra
   * ingestion workers. (In-process mode: the one engine of this realm.)
   */
  async memoryUsage(): Promise<number[]> {
    this.check();
    return Promise.all([this.primary, ...this.helpers].map((c) => c.call<number>("memory")));
  }

  /** Stops the workers and frees the wasm memory. Later calls throw `Disposed`. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const h of this.helpers) h.terminate();
    this.helpers = [];
    this.primary.terminate();
  }
}
