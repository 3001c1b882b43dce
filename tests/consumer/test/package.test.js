// vitest (Node environment): the installed package embeds text and an image in-process.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ClipSearch } from "clipsearch";

const root = fileURLToPath(new URL("../../../", import.meta.url));

describe("clipsearch in vitest", () => {
  it("embeds a text query and an image without a worker", async () => {
    const cs = await ClipSearch.create({ model: readFileSync(root + "models/tiny-clip.gguf") });
    const t = await cs.embedText("a red bicycle");
    const i = await cs.embedImage(readFileSync(root + "tests/fixtures/model/gradient.jpg"));
    expect(t).toBeInstanceOf(Float32Array);
    expect(t.length).toBe(cs.info.dim);
    expect(i.length).toBe(cs.info.dim);
    expect(Math.abs(Math.hypot(...i) - 1)).toBeLessThan(1e-4);
    await cs.dispose();
  });
});
