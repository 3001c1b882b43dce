//! The model parity checks, run inside headless Chromium: wasm gives the numbers native gives,
//! both matching Hugging Face `transformers` (golden fixtures made by
//! `models/make_tiny_model.py`). Tolerances as in `tests/model_parity.rs`: cosine >= 0.9999
//! for the f16 Hugging Face layout, >= 0.999 for the q8_0 GGUF.
#![cfg(target_arch = "wasm32")]

use clipsearch::model::{convert, Clip, ConvertOptions, HfFiles, Quantization, Towers};
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const GOLDEN: &str = include_str!("fixtures/model/golden.json");
const GGUF: &[u8] = include_bytes!("../models/tiny-clip.gguf");
const CONFIG: &[u8] = include_bytes!("../models/tiny-clip/config.json");
const WEIGHTS: &[u8] = include_bytes!("../models/tiny-clip/model.safetensors");
const TOKENIZER: &[u8] = include_bytes!("../models/tiny-clip/tokenizer.json");
const PREPROCESSOR: &[u8] = include_bytes!("../models/tiny-clip/preprocessor_config.json");
const IMAGES: [(&str, &[u8]); 3] = [
    (
        "gradient.jpg",
        include_bytes!("fixtures/model/gradient.jpg"),
    ),
    ("noise.png", include_bytes!("fixtures/model/noise.png")),
    ("checker.png", include_bytes!("fixtures/model/checker.png")),
];

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("embedding array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn check_against_golden(clip: &Clip, bound: f32, label: &str) {
    let g: Value = serde_json::from_str(GOLDEN).expect("golden.json parses");
    for t in g["texts"].as_array().expect("texts") {
        let text = t["text"].as_str().expect("text");
        let ids: Vec<u32> = t["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect();
        assert_eq!(
            clip.tokenize(text).unwrap(),
            ids,
            "{label}: ids of {text:?}"
        );
        let got = clip.embed_text(text).unwrap();
        let c = cosine(&got, &floats(&t["embedding"]));
        assert!(c >= bound, "{label}: text {text:?} cosine {c} < {bound}");
    }
    for img in g["images"].as_array().expect("images") {
        let file = img["file"].as_str().expect("file");
        let bytes = IMAGES
            .iter()
            .find(|(n, _)| *n == file)
            .map(|(_, b)| *b)
            .expect("fixture image is embedded in the test");
        let got = clip.embed_image(bytes).unwrap();
        let c = cosine(&got, &floats(&img["embedding"]));
        assert!(c >= bound, "{label}: image {file} cosine {c} < {bound}");
    }
}

#[wasm_bindgen_test]
fn q8_0_gguf_in_the_browser_matches_transformers_from_strings_and_image_files() {
    let clip = Clip::from_gguf(GGUF).unwrap();
    // The browser runs quantized matrices on our packed int8 SIMD GEMM, not candle's kernel.
    assert_eq!(
        clip.model().matmul_kernel(),
        clipsearch::kernels::kernel_name()
    );
    assert!(clip.model().matmul_kernel().starts_with("wasm-"));
    check_against_golden(&clip, 0.999, "q8_0 gguf");
}

#[wasm_bindgen_test]
fn hugging_face_layout_in_the_browser_matches_transformers_within_0_9999() {
    let clip = Clip::from_hf(&HfFiles {
        config: CONFIG,
        weights: WEIGHTS,
        tokenizer_json: Some(TOKENIZER),
        preprocessor_json: Some(PREPROCESSOR),
        name: Some("tiny-clip"),
    })
    .unwrap();
    check_against_golden(&clip, 0.9999, "hf f16");
}

#[wasm_bindgen_test]
fn four_bit_ggufs_run_on_the_packed_kernel_and_match_transformers_within_0_95() {
    // Converted in the browser from the Hugging Face files; q4_0/q4_1 blocks are re-quantized
    // to q8_0 once at load for the int8 SIMD kernel. Same bound as tests/model_parity.rs.
    let files = HfFiles {
        config: CONFIG,
        weights: WEIGHTS,
        tokenizer_json: Some(TOKENIZER),
        preprocessor_json: Some(PREPROCESSOR),
        name: Some("tiny-clip"),
    };
    for q in [Quantization::Q4_0, Quantization::Q4_1] {
        let bytes = convert(
            &files,
            &ConvertOptions {
                quantization: q,
                towers: Towers::Both,
                name: None,
            },
        )
        .unwrap();
        let clip = Clip::from_gguf(&bytes).unwrap();
        assert_eq!(clip.info().quantization, q);
        if q == Quantization::Q4_0 {
            // (q4_1 needs an even number of blocks per row: the tiny model's 32-wide rows stay
            // float in the file, see `clipsearch convert`.)
            assert!(clip.model().matmul_kernel().starts_with("wasm-"));
        }
        check_against_golden(&clip, 0.95, q.as_str());
    }
}

#[wasm_bindgen_test]
fn bad_model_bytes_give_typed_errors_in_the_browser() {
    let Err(e) = Clip::from_gguf(&GGUF[..1000]) else {
        panic!("truncated file is refused");
    };
    assert_eq!(e.code(), "InvalidModel");
    let Err(e) = Clip::from_gguf(b"") else {
        panic!("empty file is refused");
    };
    assert_eq!(e.code(), "InvalidModel");
}
