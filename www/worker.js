// The wasm module lives here, off the main thread, so the page stays responsive while images are
// embedded. Every method answers one RPC from client.js.
import init, * as cs from "./pkg/clipsearch.js";

const ready = init(); // one shared loading promise: concurrent calls never load twice
let model = null;
let modelLoading = null; // the loading promise, not the loaded value
let collection = null;
const DB = "clipsearch-demo";

function err(name, message) {
  return Object.assign(new Error(message), { name });
}

async function fetchWithProgress(url, onProgress) {
  const res = await fetch(url);
  if (!res.ok) throw err("HttpError", `HTTP ${res.status} for ${cs.redactUrl(new URL(url, self.location.href).href)}`);
  const total = Number(res.headers.get("content-length")) || 0;
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  onProgress({ status: "initiate", total });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress({ status: "progress", loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  onProgress({ status: "done", loaded, total });
  return bytes;
}

// IndexedDB: one object store, the collection's bytes under key "collection".
function idb() {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore("kv");
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}
async function idbPut(key, value) {
  const db = await idb();
  await new Promise((ok, fail) => {
    const tx = db.transaction("kv", "readwrite");
    value === undefined ? tx.objectStore("kv").delete(key) : tx.objectStore("kv").put(value, key);
    tx.oncomplete = ok;
    tx.onerror = () => fail(tx.error);
  });
  db.close();
}
async function idbGet(key) {
  const db = await idb();
  const v = await new Promise((ok, fail) => {
    const req = db.transaction("kv").objectStore("kv").get(key);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
  db.close();
  return v;
}

async function save() {
  if (collection) await idbPut("collection", collection.toBytes());
}

function requireModel() {
  if (!model) throw err("ModelNotLoaded", "load a model first");
  return model;
}

function ensureCollection() {
  if (!collection) collection = new cs.Collection(requireModel().spaceInfo());
  return collection;
}

const methods = {
  async hello() {
    return { version: cs.version() };
  },

  async loadModel({ url }, progress) {
    if (!modelLoading) {
      modelLoading = (async () => {
        const bytes = await fetchWithProgress(url, progress);
        progress({ status: "loading" });
        model = cs.ClipModel.fromGguf(bytes);
        const saved = await idbGet("collection");
        if (saved) {
          try {
            const restored = cs.Collection.fromBytes(saved);
            if (restored.space().modelKey === model.spaceInfo().modelKey) collection = restored;
          } catch (e) {
            // A corrupt save is reported and dropped, never fatal.
            progress({ status: "warning", message: `saved collection ignored: ${e.name}: ${e.message}` });
          }
        }
        progress({ status: "ready" });
        return model.info;
      })().catch((e) => {
        modelLoading = null;
        throw e;
      });
    }
    const info = await modelLoading;
    return { info, size: collection ? collection.size : 0 };
  },

  // files: [{ id, name, bytes: ArrayBuffer, metadata }]
  async addImages({ files }, progress) {
    const m = requireModel();
    const col = ensureCollection();
    const failed = [];
    let done = 0;
    for (const f of files) {
      try {
        const v = m.embedImage(new Uint8Array(f.bytes));
        col.upsert(f.id, v, f.metadata ?? {});
        done += 1;
      } catch (e) {
        failed.push({ id: f.id, name: e.name, message: e.message });
      }
      progress({ status: "embed", done, failed: failed.length, total: files.length });
    }
    if (col.needsRebuild()) {
      progress({ status: "index" });
      col.rebuild();
    }
    await save();
    return { added: done, failed, size: col.size };
  },

  async searchText({ query, options }) {
    const m = requireModel();
    if (!collection) return [];
    return collection.search(m.embedText(query), options);
  },

  async searchImage({ bytes, options }) {
    const m = requireModel();
    if (!collection) return [];
    return collection.search(m.embedImage(new Uint8Array(bytes)), options);
  },

  async searchSimilar({ id, options }) {
    if (!collection) return [];
    return collection.searchById(id, options);
  },

  async exportTable({ format }) {
    if (!collection) throw err("InvalidArgument", "the collection is empty");
    const createdAt = new Date().toISOString();
    if (format === "parquet") return { files: [{ name: "embeddings.parquet", bytes: collection.exportParquet({ createdAt }) }] };
    if (format === "qdrant") {
      const q = collection.exportQdrant({ createdAt });
      return {
        files: [
          { name: "qdrant-create-collection.json", text: q.createCollection },
          { name: "qdrant-points.ndjson", text: q.pointsNdjson },
        ],
      };
    }
    if (format === "npy") {
      const n = collection.exportNpy({ createdAt });
      return { files: [{ name: "embeddings.npy", bytes: n.npy }, { name: "embeddings.json", text: n.index }] };
    }
    throw err("InvalidArgument", `unknown export format ${format}`);
  },

  async importTable({ bytes }) {
    const col = ensureCollection();
    const report = col.importParquet(new Uint8Array(bytes));
    await save();
    return { ...report, size: col.size };
  },

  async ids() {
    return collection ? collection.ids() : [];
  },

  async clear() {
    collection = null;
    await idbPut("collection", undefined);
    return { size: 0 };
  },
};

self.onmessage = async (ev) => {
  const { id, method, args } = ev.data;
  try {
    await ready;
    const fn = methods[method];
    if (!fn) throw err("InvalidArgument", `unknown method ${method}`);
    const value = await fn(args ?? {}, (progress) => self.postMessage({ id, progress }));
    self.postMessage({ id, ok: true, value });
  } catch (e) {
    self.postMessage({ id, ok: false, error: { name: e?.name ?? "Error", message: String(e?.message ?? e) } });
  }
};
