// Module worker of ingest.html: the same harness, in a DedicatedWorkerGlobalScope.
import { makeHarness } from "./ingest-harness.mjs";
const params = new URL(import.meta.url).searchParams;
const harness = await makeHarness(params.get("pkg") ?? "/www/pkg", params.get("model") ?? undefined);
self.onmessage = async ({ data }) => {
  try {
    const { method = "run", args = [data.spec] } = data.call ?? {};
    self.postMessage({ id: data.id, result: await harness[method](...args) });
  } catch (e) {
    self.postMessage({ id: data.id, error: `${e?.name}: ${e?.message}` });
  }
};
self.postMessage({ ready: true });
