#!/usr/bin/env node
// Writes models/manifest.json: every models/*.gguf with its size, sha256 and the model key,
// towers and name read from its GGUF metadata. The npm package checks downloads against it.
//   node scripts/make-manifest.mjs            # rewrite models/manifest.json
//   node scripts/make-manifest.mjs --check    # exit 1 if the committed manifest is stale
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const dir = resolve(import.meta.dirname, "../models");
const out = join(dir, "manifest.json");

/** The string/number metadata of a GGUF file (v2/v3). */
function ggufMetadata(buf) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.toString("latin1", 0, 4) !== "GGUF") throw new Error("not a GGUF file");
  let off = 8;
  const u32 = () => ((off += 4), dv.getUint32(off - 4, true));
  const u64 = () => ((off += 8), Number(dv.getBigUint64(off - 8, true)));
  const str = () => {
    const n = u64();
    off += n;
    return buf.toString("utf8", off - n, off);
  };
  const sizes = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const value = (t) => {
    if (t === 8) return str();
    if (t === 9) {
      const et = u32();
      const n = u64();
      for (let i = 0; i < n; i++) value(et);
      return null;
    }
    const s = sizes[t];
    if (!s) throw new Error(`unknown GGUF value type ${t}`);
    const v = t === 4 ? dv.getUint32(off, true) : t === 5 ? dv.getInt32(off, true) : null;
    off += s;
    return v;
  };
  u64(); // tensor count
  const kvs = u64();
  const meta = {};
  for (let i = 0; i < kvs; i++) {
    const k = str();
    meta[k] = value(u32());
  }
  return meta;
}

const models = readdirSync(dir)
  .filter((f) => f.endsWith(".gguf"))
  .sort()
  .map((file) => {
    const buf = readFileSync(join(dir, file));
    const meta = ggufMetadata(buf);
    return {
      file,
      size: buf.length,
      sha256: createHash("sha256").update(buf).digest("hex"),
      modelKey: meta["clipsearch.model_key"],
      // The embedding space: the model key of the CLIP whose image vectors these text vectors
      // match (a multilingual text tower names its CLIP here; a CLIP names itself).
      space: meta["clipsearch.space"] ?? meta["clipsearch.model_key"],
      towers: meta["clipsearch.towers"],
      name: meta["general.name"],
    };
  });
const text = JSON.stringify({ models }, null, 2) + "\n";
if (process.argv.includes("--check")) {
  let old = "";
  try {
    old = readFileSync(out, "utf8");
  } catch {}
  if (old !== text) {
    console.error("models/manifest.json is stale: run `make manifest`");
    process.exit(1);
  }
  console.log("models/manifest.json is up to date");
} else {
  writeFileSync(out, text);
  console.log(`wrote ${out} (${models.length} models)`);
}
