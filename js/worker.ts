// The module Web Worker shipped in the package: one Engine, one RPC channel (see rpc.ts).
// Messages in: `{ id, method, args }` and `{ abort: id }`. Messages out: `{ id, progress }`,
// `{ id, ok: true, value }` (typed arrays transferred) or `{ id, ok: false, error: { name, message } }`.

import { Engine } from "./engine.js";
import { errorInfo, namedError } from "./errors.js";
import { transferables } from "./rpc.js";

interface Scope {
  onmessage: ((ev: MessageEvent) => void) | null;
  postMessage(msg: unknown, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as Scope;
const engine = new Engine();
const controllers = new Map<number, AbortController>();

scope.onmessage = async (ev: MessageEvent) => {
  const msg = ev.data as { id: number; method?: string; args?: unknown; abort?: number };
  if (msg.abort !== undefined) {
    controllers.get(msg.abort)?.abort();
    return;
  }
  const { id, method } = msg;
  const ctl = new AbortController();
  controllers.set(id, ctl);
  try {
    const fn = (engine as unknown as Record<string, unknown>)[method ?? ""];
    if (typeof fn !== "function" || method === "constructor") throw namedError("InvalidArgument", `unknown method ${method}`);
    const value = await (fn as (a: unknown, c: unknown) => unknown).call(engine, msg.args ?? {}, {
      progress: (progress: unknown) => scope.postMessage({ id, progress }),
      signal: ctl.signal,
    });
    scope.postMessage({ id, ok: true, value }, transferables(value));
  } catch (e) {
    scope.postMessage({ id, ok: false, error: errorInfo(e) });
  } finally {
    controllers.delete(id);
  }
};
