//! Full-size CLIP ViT-B/32 (random weights generated in-process, no download) timed where it
//! runs: natively or in wasm32 (Node or headless Chromium), one thread.
//!
//! ```text
//! # headless Chromium, simd128 (the default wasm build)
//! WASM_BINDGEN_USE_BROWSER=1 WASM_BINDGEN_TEST_TIMEOUT=1800 CHROMEDRIVER=/usr/bin/chromedriver \
//!   cargo run --release --target wasm32-unknown-unknown --example bench_model_web
//! # ... relaxed SIMD kernel: add `--features relaxed-simd`
//! # natively, same code and model
//! RAYON_NUM_THREADS=1 cargo run --release --example bench_model_web
//! ```
//! For each quantization (`BENCH_QUANTS`, default `q8_0,q4_0,f32`) it generates the random
//! weights (seed 1), converts them to our GGUF in memory, loads the model, and prints one JSON
//! line: file size, load time, the matmul kernel, and medians (ms) of an image at batch 1, a
//! batch of 8 (per image), and text queries of 8 and 77 tokens; then, alternated in the same
//! page, both relaxed dot forms (relaxed module) and the attention kernel against candle's ops
//! (`"attention"` lines: an image and a 77-token query). Figures:
//! `benches/RESULTS-model.md`.

use clipsearch::model::{
    convert, random_model, ClipConfig, ClipModel, ConvertOptions, HfFiles, Quantization, Towers,
};

mod common;
use common::{median, median_ms, now_ms, say};

fn quants() -> Vec<Quantization> {
    common::quants("q8_0,q4_0,f32")
}

fn run() {
    let config = ClipConfig::vit_b_32();
    let t = now_ms();
    let (config_json, weights) = random_model(&config, 1).expect("random model");
    say(&format!(
        "random ViT-B/32: {} MB of f32 safetensors in {:.0} ms, kernel build {}",
        weights.len() / 1_000_000,
        now_ms() - t,
        clipsearch::kernels::kernel_name()
    ));
    let files = HfFiles {
        config: config_json.as_bytes(),
        weights: &weights,
        tokenizer_json: None,
        preprocessor_json: None,
        name: Some("random-vit-b-32"),
    };
    let side = config.vision.image_size;
    let pixels: Vec<f32> = (0..8 * 3 * side * side)
        .map(|i| ((i * 7919 % 255) as f32 / 127.5) - 1.0)
        .collect();
    let one = &pixels[..3 * side * side];
    let ids8: Vec<u32> = [49406, 320, 1125, 539, 2368, 530, 518, 49407].to_vec();
    let ids77: Vec<u32> = std::iter::once(49406)
        .chain((0..75).map(|i| 320 + i * 97))
        .chain(std::iter::once(49407))
        .collect();
    for q in quants() {
        let gguf = convert(
            &files,
            &ConvertOptions {
                quantization: q,
                towers: Towers::Both,
                name: None,
            },
        )
        .expect("convert");
        let t = now_ms();
        let model = ClipModel::from_gguf(&gguf).expect("load");
        let load = now_ms() - t;
        let runs = if q == Quantization::F32 { 3 } else { 5 };
        let b1 = median_ms(runs, || {
            model.embed_pixels(one, 1).expect("image");
        });
        let b8 = median_ms(3, || {
            model.embed_pixels(&pixels, 8).expect("batch");
        });
        let t8 = median_ms(9, || {
            model.embed_text_ids(&ids8).expect("query");
        });
        let t77 = median_ms(runs, || {
            model.embed_text_ids(&ids77).expect("query");
        });
        say(&format!(
            "{{\"quant\":\"{}\",\"file_mb\":{:.1},\"load_ms\":{:.0},\"kernel\":\"{}\",\"dot_form\":\"{}\",\"image_b1_ms\":{:.1},\"image_b8_per_image_ms\":{:.1},\"query8_ms\":{:.1},\"query77_ms\":{:.1}}}",
            q.as_str(),
            gguf.len() as f64 / 1e6,
            load,
            model.matmul_kernel(),
            model.dot_form().map_or("none", |f| f.as_str()),
            b1,
            b8 / 8.0,
            t8,
            t77
        ));
        // The relaxed module's two dot-product forms, alternating on the same model, so the
        // one it probed for can be checked against the other on this machine.
        if clipsearch::kernels::relaxed_dot_form().is_some() && q != Quantization::F32 {
            use clipsearch::kernels::{set_relaxed_dot_form, DotForm};
            let mut times = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
            for _ in 0..3 {
                for (i, form) in [DotForm::Fused, DotForm::Split].into_iter().enumerate() {
                    set_relaxed_dot_form(Some(form));
                    times[i].0.push(median_ms(3, || {
                        model.embed_pixels(one, 1).expect("image");
                    }));
                    times[i].1.push(median_ms(5, || {
                        model.embed_text_ids(&ids8).expect("query");
                    }));
                }
            }
            set_relaxed_dot_form(None);
            for (i, form) in [DotForm::Fused, DotForm::Split].into_iter().enumerate() {
                let (b1, t8) = &mut times[i];
                let form = form.as_str();
                say(&format!(
                    "{{\"quant\":\"{}\",\"dot_form\":\"{form}\",\"image_b1_ms\":{:.1},\"query8_ms\":{:.1}}}",
                    q.as_str(),
                    median(b1),
                    median(t8)
                ));
            }
        }
        // The attention core: our kernel against candle's ops, alternated in this page.
        if q != Quantization::F32 {
            use clipsearch::kernels::attention::use_candle_ops;
            let mut times = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
            for _ in 0..3 {
                for (i, candle) in [false, true].into_iter().enumerate() {
                    use_candle_ops(candle);
                    times[i].0.push(median_ms(3, || {
                        model.embed_pixels(one, 1).expect("image");
                    }));
                    times[i].1.push(median_ms(3, || {
                        model.embed_text_ids(&ids77).expect("query");
                    }));
                }
            }
            use_candle_ops(false);
            for (i, name) in ["kernel", "candle-ops"].into_iter().enumerate() {
                let (b1, t77) = &mut times[i];
                say(&format!(
                    "{{\"quant\":\"{}\",\"attention\":\"{name}\",\"image_b1_ms\":{:.1},\"query77_ms\":{:.1}}}",
                    q.as_str(),
                    median(b1),
                    median(t77)
                ));
            }
        }
    }
}

// In a dedicated worker, where the package runs the model: generating and converting the
// random ViT-B/32 is one synchronous call of tens of seconds on a loaded machine, which would
// stall the page the test runner polls (chromedriver gives up after 30 s).
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn bench_model_web() {
    run();
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    run();
}
