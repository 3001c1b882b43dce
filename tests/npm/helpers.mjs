// Installs the packed tarball (`make package` -> npm-pack/clipsearch.tgz) into a temporary
// node_modules, so tests import the package exactly as a user gets it from the registry.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const ROOT = resolve(import.meta.dirname, "../..");
export const TARBALL = join(ROOT, "npm-pack", "clipsearch.tgz");

/** Extracts the tarball and imports `clipsearch` from it (through its `exports` map). */
export async function importPacked() {
  if (!existsSync(TARBALL)) throw new Error(`${TARBALL} is missing: run \`make package\` first`);
  const dir = mkdtempSync(join(tmpdir(), "clipsearch-npm-"));
  const pkgDir = join(dir, "node_modules", "clipsearch");
  mkdirSync(pkgDir, { recursive: true });
  execFileSync("tar", ["-xzf", TARBALL, "-C", pkgDir, "--strip-components=1"]);
  writeFileSync(join(dir, "entry.mjs"), 'export * from "clipsearch";\n');
  return { dir, pkgDir, mod: await import(pathToFileURL(join(dir, "entry.mjs")).href) };
}
