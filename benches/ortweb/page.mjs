// Bench page: one engine per page load, driven by run.mjs through window.bench.
//   ort-f32 / ort-int8 / ort-uint8: onnxruntime-web (wasm EP, 1 thread), session.run on a
//     preprocessed 1x3x224x224 tensor; `pre_ms` separately times what a page would add in JS:
//     createImageBitmap(png) + getImageData + CLIP normalisation.
//   cs-relaxed / cs-simd128: clipsearch's public API, ClipSearch.embedImage(png Blob) (PNG decode +
//     preprocess + model, in-process); `rgba_ms` times, in the same run, the wasm ClipModel's
//     embedRgba on the already-decoded pixels (a second model instance from the same file), so
//     ms - rgba_ms ~ our PNG decode + preprocessing.
const q = new URLSearchParams(location.search);
const engine = q.get("engine");
const SIDE = 224;
const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

// A deterministic 224x224 opaque test image (smooth pattern + noise), the same in every page.
function makePixels() {
  let s = 0x9e3779b9;
  const rnd = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  const px = new Uint8ClampedArray(SIDE * SIDE * 4);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const i = (y * SIDE + x) * 4;
      px[i] = 128 + 100 * Math.sin(x / 17) + 20 * (rnd() - 0.5);
      px[i + 1] = 128 + 100 * Math.cos(y / 23) + 20 * (rnd() - 0.5);
      px[i + 2] = 128 + 90 * Math.sin((x + y) / 31) + 20 * (rnd() - 0.5);
      px[i + 3] = 255;
    }
  }
  return px;
}

async function encodePng(px) {
  const c = new OffscreenCanvas(SIDE, SIDE);
  c.getContext("2d").putImageData(new ImageData(px, SIDE, SIDE), 0, 0);
  return c.convertToBlob({ type: "image/png" });
}

async function decodeRgba(blob) {
  const bmp = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(bmp, 0, 0);
  bmp.close();
  return g.getImageData(0, 0, c.width, c.height).data;
}

function normalise(px) {
  const n = SIDE * SIDE;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) out[ch * n + i] = (px[i * 4 + ch] / 255 - MEAN[ch]) / STD[ch];
  }
  return out;
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

let one; // () => Promise<{ms, pre_ms?, rgba_ms?, emb?}>
const info = { engine, userAgent: navigator.userAgent, crossOriginIsolated };

async function setupOrt(file) {
  const ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true; // (SIMD is always on in onnxruntime-web >= 1.19; kept for older pins)
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = "/ort/";
  const bytes = await fetchBytes(`/models/${file}`);
  info.fileBytes = bytes.byteLength;
  info.ortVersion = ort.env.versions?.web ?? null;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  info.loadMs = performance.now() - t0;
  const png = await encodePng(makePixels());
  // The decoded PNG must be the generated pixels (lossless), so ORT and ours see the same input.
  const dec = await decodeRgba(png);
  const ref = makePixels();
  info.pngRoundTripMaxDiff = dec.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
  info.pngBytes = png.size;
  one = async () => {
    const p0 = performance.now();
    const x = normalise(await decodeRgba(png));
    const pre_ms = performance.now() - p0;
    const t = new ort.Tensor("float32", x, [1, 3, SIDE, SIDE]);
    const t1 = performance.now();
    const out = await session.run({ pixel_values: t });
    const ms = performance.now() - t1;
    const emb = out.image_embeds.data;
    return { ms, pre_ms, emb };
  };
}

async function setupOurs(kernel) {
  const { ClipSearch } = await import("/cs/dist/index.js");
  const bytes = await fetchBytes(`/models/${q.get("gguf")}`);
  info.fileBytes = bytes.byteLength;
  const t0 = performance.now();
  const cs = await ClipSearch.create({ model: bytes.slice(), useWorker: false, kernel, cache: false });
  info.loadMs = performance.now() - t0;
  info.kernel = cs.info.kernel;
  info.wasmModule = cs.info.wasmModule;
  // The same glue module instance the package loaded (same URL), for embedRgba on decoded pixels.
  const glue = await import(kernel === "relaxed" ? "/cs/pkg/clipsearch_relaxed.js" : "/cs/pkg/clipsearch.js");
  const raw = glue.ClipModel.fromGguf(bytes);
  const png = await encodePng(makePixels());
  info.pngBytes = png.size;
  const rgba = new Uint8Array((await decodeRgba(png)).buffer.slice(0));
  one = async () => {
    const t1 = performance.now();
    const emb = await cs.embedImage(png);
    const ms = performance.now() - t1;
    const t2 = performance.now();
    raw.embedRgba(SIDE, SIDE, rgba);
    const rgba_ms = performance.now() - t2;
    return { ms, rgba_ms, emb };
  };
}

window.bench = {
  async setup() {
    if (engine === "ort-f32") await setupOrt("web_f32.onnx");
    else if (engine === "ort-int8") await setupOrt("web_int8.onnx");
    else if (engine === "ort-uint8") await setupOrt("web_uint8.onnx");
    else if (engine === "cs-relaxed") await setupOurs("relaxed");
    else if (engine === "cs-simd128") await setupOurs("simd128");
    else throw new Error(`unknown engine ${engine}`);
    return info;
  },
  /** n runs; returns timings only (no embeddings). */
  async runs(n) {
    const out = [];
    for (let i = 0; i < n; i++) {
      const { emb, ...t } = await one();
      out.push(t);
    }
    return out;
  },
  /** The embedding of the test image (L2-normalised here), as a plain array. */
  async embedding() {
    const { emb } = await one();
    const norm = Math.hypot(...emb);
    return Array.from(emb, (v) => v / norm);
  },
};
document.getElementById("log").textContent = `ready: ${engine}`;
