// The demo page, on the npm package's high-level API (dist/index.js, worker-backed). UI only:
// everything the user or a file supplies is rendered with textContent, never as HTML, and a
// presigned URL is never shown: only the item's id or locator.
import { ClipSearch } from "./dist/index.js";

const $ = (id) => document.getElementById(id);
const COLLECTION = "demo";
const DEFAULT_MODEL = "models/tiny-clip.gguf";
const thumbs = new Map(); // id -> object URL of the image (dropped file, or a fetched URL's bytes)
// id -> presigned URL, memory only: its thumbnail is fetched on first display (`cache: "no-store"`)
// and shown from a blob: URL, so the signature never reaches the DOM or the HTTP cache.
const remote = new Map();
let cs = null;
let manifest = null;
let adding = null; // AbortController of the running addImages

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}
function showError(e) {
  setStatus(`${e?.name ?? "Error"}: ${e?.message ?? String(e)}`, true);
}
function setCollectionSize(n) {
  $("collection-info").textContent = n ? `${n} image${n === 1 ? "" : "s"} indexed (saved in this browser).` : "No images yet.";
  document.body.dataset.size = String(n);
}
async function run(fn) {
  try {
    await fn();
  } catch (e) {
    showError(e);
  }
}
function need() {
  if (!cs) throw Object.assign(new Error("load a model first"), { name: "NoModel" });
  return cs;
}

// ---- model -------------------------------------------------------------------------------

async function readManifest() {
  try {
    const r = await fetch("models/manifest.json");
    if (r.ok) manifest = await r.json();
  } catch {
    manifest = null;
  }
}
function manifestEntryFor(url) {
  const file = String(url).split(/[?#]/)[0].split("/").pop();
  return manifest?.models?.find((m) => m.file === file) ?? null;
}
/** The random test model: its manifest entry or its name says so. */
function isRandomModel(info) {
  const known = (manifest?.models ?? []).filter((m) => /tiny|random|test/i.test(m.name ?? m.file)).map((m) => m.modelKey);
  return known.includes(info.key) || /tiny|random|test/i.test(info.name);
}

async function loadModel(model, label) {
  $("model-info").textContent = `Loading ${label}…`;
  $("model-progress").value = 0;
  document.body.dataset.model = "loading";
  const started = performance.now();
  const options = {
    model,
    // Workers start from blob: modules that inherit this page's CSP (csp.js), so their image
    // fetches obey connect-src: only this origin and the origins the user allowed.
    inheritCsp: true,
    onProgress: (p) => {
      if (p.status === "progress" && p.total) $("model-progress").value = p.loaded / p.total;
      if (p.status === "verify") $("model-info").textContent = `Verifying ${label}…`;
    },
  };
  if (typeof model === "string" && manifestEntryFor(model)) options.manifest = manifest;
  const old = cs;
  cs = null;
  await old?.dispose();
  cs = await ClipSearch.open(COLLECTION, options);
  $("query-model").value = "";
  $("query-model-info").textContent = "";
  document.body.dataset.queryModel = "clip";
  const info = cs.info;
  $("model-progress").value = 1;
  $("model-info").textContent = `${info.name} · ${info.dim}-d · ${info.quantization} · towers: ${info.towers} · key ${info.key} · loaded in ${Math.round(performance.now() - started)} ms`;
  $("model-warning").hidden = !isRandomModel(info);
  setCollectionSize(cs.size);
  document.body.dataset.model = "loaded";
  setStatus(cs.size ? `Ready: ${cs.size} images restored from this browser.` : "Ready. Add images, then search.");
}

$("model-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const url = $("model-url").value.trim();
  // A model on another https origin needs that origin in connect-src: offer to allow it.
  run(() => {
    offerOrigins(originsNotAllowed([{ url: new URL(url, location.href).href }]));
    return loadModel(url, redactUrl(url));
  });
});
$("model-file").addEventListener("change", (ev) =>
  run(async () => {
    const f = ev.target.files[0];
    if (f) await loadModel(new Uint8Array(await f.arrayBuffer()), f.name);
  }),
);

/** A URL without its query string and fragment (presigned signatures never shown). */
function redactUrl(s) {
  try {
    const u = new URL(s, location.href);
    return u.origin + u.pathname;
  } catch {
    return String(s).split(/[?#]/)[0];
  }
}

// ---- adding images -----------------------------------------------------------------------

async function addItems(items, describe) {
  const c = need();
  if (!items.length) return;
  adding?.abort();
  const ctl = new AbortController();
  adding = ctl;
  $("add-cancel").hidden = false;
  const t0 = performance.now();
  $("add-progress").value = 0;
  $("add-status").textContent = `Adding ${items.length} ${describe}…`;
  document.body.dataset.adding = "true";
  let r;
  try {
    r = await c.addImages(items, {
      signal: ctl.signal,
      onProgress: (p) => {
        if (p.status !== "embed") {
          $("add-status").textContent = `Indexing ${p.total} items…`;
          return;
        }
        const n = p.done + p.failed;
        $("add-progress").value = p.total ? n / p.total : 1;
        const secs = (performance.now() - t0) / 1000;
        const rate = secs > 0 ? n / secs : 0;
        const left = rate > 0 ? Math.ceil((p.total - n) / rate) : null;
        $("add-status").textContent = `${n} of ${p.total} · ${p.done} embedded, ${p.failed} failed · ${rate.toFixed(1)} images/s · ${left === null ? "estimating" : `${left} s left`}`;
      },
    });
  } finally {
    if (adding === ctl) adding = null;
    $("add-cancel").hidden = true;
    delete document.body.dataset.adding;
  }
  $("add-progress").value = 1;
  $("add-status").textContent = `${r.embedded.length} embedded, ${r.failed.length} failed${r.aborted ? " (stopped)" : ""}.`;
  listFailed(r.failed.map((f) => ({ who: f.id ?? `item ${f.index + 1}`, name: f.name, message: f.message })));
  await c.save();
  setStatus(`Added ${r.embedded.length} ${describe}; ${r.size} images in the collection.`);
  setCollectionSize(r.size);
  document.body.dataset.added = String(r.size);
  document.body.dataset.failed = String($("failed").children.length);
  return r;
}

/** Appends failed items to the "failed" list, as text (names and messages are never HTML). */
function listFailed(entries) {
  const ul = $("failed");
  for (const f of entries) {
    const li = document.createElement("li");
    const who = document.createElement("span");
    who.className = "failed-id";
    who.textContent = f.who;
    const name = document.createElement("strong");
    name.textContent = f.name;
    const msg = document.createElement("span");
    msg.textContent = f.message;
    li.append(who, ": ", name, ": ", msg);
    ul.append(li);
  }
  $("failed-box").hidden = ul.children.length === 0;
  if (entries.length) $("failed-box").open = true;
  document.body.dataset.failed = String(ul.children.length);
}

async function addFiles(files) {
  const list = [...files].filter((f) => f.size > 0 || f.name);
  const items = list.map((f) => {
    const id = f.webkitRelativePath || f.relativePath || f.name;
    forgetThumb(id);
    remote.delete(id);
    thumbs.set(id, URL.createObjectURL(f));
    const metadata = { name: f.name, type: f.type || "unknown", bytes: f.size };
    const slash = id.lastIndexOf("/");
    if (slash > 0) metadata.folder = id.slice(0, slash);
    return { id, file: f, metadata };
  });
  await addItems(items, "files");
}

$("files").addEventListener("change", (ev) => run(() => addFiles(ev.target.files)));
$("folder").addEventListener("change", (ev) => run(() => addFiles(ev.target.files)));
$("add-cancel").addEventListener("click", () => adding?.abort());

// Drag and drop of files and whole folders (webkitGetAsEntry walks directories).
const drop = $("drop");
drop.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  const entries = [...(ev.dataTransfer.items ?? [])].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  run(async () => {
    if (!entries.length) return addFiles(ev.dataTransfer.files);
    const files = [];
    for (const e of entries) await walk(e, files);
    await addFiles(files);
  });
});
async function walk(entry, out) {
  if (entry.isFile) {
    const f = await new Promise((ok, err) => entry.file(ok, err));
    const path = entry.fullPath.replace(/^\//, "");
    out.push(path.includes("/") ? Object.assign(f, { relativePath: path }) : f);
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, err) => reader.readEntries(ok, err));
      if (!batch.length) break;
      for (const e of batch) await walk(e, out);
    }
  }
}

// Presigned URLs and manifests.
function urlItem(id, url, metadata) {
  const item = { url: url.trim(), metadata };
  if (id) item.id = id;
  return item;
}
function parseUrls(text) {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => urlItem(null, l, {}));
}
/** CSV with a header row naming `url` (and `id`); other columns become metadata. Quotes allowed. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (q) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') q = false;
      else cell += ch;
    } else if (ch === '"') q = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  const nonEmpty = rows.filter((r) => r.some((c) => c.trim()));
  if (!nonEmpty.length) return [];
  let header = nonEmpty[0].map((h) => h.trim());
  let body = nonEmpty.slice(1);
  if (!header.includes("url")) {
    // No header: id,url,meta1,meta2...
    body = nonEmpty;
    header = nonEmpty[0].map((_, i) => (i === 0 ? "id" : i === 1 ? "url" : `field${i - 1}`));
  }
  return body.map((r) => {
    const metadata = {};
    let id = null;
    let url = "";
    header.forEach((h, i) => {
      const v = (r[i] ?? "").trim();
      if (h === "id") id = v || null;
      else if (h === "url") url = v;
      else if (h) metadata[h] = v;
    });
    return urlItem(id, url, metadata);
  });
}
function parseJson(text) {
  const data = JSON.parse(text);
  const list = Array.isArray(data) ? data : data.items;
  if (!Array.isArray(list)) throw Object.assign(new Error("the JSON manifest must be a list of {id, url, metadata} objects (or {items: [...]})"), { name: "InvalidArgument" });
  return list.map((o) => {
    const { id, url, metadata, ...rest } = o ?? {};
    return urlItem(id == null ? null : String(id), String(url ?? ""), { ...rest, ...(metadata ?? {}) });
  });
}

function originsNotAllowed(items) {
  const allowed = new Set(window.clipsearchAllowedOrigins ?? []);
  const out = new Set();
  for (const it of items) {
    const o = window.clipsearchOrigin?.(it.url);
    if (o && o !== location.origin && !allowed.has(o)) out.add(o);
  }
  return [...out];
}
let pendingOrigins = [];
function offerOrigins(origins) {
  pendingOrigins = origins;
  $("origins-box").hidden = origins.length === 0;
  $("origins-text").textContent = origins.length
    ? `Requests to ${origins.join(", ")} (image fetches, thumbnails, model downloads) are blocked by this page's Content-Security-Policy. Allow ${origins.length === 1 ? "this origin" : "these origins"} and reload (your collection is kept; paste the URLs again after the reload, they are never stored).`
    : "";
}
$("origins-allow").addEventListener("click", () => {
  const key = "clipsearch.allowedOrigins";
  const cur = JSON.parse(localStorage.getItem(key) || "[]");
  localStorage.setItem(key, JSON.stringify([...new Set([...cur, ...pendingOrigins])]));
  location.reload();
});
function showAllowedOrigins() {
  const o = window.clipsearchAllowedOrigins ?? [];
  $("origins-current").textContent = o.length ? `Image origins allowed on this page: ${o.join(", ")}` : "";
}

async function addUrlItems(all) {
  const blocked = originsNotAllowed(all);
  offerOrigins(blocked);
  // This page's CSP (inherited by the workers) blocks these origins: report each such item now,
  // with what to do, instead of letting its fetch fail as a network error.
  const refused = new Set(blocked);
  const items = all.filter((it) => !refused.has(window.clipsearchOrigin?.(it.url)));
  listFailed(
    all
      .filter((it) => refused.has(window.clipsearchOrigin?.(it.url)))
      .map((it) => ({
        who: it.id ?? redactUrl(it.url),
        name: "OriginNotAllowed",
        message: `this page's Content-Security-Policy does not allow ${window.clipsearchOrigin(it.url)}: use "Allow and reload" above, then add the URL again`,
      })),
  );
  const r = await addItems(items, "URLs");
  // Remember the presigned URL (memory only, never shown) for the thumbnail of each stored id.
  for (const e of r?.embedded ?? []) {
    const url = items[e.index]?.url;
    if (url && window.clipsearchOrigin?.(url)) {
      remote.set(e.id, url);
      forgetThumb(e.id);
    }
  }
}

function forgetThumb(id) {
  const old = thumbs.get(id);
  if (old) URL.revokeObjectURL(old);
  thumbs.delete(id);
}

/** The thumbnail of a URL item: its bytes fetched once, kept as a blob: URL (null if it fails). */
const pendingThumbs = new Map();
function remoteThumb(id) {
  const url = remote.get(id);
  if (!url) return Promise.resolve(null);
  if (!pendingThumbs.has(id)) {
    const p = fetch(url, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" })
      .then((r) => (r.ok ? r.blob() : null))
      .then((b) => {
        if (!b || remote.get(id) !== url) return null;
        const u = URL.createObjectURL(b);
        thumbs.set(id, u);
        remote.delete(id);
        return u;
      })
      .catch(() => null)
      .finally(() => pendingThumbs.delete(id));
    pendingThumbs.set(id, p);
  }
  return pendingThumbs.get(id);
}
$("urls-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run(async () => {
    const items = parseUrls($("urls").value);
    $("urls").value = ""; // the presigned URLs do not stay on screen
    await addUrlItems(items);
  });
});
$("url-manifest").addEventListener("change", (ev) =>
  run(async () => {
    const f = ev.target.files[0];
    if (!f) return;
    const text = await f.text();
    const items = /\.json$/i.test(f.name) || text.trimStart().startsWith("[") || text.trimStart().startsWith("{") ? parseJson(text) : parseCsv(text);
    ev.target.value = "";
    await addUrlItems(items);
  }),
);

// ---- search ------------------------------------------------------------------------------

function searchOptions() {
  const o = { k: Number($("k").value) || 12, minScore: Number($("min-score").value) };
  const key = $("filter-key").value.trim();
  if (key) {
    const raw = $("filter-value").value;
    const values = [raw];
    if (raw.trim() !== "" && Number.isFinite(Number(raw))) values.push(Number(raw));
    if (raw === "true" || raw === "false") values.push(raw === "true");
    o.filter = { must: [{ key, match: { any: values } }] };
  }
  return o;
}

function renderResults(hits, title) {
  $("results-title").textContent = `${title}: ${hits.length} result${hits.length === 1 ? "" : "s"}`;
  const ol = $("results");
  ol.replaceChildren();
  for (const h of hits) {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.alt = "";
    const src = thumbs.get(h.id);
    if (src) img.src = src;
    else if (remote.has(h.id)) {
      img.classList.add("loading");
      remoteThumb(h.id).then((u) => {
        img.classList.remove("loading");
        if (u) img.src = u;
        else img.classList.add("none");
      });
    } else img.classList.add("none");
    const id = document.createElement("div");
    id.className = "id";
    id.textContent = h.id;
    const score = document.createElement("div");
    score.className = "score";
    score.textContent = h.score.toFixed(3);
    score.title = "cosine similarity";
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = Object.entries(h.metadata ?? {})
      .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" · ");
    const more = document.createElement("button");
    more.type = "button";
    more.className = "similar";
    more.textContent = "More like this";
    more.setAttribute("aria-label", `More like ${h.id}`);
    more.addEventListener("click", () => run(async () => renderResults(await need().searchSimilar(h.id, searchOptions()), `Similar to ${h.id}`)));
    li.append(img, id, score, meta, more);
    ol.append(li);
  }
  document.body.dataset.results = String(hits.length);
  document.body.dataset.searches = String(Number(document.body.dataset.searches ?? 0) + 1);
}

// ---- query language model ----------------------------------------------------------------
// A multilingual text tower aligned with the model's image space queries the same collection:
// images are never re-embedded. The package refuses (ModelMismatch) a text model of another space.

async function setQueryModel(url) {
  const c = need();
  document.body.dataset.queryModel = "loading";
  $("query-model-info").textContent = url ? "Loading the query model…" : "";
  try {
    const src = url ? { model: url, ...(manifestEntryFor(url) ? { manifest } : {}) } : null;
    const info = await c.setTextModel(src);
    $("query-model-info").textContent = info ? `${info.name} · ${info.textArchitecture ?? "text"} · space ${info.space}` : "";
    document.body.dataset.queryModel = info ? info.textArchitecture ?? "text" : "clip";
  } catch (e) {
    $("query-model").value = "";
    $("query-model-info").textContent = "";
    document.body.dataset.queryModel = "error";
    throw e;
  }
}
$("query-model").addEventListener("change", (ev) => run(() => setQueryModel(ev.target.value)));

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = $("query").value;
  run(async () => renderResults(await need().searchText(q, searchOptions()), `Text “${q}”`));
});
$("query-image").addEventListener("change", (ev) =>
  run(async () => {
    const f = ev.target.files[0];
    if (!f) return;
    renderResults(await need().searchImage(f, searchOptions()), `Image ${f.name}`);
  }),
);

// ---- data --------------------------------------------------------------------------------

function download(name, data, type = "application/octet-stream") {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
for (const b of document.querySelectorAll("[data-export]")) {
  b.addEventListener("click", () =>
    run(async () => {
      const c = need();
      const format = b.dataset.export;
      if (format === "parquet") {
        download("embeddings.parquet", await c.exportTable("parquet"));
      } else if (format === "qdrant") {
        const q = await c.exportTable("qdrant");
        download("qdrant-create-collection.json", q.createCollection, "application/json");
        download("qdrant-points.ndjson", q.pointsNdjson, "application/x-ndjson");
      } else {
        const n = await c.exportTable("npy");
        download("embeddings.npy", n.npy);
        download("embeddings.json", n.index, "application/json");
      }
      setStatus(`Exported ${c.size} embeddings as ${format} (embeddings only, no images).`);
    }),
  );
}
$("import").addEventListener("change", (ev) =>
  run(async () => {
    const f = ev.target.files[0];
    if (!f) return;
    const c = need();
    const r = await c.importTable(f);
    ev.target.value = "";
    await c.save();
    setStatus(`Imported ${r.inserted} new, ${r.replaced} replaced, ${r.rejected.length} rejected.`);
    setCollectionSize(r.size);
    document.body.dataset.imported = String(r.inserted + r.replaced);
  }),
);
$("clear").addEventListener("click", () =>
  run(async () => {
    await need().clear({ deleteSaved: true });
    for (const u of thumbs.values()) URL.revokeObjectURL(u);
    thumbs.clear();
    remote.clear();
    $("results").replaceChildren();
    $("results-title").textContent = "";
    $("failed").replaceChildren();
    $("failed-box").hidden = true;
    $("add-status").textContent = "";
    setCollectionSize(0);
    setStatus("Cleared: the collection and its saved copy are gone.");
  }),
);

showAllowedOrigins();
await readManifest();
await run(() => loadModel(DEFAULT_MODEL, DEFAULT_MODEL));
document.body.dataset.ready = "true";
