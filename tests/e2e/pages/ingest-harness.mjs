// Runs embedImages from a serialisable spec (for page.evaluate and postMessage) in a window or a
// worker, upserting every result into a Collection, and returns everything a test inspects:
// the result, progress events, the collection's ids and exports, and every console call made.
export async function makeHarness(pkg, modelUrl = "/models/tiny-clip.gguf") {
  const logs = [];
  for (const level of ["log", "info", "warn", "error", "debug"]) {
    const orig = console[level].bind(console);
    console[level] = (...args) => {
      logs.push(args.map(String).join(" "));
      orig(...args);
    };
  }
  const cs = await import(`${pkg}/clipsearch.js`);
  await cs.default({ module_or_path: `${pkg}/clipsearch_bg.wasm` });
  const load = async (url) => cs.ClipModel.fromGguf(new Uint8Array(await (await fetch(url)).arrayBuffer()));
  const model = await load(modelUrl);
  const tiny = modelUrl === "/models/tiny-clip.gguf" ? model : await load("/models/tiny-clip.gguf");

  const toInput = async (it) => {
    const out = { ...it };
    if (it.bytesB64 !== undefined) {
      out.bytes = Uint8Array.from(atob(it.bytesB64), (c) => c.charCodeAt(0));
      delete out.bytesB64;
    }
    if (it.fileB64 !== undefined) {
      const b = Uint8Array.from(atob(it.fileB64), (c) => c.charCodeAt(0));
      out.blob = new File([b], it.fileName, { type: it.fileType ?? "" });
      delete out.fileB64;
      delete out.fileName;
      delete out.fileType;
    }
    return out;
  };

  return {
    cs,
    model,
    logs,
    /**
     * spec: { items, options, abortAfter?: n (abort once n items have an outcome),
     *         abortAtStart?: bool, exports?: bool }
     */
    async run(spec) {
      const collection = new cs.Collection(model.spaceInfo());
      const items = await Promise.all(spec.items.map(toInput));
      const progress = [];
      const seen = [];
      const ctrl = new AbortController();
      if (spec.abortAtStart) ctrl.abort();
      let abortedAt = null;
      const started = performance.now();
      const result = await cs.embedImages(model, items, {
        ...(spec.options ?? {}),
        signal: ctrl.signal,
        onProgress: (p) => {
          progress.push(p);
          if (spec.abortAfter !== undefined && p.done + p.failed >= spec.abortAfter && !ctrl.signal.aborted) {
            abortedAt = performance.now();
            ctrl.abort();
          }
        },
        onItem: (r) => {
          seen.push({ index: r.index, id: r.id, dim: r.embedding.length, metadata: r.metadata });
          collection.upsert(r.id, r.embedding, r.metadata ?? {});
        },
      });
      const finished = performance.now();
      const out = {
        result,
        progress,
        seen,
        size: collection.size,
        ids: collection.ids(),
        elapsedMs: finished - started,
        afterAbortMs: abortedAt === null ? null : finished - abortedAt,
        logs: [...logs],
      };
      if (spec.exports) {
        const q = collection.exportQdrant();
        const npy = collection.exportNpy();
        const parquet = collection.exportParquet();
        const saved = collection.toBytes();
        const latin1 = (u8) => Array.from(u8, (c) => String.fromCharCode(c)).join("");
        out.exports = {
          qdrant: q.createCollection + q.pointsNdjson,
          npyIndex: npy.index,
          parquet: latin1(parquet),
          saved: latin1(saved),
        };
      }
      collection.free();
      return out;
    },
    /**
     * Benchmark: a `width x height` JPEG made here (noise over gradients), then per decoder the
     * median ms of decodeImage and of decode + preprocess (embedImages with the tiny model).
     */
    async benchDecode(width, height, runs) {
      const canvas = new OffscreenCanvas(width, height);
      const ctx = canvas.getContext("2d");
      const img = ctx.createImageData(width, height);
      let seed = 12345;
      for (let i = 0; i < img.data.length; i += 4) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const p = i / 4;
        img.data[i] = ((p % width) * 255) / width + (seed & 31);
        img.data[i + 1] = (Math.floor(p / width) * 255) / height + ((seed >> 8) & 31);
        img.data[i + 2] = (seed >> 16) & 255;
        img.data[i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const out = { jpegBytes: bytes.length };
      for (const decoder of ["browser", "image"]) {
        const dec = [];
        const pre = [];
        for (let r = 0; r < runs; r++) {
          let t = performance.now();
          await cs.decodeImage(decoder === "browser" ? new Blob([bytes]) : bytes, { decoder });
          dec.push(performance.now() - t);
          t = performance.now();
          const res = await cs.embedImages(tiny, [{ bytes, id: "x" }], { decoder });
          pre.push(performance.now() - t);
          if (res.failed.length) throw new Error(JSON.stringify(res.failed));
        }
        out[decoder] = { decodeMs: median(dec), decodePreprocessMs: median(pre), runs: dec.length };
      }
      return out;
    },
    /** decodeImage with both decoders and embeddings through both paths. */
    async decodeBoth(b64) {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const blob = new Blob([bytes]);
      const b = await cs.decodeImage(blob, { decoder: "browser" });
      const i = await cs.decodeImage(bytes, { decoder: "image" });
      const emb = {};
      for (const decoder of ["browser", "image"]) {
        await cs.embedImages(model, [{ bytes, id: "x" }], {
          decoder,
          onItem: (r) => (emb[decoder] = Array.from(r.embedding)),
        });
      }
      return {
        browser: { width: b.width, height: b.height, rgba: Array.from(b.rgba) },
        image: { width: i.width, height: i.height, rgba: Array.from(i.rgba) },
        emb,
      };
    },
  };
}
