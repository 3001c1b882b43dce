//! Parity of our CLIP with Hugging Face `transformers` on the tiny random-weight model.
//!
//! Golden embeddings and ids: `tests/fixtures/model/golden.json`, made by
//! `models/make_tiny_model.py` (transformers 5.23, torch 2.15, float32). Ids and pixels are fed
//! directly here, so these tests do not depend on our tokenizer or preprocessing (see
//! `tests/model_e2e.rs` for strings and image files).
//!
//! Tolerances (cosine with the reference): f32/f16 >= 0.9999, q8_0 >= 0.999, q4_0/q4_1 >= 0.95.
//! The 4-bit bound is loose because this model is tiny: with width 32 every row is ONE q4 block,
//! so one scale covers the whole row (measured worst case 0.966 for q4_0 over all golden
//! inputs); on full-size models the error averages out (see benches/RESULTS-model.md).

#[path = "model_support.rs"]
mod support;

use clipsearch::model::{ClipModel, HfFiles, Quantization, Towers};
use support::{cosine, golden, pixels, Tiny};

fn check(model: &ClipModel, bound: f32, label: &str) {
    let g = golden();
    let mut worst = 1.0f32;
    for (text, ids, want) in &g.texts {
        let got = model.embed_text_ids(ids).expect("embed ids");
        let c = cosine(&got, want);
        worst = worst.min(c);
        assert!(c >= bound, "{label}: text {text:?}: cosine {c} < {bound}");
    }
    for (file, want, px) in &g.images {
        let Some(px) = px else { continue };
        let got = model.embed_pixels(&pixels(px), 1).expect("embed pixels");
        let c = cosine(&got[0], want);
        worst = worst.min(c);
        assert!(c >= bound, "{label}: image {file}: cosine {c} < {bound}");
    }
    println!("{label}: worst cosine with transformers = {worst:.6}");
}

#[test]
fn hf_layout_f16_matches_transformers_on_ids_and_pixels() {
    let tiny = Tiny::load();
    let m = ClipModel::from_hf(&tiny.files()).expect("load");
    assert_eq!(m.info().quantization, Quantization::F16);
    assert_eq!(m.info().towers, Towers::Both);
    assert_eq!(m.info().dim, 32);
    check(&m, 0.9999, "hf f16");
}

#[test]
fn hf_layout_f32_matches_transformers_and_has_the_same_key_as_f16() {
    let tiny = Tiny::load();
    let f32_weights = support::edit_safetensors(&tiny.weights, |m| {
        for t in m.values_mut() {
            if t.dtype() == candle_core::DType::F16 {
                *t = t.to_dtype(candle_core::DType::F32).expect("to f32");
            }
        }
    });
    let files = HfFiles {
        weights: &f32_weights,
        ..tiny.files()
    };
    let m32 = ClipModel::from_hf(&files).expect("load f32");
    assert_eq!(m32.info().quantization, Quantization::F32);
    check(&m32, 0.9999, "hf f32");
    let m16 = ClipModel::from_hf(&tiny.files()).expect("load f16");
    assert_eq!(m32.info().key, m16.info().key);
    assert!(m16.info().key.starts_with("clip-") && m16.info().key.len() == 21);
}

#[test]
fn gguf_f32_and_f16_match_transformers() {
    let tiny = Tiny::load();
    for q in [Quantization::F32, Quantization::F16] {
        let m = ClipModel::from_gguf(&tiny.gguf(q, Towers::Both)).expect("load");
        assert_eq!(m.info().quantization, q);
        check(&m, 0.9999, q.as_str());
    }
}

#[test]
fn gguf_q8_0_matches_transformers_within_0_999() {
    let tiny = Tiny::load();
    let m = ClipModel::from_gguf(&tiny.gguf(Quantization::Q8_0, Towers::Both)).expect("load");
    assert_eq!(m.matmul_type(), "q8_0");
    check(&m, 0.999, "q8_0");
}

#[test]
fn gguf_4_bit_types_match_transformers_within_0_95() {
    let tiny = Tiny::load();
    for q in [Quantization::Q4_0, Quantization::Q4_1] {
        let m = ClipModel::from_gguf(&tiny.gguf(q, Towers::Both)).expect("load");
        assert_eq!(m.info().quantization, q);
        check(&m, 0.95, q.as_str());
    }
}

#[test]
fn every_file_of_one_model_carries_the_key_of_the_hf_weights() {
    let tiny = Tiny::load();
    let key = ClipModel::from_hf(&tiny.files())
        .expect("hf")
        .info()
        .key
        .clone();
    assert_eq!(
        key,
        clipsearch::model::model_key(&tiny.weights).expect("key")
    );
    for q in [Quantization::F16, Quantization::Q4_0] {
        for t in [Towers::Text, Towers::Vision, Towers::Both] {
            let m = ClipModel::from_gguf(&tiny.gguf(q, t)).expect("load");
            assert_eq!(m.info().key, key, "{q} {t:?}");
            assert_eq!(m.info().space, key, "{q} {t:?}");
            assert_eq!(m.info().towers, t);
        }
    }
}

#[test]
fn a_text_only_file_embeds_text_like_the_full_model_and_refuses_images() {
    let tiny = Tiny::load();
    let full = ClipModel::from_gguf(&tiny.gguf(Quantization::Q8_0, Towers::Both)).expect("full");
    let text_bytes = tiny.gguf(Quantization::Q8_0, Towers::Text);
    let both_len = tiny.gguf(Quantization::Q8_0, Towers::Both).len();
    assert!(text_bytes.len() < both_len);
    let text = ClipModel::from_gguf(&text_bytes).expect("text");
    let ids = &golden().texts[1].1;
    assert_eq!(
        text.embed_text_ids(ids).expect("text"),
        full.embed_text_ids(ids).expect("full")
    );
    let err = text.embed_pixels(&vec![0.0; 3 * 224 * 224], 1).unwrap_err();
    assert_eq!(err, clipsearch::Error::TowerNotLoaded("vision"));
    assert!(text.tokenizer_json().is_some());
    assert!(text.preprocessor_json().is_none());
}

#[test]
fn a_vision_only_file_embeds_images_like_the_full_model_and_refuses_text() {
    let tiny = Tiny::load();
    let full = ClipModel::from_gguf(&tiny.gguf(Quantization::F16, Towers::Both)).expect("full");
    let vision = ClipModel::from_gguf(&tiny.gguf(Quantization::F16, Towers::Vision)).expect("v");
    let px = pixels("pixels_noise.f32");
    assert_eq!(
        vision.embed_pixels(&px, 1).expect("vision"),
        full.embed_pixels(&px, 1).expect("full")
    );
    let err = vision.embed_text_ids(&[49406, 49407]).unwrap_err();
    assert_eq!(err, clipsearch::Error::TowerNotLoaded("text"));
    assert!(vision.tokenizer_json().is_none());
    assert!(vision.preprocessor_json().is_some());
}

#[test]
fn batched_texts_of_different_lengths_equal_one_by_one() {
    let tiny = Tiny::load();
    let m = ClipModel::from_hf(&tiny.files()).expect("load");
    let g = golden();
    let batch: Vec<&[u32]> = g.texts.iter().map(|t| t.1.as_slice()).collect();
    let out = m.embed_text_ids_batch(&batch).expect("batch");
    for (ids, got) in batch.iter().zip(&out) {
        let one = m.embed_text_ids(ids).expect("one");
        assert!(cosine(&one, got) > 0.99999, "{ids:?}");
    }
}

#[test]
fn batched_images_equal_one_by_one() {
    let tiny = Tiny::load();
    let m = ClipModel::from_gguf(&tiny.gguf(Quantization::Q8_0, Towers::Vision)).expect("load");
    let a = pixels("pixels_gradient.f32");
    let b = pixels("pixels_noise.f32");
    let both: Vec<f32> = a.iter().chain(&b).copied().collect();
    let out = m.embed_pixels(&both, 2).expect("batch");
    let one_a = m.embed_pixels(&a, 1).expect("a");
    let one_b = m.embed_pixels(&b, 1).expect("b");
    assert!(cosine(&out[0], &one_a[0]) > 0.99999);
    assert!(cosine(&out[1], &one_b[0]) > 0.99999);
}

#[test]
fn embeddings_are_l2_normalised() {
    let tiny = Tiny::load();
    let m = ClipModel::from_gguf(&tiny.gguf(Quantization::Q4_0, Towers::Both)).expect("load");
    let t = m.embed_text_ids(&[49406, 49407]).expect("empty text");
    let i = m
        .embed_pixels(&pixels("pixels_gradient.f32"), 1)
        .expect("img");
    for v in [&t, &i[0]] {
        let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "norm {n}");
    }
}
