// Errors: every failure reaches JS as an `Error` whose `name` is stable. Names from the wasm
// core are `crate::Error::code()` (`InvalidModel`, `ImageDecode`, `ModelMismatch`, ...); this
// layer adds only the few below, for failures that happen before the wasm is involved.

/** Stable error names added by the JavaScript layer (the wasm core's names pass through). */
export const JsErrorNames = {
  /** The feature is not available here (no IndexedDB in Node; URL items before `embedImages`). */
  Unsupported: "Unsupported",
  /** The model's bytes do not match the manifest's size or sha256. */
  ChecksumMismatch: "ChecksumMismatch",
  /** The method was called after `dispose()`. */
  Disposed: "Disposed",
  /** A worker failed to start or crashed. */
  WorkerError: "WorkerError",
} as const;

/** An `Error` with the given stable `name`. */
export function namedError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/** The plain `{ name, message }` of anything thrown (wasm errors are `Error`s already). */
export function errorInfo(e: unknown): { name: string; message: string } {
  if (e && typeof e === "object" && "message" in e) {
    const o = e as { name?: unknown; message?: unknown };
    return { name: typeof o.name === "string" ? o.name : "Error", message: String(o.message) };
  }
  return { name: "Error", message: String(e) };
}

/** A URL reduced to origin and path: never show a presigned query string. */
export function redact(url: string): string {
  try {
    const u = new URL(url, (globalThis as { location?: { href: string } }).location?.href);
    return u.protocol === "data:" || u.protocol === "blob:" ? `${u.protocol}…` : `${u.origin}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}
