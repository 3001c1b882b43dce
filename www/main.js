// UI only: all work happens in the worker (worker.js) through the RPC client. Everything the user
// or a file supplies is rendered with textContent, never as HTML.
import { WorkerClient } from "./client.js";

const $ = (id) => document.getElementById(id);
const client = new WorkerClient(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));
const thumbs = new Map(); // id -> object URL of the dropped file (stays on this machine)

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}
function showError(e) {
  setStatus(`${e.name}: ${e.message}`, true);
}
function setCollectionSize(n) {
  $("collection-info").textContent = n ? `${n} image${n === 1 ? "" : "s"} indexed (saved in this browser).` : "No images yet.";
}

async function loadModel(url) {
  $("model-info").textContent = `Loading ${url}…`;
  const started = performance.now();
  const { info, size } = await client.call("loadModel", { url }, {
    onProgress: (p) => {
      if (p.status === "progress" && p.total) $("model-progress").value = p.loaded / p.total;
      if (p.status === "warning") setStatus(p.message, true);
    },
  });
  $("model-progress").value = 1;
  $("model-info").textContent = `${info.name} · ${info.dim}-d · ${info.quantization} · towers: ${info.towers} · key ${info.key} · loaded in ${Math.round(performance.now() - started)} ms`;
  $("model-warning").hidden = !/tiny|random/i.test(info.name);
  setCollectionSize(size);
  document.body.dataset.model = "loaded";
  setStatus("Ready. Add images, then search.");
}

async function addFiles(fileList) {
  const files = [...fileList];
  if (!files.length) return;
  const payload = [];
  for (const f of files) {
    const id = f.webkitRelativePath || f.name;
    thumbs.set(id, URL.createObjectURL(f));
    payload.push({ id, bytes: await f.arrayBuffer(), metadata: { name: f.name, type: f.type, bytes: f.size } });
  }
  const t0 = performance.now();
  const r = await client.call("addImages", { files: payload }, {
    transfer: payload.map((p) => p.bytes),
    onProgress: (p) => {
      if (p.status !== "embed") {
        $("add-status").textContent = "Indexing…";
        return;
      }
      const n = p.done + p.failed;
      $("add-progress").value = n / p.total;
      const rate = n / ((performance.now() - t0) / 1000);
      const left = rate > 0 ? Math.round((p.total - n) / rate) : 0;
      $("add-status").textContent = `${p.done} embedded, ${p.failed} failed of ${p.total} · ${rate.toFixed(1)}/s · ${left}s left`;
    },
  });
  $("add-progress").value = 1;
  $("add-status").textContent = `${r.added} embedded, ${r.failed.length} failed.`;
  const ul = $("failed");
  for (const f of r.failed) {
    const li = document.createElement("li");
    li.textContent = `${f.id}: ${f.name}: ${f.message}`;
    ul.append(li);
  }
  $("failed-box").hidden = ul.children.length === 0;
  $("failed-box").open = r.failed.length > 0;
  setCollectionSize(r.size);
  document.body.dataset.added = String(r.size);
}

function searchOptions() {
  return { k: Number($("k").value) || 12, minScore: Number($("min-score").value) };
}

function renderResults(hits) {
  const ol = $("results");
  ol.replaceChildren();
  for (const h of hits) {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.alt = h.id;
    if (thumbs.has(h.id)) img.src = thumbs.get(h.id);
    const id = document.createElement("div");
    id.className = "id";
    id.textContent = h.id;
    const score = document.createElement("div");
    score.className = "score";
    score.textContent = h.score.toFixed(3);
    const more = document.createElement("button");
    more.type = "button";
    more.textContent = "More like this";
    more.addEventListener("click", () => run(async () => renderResults(await client.call("searchSimilar", { id: h.id, options: searchOptions() }))));
    li.append(img, id, score, more);
    ol.append(li);
  }
  document.body.dataset.results = String(hits.length);
}

function download(name, data) {
  const url = URL.createObjectURL(new Blob([data]));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function run(fn) {
  try {
    await fn();
  } catch (e) {
    showError(e);
  }
}

$("model-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run(() => loadModel($("model-url").value));
});
$("files").addEventListener("change", (ev) => run(() => addFiles(ev.target.files)));
const drop = $("drop");
drop.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  run(() => addFiles(ev.dataTransfer.files));
});
$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run(async () => renderResults(await client.call("searchText", { query: $("query").value, options: searchOptions() })));
});
$("query-image").addEventListener("change", (ev) =>
  run(async () => {
    const f = ev.target.files[0];
    if (!f) return;
    const bytes = await f.arrayBuffer();
    renderResults(await client.call("searchImage", { bytes, options: searchOptions() }, { transfer: [bytes] }));
  }),
);
for (const b of document.querySelectorAll("[data-export]")) {
  b.addEventListener("click", () =>
    run(async () => {
      const { files } = await client.call("exportTable", { format: b.dataset.export });
      for (const f of files) download(f.name, f.bytes ?? f.text);
    }),
  );
}
$("import").addEventListener("change", (ev) =>
  run(async () => {
    const f = ev.target.files[0];
    if (!f) return;
    const bytes = await f.arrayBuffer();
    const r = await client.call("importTable", { bytes }, { transfer: [bytes] });
    setStatus(`Imported ${r.inserted} new, ${r.replaced} replaced, ${r.rejected.length} rejected.`);
    setCollectionSize(r.size);
  }),
);
$("clear").addEventListener("click", () =>
  run(async () => {
    await client.call("clear");
    thumbs.clear();
    $("results").replaceChildren();
    setCollectionSize(0);
  }),
);

try {
  const { version } = await client.call("hello");
  setStatus(`clipsearch ${version} ready`);
  document.body.dataset.ready = "true";
  await loadModel($("model-url").value);
} catch (e) {
  showError(e);
}
