// The package's two wasm modules (pkg/clipsearch_bg.wasm + clipsearch.js: simd128;
// pkg/clipsearch_relaxed_bg.wasm + clipsearch_relaxed.js: relaxed SIMD) and the load-time choice between them: the relaxed-SIMD probe bytes in Node, and
// the packed package in headless Chromium with `kernel: "auto"` (must pick relaxed there) and a
// forced `kernel: "simd128"`, both matching the committed Hugging Face goldens
// (tests/fixtures/model/golden.json, made by models/make_tiny_model.py) within the q8_0
// tolerance of issue 3: cosine >= 0.999.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch } from "../e2e/helpers.mjs";
import { serve } from "../../scripts/serve.mjs";
import { ROOT, importPacked } from "./helpers.mjs";

const GOLDEN = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/model/golden.json"), "utf8"));
const MODEL = join(ROOT, "models", "tiny-clip.gguf");
const Q8_0_COSINE = 0.999;
const { mod, dir, pkgDir } = await importPacked();

const cosine = (a, b) => {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
};

/** Asserts every embedding matches its golden; returns the worst cosine. */
function assertMatchesGoldens(got, label) {
  assert.equal(got.texts.length, GOLDEN.texts.length);
  assert.equal(got.images.length, GOLDEN.images.length);
  let worst = 1;
  GOLDEN.texts.forEach((g, i) => {
    assert.equal(got.texts[i].length, g.embedding.length, `${label}: dim of text ${JSON.stringify(g.text)}`);
    const c = cosine(got.texts[i], g.embedding);
    assert.ok(c >= Q8_0_COSINE, `${label}: text ${JSON.stringify(g.text)} cosine ${c} < ${Q8_0_COSINE}`);
    worst = Math.min(worst, c);
  });
  GOLDEN.images.forEach((g, i) => {
    const c = cosine(got.images[i], g.embedding);
    assert.ok(c >= Q8_0_COSINE, `${label}: image ${g.file} cosine ${c} < ${Q8_0_COSINE}`);
    worst = Math.min(worst, c);
  });
  console.log(`${label}: worst cosine vs transformers ${worst.toFixed(6)}`);
  return worst;
}

// The probe with its relaxed instruction replaced by `v128.bitselect; nop` (0xfd 0x52 0x01: also
// three v128 operands, plain SIMD): the probe's bytes minus relaxed SIMD.
function plainSimdTwin(probe) {
  const b = Uint8Array.from(probe);
  const at = b.length - 4; // 0xfd 0x93 0x02 0x0b
  assert.deepEqual([...b.subarray(at)], [0xfd, 0x93, 0x02, 0x0b]);
  b.set([0xfd, 0x52, 0x01], at);
  return b;
}

test("the tarball ships both wasm modules, each with its JS glue", () => {
  const files = execFileSync("tar", ["-tzf", join(ROOT, "npm-pack", "clipsearch.tgz")]).toString().split("\n");
  const want = ["clipsearch_bg.wasm", "clipsearch.js", "clipsearch.d.ts", "clipsearch_relaxed_bg.wasm", "clipsearch_relaxed.js", "clipsearch_relaxed.d.ts"];
  for (const f of want.map((name) => `package/pkg/${name}`)) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  const simd = readFileSync(join(pkgDir, "pkg/clipsearch_bg.wasm"));
  const relaxed = readFileSync(join(pkgDir, "pkg/clipsearch_relaxed_bg.wasm"));
  assert.ok(!simd.equals(relaxed), "the two modules differ");
  assert.ok(WebAssembly.validate(simd), "the simd128 module validates in this Node");
});

test("relaxedSimdSupported returns a boolean that agrees with validating the probe", () => {
  const r = mod.relaxedSimdSupported();
  assert.equal(typeof r, "boolean");
  assert.equal(r, WebAssembly.validate(mod.RELAXED_SIMD_PROBE));
});

test("the probe is a valid module whose only non-plain-SIMD instruction is the relaxed dot product", () => {
  // With `v128.bitselect` in its place the module validates on any engine with wasm SIMD (Node 20 has it).
  assert.equal(WebAssembly.validate(plainSimdTwin(mod.RELAXED_SIMD_PROBE)), true);
  // A truncated probe is refused, so validate really looks at these bytes.
  assert.equal(WebAssembly.validate(mod.RELAXED_SIMD_PROBE.subarray(0, mod.RELAXED_SIMD_PROBE.length - 1)), false);
});

test("the probe validates in node when relaxed simd is on, and not in node 20 when it is off", () => {
  const script = `
    const { RELAXED_SIMD_PROBE, relaxedSimdSupported } = await import(${JSON.stringify(join(pkgDir, "dist/loader.js"))});
    console.log(JSON.stringify([WebAssembly.validate(RELAXED_SIMD_PROBE), relaxedSimdSupported()]));`;
  const runNode = (flags) => JSON.parse(execFileSync(process.execPath, [...flags, "--input-type=module", "-e", script]).toString());
  const [major, minor] = process.versions.v8.split(".").map(Number);
  // V8 shipped relaxed SIMD in 11.4 (Chromium 114); Node 20 has V8 11.3, where it needs a flag.
  const shipped = major > 11 || (major === 11 && minor >= 4);
  console.log(`node ${process.version}, V8 ${process.versions.v8}: relaxed SIMD ${shipped ? "on by default" : "behind --experimental-wasm-relaxed-simd"}`);
  if (shipped) {
    assert.deepEqual(runNode([]), [true, true]);
  } else {
    assert.deepEqual(runNode(["--experimental-wasm-relaxed-simd"]), [true, true]);
    assert.deepEqual(runNode([]), [false, false]);
  }
});

test("in node the auto kernel follows the detector and matches the goldens", async () => {
  const cs = await mod.ClipSearch.create({ model: readFileSync(MODEL) });
  try {
    const want = mod.relaxedSimdSupported() ? "relaxed" : "simd128";
    assert.equal(cs.info.wasmModule, want);
    assert.equal(cs.info.kernel, want === "relaxed" ? "wasm-relaxed-simd" : "wasm-simd128");
    const texts = [];
    for (const t of GOLDEN.texts) texts.push([...(await cs.embedText(t.text))]);
    const images = [];
    for (const g of GOLDEN.images) images.push([...(await cs.embedImage(readFileSync(join(ROOT, "tests/fixtures/model", g.file))))]);
    assertMatchesGoldens({ texts, images }, `node ${want}`);
  } finally {
    await cs.dispose();
  }
  if (!mod.relaxedSimdSupported()) {
    await assert.rejects(mod.ClipSearch.create({ model: readFileSync(MODEL), kernel: "relaxed" }), (e) => e.name === "Unsupported");
  }
  await assert.rejects(mod.ClipSearch.create({ model: readFileSync(MODEL), kernel: "avx" }), (e) => e.name === "InvalidArgument");
});

describe("in headless chromium", () => {
  let server, browser, page;
  before(async () => {
    // A page importing the unpacked package as plain ES modules (its worker included).
    const site = join(dir, "site");
    mkdirSync(join(site, "assets"), { recursive: true });
    cpSync(MODEL, join(site, "assets/tiny-clip.gguf"));
    cpSync(join(ROOT, "models/manifest.json"), join(site, "assets/manifest.json"));
    for (const g of GOLDEN.images) cpSync(join(ROOT, "tests/fixtures/model", g.file), join(site, "assets", g.file));
    cpSync(pkgDir, join(site, "clipsearch"), { recursive: true });
    writeFileSync(join(site, "index.html"), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>kernels</title><script type="module">
      import { ClipSearch, relaxedSimdSupported } from "./clipsearch/dist/index.js";
      window.relaxedSimdSupported = relaxedSimdSupported;
      window.embedAll = async (kernel, texts, files) => {
        const cs = await ClipSearch.create({ model: "assets/tiny-clip.gguf", manifest: "assets/manifest.json", kernel, cache: false, workers: 1 });
        try {
          const out = { info: cs.info, texts: [], images: [] };
          for (const t of texts) out.texts.push(Array.from(await cs.embedText(t)));
          for (const f of files) out.images.push(Array.from(await cs.embedImage(await (await fetch("assets/" + f)).blob())));
          return out;
        } finally {
          await cs.dispose();
        }
      };
      document.body.dataset.ready = "1";
    </script>`);
    server = await serve(site, 0);
    browser = await launch();
    page = await browser.context.newPage();
    page.on("console", (m) => m.type() === "error" && console.log("[page]", m.text()));
    page.on("pageerror", (e) => console.log("[page error]", e.message));
    const wasmRequests = [];
    page.on("request", (r) => r.url().endsWith(".wasm") && wasmRequests.push(r.url()));
    page.wasmRequests = wasmRequests;
    await page.goto(server.url + "/");
    await page.waitForFunction(() => document.body?.dataset.ready === "1");
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const embedIn = (kernel) =>
    page.evaluate(([k, texts, files]) => window.embedAll(k, texts, files), [kernel, GOLDEN.texts.map((t) => t.text), GOLDEN.images.map((g) => g.file)]);

  test("in headless chromium the auto kernel picks the relaxed module and matches the goldens", async () => {
    assert.equal(await page.evaluate(() => window.relaxedSimdSupported()), true, "this Chromium supports relaxed SIMD");
    page.wasmRequests.length = 0;
    const got = await embedIn("auto");
    assert.equal(got.info.wasmModule, "relaxed");
    assert.equal(got.info.kernel, "wasm-relaxed-simd");
    assert.ok(["fused", "split"].includes(got.info.dotForm), `dotForm ${got.info.dotForm}`);
    assert.deepEqual(
      page.wasmRequests.map((u) => u.split("/").pop()),
      ["clipsearch_relaxed_bg.wasm"],
      "only the relaxed module is downloaded",
    );
    assertMatchesGoldens(got, "chromium auto (relaxed)");
  });

  test("in headless chromium a forced simd128 kernel loads the plain module and matches the goldens", async () => {
    page.wasmRequests.length = 0;
    const got = await embedIn("simd128");
    assert.equal(got.info.wasmModule, "simd128");
    assert.equal(got.info.kernel, "wasm-simd128");
    assert.equal(got.info.dotForm, null);
    assert.deepEqual(page.wasmRequests.map((u) => u.split("/").pop()), ["clipsearch_bg.wasm"]);
    assertMatchesGoldens(got, "chromium simd128");
  });
});
