// Index builds in several workers, in real headless Chromium: the npm package splits a build
// into graph segments (Collection.planIndex), builds them in the primary worker and in builder
// workers at once, and attaches them (applyIndex). The graphs must be exactly those a
// collection maintained in place builds: same search results, to the bit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, ROOT } from "./helpers.mjs";
import { serve } from "../../scripts/serve.mjs";

let site, browser, page;
before(async () => {
  site = await serve(ROOT, 0);
  browser = await launch();
  page = await browser.context.newPage();
  page.on("pageerror", (e) => console.log("pageerror", e));
  await page.goto(`${site.url}/tests/e2e/pages/index-build.html`);
  await page.waitForSelector("body[data-ready=true]", { state: "attached" });
});
after(async () => {
  await browser?.close();
  await site?.close();
});

test("segments built in two workers are the graphs an in-place build makes", async () => {
  // 1200 items: a rebuild of 3 segments of 400; 300 more: a new tail segment.
  const steps = await page.evaluate(() => window.compare(2, [1200, 300]));
  const [first, second] = steps;
  console.log(JSON.stringify(steps));
  assert.equal(first.inserted, 1200);
  const { lastBuild, ...s1 } = first.stats;
  assert.deepEqual(s1, first.refStats);
  assert.deepEqual(
    { segments: s1.segments, tail: s1.tail, live: s1.live },
    { segments: 3, tail: 0, live: 1200 },
  );
  assert.equal(lastBuild.rebuild, true);
  assert.equal(lastBuild.segments, 3);
  assert.equal(lastBuild.workers, 2, "the primary and one builder worker");
  assert.equal(lastBuild.applied, true);
  assert.equal(first.same, first.queries, "identical hits and scores for every query");

  const { lastBuild: b2, ...s2 } = second.stats;
  assert.deepEqual(s2, second.refStats);
  assert.deepEqual({ segments: s2.segments, tail: s2.tail, live: s2.live }, { segments: 4, tail: 0, live: 1500 });
  assert.equal(b2.rebuild, false, "the new items became a new segment");
  assert.equal(b2.segments, 1);
  assert.equal(b2.applied, true);
  assert.equal(second.same, second.queries);
});

test("with one worker the index is maintained in place, as before", async () => {
  const [step] = await page.evaluate(() => window.compare(1, [1200]));
  const { lastBuild, ...s } = step.stats;
  assert.equal(lastBuild, null, "no build ran in workers");
  assert.deepEqual(s, step.refStats);
  assert.equal(s.segments, 3);
  assert.equal(step.same, step.queries);
});

test("while images are ingested by two workers, the index is built in workers and applies", async () => {
  // Segments of 60: the build due at 100 items has two. The helper's upserts wait for a running
  // build and builds start between the primary's batches, so the plan is never stale.
  const r = await page.evaluate(() => window.ingest(2, 150, { minIndexSize: 100, minTail: 50, maxSegmentSize: 60 }));
  console.log(JSON.stringify(r));
  assert.equal(r.embedded, 150, JSON.stringify(r.failed));
  assert.ok(r.statuses.includes("index"));
  const { lastBuild, ...s } = r.stats;
  assert.equal(s.live, 150);
  assert.ok(s.segments >= 2, JSON.stringify(s));
  assert.equal(s.indexed + s.tail, 150);
  assert.equal(lastBuild.applied, true, "no upsert landed between plan and apply");
  assert.equal(lastBuild.workers, 2);
});
