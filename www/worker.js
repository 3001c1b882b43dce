// The wasm module lives here, off the main thread, so the page stays responsive.
import init, * as cs from "./pkg/clipsearch.js";

const ready = init(); // one shared loading promise: concurrent calls never load twice

const methods = {
  async hello() {
    return { version: cs.version() };
  },
};

self.onmessage = async (ev) => {
  const { id, method, args } = ev.data;
  try {
    await ready;
    const fn = methods[method];
    if (!fn) throw Object.assign(new Error(`unknown method ${method}`), { name: "InvalidArgument" });
    const value = await fn(args, (progress) => self.postMessage({ id, progress }));
    self.postMessage({ id, ok: true, value });
  } catch (e) {
    self.postMessage({ id, ok: false, error: { name: e?.name ?? "Error", message: String(e?.message ?? e) } });
  }
};
