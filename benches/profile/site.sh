#!/usr/bin/env bash
# Builds a profiling site for benches/profile/prof.mjs: the relaxed-SIMD module straight from
# cargo (before wasm-opt, so the name section keeps Rust function names in the profile), the
# package's TypeScript layer, a model and an image.
#   benches/profile/site.sh MODEL.gguf [SITE_DIR=/tmp/clipsearch-prof]
# MODEL.gguf: e.g. `clipsearch random-model --preset vit-b-32 -o /tmp/vitb32 --seed 1` then
# `clipsearch convert /tmp/vitb32 -o /tmp/vitb32-q8_0.gguf --quant q8_0`.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1
site=${2:-/tmp/clipsearch-prof}
RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"' \
  CARGO_TARGET_DIR=target/relaxed cargo build --lib --release --target wasm32-unknown-unknown --features relaxed-simd
# dist/ (the TypeScript layer) and pkg/clipsearch.js (the loader imports it) come from `make package`.
[ -f dist/index.js ] && [ -f pkg/clipsearch.js ] || { echo "run make package first" >&2; exit 2; }
rm -rf "$site" && mkdir -p "$site/pkg" "$site/dist"
wasm-bindgen --target web --out-dir "$site/pkg" --out-name clipsearch_relaxed \
  target/relaxed/wasm32-unknown-unknown/release/clipsearch.wasm
cp pkg/clipsearch.js pkg/clipsearch_bg.wasm "$site/pkg/"
cp dist/*.js "$site/dist/"
cp benches/profile/index.html "$site/"
cp tests/fixtures/model/noise.png "$site/img.png"
ln -sf "$(realpath "$model")" "$site/model.gguf"
echo "$site"
