// Public types of the clipsearch package. Every object here crosses the worker boundary by
// structured clone, so they hold plain data, typed arrays and Blobs only.

/** Metadata stored with an item: any JSON object. Searchable with a {@link Filter}. */
export type Metadata = Record<string, unknown>;

/**
 * A metadata filter, modelled on Qdrant's: `must` (and), `should` (or), `mustNot` (not), each a
 * list of conditions such as `{ key: "city", match: { value: "London" } }`,
 * `{ key: "year", range: { gte: 2020 } }`, `{ key: "tags", match: { any: ["cat"] } }` or
 * `{ key: "hidden", exists: true }`, or a nested filter.
 */
export interface Filter {
  /** Every condition holds (and). */
  must?: Condition[];
  /** At least one condition holds (or; ignored when empty). */
  should?: Condition[];
  /** No condition holds (not). */
  mustNot?: Condition[];
}

/** One condition of a {@link Filter}. */
export type Condition =
  | Filter
  | { key: string; match: { value: string | number | boolean } | { any: Array<string | number | boolean> } }
  | { key: string; range: { gt?: number; gte?: number; lt?: number; lte?: number } }
  | { key: string; exists: boolean };

/** Search options. Scores are cosine similarities of L2-normalised CLIP embeddings. */
export interface SearchOptions {
  /** How many results at most (default 10). */
  k?: number;
  /** Drop results whose score is below this. */
  minScore?: number;
  /** Keep only items whose metadata passes this filter. */
  filter?: Filter;
  /**
   * HNSW candidate list of each graph segment for this search (Qdrant's `hnsw_ef`), in place of
   * the collection's `efSearch`: larger finds more of the true nearest items and takes longer.
   * A whole number from 1 to 100000 (anything else throws `InvalidArgument`); a search for more
   * than `ef` results scans exactly.
   */
  ef?: number;
}

/** One search result, best first. */
export interface SearchHit {
  /** The item's id (a locator such as `s3://bucket/key`, a file name, or your own id). */
  id: string;
  /** Cosine similarity in [-1, 1]. */
  score: number;
  /** The metadata stored with the item. */
  metadata: Metadata;
}

/**
 * An image to add. Exactly one source: `url` (fetched by the wasm ingestion pipeline), `blob`
 * or `file` (a `Blob`/`File`, e.g. from a drop or an `<input type=file>`), or `bytes` (encoded
 * JPEG/PNG/WebP/GIF/BMP).
 *
 * The id defaults to the URL's locator (`s3://bucket/key`, or the URL without its query
 * string) for URLs and to the file name for `File`s; `Blob`s and `bytes` need an explicit id.
 */
export interface ImageItem {
  /** The item's id (replaces an existing item with the same id). */
  id?: string;
  /** A (presigned) image URL; only its locator is ever stored or shown. */
  url?: string;
  /** An image Blob. */
  blob?: Blob;
  /** An image File (its name is the default id). */
  file?: File;
  /** Encoded image bytes. */
  bytes?: Uint8Array | ArrayBuffer;
  /** Metadata stored with the item, searchable with filters and exported with it. */
  metadata?: Metadata;
}

/** Progress of {@link ClipSearch.addImages}. */
export interface IngestProgress {
  /** `embed` after an item; `index` when the HNSW graph is being rebuilt. */
  status: "embed" | "index";
  /** Items embedded so far. */
  done: number;
  /** Items that failed so far. */
  failed: number;
  /** Items in this call. */
  total: number;
  /** Encoded image bytes read so far. */
  bytes: number;
}

/** Options of {@link ClipSearch.addImages}. */
export interface AddImagesOptions {
  /** Stops the call promptly; items not finished are reported as failed with `AbortError`. */
  signal?: AbortSignal;
  /**
   * How many workers embed at once (default: the `workers` given to `create`, at most the
   * number of items). Each worker holds its own model instance.
   */
  concurrency?: number;
  /** Called after every item and when the index is rebuilt. */
  onProgress?: (p: IngestProgress) => void;
  /** Per-request timeout for URL items, milliseconds (URL ingestion only). */
  timeoutMs?: number;
  /** Attempts per URL item, retries included (URL ingestion only). */
  maxAttempts?: number;
}

/** An item that could not be added, with the reason. */
export interface FailedItem {
  /** Index in the array given to `addImages`. */
  index: number;
  /** The item's id, or null when it had none and none could be derived. */
  id: string | null;
  /** Stable error name, e.g. `ImageDecode`, `NotAnImage`, `UrlExpired`, `AbortError`. */
  name: string;
  /** What went wrong and what to do. */
  message: string;
}

/** What {@link ClipSearch.addImages} did: every item is either embedded or failed. */
export interface AddImagesResult {
  /** Items now in the collection (`index` in the array given, `id` stored). */
  embedded: Array<{ index: number; id: string }>;
  /** Items not added, with the reason. */
  failed: FailedItem[];
  /** Whether the signal stopped the call. */
  aborted: boolean;
  /** Items in the collection afterwards. */
  size: number;
}

/** Model loading progress, named as transformers.js names them. */
export type LoadProgress =
  | { status: "initiate"; file: string; total: number }
  | { status: "download"; file: string; total: number; cached: boolean }
  | { status: "progress"; file: string; loaded: number; total: number; progress: number }
  | { status: "done"; file: string; loaded: number; total: number; cached: boolean }
  | { status: "verify"; file: string }
  | { status: "loading"; file: string }
  | { status: "ready"; file: string; info: ModelInfo; workers: number };

/** One model file in a manifest (`models/manifest.json`). */
export interface ManifestEntry {
  /** File name, matched against the last path segment of the model URL. */
  file: string;
  /** Size in bytes. */
  size: number;
  /** Lower-case hex sha256 of the file. */
  sha256: string;
  /** The model key (`ClipModel.info.key`); collections record it. */
  modelKey: string;
  /**
   * The embedding space (`ClipModel.info.space`): the key of the CLIP whose image vectors the
   * model's vectors match. A multilingual text tower names its CLIP; a CLIP names itself.
   */
  space?: string;
  /** `both`, `text` or `vision`. */
  towers: string;
  name?: string;
}

/** A model manifest: `{ models: [...] }`. */
export interface Manifest {
  models: ManifestEntry[];
}

/** Facts about the loaded model (`ClipModel.info`). */
export interface ModelInfo {
  /** Stable key of the weights; collections and exports record it. */
  key: string;
  /** Key of the embedding space (equals `key` for a plain CLIP). */
  space: string;
  /** Human-readable name. */
  name: string;
  /** Embedding dimension. */
  dim: number;
  /** Weight format, e.g. `q8_0`, `f16`. */
  quantization: string;
  /** `both`, `text` or `vision`. */
  towers: string;
  /** Whether text queries can be embedded. */
  hasText: boolean;
  /** Whether images can be embedded. */
  hasVision: boolean;
  /** Input image side in pixels (vision tower), else null. */
  imageSize: number | null;
  /**
   * The text tower: `clip`, `distilbert` (a multilingual tower such as
   * clip-ViT-B-32-multilingual-v1, whose `space` is the key of the CLIP it is aligned with), or
   * `none`.
   */
  textArchitecture?: string;
  /**
   * The matmul kernel the model runs on: `wasm-relaxed-simd` or `wasm-simd128` (our int8 kernel,
   * quantized models), `candle-f32` (f32/f16 models), `portable` (no SIMD).
   */
  kernel: string;
  /**
   * How the relaxed module's int8 kernel writes its dot products, probed once per worker:
   * `"fused"` (one instruction where the CPU has AVX-VNNI or on Arm) or `"split"` (three
   * instructions, faster on x64 without VNNI, where the engine emulates the fused one with
   * five); `null` in the simd128 module and for f32/f16 models. Both give identical numbers.
   */
  dotForm: "fused" | "split" | null;
  /** The wasm module that was loaded (see {@link CreateOptions.kernel}). */
  wasmModule: "simd128" | "relaxed";
}

/** A query text model: a clipsearch GGUF (URL or bytes) and how to verify it. */
export interface TextModelSource {
  /** URL (string or `URL`) of a text-tower GGUF, or its bytes. */
  model: string | URL | Uint8Array | ArrayBuffer;
  /** Manifest (URL or object) listing the file's size and sha256. */
  manifest?: string | URL | Manifest;
  /** Expected sha256 (hex), when there is no manifest. */
  sha256?: string;
  /** Persistent model cache (default `true` where available). */
  cache?: boolean;
  /** Download progress. */
  onProgress?: (p: LoadProgress) => void;
}

/** Options of {@link ClipSearch.create}. */
export interface CreateOptions {
  /**
   * The model: a URL (string or `URL`) of a clipsearch GGUF file, or its bytes. A URL is fetched
   * with streaming progress, checked against the manifest (when given) and cached.
   */
  model: string | URL | Uint8Array | ArrayBuffer;
  /**
   * The manifest listing the model file's size and sha256: a URL, or the parsed object. With it
   * the download total is known from the start and the bytes are verified before use.
   */
  manifest?: string | URL | Manifest;
  /** Expected sha256 of the model (hex), when there is no manifest. */
  sha256?: string;
  /**
   * Search-only page: one worker, no image ingestion; the model may be a text-tower file
   * (`clipsearch convert --tower text`).
   */
  textOnly?: boolean;
  /** Loading progress. */
  onProgress?: (p: LoadProgress) => void;
  /**
   * Workers used for ingestion, each with its own model instance (default
   * `min(navigator.hardwareConcurrency, 4)`; 1 in text-only mode). The collection lives in the
   * first. Extra workers start on the first `addImages`.
   */
  workers?: number;
  /**
   * Run the wasm in a Web Worker (default: `true` where `Worker` exists). Without workers
   * (Node, or `false`) everything runs in-process.
   */
  useWorker?: boolean;
  /** Persistent model cache (Cache API): default `true` where available. */
  cache?: boolean;
  /** The collection's name in IndexedDB for `save()` (default `"default"`). */
  name?: string;
  /**
   * Put the workers under the page's Content-Security-Policy (default `false`). A worker
   * started from its script URL gets only the CSP its own HTTP response carries (usually none),
   * so the page's `connect-src` would not limit the image fetches it makes. With `true`, each
   * worker starts from a same-origin `blob:` module that imports the package's worker script:
   * a `blob:` worker inherits its creator's policy, so the page's `connect-src` governs every
   * fetch. The page's policy must then allow `worker-src blob:` (and `script-src` the
   * package's own origin).
   */
  inheritCsp?: boolean;
  /**
   * A separate query text model whose embedding space is `model`'s, e.g. a multilingual text
   * tower (`clipsearch convert <sentence-transformers dir> --space <CLIP .gguf>`): text queries
   * (`searchText`, `embedText`) use it, images still use `model`. A URL, bytes, or a
   * {@link TextModelSource}. Change it later with {@link ClipSearch.setTextModel}. `create`
   * throws `ModelMismatch` when its space is not `model`'s.
   */
  textModel?: string | URL | Uint8Array | ArrayBuffer | TextModelSource;
  /**
   * Which of the package's two wasm modules runs the model: `"relaxed"` (int8 matmul with
   * WebAssembly relaxed SIMD, about twice as fast: Chromium >= 114), `"simd128"` (plain SIMD,
   * every browser with wasm SIMD), or `"auto"` (default: `"relaxed"` where
   * `WebAssembly.validate` accepts a relaxed-SIMD instruction, else `"simd128"`). Forcing
   * `"relaxed"` where it is unsupported throws `Unsupported`. `info.wasmModule` and `info.kernel`
   * say what was chosen. In-process (no worker) all instances share the first one's module.
   */
  kernel?: "auto" | "simd128" | "relaxed";
  /**
   * How the collection is indexed (see {@link IndexOptions}); omitted fields keep their
   * defaults. A collection restored by {@link ClipSearch.open} keeps the options it was saved with.
   * `create` throws `InvalidArgument` for an unusable value (e.g. `efSearch: 0`).
   */
  index?: IndexOptions;
}

/**
 * Indexing options of the collection (the Rust `IndexPolicy`). Search results are correct with
 * any of them; they trade memory, build time and query time.
 */
export interface IndexOptions {
  /** Below this many items there is no HNSW graph, only an exact scan (default 4096). */
  minIndexSize?: number;
  /** Rebuild when the unindexed tail exceeds this fraction of the indexed items (default 0.1) ... */
  maxTailFraction?: number;
  /** ... and holds more than this many items (default 1024). */
  minTail?: number;
  /** Rebuild when removed items exceed this fraction of the graph (default 0.2). */
  maxTombstoneFraction?: number;
  /** HNSW candidate list while building (default 48). */
  efConstruction?: number;
  /** HNSW candidate list while searching, per segment; searches for more than this many results scan exactly (default 64; a search may set its own `ef`). */
  efSearch?: number;
  /** instant-distance's neighbour-selection heuristic (default `true`). */
  heuristic?: boolean;
  /** Graphs of at least this many items keep pruned links: better recall, slower build (default 30000). */
  keepPrunedFrom?: number;
  /**
   * Largest HNSW graph: a build splits the items into equal segments of at most this many, which
   * every search visits (default 25000). Smaller segments build much faster; more of them make
   * each search visit more graphs.
   */
  maxSegmentSize?: number;
  /** Seed of the graph's layer assignment. */
  seed?: number;
  /**
   * Keep an int8 copy of every vector (dim + 8 bytes per item, about +570 B at 512-d) that
   * exact scans read first, rescoring exactly only the items that can still make the top k:
   * identical results, exact scans about 3× faster. For collections searched by exact scan
   * (e.g. `minIndexSize` above the size, to skip graph builds) or with broad filters.
   * Default `false`.
   */
  quantizedScan?: boolean;
  /**
   * How vectors are stored: `"f32"` (default, 2 KiB per 512-d item) or `"f16"` (1 KiB): each
   * value rounded to the nearest half-precision float (at most 2^-11 of itself; a score moves by
   * ~1e-4, far less than a quantized model's own error). Items read back, exports and saved
   * collections hold the rounded values (saved: ~1.4 KB per 512-d item instead of 2.4 KB). With
   * `quantizedScan: true`, 100k 512-d items took ~2 KB each and an exact scan of them ~4 ms in
   * Chromium on a machine whose plain f32 scan takes ~20 ms (`benches/RESULTS-index.md`).
   */
  vectorType?: "f32" | "f16";
}

/** Export formats of {@link ClipSearch.exportTable}. */
export type ExportFormat = "parquet" | "qdrant" | "npy";

/** Options of {@link ClipSearch.exportTable}. */
export interface ExportOptions {
  /** Id columns: `locator` (default) and/or `id`. */
  idColumns?: string[];
  /** ISO timestamp recorded in the file (default: now). */
  createdAt?: string;
  /** Parquet row group size. */
  rowGroupSize?: number;
  /** Export only these ids. */
  ids?: string[];
}

/** Qdrant export: request bodies for `PUT /collections/{name}` and `PUT .../points` (NDJSON). */
export interface QdrantExport {
  /** JSON body of `PUT /collections/{name}`. */
  createCollection: string;
  /** One JSON request body per line, each upserting a batch of points. */
  pointsNdjson: string;
  /** Points in the export. */
  points: number;
}

/** NPY export: a float32 `[n, dim]` array and a JSON index of ids and metadata by row. */
export interface NpyExport {
  /** The `.npy` file: float32 `[n, dim]`, one row per item. */
  npy: Uint8Array;
  /** JSON: the model, the ids by row and the metadata by row. */
  index: string;
}

/** The sizes of a collection's index ({@link ClipSearch.indexStats}). */
export interface IndexStats {
  /** Live items. */
  live: number;
  /** Live items in the HNSW graphs. */
  indexed: number;
  /** Live items added since the last build, searched by exact scan. */
  tail: number;
  /** Graph points of removed or replaced items (skipped by searches). */
  tombstones: number;
  /** HNSW graphs (segments) every search visits; 0 without a graph. */
  segments: number;
  /** The last index build this instance ran with `workers` > 1, or null if none ran. */
  lastBuild: IndexBuild | null;
}

/**
 * One index build of a `ClipSearch` with `workers` > 1: a build of two segments or more runs in
 * parallel, a segment per worker; a single segment is built in place in the primary worker.
 */
export interface IndexBuild {
  /** Whether it replaced every graph (rather than indexing new items as new segments). */
  rebuild: boolean;
  /** Segments built. */
  segments: number;
  /** Workers that built them (the primary worker included; 1 for a build in place). */
  workers: number;
  /** Wall-clock milliseconds from plan to attached graph. */
  ms: number;
  /**
   * False when the collection changed while the segments were built (e.g. a `remove` call):
   * the index was then maintained in the primary worker instead.
   */
  applied: boolean;
}

/** What {@link ClipSearch.importTable} did. */
export interface ImportReport {
  /** New ids. */
  inserted: number;
  /** Ids that replaced existing items. */
  replaced: number;
  /** Rows refused, with the reason (`row` is null when the collection refused the item). */
  rejected: Array<{ row: number | null; id: string | null; error: { name: string; message: string } }>;
  /** Columns that are neither id, embedding nor supported metadata. */
  skippedColumns: string[];
  /** Items in the collection afterwards. */
  size: number;
}

/** A recommendation query: examples by id or by embedding. */
export interface RecommendQuery {
  /** Examples the results should resemble (at least one): ids or embeddings. */
  positive: Array<string | Float32Array | number[]>;
  /** Examples the results should not resemble. */
  negative?: Array<string | Float32Array | number[]>;
}
