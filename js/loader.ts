// Model loading: streaming fetch with byte progress (the total known from the start: the
// manifest's size when there is no Content-Length), sha256 checked with WebCrypto against the
// manifest, and a persistent Cache API entry holding only complete, verified, status-200 bytes.
// A second load of the same model is a cache hit and needs no network.

import { namedError, redact, JsErrorNames } from "./errors.js";
import type { LoadProgress, Manifest, ManifestEntry } from "./types.js";

/** The Cache API cache that holds verified model files. */
export const MODEL_CACHE = "clipsearch-models-v1";

/** What the loader needs. */
export interface LoadRequest {
  model: string | URL | Uint8Array | ArrayBuffer;
  manifest?: string | URL | Manifest;
  sha256?: string;
  cache?: boolean;
  onProgress?: (p: LoadProgress) => void;
}

/** Verified model bytes and where they came from. */
export interface LoadedModel {
  bytes: Uint8Array;
  file: string;
  entry: ManifestEntry | null;
  fromCache: boolean;
}

function baseHref(): string | undefined {
  return (globalThis as { location?: { href: string } }).location?.href;
}

/** Lower-case hex sha256 of `bytes` (WebCrypto). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw namedError(
      JsErrorNames.Unsupported,
      "crypto.subtle is missing (pages served over plain http from another host than localhost): serve the page over https to verify the model",
    );
  }
  const d = new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readManifest(m: string | URL | Manifest): Promise<Manifest> {
  if (typeof m === "object" && !(m instanceof URL)) return m;
  const url = new URL(String(m), baseHref());
  let res: Response;
  try {
    res = await fetch(url, { cache: "no-cache" });
  } catch (e) {
    // Offline: a previously loaded model is still usable from the cache by its sha256, but we
    // need the manifest to know it. Fall back to the copy cached beside the model.
    const cached = await cachedManifest(url.href);
    if (cached) return cached;
    throw namedError("NetworkError", `could not fetch the model manifest ${redact(url.href)}: ${(e as Error).message}`);
  }
  if (!res.ok) {
    const cached = await cachedManifest(url.href);
    if (cached) return cached;
    throw namedError("HttpError", `HTTP ${res.status} for the model manifest ${redact(url.href)}`);
  }
  const text = await res.text();
  let parsed: Manifest;
  try {
    parsed = JSON.parse(text) as Manifest;
  } catch {
    throw namedError("InvalidArgument", `the model manifest ${redact(url.href)} is not JSON`);
  }
  if (!parsed || !Array.isArray(parsed.models)) {
    throw namedError("InvalidArgument", `the model manifest ${redact(url.href)} has no "models" list`);
  }
  const cache = await openCache();
  if (cache) await cache.put(manifestKey(url.href), new Response(text, { headers: { "content-type": "application/json" } }));
  return parsed;
}

function manifestKey(href: string): string {
  return `https://clipsearch.invalid/manifest/${encodeURIComponent(redact(href))}`;
}

async function cachedManifest(href: string): Promise<Manifest | null> {
  const cache = await openCache();
  const hit = cache ? await cache.match(manifestKey(href)) : undefined;
  return hit ? ((await hit.json()) as Manifest) : null;
}

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches === "undefined" ? null : await caches.open(MODEL_CACHE);
  } catch {
    return null; // e.g. opaque origins, or storage disabled: load without a cache
  }
}

function modelKeyUrl(sha256: string): string {
  // Content-addressed: the key holds no URL, so a presigned model URL never reaches the cache.
  return `https://clipsearch.invalid/sha256/${sha256}`;
}

function fileName(url: URL): string {
  const parts = url.pathname.split("/");
  return decodeURIComponent(parts[parts.length - 1] || "model.gguf");
}

async function readAll(
  body: ReadableStream<Uint8Array>,
  total: number,
  file: string,
  onProgress: (p: LoadProgress) => void,
): Promise<Uint8Array> {
  const reader = body.getReader();
  // Preallocate when the total is known; grow otherwise (or when the server sends more).
  let buf = new Uint8Array(total > 0 ? total : 1 << 20);
  let loaded = 0;
  let lastReport = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > buf.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, loaded + value.length));
      bigger.set(buf.subarray(0, loaded));
      buf = bigger;
    }
    buf.set(value, loaded);
    loaded += value.length;
    if (loaded - lastReport >= 1 << 18 || loaded === total) {
      lastReport = loaded;
      onProgress({ status: "progress", file, loaded, total, progress: total ? (100 * loaded) / total : 0 });
    }
  }
  return loaded === buf.length ? buf : buf.slice(0, loaded);
}

/**
 * Loads model bytes: from the caller's bytes, from the cache (verified again), or from the
 * network (streamed, verified, then cached). Throws `HttpError`, `NetworkError` or
 * `ChecksumMismatch`.
 */
export async function loadModelBytes(req: LoadRequest): Promise<LoadedModel> {
  const onProgress = req.onProgress ?? (() => {});
  if (!(typeof req.model === "string" || req.model instanceof URL)) {
    const bytes = req.model instanceof Uint8Array ? req.model : new Uint8Array(req.model);
    const file = "model.gguf";
    if (req.sha256) await verify(bytes, { size: bytes.length, sha256: req.sha256 }, file);
    return { bytes, file, entry: null, fromCache: false };
  }
  const url = new URL(String(req.model), baseHref());
  const file = fileName(url);
  const manifest = req.manifest ? await readManifest(req.manifest) : null;
  let entry: ManifestEntry | null = null;
  if (manifest) {
    entry = manifest.models.find((m) => m.file === file) ?? null;
    if (!entry) {
      throw namedError(
        "InvalidArgument",
        `the model manifest lists no file named ${JSON.stringify(file)} (it lists ${manifest.models.map((m) => m.file).join(", ")})`,
      );
    }
  }
  const sha = (entry?.sha256 ?? req.sha256)?.toLowerCase() ?? null;
  const expectedSize = entry?.size ?? 0;
  const cache = req.cache === false || !sha ? null : await openCache();

  if (cache && sha) {
    const hit = await cache.match(modelKeyUrl(sha));
    if (hit && hit.body) {
      const total = Number(hit.headers.get("content-length")) || expectedSize;
      onProgress({ status: "initiate", file, total });
      onProgress({ status: "download", file, total, cached: true });
      const bytes = await readAll(hit.body, total, file, onProgress);
      onProgress({ status: "verify", file });
      if ((!expectedSize || bytes.length === expectedSize) && (await sha256Hex(bytes)) === sha) {
        onProgress({ status: "done", file, loaded: bytes.length, total: bytes.length, cached: true });
        return { bytes, file, entry, fromCache: true };
      }
      await cache.delete(modelKeyUrl(sha)); // corrupt entry: drop it and download again
    }
  }

  if (url.protocol === "file:") {
    // Node: read the file directly (fetch has no file: URLs there).
    const fsName = "node:fs/promises";
    const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(u: URL): Promise<Uint8Array> };
    const bytes = new Uint8Array(await fs.readFile(url));
    if (sha) await verify(bytes, { size: expectedSize || bytes.length, sha256: sha }, file);
    return { bytes, file, entry, fromCache: false };
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw namedError("NetworkError", `could not fetch the model ${redact(url.href)}: ${(e as Error).message}; check the URL and CORS, or that you are online`);
  }
  if (!res.ok || !res.body) {
    throw namedError(
      res.status === 404 ? "NotFound" : "HttpError",
      `HTTP ${res.status} for the model ${redact(url.href)}: check the URL and that the server answers GET for it`,
    );
  }
  const total = Number(res.headers.get("content-length")) || expectedSize;
  onProgress({ status: "initiate", file, total });
  onProgress({ status: "download", file, total, cached: false });
  const bytes = await readAll(res.body, total, file, onProgress);
  if (sha) {
    onProgress({ status: "verify", file });
    await verify(bytes, { size: expectedSize || bytes.length, sha256: sha }, file);
  }
  onProgress({ status: "done", file, loaded: bytes.length, total: bytes.length, cached: false });
  // Only a complete, verified, status-200 response is cached (never a 206, a 304 or an error).
  if (cache && sha && res.status === 200) {
    try {
      await cache.put(
        modelKeyUrl(sha),
        new Response(bytes as Uint8Array<ArrayBuffer>, {
          status: 200,
          headers: { "content-type": "application/octet-stream", "content-length": String(bytes.length) },
        }),
      );
    } catch {
      // Quota exceeded or storage disabled: the model still loads, just not offline next time.
    }
  }
  return { bytes, file, entry, fromCache: false };
}

async function verify(bytes: Uint8Array, want: { size: number; sha256: string }, file: string): Promise<void> {
  if (bytes.length !== want.size) {
    throw namedError(
      JsErrorNames.ChecksumMismatch,
      `the model ${file} has ${bytes.length} bytes but its manifest says ${want.size}: the download was cut short or the manifest is stale`,
    );
  }
  const got = await sha256Hex(bytes);
  if (got !== want.sha256.toLowerCase()) {
    throw namedError(
      JsErrorNames.ChecksumMismatch,
      `the model ${file} has sha256 ${got} but its manifest says ${want.sha256}: the file or the manifest is wrong (regenerate it with \`make manifest\`)`,
    );
  }
}

/** Deletes every cached model file. */
export async function clearModelCache(): Promise<boolean> {
  return typeof caches === "undefined" ? false : caches.delete(MODEL_CACHE);
}

/** Which wasm module runs the model: see {@link CreateOptions.kernel}. */
export type WasmKernel = "simd128" | "relaxed";

/**
 * The smallest module that uses relaxed SIMD: one function `() -> v128` whose body is
 * `i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.splat(0), i8x16.splat(0), i8x16.splat(0))`, the
 * instruction our int8 kernel runs. `WebAssembly.validate` accepts it exactly where the engine
 * implements relaxed SIMD (e.g. Chromium >= 114; Node 20 only with `--experimental-wasm-relaxed-simd`).
 */
export const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: one type, () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x13, 0x01, 0x11, 0x00, // code section: one body of 17 bytes, no locals
  0x41, 0x00, 0xfd, 0x0f, // i32.const 0, i8x16.splat
  0x41, 0x00, 0xfd, 0x0f, // i32.const 0, i8x16.splat
  0x41, 0x00, 0xfd, 0x0f, // i32.const 0, i8x16.splat
  0xfd, 0x93, 0x02, // i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113)
  0x0b, // end
]);

/** Whether this engine supports relaxed SIMD (validates {@link RELAXED_SIMD_PROBE}). */
export function relaxedSimdSupported(): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(RELAXED_SIMD_PROBE as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

/**
 * Resolves the `kernel` option: `"auto"` (default) picks `"relaxed"` where relaxed SIMD
 * validates, else `"simd128"`; a forced `"relaxed"` where it does not validate throws
 * `Unsupported`; anything else throws `InvalidArgument`.
 */
export function chooseWasmKernel(kernel: WasmKernel | "auto" | undefined): WasmKernel {
  switch (kernel ?? "auto") {
    case "auto":
      return relaxedSimdSupported() ? "relaxed" : "simd128";
    case "simd128":
      return "simd128";
    case "relaxed":
      if (!relaxedSimdSupported()) {
        throw namedError(
          JsErrorNames.Unsupported,
          "kernel 'relaxed' needs WebAssembly relaxed SIMD, which this browser does not support: use kernel 'auto' or 'simd128'",
        );
      }
      return "relaxed";
    default:
      throw namedError("InvalidArgument", `kernel must be 'auto', 'simd128' or 'relaxed', got ${JSON.stringify(kernel)}`);
  }
}
