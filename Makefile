# clipsearch — every entry point. `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PORT ?= 8080
export CHROMEDRIVER ?= /usr/bin/chromedriver
# Unit and integration tests share the machine's two cores with the browser layers.
export RUST_BACKTRACE ?= 1

.PHONY: help setup setup-demo wasm www demo test test-native test-wasm test-e2e test-npm test-py lint model model-multilingual bench clean package manifest

help:
	@echo "make demo   - install what is needed, build, serve the demo at http://127.0.0.1:$(PORT)"
	@echo "make test   - install what is needed and run every test layer"
	@echo "make wasm   - build the browser package into pkg/"
	@echo "make package - the npm package: wasm + TypeScript layer -> npm-pack/clipsearch.tgz"
	@echo "make lint   - cargo fmt --check and clippy -D warnings for native and wasm32"
	@echo "make model  - (internet) download openai/clip-vit-base-patch32 and convert it to q8_0 GGUFs"
	@echo "make model-multilingual - (internet, after make model) the multilingual query tower"

setup:
	scripts/setup.sh

setup-demo:
	scripts/setup.sh --no-py

wasm:
	scripts/build-wasm.sh

# For users with internet: download a CLIP from the Hugging Face Hub ($HF_ENDPOINT when set, as
# huggingface_hub reads it) into models/<name>/ and convert it to q8_0 GGUFs: both towers, and
# the text tower alone for search-only pages. Load either in the demo with the file picker.
#   make model                                   # openai/clip-vit-base-patch32
#   make model HF_REPO=openai/clip-vit-base-patch16
HF_REPO ?= openai/clip-vit-base-patch32
MODEL_DIR ?= models
model:
	cargo build --release --bin clipsearch
	target/release/clipsearch download $(HF_REPO) -o $(MODEL_DIR)/$(notdir $(HF_REPO))
	target/release/clipsearch convert $(MODEL_DIR)/$(notdir $(HF_REPO)) -o $(MODEL_DIR)/$(notdir $(HF_REPO))-q8_0.gguf --quant q8_0
	target/release/clipsearch convert $(MODEL_DIR)/$(notdir $(HF_REPO)) -o $(MODEL_DIR)/$(notdir $(HF_REPO))-text-q8_0.gguf --quant q8_0 --tower text

# The multilingual query tower aligned with the CLIP above (run `make model` first): 50+ languages.
ST_REPO ?= sentence-transformers/clip-ViT-B-32-multilingual-v1
model-multilingual:
	cargo build --release --bin clipsearch
	target/release/clipsearch download $(ST_REPO) -o $(MODEL_DIR)/$(notdir $(ST_REPO))
	target/release/clipsearch convert $(MODEL_DIR)/$(notdir $(ST_REPO)) -o $(MODEL_DIR)/$(notdir $(ST_REPO))-q8_0.gguf --quant q8_0 --space $(MODEL_DIR)/$(notdir $(HF_REPO))-q8_0.gguf

# models/manifest.json (size, sha256, model key of each models/*.gguf) for the npm loader.
manifest:
	node scripts/make-manifest.mjs

# The npm package: pkg/ (wasm + glue) and dist/ (TypeScript layer) packed as npm-pack/clipsearch.tgz.
package: wasm
	rm -rf dist && node_modules/.bin/tsc -p tsconfig.json
	mkdir -p npm-pack && rm -f npm-pack/*.tgz
	npm pack --pack-destination npm-pack --silent > /dev/null
	mv npm-pack/clipsearch-*.tgz npm-pack/clipsearch.tgz
	@ls -l npm-pack/clipsearch.tgz

# A self-contained static site: www/ plus the package and the default model.
# www/dist is the package's compiled TypeScript layer (its worker included), www/pkg the wasm.
www: package
	rm -rf www/pkg www/dist www/models && mkdir -p www/pkg www/dist www/models
	cp pkg/clipsearch.js pkg/clipsearch_bg.wasm pkg/clipsearch_relaxed.js pkg/clipsearch_relaxed_bg.wasm www/pkg/
	cp dist/*.js www/dist/
	cp models/tiny-clip.gguf models/tiny-multilingual.gguf models/manifest.json www/models/

demo: setup-demo www
	@echo "clipsearch demo: http://127.0.0.1:$(PORT)  (Ctrl-C to stop)"
	node scripts/serve.mjs www $(PORT)

test: setup
	@rm -f target/test-layers.txt
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-native
	$(MAKE) --no-print-directory test-wasm
	$(MAKE) --no-print-directory test-e2e
	$(MAKE) --no-print-directory test-npm
	$(MAKE) --no-print-directory test-py
	@echo; echo "===== summary ====="; cat target/test-layers.txt
	@awk '{p+=$$2; f+=$$3} END {printf "%d passed, %d failed\n", p, f}' target/test-layers.txt

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown --features relaxed-simd -- -D warnings

test-native:
	scripts/run-layer.sh native cargo -- cargo test

# wasm-bindgen-test in headless Chromium (webdriver.json holds the browser flags), then the int8
# kernels, the model parity checks and the index again as the relaxed-SIMD module compiles them
# (Node 20 cannot run those).
test-wasm:
	scripts/run-layer.sh wasm cargo -- cargo test --target wasm32-unknown-unknown $(patsubst tests/%.rs,--test %,$(wildcard tests/web*.rs tests/*_wasm.rs))
	WASM_BINDGEN_USE_BROWSER=1 scripts/run-layer.sh wasm-relaxed cargo -- cargo test --target wasm32-unknown-unknown --features relaxed-simd --test index_wasm --test kernels_wasm --test web_model

test-e2e: www
	cargo build --bin clipsearch
	scripts/run-layer.sh e2e node -- node --test --test-concurrency=1 tests/e2e/

# The packed npm package: in Node, and in a fresh Vite app driven in headless Chromium.
test-npm: package
	scripts/run-layer.sh npm node -- node --test --test-concurrency=1 tests/npm/

# Python interop layer (pandas, pyarrow, numpy, qdrant-client) once tests/python exists.
test-py:
	@if [ ! -f tests/python/requirements.txt ]; then echo "no Python interop tests yet"; exit 0; fi
	cargo build --bin clipsearch
	CLIPSEARCH_BIN=$${CARGO_TARGET_DIR:-target}/debug/clipsearch scripts/run-layer.sh python pytest -- .venv/bin/python -m pytest -q tests/python

clean:
	rm -rf pkg dist npm-pack www/pkg www/models target/test-layers.txt tests/consumer/dist
