//! Shared helpers of the model tests (included with `#[path]`; holds no tests of its own).
#![allow(dead_code)]

use std::path::PathBuf;

use clipsearch::model::{convert, ConvertOptions, HfFiles, Quantization, Towers};

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tiny model's files, read into memory.
pub struct Tiny {
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub preprocessor: Vec<u8>,
}

impl Tiny {
    pub fn load() -> Tiny {
        let d = root().join("models/tiny-clip");
        let r = |f: &str| std::fs::read(d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        Tiny {
            config: r("config.json"),
            weights: r("model.safetensors"),
            tokenizer: r("tokenizer.json"),
            preprocessor: r("preprocessor_config.json"),
        }
    }

    pub fn files(&self) -> HfFiles<'_> {
        HfFiles {
            config: &self.config,
            weights: &self.weights,
            tokenizer_json: Some(&self.tokenizer),
            preprocessor_json: Some(&self.preprocessor),
            name: Some("tiny-clip"),
        }
    }

    pub fn gguf(&self, q: Quantization, towers: Towers) -> Vec<u8> {
        convert(
            &self.files(),
            &ConvertOptions {
                quantization: q,
                towers,
                name: None,
            },
        )
        .expect("convert")
    }
}

/// Golden outputs of Hugging Face transformers (tests/fixtures/model/golden.json).
pub struct Golden {
    pub texts: Vec<(String, Vec<u32>, Vec<f32>)>,
    /// (file, embedding, optional full pixel file)
    pub images: Vec<(String, Vec<f32>, Option<String>)>,
}

pub fn golden() -> Golden {
    let p = root().join("tests/fixtures/model/golden.json");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p).expect("golden.json")).expect("json");
    let f32s = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect()
    };
    let texts = v["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| {
            (
                t["text"].as_str().expect("text").to_string(),
                t["ids"]
                    .as_array()
                    .expect("ids")
                    .iter()
                    .map(|x| x.as_u64().expect("id") as u32)
                    .collect(),
                f32s(&t["embedding"]),
            )
        })
        .collect();
    let images = v["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| {
            (
                i["file"].as_str().expect("file").to_string(),
                f32s(&i["embedding"]),
                i["pixels_file"].as_str().map(str::to_string),
            )
        })
        .collect();
    Golden { texts, images }
}

/// Reads a raw little-endian f32 file from the fixtures.
pub fn pixels(file: &str) -> Vec<f32> {
    let b = std::fs::read(root().join("tests/fixtures/model").join(file)).expect("pixels");
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dimension");
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Rewrites a safetensors buffer through `edit` (tensors as candle tensors).
pub fn edit_safetensors(
    bytes: &[u8],
    edit: impl FnOnce(&mut std::collections::HashMap<String, candle_core::Tensor>),
) -> Vec<u8> {
    let mut map =
        candle_core::safetensors::load_buffer(bytes, &candle_core::Device::Cpu).expect("load");
    edit(&mut map);
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "clipsearch-model-test-{}-{}-{}.safetensors",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        map.len()
    ));
    candle_core::safetensors::save(&map, &path).expect("save");
    let out = std::fs::read(&path).expect("read back");
    let _ = std::fs::remove_file(&path);
    out
}
