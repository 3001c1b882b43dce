// UI only: all work happens in the worker (worker.js) through the RPC client.
import { WorkerClient } from "./client.js";

const $ = (id) => document.getElementById(id);
const client = new WorkerClient(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

try {
  const { version } = await client.call("hello");
  setStatus(`clipsearch ${version} ready`);
  document.body.dataset.ready = "true";
} catch (e) {
  setStatus(`${e.name}: ${e.message}`, true);
}
