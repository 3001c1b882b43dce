// Index builds in workers, in headless Chromium: imports N seeded clustered vectors (in the
// committed tiny model's space, so of its dimension, printed) into a ClipSearch with 1 and with
// W workers, alternately, and prints the import's wall-clock time (index build included).
//   make package && node benches/index_workers.mjs [N=50000] [W=2] [ROUNDS=2]
import { launch, ROOT } from "../tests/e2e/helpers.mjs";
import { serve } from "../scripts/serve.mjs";

const [n = 50000, w = 2, rounds = 2] = process.argv.slice(2).map(Number);
const site = await serve(ROOT, 0);
const browser = await launch();
try {
  const page = await browser.context.newPage();
  await page.goto(`${site.url}/tests/e2e/pages/index-build.html`);
  await page.waitForSelector("body[data-ready=true]", { state: "attached" });
  for (let r = 0; r < rounds; r++) {
    for (const workers of [1, w]) {
      console.log(JSON.stringify(await page.evaluate(([a, b]) => window.timeBuild(a, b), [workers, n])));
    }
  }
} finally {
  await browser.close();
  await site.close();
}
