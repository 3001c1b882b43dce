// Harness of tests/e2e/csp.test.mjs: the npm package (dist/) under a strict page CSP.
import { ClipSearch } from "/dist/index.js";

/** Creates a ClipSearch with `inheritCsp` and adds one URL item; returns the addImages result. */
window.addOne = async (inheritCsp, url) => {
  const cs = await ClipSearch.create({ model: "/models/tiny-clip.gguf", inheritCsp, workers: 1, cache: false });
  try {
    return await cs.addImages([{ url }], { maxAttempts: 1, timeoutMs: 10_000 });
  } finally {
    await cs.dispose();
  }
};
document.body.dataset.ready = "true";
