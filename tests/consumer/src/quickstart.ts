// The README's ten-line quick start, verbatim inside a function: `tsc --noEmit` checks it
// against the packed package's types.
import { ClipSearch } from "clipsearch";

export async function quickStart(input: HTMLInputElement) {
  const cs = await ClipSearch.open("photos", {          // restores the collection saved as "photos"
    model: "/models/tiny-clip.gguf",                    // a clipsearch GGUF (URL or bytes)
    manifest: "/models/manifest.json",                  // size + sha256: progress total, verification, cache
    onProgress: (p) => p.status === "progress" && console.log(`${p.loaded}/${p.total}`),
  });
  const { failed } = await cs.addImages([...input.files!].map((file) => ({ file, metadata: { album: "2024" } })));
  const hits = await cs.searchText("a dog on a beach", { k: 12, minScore: 0.2 }); // [{ id, score, metadata }]
  await cs.save();                                      // IndexedDB; ClipSearch.open finds it after a reload
  return { failed, hits };
}
