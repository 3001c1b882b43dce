// Main-thread side of the worker RPC: every call is a message with an id; the worker answers
// with {id, ok, value} or {id, ok:false, error:{name,message}}; progress events carry the id too.
export class WorkerClient {
  /** @param {Worker} worker */
  constructor(worker) {
    this.worker = worker;
    this.nextId = 1;
    this.pending = new Map();
    worker.onmessage = (ev) => this.#onMessage(ev.data);
    worker.onerror = (ev) => {
      const err = new Error(ev.message || "worker failed to start");
      err.name = "WorkerError";
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  /** Call `method` in the worker. */
  call(method, args = {}, { transfer = [], onProgress } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ id, method, args }, transfer);
    });
  }

  #onMessage(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.progress) {
      p.onProgress?.(msg.progress);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else {
      const err = new Error(msg.error.message);
      err.name = msg.error.name;
      p.reject(err);
    }
  }
}
