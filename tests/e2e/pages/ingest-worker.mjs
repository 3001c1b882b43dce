// Module worker of ingest.html: the same harness, in a DedicatedWorkerGlobalScope.
import { makeHarness } from "./ingest-harness.mjs";
const pkg = new URL(import.meta.url).searchParams.get("pkg") ?? "/www/pkg";
const harness = await makeHarness(pkg);
self.onmessage = async ({ data }) => {
  try {
    self.postMessage({ id: data.id, result: await harness.run(data.spec) });
  } catch (e) {
    self.postMessage({ id: data.id, error: `${e?.name}: ${e?.message}` });
  }
};
self.postMessage({ ready: true });
