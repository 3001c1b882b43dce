//! The multilingual text tower inside headless Chromium: the committed q8_0 GGUF and the
//! sentence-transformers layout give the golden ids and embeddings of
//! `tests/fixtures/multilingual/golden.json` (made by `models/make_tiny_multilingual.py`), so
//! wasm equals native. Tolerances as in `tests/multilingual.rs`: cosine >= 0.9999 for the f32
//! sentence-transformers layout, >= 0.999 for q8_0 (which runs on the packed int8 kernel here).
#![cfg(target_arch = "wasm32")]

use clipsearch::model::{Clip, StFiles};
use clipsearch::{Collection, Error};
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const GOLDEN: &str = include_str!("fixtures/multilingual/golden.json");
const GGUF: &[u8] = include_bytes!("../models/tiny-multilingual.gguf");
const CLIP_GGUF: &[u8] = include_bytes!("../models/tiny-clip.gguf");
const DIR_CONFIG: &[u8] = include_bytes!("../models/tiny-multilingual/config.json");
const DIR_WEIGHTS: &[u8] = include_bytes!("../models/tiny-multilingual/model.safetensors");
const DIR_TOKENIZER: &[u8] = include_bytes!("../models/tiny-multilingual/tokenizer.json");
const DIR_TOKENIZER_CONFIG: &[u8] =
    include_bytes!("../models/tiny-multilingual/tokenizer_config.json");
const DIR_MODULES: &[u8] = include_bytes!("../models/tiny-multilingual/modules.json");
const DIR_POOLING: &[u8] = include_bytes!("../models/tiny-multilingual/1_Pooling/config.json");
const DIR_DENSE_CONFIG: &[u8] = include_bytes!("../models/tiny-multilingual/2_Dense/config.json");
const DIR_DENSE_WEIGHTS: &[u8] =
    include_bytes!("../models/tiny-multilingual/2_Dense/model.safetensors");

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn check(clip: &Clip, bound: f32, label: &str) {
    let g: Value = serde_json::from_str(GOLDEN).expect("golden.json parses");
    for c in g["cases"].as_array().expect("cases") {
        let text = c["text"].as_str().expect("text");
        let ids: Vec<u32> = c["ids"]
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
        let want: Vec<f32> = c["embedding"]
            .as_array()
            .expect("embedding")
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect();
        let got = clip.embed_text(text).unwrap();
        let cos = cosine(&got, &want);
        assert!(cos >= bound, "{label}: {text:?} cosine {cos} < {bound}");
    }
}

#[wasm_bindgen_test]
fn multilingual_q8_0_gguf_matches_sentence_transformers_in_the_browser() {
    let clip = Clip::from_gguf(GGUF).unwrap();
    check(&clip, 0.999, "gguf q8_0");
}

#[wasm_bindgen_test]
fn multilingual_sentence_transformers_layout_matches_in_the_browser() {
    let clip = Clip::from_sentence_transformers(&StFiles {
        config: DIR_CONFIG,
        weights: DIR_WEIGHTS,
        tokenizer_json: Some(DIR_TOKENIZER),
        tokenizer_config: Some(DIR_TOKENIZER_CONFIG),
        modules_json: Some(DIR_MODULES),
        sentence_bert_config: None,
        pooling_config: Some(DIR_POOLING),
        dense_config: Some(DIR_DENSE_CONFIG),
        dense_weights: Some(DIR_DENSE_WEIGHTS),
        name: None,
        space: None,
    })
    .unwrap();
    check(&clip, 0.9999, "st layout f32");
}

#[wasm_bindgen_test]
fn multilingual_tower_queries_a_collection_of_the_aligned_clip_and_no_other() {
    let image_tower = Clip::from_gguf(CLIP_GGUF).unwrap();
    let c = Collection::new(image_tower.info().space_info()).unwrap();
    let multi = Clip::from_gguf(GGUF).unwrap();
    assert_eq!(
        multi.embed_text_for(c.space(), "un chat").unwrap().len(),
        32
    );
    let mut other_space = c.space().clone();
    other_space.model_key = "clip-0123456789abcdef".into();
    assert!(matches!(
        multi.embed_text_for(&other_space, "un chat"),
        Err(Error::ModelMismatch { .. })
    ));
}
