//! End to end from strings and image files (our tokenizer and preprocessing + our model) against
//! Hugging Face `transformers` (golden outputs made by `models/make_tiny_model.py`).
//!
//! Tolerances: f32/f16 >= 0.9999, q8_0 >= 0.999, q4_0 >= 0.95 (tiny widths: one q4 block per row) (cosine with the reference).

#[path = "model_support.rs"]
mod support;

use clipsearch::model::{Quantization, Towers};
use clipsearch::Clip;
use support::{cosine, golden, root, Tiny};

fn image_bytes(file: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/model").join(file)).expect("image")
}

fn check(clip: &Clip, bound: f32, label: &str) {
    let g = golden();
    for (text, ids, want) in &g.texts {
        assert_eq!(
            &clip.tokenize(text).expect("tokenize"),
            ids,
            "ids of {text:?}"
        );
        let c = cosine(&clip.embed_text(text).expect("embed"), want);
        assert!(c >= bound, "{label}: {text:?}: cosine {c} < {bound}");
    }
    for (file, want, _) in &g.images {
        let c = cosine(&clip.embed_image(&image_bytes(file)).expect("embed"), want);
        assert!(c >= bound, "{label}: {file}: cosine {c} < {bound}");
    }
}

#[test]
fn strings_and_image_files_match_transformers_from_the_hf_layout() {
    let tiny = Tiny::load();
    let clip = Clip::from_hf(&tiny.files()).expect("load");
    check(&clip, 0.9999, "hf f16");
}

#[test]
fn strings_and_image_files_match_transformers_from_quantized_files() {
    let tiny = Tiny::load();
    for (q, bound) in [
        (Quantization::F16, 0.9999),
        (Quantization::Q8_0, 0.999),
        (Quantization::Q4_0, 0.95),
    ] {
        let clip = Clip::from_gguf(&tiny.gguf(q, Towers::Both)).expect("load");
        check(&clip, bound, q.as_str());
    }
}

#[test]
fn the_committed_default_gguf_embeds_strings_and_images() {
    let bytes = std::fs::read(root().join("models/tiny-clip.gguf")).expect("tiny-clip.gguf");
    let clip = Clip::from_gguf(&bytes).expect("load");
    assert_eq!(clip.info().quantization, Quantization::Q8_0);
    assert_eq!(clip.info().towers, Towers::Both);
    check(&clip, 0.999, "models/tiny-clip.gguf");
}

#[test]
fn embed_texts_in_a_batch_equals_one_by_one_and_empty_text_is_bos_eos() {
    let tiny = Tiny::load();
    let clip = Clip::from_hf(&tiny.files()).expect("load");
    assert_eq!(clip.tokenize("").expect("empty"), vec![49406, 49407]);
    let texts = ["", "a photo of a cat", "東京の夜景と富士山"];
    let batch = clip.embed_texts(&texts).expect("batch");
    for (t, b) in texts.iter().zip(&batch) {
        assert!(cosine(&clip.embed_text(t).expect("one"), b) > 0.99999);
    }
}
