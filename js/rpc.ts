// One RPC channel to an Engine: a module Web Worker, or the Engine in-process where there are
// no workers (Node). Same calls, same errors either way.

import type { Engine } from "./engine.js";
import { namedError, JsErrorNames } from "./errors.js";

/** Options of one call. */
export interface CallOptions {
  transfer?: Transferable[];
  onProgress?: (p: any) => void;
  signal?: AbortSignal;
}

/** A channel to one engine. */
export interface Channel {
  call<T = any>(method: string, args?: unknown, opts?: CallOptions): Promise<T>;
  terminate(): void;
}

/** The ArrayBuffers of the typed arrays in a value (shallow: top level, arrays, object fields). */
export function transferables(value: unknown, depth = 0, out: Transferable[] = []): Transferable[] {
  if (value === null || typeof value !== "object" || depth > 3) return out;
  if (ArrayBuffer.isView(value)) {
    const buf = value.buffer;
    if (buf instanceof ArrayBuffer && !out.includes(buf) && buf.byteLength > 0) out.push(buf);
    return out;
  }
  if (value instanceof Blob) return out;
  const vals = Array.isArray(value) ? value : Object.values(value as object);
  for (const v of vals) transferables(v, depth + 1, out);
  return out;
}

function rebuildError(e: { name: string; message: string }): Error {
  return namedError(e.name, e.message);
}

/** A module worker running worker.ts. */
export class WorkerChannel implements Channel {
  private next = 1;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; onProgress?: (p: any) => void }>();
  private failed: Error | null = null;

  constructor(private worker: Worker) {
    worker.onmessage = (ev: MessageEvent) => {
      const msg = ev.data as { id: number; progress?: unknown; ok?: boolean; value?: unknown; error?: { name: string; message: string } };
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.progress !== undefined) {
        p.onProgress?.(msg.progress);
        return;
      }
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(rebuildError(msg.error ?? { name: "Error", message: "unknown worker error" }));
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault?.();
      this.fail(namedError(JsErrorNames.WorkerError, `the clipsearch worker failed: ${ev.message || "it could not start (is dist/worker.js served?)"}`));
    };
    worker.onmessageerror = () => this.fail(namedError(JsErrorNames.WorkerError, "a message from the clipsearch worker could not be read"));
  }

  private fail(e: Error) {
    this.failed = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  call<T>(method: string, args: unknown = {}, opts: CallOptions = {}): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress: opts.onProgress });
      this.worker.postMessage({ id, method, args }, opts.transfer ?? []);
      // The worker handles messages in order, so an abort always follows its call.
      if (opts.signal?.aborted) this.worker.postMessage({ abort: id });
      else opts.signal?.addEventListener("abort", () => this.pending.has(id) && this.worker.postMessage({ abort: id }), { once: true });
    });
  }

  terminate() {
    this.worker.terminate();
    this.fail(namedError(JsErrorNames.Disposed, "this ClipSearch was disposed"));
  }
}

/** The engine in this thread (Node, or `useWorker: false`). */
export class LocalChannel implements Channel {
  private disposed = false;
  constructor(private engine: Engine) {}

  async call<T>(method: string, args: unknown = {}, opts: CallOptions = {}): Promise<T> {
    if (this.disposed) throw namedError(JsErrorNames.Disposed, "this ClipSearch was disposed");
    const fn = (this.engine as unknown as Record<string, unknown>)[method];
    if (typeof fn !== "function") throw namedError("InvalidArgument", `unknown method ${method}`);
    const signal = opts.signal ?? new AbortController().signal;
    // Same semantics as the worker: arguments are the caller's, results are fresh copies.
    return (await (fn as (a: unknown, c: unknown) => unknown).call(this.engine, args, {
      progress: (p: unknown) => opts.onProgress?.(p),
      signal,
    })) as T;
  }

  terminate() {
    this.disposed = true;
    this.engine.dispose();
  }
}
