// Index builds in workers, in headless Chromium: imports N seeded clustered vectors (100
// Gaussian centres, σ 1 noise, as bench_index; in the model's space, so of its dimension,
// printed) into a ClipSearch with 1 and with W workers, alternately, and prints the import's
// wall-clock time (index build included) and the build's when it ran in workers.
//   make package && node benches/index_workers.mjs [N=50000] [W=2] [ROUNDS=2] [MODEL_URL]
// MODEL_URL: a model under the repository root, as the page sees it (default the tiny model,
// whose dimension is small); for 512-d, e.g. the ViT-B/32 text tower:
//   target/debug/clipsearch random-model --preset vit-b-32 -o target/tmp/vitb32 --seed 1
//   target/debug/clipsearch convert target/tmp/vitb32 -o target/tmp/vitb32-text.gguf --quant q8_0 --tower text
//   node benches/index_workers.mjs 100000 2 2 /target/tmp/vitb32-text.gguf
import { launch, ROOT } from "../tests/e2e/helpers.mjs";
import { serve } from "../scripts/serve.mjs";

const [n = 50000, w = 2, rounds = 2] = process.argv.slice(2, 5).map(Number);
const model = process.argv[5] ?? "/models/tiny-clip.gguf";
const site = await serve(ROOT, 0);
const browser = await launch();
try {
  const page = await browser.context.newPage();
  await page.goto(`${site.url}/tests/e2e/pages/index-build.html`);
  await page.waitForSelector("body[data-ready=true]", { state: "attached" });
  for (let r = 0; r < rounds; r++) {
    for (const workers of [1, w]) {
      console.log(JSON.stringify(await page.evaluate(([a, b, c]) => window.timeBuild(a, b, c), [workers, n, model])));
    }
  }
} finally {
  await browser.close();
  await site.close();
}
