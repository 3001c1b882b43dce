// Shared helpers for the browser end-to-end tests: Debian's Chromium through playwright-core.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { serve } from "../../scripts/serve.mjs";

export const ROOT = resolve(import.meta.dirname, "../..");
export const OUT = join(ROOT, "test-results");
mkdirSync(OUT, { recursive: true });

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** A fresh Chromium with its own empty user-data dir. Call `close()` when done. */
export async function launch() {
  const dir = mkdtempSync(join(tmpdir(), "clipsearch-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Serve the built demo (`make www`). */
export function serveDemo() {
  return serve(join(ROOT, "www"), 0);
}
