import { defineConfig } from "vitest/config";

export default defineConfig({
  // The package ships a module worker; keep it a module worker in the build too.
  worker: { format: "es" },
  // In `vite dev`, keep the package out of pre-bundling so its worker and wasm URLs resolve.
  optimizeDeps: { exclude: ["clipsearch"] },
  build: { target: "es2022", reportCompressedSize: false },
  test: { environment: "node", include: ["test/**/*.test.js"] },
});
