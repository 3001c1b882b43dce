#!/usr/bin/env bash
# Builds the browser package into pkg/: two wasm modules of the same crate, picked at load time by
# feature detection (js/loader.ts, `kernel` option):
#   pkg/clipsearch_bg.wasm          plain simd128 (every browser with wasm SIMD)
#   pkg/clipsearch_relaxed_bg.wasm  simd128 + relaxed SIMD (`--features relaxed-simd`; int8 matmul
#                                   with i32x4.relaxed_dot_i8x16_i7x16_add_s, about 2x faster)
# Each: cargo (release) -> wasm-bindgen (--target web) -> wasm-opt -O3 (npm's binaryen; Debian's
# binaryen 108 emits modules that fail to load, so we call node_modules/.bin/wasm-opt
# explicitly). Each module ships with its own wasm-bindgen glue (pkg/clipsearch.js,
# pkg/clipsearch_relaxed.js): they export the same API but the closure shims' mangled names
# (hashes of the crate's features and flags) differ; the script checks nothing else differs.
# The relaxed build has its own CARGO_TARGET_DIR (<target>/relaxed): its RUSTFLAGS differ, and
# sharing a directory would make each build invalidate the other.
# Both variants build at once (cargo, then wasm-opt): each phase is mostly single-threaded.
# Prints raw and gzip sizes at each stage.
#   WASM_OPT=0 scripts/build-wasm.sh   # skip wasm-opt (faster iteration)
#   WASM_VARIANTS=simd128 scripts/build-wasm.sh   # one module only (default: "simd128 relaxed")
set -euo pipefail
cd "$(dirname "$0")/.."
out=pkg
target=${CARGO_TARGET_DIR:-target}
size() { printf '%-36s %9d bytes raw, %9d bytes gzip -9\n' "$1" "$(stat -c %s "$2")" "$(gzip -9c "$2" | wc -c)"; }
# .cargo/config.toml's rustflags for wasm32, which RUSTFLAGS would replace entirely.
base_flags='--cfg getrandom_backend="wasm_js"'

# cargo_build <variant> <rustflags or empty> <cargo args...>: the variant's cargo build, in its
# own target dir (tdir_of).
cargo_build() {
  local variant=$1 flags=$2 tdir
  tdir=$(tdir_of "$variant")
  shift 2
  local t0=$SECONDS
  if [ -n "$flags" ]; then
    RUSTFLAGS="$flags" CARGO_TARGET_DIR="$tdir" cargo build --lib --release --target wasm32-unknown-unknown "$@"
  else
    CARGO_TARGET_DIR="$tdir" cargo build --lib --release --target wasm32-unknown-unknown "$@"
  fi
  echo "cargo build: $((SECONDS - t0)) s"
  size "cargo output" "$tdir/wasm32-unknown-unknown/release/clipsearch.wasm"
}

# bindgen <variant> <out-name> <target-dir>: wasm-bindgen into pkg/, unless pkg/ was already
# built from this exact module; leaves pkg/.pending-<variant> when the module still needs wasm-opt.
bindgen() {
  local variant=$1 name=$2 tdir=$3
  local raw=$tdir/wasm32-unknown-unknown/release/clipsearch.wasm
  # Skip wasm-bindgen and wasm-opt (minutes) when pkg/ was already built from this exact module.
  local stamp="$out/.built-from-$variant"
  local want
  want="$(sha256sum "$raw" | cut -d' ' -f1) wasm-opt=${WASM_OPT:-1}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$out/${name}_bg.wasm" ] && [ -f "$out/$name.js" ]; then
    echo "[$variant] pkg/${name}_bg.wasm is up to date (built from this cargo output)"
    return 0
  fi
  rm -f "$stamp"
  local tmp
  tmp=$(mktemp -d)
  wasm-bindgen --target web --out-dir "$tmp" --out-name "$name" "$raw"
  mkdir -p "$out"
  if [ "$variant" != simd128 ]; then
    # The glues differ only in the mangled (hashed) names of closure shims and in the default
    # file names (`clipsearch_relaxed*`); anything else means the two builds export different APIs.
    local norm='s/invoke__h[0-9a-f]\{16\}/invoke__hHASH/g; s/clipsearch_relaxed/clipsearch/g'
    if ! diff <(sed "$norm" "$tmp/$name.js") <(sed "$norm" "$out/clipsearch.js") >/dev/null; then
      echo "error: the $variant module's JS glue differs from pkg/clipsearch.js beyond shim names:" >&2
      diff <(sed "$norm" "$tmp/$name.js") <(sed "$norm" "$out/clipsearch.js") | head -20 >&2
      exit 1
    fi
  fi
  cp "$tmp/$name.js" "$tmp/$name.d.ts" "$tmp/${name}_bg.wasm.d.ts" "$out/"
  mv "$tmp/${name}_bg.wasm" "$out/${name}_bg.wasm"
  rm -rf "$tmp"
  size "[$variant] after wasm-bindgen" "$out/${name}_bg.wasm"
  echo "$want" >"$out/.pending-$variant"
}

# optimize <variant> <out-name>: wasm-opt -O3, then the stamp.
optimize() {
  local variant=$1 name=$2
  if [ "${WASM_OPT:-1}" != 0 ]; then
    local t0=$SECONDS
    node_modules/.bin/wasm-opt -O3 \
      --enable-simd --enable-relaxed-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$out/${name}_bg.wasm" -o "$out/${name}_bg.opt.wasm"
    mv "$out/${name}_bg.opt.wasm" "$out/${name}_bg.wasm"
    size "after wasm-opt -O3" "$out/${name}_bg.wasm"
    echo "wasm-opt: $((SECONDS - t0)) s"
  fi
  mv "$out/.pending-$variant" "$out/.built-from-$variant"
}

# Runs "$@" for each variant at once (their cargo and wasm-opt phases are mostly single-threaded:
# fat LTO with one codegen unit), output prefixed with [variant]; fails if any failed.
each_parallel() {
  local step=$1 pids=() v
  for v in $variants; do
    (set -o pipefail; "$step" "$v" 2>&1 | sed -u "s/^/[$v] /") &
    pids+=($!)
  done
  local failed=0 p
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" = 0 ]
}

variants=${WASM_VARIANTS:-simd128 relaxed}
for v in $variants; do
  case $v in simd128 | relaxed) ;; *) echo "unknown variant $v (simd128 or relaxed)" >&2 && exit 2 ;; esac
done
name_of() { if [ "$1" = simd128 ]; then echo clipsearch; else echo "clipsearch_$1"; fi; }
tdir_of() { if [ "$1" = simd128 ]; then echo "$target"; else echo "$target/$1"; fi; }
cargo_step() {
  case $1 in
    simd128) cargo_build simd128 "" ;;
    relaxed)
      cargo_build relaxed "-C target-feature=+simd128,+relaxed-simd $base_flags" --features relaxed-simd
      ;;
  esac
}
opt_step() { if [ -f "$out/.pending-$1" ]; then optimize "$1" "$(name_of "$1")"; fi; }

rm -f "$out/.built-from" "$out"/.pending-* # stamp of the single-module layout; stale pendings
each_parallel cargo_step
# Sequential and quick: the relaxed glue is checked against the simd128 one.
for v in $variants; do
  bindgen "$v" "$(name_of "$v")" "$(tdir_of "$v")"
done
each_parallel opt_step
