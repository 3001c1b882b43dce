//! Full-size multilingual text tower (the dimensions of
//! `sentence-transformers/clip-ViT-B-32-multilingual-v1`: DistilBERT 6 layers, 768 wide, 12
//! heads, vocabulary 119547, Dense 768 -> 512; random weights generated in-process, no download)
//! timed where it runs: natively or in headless Chromium, one thread.
//!
//! ```text
//! # headless Chromium, simd128 (the default wasm build)
//! WASM_BINDGEN_USE_BROWSER=1 WASM_BINDGEN_TEST_TIMEOUT=3000 CHROMEDRIVER=/usr/bin/chromedriver \
//!   cargo run --release --target wasm32-unknown-unknown --example bench_multilingual -- --nocapture
//! # natively, same code and model
//! RAYON_NUM_THREADS=1 cargo run --release --example bench_multilingual
//! ```
//! For each quantization (`BENCH_QUANTS` at build time, default `q8_0,q4_0,f16,f32`) it converts
//! the random model to our GGUF in memory, loads it, and prints one JSON line: file size, load
//! time, matmul kernel, and medians (ms) of queries of 8, 16 and 128 tokens (`[CLS] ... [SEP]`).
//! Figures: `benches/RESULTS-multi.md`.

use clipsearch::model::{
    convert_sentence_transformers, random_multilingual_model, ClipModel, ConvertOptions,
    MultilingualConfig, Quantization, Towers,
};

mod common;
use common::{median_ms, now_ms, say};

fn quants() -> Vec<Quantization> {
    common::quants("q8_0,q4_0,f16,f32")
}

fn ids(n: usize) -> Vec<u32> {
    std::iter::once(101)
        .chain((0..n - 2).map(|i| 1000 + (i as u32 * 7919) % 100_000))
        .chain(std::iter::once(102))
        .collect()
}

fn run() {
    let config = MultilingualConfig::clip_vit_b_32_multilingual_v1();
    let t = now_ms();
    let owned = random_multilingual_model(&config, 1).expect("random model");
    say(&format!(
        "random clip-ViT-B-32-multilingual-v1 shape: {} MB of f32 safetensors in {:.0} ms, kernel build {}",
        (owned.weights.len() + owned.dense_weights.len()) / 1_000_000,
        now_ms() - t,
        clipsearch::kernels::kernel_name()
    ));
    let files = owned.files(Some("clip-0000000000000000"));
    let (q8, q16, q128) = (ids(8), ids(16), ids(128));
    for q in quants() {
        let gguf = convert_sentence_transformers(
            &files,
            &ConvertOptions {
                quantization: q,
                towers: Towers::Text,
                name: None,
            },
        )
        .expect("convert");
        let t = now_ms();
        let model = ClipModel::from_gguf(&gguf).expect("load");
        let load = now_ms() - t;
        let t8 = median_ms(9, || {
            model.embed_text_ids(&q8).expect("query");
        });
        let t16 = median_ms(9, || {
            model.embed_text_ids(&q16).expect("query");
        });
        let t128 = median_ms(5, || {
            model.embed_text_ids(&q128).expect("query");
        });
        say(&format!(
            "{{\"quant\":\"{}\",\"file_mb\":{:.1},\"load_ms\":{:.0},\"kernel\":\"{}\",\"query8_ms\":{:.1},\"query16_ms\":{:.1},\"query128_ms\":{:.1}}}",
            q.as_str(),
            gguf.len() as f64 / 1e6,
            load,
            model.matmul_kernel(),
            t8,
            t16,
            t128
        ));
    }
}

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn bench_multilingual() {
    run();
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    run();
}
