#!/usr/bin/env bash
# Builds the browser package into pkg/: cargo (release, simd128) -> wasm-bindgen (--target web)
# -> wasm-opt -O3 (npm's binaryen; Debian's binaryen 108 emits modules that fail to load, so we
# call node_modules/.bin/wasm-opt explicitly). Prints raw and gzip sizes at each stage.
#   WASM_OPT=0 scripts/build-wasm.sh   # skip wasm-opt (faster iteration)
set -euo pipefail
cd "$(dirname "$0")/.."
out=pkg
size() { printf '%-28s %9d bytes raw, %9d bytes gzip -9\n' "$1" "$(stat -c %s "$2")" "$(gzip -9c "$2" | wc -c)"; }

cargo build --lib --release --target wasm32-unknown-unknown
raw=${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/release/clipsearch.wasm
size "cargo output" "$raw"
# Skip wasm-bindgen and wasm-opt (minutes) when pkg/ was already built from this exact module.
stamp="$out/.built-from"
want="$(sha256sum "$raw" | cut -d' ' -f1) wasm-opt=${WASM_OPT:-1}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$out/clipsearch_bg.wasm" ]; then
  echo "pkg/ is up to date (built from this cargo output)"
  exit 0
fi
rm -f "$stamp"
wasm-bindgen --target web --out-dir "$out" --out-name clipsearch "$raw"
size "after wasm-bindgen" "$out/clipsearch_bg.wasm"
if [ "${WASM_OPT:-1}" != 0 ]; then
  node_modules/.bin/wasm-opt -O3 \
    --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out/clipsearch_bg.wasm" -o "$out/clipsearch_bg.opt.wasm"
  mv "$out/clipsearch_bg.opt.wasm" "$out/clipsearch_bg.wasm"
  size "after wasm-opt -O3" "$out/clipsearch_bg.wasm"
fi
echo "$want" > "$stamp"
