#!/usr/bin/env bash
# Installs everything clipsearch needs to build, test and run its demo. Idempotent: each step
# checks first and skips what is already there, so a second run takes seconds.
#
#   scripts/setup.sh            # everything
#   scripts/setup.sh --no-py    # skip the Python test venv (the demo does not need it)
set -euo pipefail
cd "$(dirname "$0")/.."

want_py=1
for a in "$@"; do [ "$a" = "--no-py" ] && want_py=0; done

step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Rust target for WebAssembly.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. wasm-bindgen-cli at exactly the wasm-bindgen crate's version (pinned with = in Cargo.toml).
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$wb_version" ]; then
  step "cargo install wasm-bindgen-cli --version =$wb_version (about 8 minutes, once)"
  # No --locked: the CLI's own lockfile pins a dependency version the registry no longer serves.
  cargo install wasm-bindgen-cli --version "=$wb_version"
fi

# 3. Chromium and its driver (Debian's), for wasm-bindgen-test and Playwright.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  step "apt-get install chromium chromium-driver"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

# 4. Node packages from the committed lockfile (playwright-core, binaryen's wasm-opt).
stamp=node_modules/.clipsearch-lock.sha256
if [ ! -f "$stamp" ] || ! sha256sum --status -c "$stamp" 2>/dev/null; then
  step "npm ci"
  npm ci --no-audit --no-fund
  sha256sum package-lock.json > "$stamp"
fi

# 5. Python venv for the interop tests (pinned; no torch).
if [ "$want_py" = 1 ] && [ -f tests/python/requirements.txt ]; then
  pystamp=.venv/.clipsearch-req.sha256
  if [ ! -f "$pystamp" ] || ! sha256sum --status -c "$pystamp" 2>/dev/null; then
    step "python venv .venv from tests/python/requirements.txt"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r tests/python/requirements.txt
    sha256sum tests/python/requirements.txt > "$pystamp"
  fi
fi
step "ready"
