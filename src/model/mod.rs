//! CLIP: configuration, weights (Hugging Face safetensors or our GGUF), the text and vision
//! towers, the converter, and the [`Clip`] pipeline (strings and image bytes in, L2-normalised
//! embeddings out).
//!
//! The towers follow candle-transformers `src/models/clip/` (v0.11.1): one file per tower,
//! tensors named exactly as Hugging Face names them (`text_model.encoder.layers.0.mlp.fc1.weight`),
//! and `quantized_blip.rs`: one float configuration shared by the float and the quantized
//! model, because every linear layer goes through one type whose matrix is either an f32 tensor
//! or a GGML-quantized tensor (f32, f16, q8_0, q4_0 and q4_1 share one code path). Numerics follow
//! transformers `models/clip/modeling_clip.py` (v5.23.0); the parity tests in
//! `tests/model_parity.rs` check them against golden outputs of that reference.
//!
//! ## Two ways in, both from bytes
//! - The Hugging Face layout: [`HfFiles`] (`config.json`, `model.safetensors` in f32/f16/bf16,
//!   optional `tokenizer.json` and `preprocessor_config.json`): [`ClipModel::from_hf`].
//! - Our single-file GGUF, made by [`convert`]: [`ClipModel::from_gguf`]. Its layout and metadata
//!   are documented in the `gguf` submodule docs (see [`convert`]). A file may hold only the
//!   text tower (a search-only page downloads just that) or only the vision tower; asking a
//!   missing tower to embed gives [`Error::TowerNotLoaded`].
//!
//! Natively, [`Clip::from_path`] opens a `.gguf` file or a Hugging Face directory.
//!
//! ## The model key
//! Vectors from different weights must never be mixed, so each model has a key naming its
//! embedding space: `clip-` followed by the first 16 hex digits of a SHA-256 over the original
//! float weights ([`model_key`]): for every tensor of the Hugging Face `model.safetensors`
//! except integer buffers (`position_ids`), sorted by name: the name's UTF-8 bytes, a 0 byte,
//! the rank and each dimension as u64 little-endian, then the values converted to f32,
//! little-endian. f16 and f32 copies of the same values hence get the same key. The converter
//! computes it from the source and stores it in the GGUF metadata (`clipsearch.model_key`), so
//! every file made from one model (f32 or q4_0, text-only or vision-only) carries the same key,
//! and loading the Hugging Face directory directly recomputes the same value.
//!
//! The metadata also holds `clipsearch.space`: the key of the space the vectors live in. For a
//! CLIP converted as is it equals the key. A multilingual text tower aligned to a CLIP image
//! tower (see below) keeps its own `model_key` (`mclip-` and the same digest over its own
//! weights) and declares that CLIP's key as its `space`. [`ModelInfo::space`] is what
//! collections compare ([`ModelInfo::space_info`] puts it in [`crate::SpaceInfo::model_key`]):
//! a collection embedded with a CLIP image tower accepts queries from every text tower whose
//! space is that CLIP's key, and [`Clip::embed_text_for`] refuses the others with
//! [`Error::ModelMismatch`].
//!
//! ## Multilingual text towers
//! [`StFiles`] holds the sentence-transformers layout of a DistilBERT + mean pooling + Dense
//! model such as `sentence-transformers/clip-ViT-B-32-multilingual-v1` (see the `distilbert`
//! submodule docs): [`ClipModel::from_sentence_transformers`] loads it,
//! [`convert_sentence_transformers`] writes a text-only GGUF whose `general.architecture` is
//! `distilbert` and whose `clipsearch.space` is the key of the CLIP it is aligned with (the
//! space cannot be derived from the weights: the converter takes it as an argument, the CLI's
//! `convert --space <KEY | CLIP.gguf | CLIP_DIR>`). Such a model embeds text through the same
//! [`Clip::embed_text`] with its own WordPiece tokenizer
//! ([`crate::tokenizer::WordPieceTokenizer`], truncation to `max_seq_length`).
//!
//! ## Text
//! A text is tokenized to `[BOS, ..., EOS]` (at most 77 ids, EOS kept on truncation) and runs at
//! its true length with causal attention; it is pooled at its end position (the first EOS id,
//! else the last id; never `argmax(ids)`). **Empty text** tokenizes to `[BOS, EOS]` and is
//! embedded like any other text: it gets a valid, deterministic vector (the "no words" point
//! of the text space), not an error.
//!
//! ## Images
//! Encoded bytes go through [`crate::preprocess::preprocess`] (exactly `CLIPImageProcessor`),
//! then the vision tower; pixels can also be given directly as `N×3×S×S` CHW floats.
//!
//! Every vector returned is L2-normalised.

mod config;
mod distilbert;
mod encoder;
mod gguf;
mod random;
mod text_model;
mod vision_model;
mod weights;

use std::fmt;

use candle_core::quantized::GgmlDType;
use sha2::{Digest, Sha256};

pub use config::{Activation, ClipConfig, ClipTextConfig, ClipVisionConfig};
pub use distilbert::{DenseActivation, MultilingualConfig};
pub use gguf::{convert, convert_sentence_transformers, ConvertOptions};
pub use random::{random_model, random_multilingual_model, SplitMix64, StOwnedFiles};

use distilbert::DistilBertTower;

use text_model::TextTower;
use vision_model::VisionTower;
use weights::WeightStore;

use crate::preprocess::{self, PreprocessConfig};
use crate::tokenizer::{ClipTokenizer, WordPieceTokenizer};
use crate::{Error, Result};

/// Storage type of a model's matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantization {
    /// 32-bit float.
    F32,
    /// 16-bit float (computed in f32).
    F16,
    /// GGML q8_0: blocks of 32 int8 with one f16 scale.
    Q8_0,
    /// GGML q4_0: blocks of 32 4-bit values with one f16 scale.
    Q4_0,
    /// GGML q4_1: blocks of 32 4-bit values with an f16 scale and minimum.
    Q4_1,
}

impl Quantization {
    /// All supported types.
    pub const ALL: [Quantization; 5] = [
        Quantization::F32,
        Quantization::F16,
        Quantization::Q8_0,
        Quantization::Q4_0,
        Quantization::Q4_1,
    ];

    /// Parses `f32`, `f16`, `q8_0`, `q4_0` or `q4_1` (case-insensitive).
    ///
    /// # Errors
    /// [`Error::UnsupportedQuantization`] for anything else.
    ///
    /// # Example
    /// ```
    /// use clipsearch::model::Quantization;
    /// assert_eq!(Quantization::parse("Q8_0").unwrap(), Quantization::Q8_0);
    /// assert!(Quantization::parse("q3_k").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "q8_0" => Ok(Self::Q8_0),
            "q4_0" => Ok(Self::Q4_0),
            "q4_1" => Ok(Self::Q4_1),
            _ => Err(Error::UnsupportedQuantization(s.to_string())),
        }
    }

    /// The canonical name (`f32`, `f16`, `q8_0`, `q4_0`, `q4_1`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q4_0 => "q4_0",
            Self::Q4_1 => "q4_1",
        }
    }

    pub(crate) fn ggml(&self) -> GgmlDType {
        match self {
            Self::F32 => GgmlDType::F32,
            Self::F16 => GgmlDType::F16,
            Self::Q8_0 => GgmlDType::Q8_0,
            Self::Q4_0 => GgmlDType::Q4_0,
            Self::Q4_1 => GgmlDType::Q4_1,
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which towers a model file holds (or a conversion writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Towers {
    /// Only the text tower (search-only pages).
    Text,
    /// Only the vision tower.
    Vision,
    /// Both towers.
    Both,
}

impl Towers {
    /// Parses `text`, `vision` or `both`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for anything else.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "vision" | "image" => Ok(Self::Vision),
            "both" => Ok(Self::Both),
            _ => Err(Error::InvalidArgument(format!(
                "unknown tower `{s}`: use text, vision or both"
            ))),
        }
    }
    /// `text`, `vision` or `both`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Vision => "vision",
            Self::Both => "both",
        }
    }
    /// Whether the text tower is included.
    pub fn has_text(&self) -> bool {
        matches!(self, Self::Text | Self::Both)
    }
    /// Whether the vision tower is included.
    pub fn has_vision(&self) -> bool {
        matches!(self, Self::Vision | Self::Both)
    }
}

/// What a loaded model is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// Stable key derived from the original float weights (see the module docs).
    pub key: String,
    /// The embedding space the vectors live in (equals `key` for a plain CLIP).
    pub space: String,
    /// Model name (e.g. `openai/clip-vit-base-patch32`).
    pub name: String,
    /// Embedding dimension (`projection_dim`).
    pub dim: usize,
    /// Quantization of the matrices.
    pub quantization: Quantization,
    /// Loaded towers.
    pub towers: Towers,
}

impl ModelInfo {
    /// The collection-level description of this model's vectors.
    pub fn space_info(&self) -> crate::SpaceInfo {
        crate::SpaceInfo {
            model_key: self.space.clone(),
            model_name: self.name.clone(),
            dim: self.dim,
            quantization: self.quantization.as_str().to_string(),
        }
    }
}

/// A Hugging Face layout model, as bytes (wasm has no file system).
#[derive(Debug, Clone, Copy, Default)]
pub struct HfFiles<'a> {
    /// `config.json` of a `CLIPModel`.
    pub config: &'a [u8],
    /// `model.safetensors` (f32, f16 or bf16).
    pub weights: &'a [u8],
    /// `tokenizer.json`, needed to embed strings.
    pub tokenizer_json: Option<&'a [u8]>,
    /// `preprocessor_config.json` (CLIP defaults when absent).
    pub preprocessor_json: Option<&'a [u8]>,
    /// Model name to record (defaults to `clip`).
    pub name: Option<&'a str>,
}

/// A sentence-transformers layout text tower (DistilBERT + mean pooling + Dense, e.g.
/// `sentence-transformers/clip-ViT-B-32-multilingual-v1`), as bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct StFiles<'a> {
    /// `config.json` of the `DistilBertModel`.
    pub config: &'a [u8],
    /// `model.safetensors` of the `DistilBertModel` (f32, f16 or bf16).
    pub weights: &'a [u8],
    /// `tokenizer.json` (the model's WordPiece), needed to embed strings.
    pub tokenizer_json: Option<&'a [u8]>,
    /// `modules.json`; when given it must list Transformer, Pooling, Dense (then optionally
    /// Normalize).
    pub modules_json: Option<&'a [u8]>,
    /// `sentence_bert_config.json` (its `max_seq_length`, see
    /// [`MultilingualConfig::from_parts`]).
    pub sentence_bert_config: Option<&'a [u8]>,
    /// `tokenizer_config.json` (its `model_max_length` when `sentence_bert_config.json` has no
    /// `max_seq_length`).
    pub tokenizer_config: Option<&'a [u8]>,
    /// `1_Pooling/config.json`.
    pub pooling_config: Option<&'a [u8]>,
    /// `2_Dense/config.json`.
    pub dense_config: Option<&'a [u8]>,
    /// `2_Dense/model.safetensors` (`linear.weight`, `linear.bias`).
    pub dense_weights: Option<&'a [u8]>,
    /// Model name to record (defaults to `multilingual`).
    pub name: Option<&'a str>,
    /// The key of the CLIP whose space this tower is aligned with (see the module docs); when
    /// absent the tower's own key is its space, so it matches no CLIP collection.
    pub space: Option<&'a str>,
}

/// The files of a sentence-transformers directory, read from disk (native only): the owned
/// counterpart of [`StFiles`].
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Default)]
pub struct StDir {
    config: Vec<u8>,
    weights: Vec<u8>,
    tokenizer_json: Option<Vec<u8>>,
    modules_json: Option<Vec<u8>>,
    sentence_bert_config: Option<Vec<u8>>,
    tokenizer_config: Option<Vec<u8>>,
    pooling_config: Option<Vec<u8>>,
    dense_config: Option<Vec<u8>>,
    dense_weights: Option<Vec<u8>>,
}

/// `<dir>/<sub>/model.safetensors`, else `<dir>/<sub>/pytorch_model.bin` (a PyTorch pickle,
/// read by candle) re-serialised as safetensors; `None` when neither exists.
#[cfg(not(target_arch = "wasm32"))]
fn read_st_weights(dir: &std::path::Path, sub: &str) -> Result<Option<Vec<u8>>> {
    let d = dir.join(sub);
    let st = d.join("model.safetensors");
    if st.is_file() {
        return std::fs::read(&st)
            .map(Some)
            .map_err(|e| Error::Io(format!("{}: {e}", st.display())));
    }
    let bin = d.join("pytorch_model.bin");
    if !bin.is_file() {
        return Ok(None);
    }
    let bad = |e: String| Error::InvalidModel(format!("{}: {e}", bin.display()));
    let tensors = candle_core::pickle::read_all(&bin).map_err(|e| bad(e.to_string()))?;
    safetensors::tensor::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

#[cfg(not(target_arch = "wasm32"))]
impl StDir {
    /// Reads `config.json` and the weights (required; `model.safetensors`, else
    /// `pytorch_model.bin` as older Hub repositories ship) and the optional files
    /// (`tokenizer.json`, `modules.json`, `sentence_bert_config.json`, `tokenizer_config.json`,
    /// `1_Pooling/config.json`, `2_Dense/config.json`, the Dense weights likewise) of `dir`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file if a required one cannot be read; [`Error::InvalidModel`]
    /// if a `pytorch_model.bin` cannot be parsed.
    pub fn read(dir: &std::path::Path) -> Result<Self> {
        let read = |p: &str| {
            let p = dir.join(p);
            std::fs::read(&p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))
        };
        let opt = |p: &str| read(p).ok();
        let weights = read_st_weights(dir, "")?.ok_or_else(|| {
            Error::Io(format!(
                "{}: neither model.safetensors nor pytorch_model.bin",
                dir.display()
            ))
        })?;
        Ok(Self {
            config: read("config.json")?,
            weights,
            tokenizer_json: opt("tokenizer.json"),
            modules_json: opt("modules.json"),
            sentence_bert_config: opt("sentence_bert_config.json"),
            tokenizer_config: opt("tokenizer_config.json"),
            pooling_config: opt("1_Pooling/config.json"),
            dense_config: opt("2_Dense/config.json"),
            dense_weights: read_st_weights(dir, "2_Dense")?,
        })
    }

    /// The files as [`StFiles`], with the model `name` and `space` to record.
    pub fn files<'a>(&'a self, name: Option<&'a str>, space: Option<&'a str>) -> StFiles<'a> {
        StFiles {
            config: &self.config,
            weights: &self.weights,
            tokenizer_json: self.tokenizer_json.as_deref(),
            modules_json: self.modules_json.as_deref(),
            sentence_bert_config: self.sentence_bert_config.as_deref(),
            tokenizer_config: self.tokenizer_config.as_deref(),
            pooling_config: self.pooling_config.as_deref(),
            dense_config: self.dense_config.as_deref(),
            dense_weights: self.dense_weights.as_deref(),
            name,
            space,
        }
    }

    /// Whether `tokenizer.json` was found (needed to embed strings).
    pub fn has_tokenizer(&self) -> bool {
        self.tokenizer_json.is_some()
    }
}

impl StFiles<'_> {
    /// Checks `modules.json` and reads the configuration and the merged weights.
    pub(crate) fn load(&self) -> Result<(MultilingualConfig, WeightStore)> {
        if let Some(m) = self.modules_json {
            let v: serde_json::Value = serde_json::from_slice(m)
                .map_err(|e| Error::InvalidModel(format!("modules.json is not valid JSON: {e}")))?;
            let kinds: Vec<String> = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|m| {
                            let t = m.get("type").and_then(|t| t.as_str()).unwrap_or("");
                            t.rsplit('.').next().unwrap_or(t).to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ok = kinds.len() >= 3
                && kinds[0] == "Transformer"
                && kinds[1] == "Pooling"
                && kinds[2] == "Dense"
                && kinds.iter().skip(3).all(|k| k == "Normalize");
            if !ok {
                return Err(Error::InvalidModel(format!(
                    "modules.json lists {kinds:?}: a multilingual CLIP text tower is                      Transformer, Pooling, Dense (as clip-ViT-B-32-multilingual-v1)"
                )));
            }
        }
        let missing = |what: &str| {
            Error::InvalidModel(format!(
                "{what} is missing: a multilingual CLIP text tower needs 1_Pooling/ and 2_Dense/                  (config.json and model.safetensors) beside config.json"
            ))
        };
        let dense_config = self
            .dense_config
            .ok_or_else(|| missing("2_Dense/config.json"))?;
        let dense_weights = self
            .dense_weights
            .ok_or_else(|| missing("2_Dense/model.safetensors"))?;
        let pooling = self
            .pooling_config
            .ok_or_else(|| missing("1_Pooling/config.json"))?;
        let config = MultilingualConfig::from_parts(
            self.config,
            pooling,
            dense_config,
            self.sentence_bert_config,
            self.tokenizer_config,
        )?;
        let mut store = WeightStore::from_safetensors(self.weights)?;
        let dense = WeightStore::from_safetensors(dense_weights).map_err(|e| match e {
            Error::InvalidModel(m) => Error::InvalidModel(format!("2_Dense/{m}")),
            other => other,
        })?;
        distilbert::merge_dense(&mut store, dense);
        Ok((config, store))
    }
}

/// Computes the model key of a set of float weights (see the module docs for the scheme).
fn key_of_store(store: &WeightStore) -> Result<String> {
    key_of_store_with(store, "clip-")
}

/// The model key with another prefix (`mclip-` for multilingual text towers).
fn key_of_store_with(store: &WeightStore, prefix: &str) -> Result<String> {
    let mut names: Vec<&String> = store.map.keys().collect();
    names.sort();
    let mut h = Sha256::new();
    for name in names {
        let Some(s) = store.map.get(name) else {
            continue;
        };
        let t = s.to_f32()?;
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update((t.rank() as u64).to_le_bytes());
        for d in t.dims() {
            h.update((*d as u64).to_le_bytes());
        }
        let v = t.flatten_all()?.to_vec1::<f32>()?;
        let mut buf = Vec::with_capacity(v.len() * 4);
        for x in v {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        h.update(&buf);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(format!("{prefix}{hex}"))
}

/// Computes the model key of a Hugging Face `model.safetensors`.
///
/// # Errors
/// [`Error::InvalidModel`] if the bytes are not safetensors.
pub fn model_key(safetensors: &[u8]) -> Result<String> {
    key_of_store(&WeightStore::from_safetensors(safetensors)?)
}

/// The CLIP model: towers and their metadata, no tokenizer (see [`Clip`] for strings/images).
#[derive(Debug, Clone)]
pub struct ClipModel {
    config: Option<ClipConfig>,
    text: Option<TextEncoder>,
    vision: Option<VisionTower>,
    info: ModelInfo,
    tokenizer_json: Option<String>,
    preprocessor_json: Option<String>,
}

/// The text tower of a model: CLIP's own, or a multilingual DistilBERT aligned with a CLIP.
#[derive(Debug, Clone)]
enum TextEncoder {
    Clip(TextTower),
    DistilBert(Box<DistilBertTower>),
}

impl TextEncoder {
    fn forward(&self, batch: &[&[u32]]) -> Result<candle_core::Tensor> {
        match self {
            Self::Clip(t) => t.forward(batch),
            Self::DistilBert(t) => t.forward(batch),
        }
    }
    fn matmul_type(&self) -> &'static str {
        match self {
            Self::Clip(t) => t.matmul_type(),
            Self::DistilBert(t) => t.matmul_type(),
        }
    }
    fn kernel_name(&self) -> &'static str {
        match self {
            Self::Clip(t) => t.kernel_name(),
            Self::DistilBert(t) => t.kernel_name(),
        }
    }
}

fn utf8(b: Option<&[u8]>, what: &str) -> Result<Option<String>> {
    b.map(|b| {
        String::from_utf8(b.to_vec())
            .map_err(|_| Error::InvalidArgument(format!("{what} is not UTF-8")))
    })
    .transpose()
}

impl ClipModel {
    /// Loads a Hugging Face layout model from bytes.
    ///
    /// Towers are loaded if their tensors are present (`text_model.*`, `vision_model.*`); the
    /// key is computed from the weights (a second or so for ViT-B/32).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad `config.json`; [`Error::InvalidModel`] for bytes that
    /// are not safetensors or hold neither tower; [`Error::MissingTensor`] /
    /// [`Error::TensorShape`] for incomplete or mismatched weights.
    pub fn from_hf(files: &HfFiles<'_>) -> Result<Self> {
        let store = WeightStore::from_safetensors(files.weights)?;
        Self::from_hf_store(files, &store)
    }

    pub(crate) fn from_hf_store(files: &HfFiles<'_>, store: &WeightStore) -> Result<Self> {
        let config = ClipConfig::from_json(files.config)?;
        let has_text = store.has_prefix("text_model.");
        let has_vision = store.has_prefix("vision_model.");
        let towers = match (has_text, has_vision) {
            (true, true) => Towers::Both,
            (true, false) => Towers::Text,
            (false, true) => Towers::Vision,
            (false, false) => {
                return Err(Error::InvalidModel(
                    "model.safetensors holds neither text_model.* nor vision_model.* tensors"
                        .into(),
                ))
            }
        };
        let quant = {
            let probe = store
                .map
                .get("text_model.encoder.layers.0.self_attn.q_proj.weight")
                .or_else(|| {
                    store
                        .map
                        .get("vision_model.encoder.layers.0.self_attn.q_proj.weight")
                });
            match probe.map(|s| s.type_name()) {
                Some(t) if t == "f16" || t == "bf16" => Quantization::F16,
                _ => Quantization::F32,
            }
        };
        let key = key_of_store(store)?;
        let info = ModelInfo {
            space: key.clone(),
            key,
            name: files.name.unwrap_or("clip").to_string(),
            dim: config.projection_dim,
            quantization: quant,
            towers,
        };
        Self::build(
            config,
            store,
            info,
            utf8(files.tokenizer_json, "tokenizer.json")?,
            utf8(files.preprocessor_json, "preprocessor_config.json")?,
        )
    }

    fn build(
        config: ClipConfig,
        store: &WeightStore,
        info: ModelInfo,
        tokenizer_json: Option<String>,
        preprocessor_json: Option<String>,
    ) -> Result<Self> {
        let root = store.root();
        let text = if info.towers.has_text() {
            Some(TextEncoder::Clip(TextTower::new(root.clone(), &config)?))
        } else {
            None
        };
        let vision = if info.towers.has_vision() {
            Some(VisionTower::new(root, &config)?)
        } else {
            None
        };
        Ok(Self {
            config: Some(config),
            text,
            vision,
            info,
            tokenizer_json,
            preprocessor_json,
        })
    }

    /// Loads a multilingual text tower in the sentence-transformers layout from bytes.
    ///
    /// The key (`mclip-...`) is computed from the weights (DistilBERT tensors and the Dense
    /// module's as `2_Dense.linear.*`); the space is `files.space`, or the key itself when
    /// absent.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] for a `modules.json` that is not Transformer, Pooling, Dense, a
    /// missing `1_Pooling/` or `2_Dense/` file, or bytes that are not safetensors;
    /// [`Error::InvalidConfig`] for a bad configuration; [`Error::MissingTensor`] /
    /// [`Error::TensorShape`] for incomplete or mismatched weights.
    pub fn from_sentence_transformers(files: &StFiles<'_>) -> Result<Self> {
        let (config, store) = files.load()?;
        Self::from_st_store(files, &config, &store)
    }

    pub(crate) fn from_st_store(
        files: &StFiles<'_>,
        config: &MultilingualConfig,
        store: &WeightStore,
    ) -> Result<Self> {
        let quantization = match store
            .map
            .get("transformer.layer.0.attention.q_lin.weight")
            .map(|s| s.type_name())
        {
            Some(t) if t == "f16" || t == "bf16" => Quantization::F16,
            _ => Quantization::F32,
        };
        let key = key_of_store_with(store, "mclip-")?;
        let info = ModelInfo {
            space: files.space.map_or_else(|| key.clone(), str::to_string),
            key,
            name: files.name.unwrap_or("multilingual").to_string(),
            dim: config.out_dim,
            quantization,
            towers: Towers::Text,
        };
        Self::build_multilingual(
            config,
            store,
            info,
            utf8(files.tokenizer_json, "tokenizer.json")?,
        )
    }

    pub(crate) fn build_multilingual(
        config: &MultilingualConfig,
        store: &WeightStore,
        info: ModelInfo,
        tokenizer_json: Option<String>,
    ) -> Result<Self> {
        let tower = DistilBertTower::new(store.root(), config)?;
        Ok(Self {
            config: None,
            text: Some(TextEncoder::DistilBert(Box::new(tower))),
            vision: None,
            info,
            tokenizer_json,
            preprocessor_json: None,
        })
    }

    /// Loads a clipsearch GGUF file (made by [`convert`]) from bytes.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] for truncated/corrupt bytes or a GGUF that is not a clipsearch
    /// CLIP; [`Error::UnsupportedQuantization`] for tensor or declared types other than f32,
    /// f16, q8_0, q4_0, q4_1; [`Error::InvalidConfig`] for a bad embedded config;
    /// [`Error::MissingTensor`] / [`Error::TensorShape`] for incomplete or mismatched weights.
    pub fn from_gguf(bytes: &[u8]) -> Result<Self> {
        let (store, meta) = WeightStore::from_gguf(bytes)?;
        let need = |k: &str| {
            gguf::meta_str(&meta, k).ok_or_else(|| {
                Error::InvalidModel(format!(
                    "GGUF lacks metadata `{k}`: convert the model with `clipsearch convert`"
                ))
            })
        };
        match gguf::meta_str(&meta, "general.architecture") {
            Some("clip") => {}
            Some(gguf::ARCH_DISTILBERT) => {
                let config = MultilingualConfig::from_json(need(gguf::KEY_CONFIG)?.as_bytes())?;
                let info = ModelInfo {
                    key: need(gguf::KEY_MODEL_KEY)?.to_string(),
                    space: need(gguf::KEY_SPACE)?.to_string(),
                    name: gguf::meta_str(&meta, "general.name")
                        .unwrap_or("multilingual")
                        .to_string(),
                    dim: config.out_dim,
                    quantization: Quantization::parse(need(gguf::KEY_QUANT)?)?,
                    towers: Towers::Text,
                };
                let tok = gguf::meta_str(&meta, gguf::KEY_TOKENIZER).map(str::to_string);
                return Self::build_multilingual(&config, &store, info, tok);
            }
            other => {
                return Err(Error::InvalidModel(format!(
                    "GGUF architecture is {other:?}, not `clip` or `distilbert`"
                )))
            }
        }
        let config = ClipConfig::from_json(need(gguf::KEY_CONFIG)?.as_bytes())?;
        let quantization = Quantization::parse(need(gguf::KEY_QUANT)?)?;
        let towers = Towers::parse(need(gguf::KEY_TOWERS)?)
            .map_err(|e| Error::InvalidModel(e.to_string()))?;
        let key = need(gguf::KEY_MODEL_KEY)?.to_string();
        let space = gguf::meta_str(&meta, gguf::KEY_SPACE)
            .unwrap_or(&key)
            .to_string();
        let info = ModelInfo {
            key,
            space,
            name: gguf::meta_str(&meta, "general.name")
                .unwrap_or("clip")
                .to_string(),
            dim: config.projection_dim,
            quantization,
            towers,
        };
        let tok = gguf::meta_str(&meta, gguf::KEY_TOKENIZER).map(str::to_string);
        let pre = gguf::meta_str(&meta, gguf::KEY_PREPROCESSOR).map(str::to_string);
        Self::build(config, &store, info, tok, pre)
    }

    /// What this model is: key, name, dimension, quantization, towers.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The CLIP hyper-parameters (`None` for a multilingual text tower: see
    /// [`ClipModel::multilingual_config`]).
    pub fn config(&self) -> Option<&ClipConfig> {
        self.config.as_ref()
    }

    /// The hyper-parameters of a multilingual (DistilBERT) text tower, `None` for a CLIP.
    pub fn multilingual_config(&self) -> Option<&MultilingualConfig> {
        match &self.text {
            Some(TextEncoder::DistilBert(t)) => Some(t.config()),
            _ => None,
        }
    }

    /// The text tower's architecture: `clip`, `distilbert` (multilingual), or `none`.
    pub fn text_architecture(&self) -> &'static str {
        match &self.text {
            Some(TextEncoder::Clip(_)) => "clip",
            Some(TextEncoder::DistilBert(_)) => "distilbert",
            None => "none",
        }
    }

    /// The raw `tokenizer.json` carried by the model, if any.
    pub fn tokenizer_json(&self) -> Option<&str> {
        self.tokenizer_json.as_deref()
    }

    /// The raw `preprocessor_config.json` carried by the model, if any.
    pub fn preprocessor_json(&self) -> Option<&str> {
        self.preprocessor_json.as_deref()
    }

    /// The storage type of the loaded towers' matrices (`f32` for f32/f16 files).
    pub fn matmul_type(&self) -> &'static str {
        self.text
            .as_ref()
            .map(|t| t.matmul_type())
            .or_else(|| self.vision.as_ref().map(|v| v.matmul_type()))
            .unwrap_or("f32")
    }

    /// The kernel the encoders' linear maps run on: `candle-f32` (f32/f16 files),
    /// `candle-quantized` (quantized files, native builds), or `wasm-simd128` /
    /// `wasm-relaxed-simd` (quantized files in wasm32 SIMD builds: [`crate::kernels`]).
    pub fn matmul_kernel(&self) -> &'static str {
        self.text
            .as_ref()
            .map(|t| t.kernel_name())
            .or_else(|| self.vision.as_ref().map(|v| v.kernel_name()))
            .unwrap_or("none")
    }

    /// The relaxed kernel's dot-product form ([`crate::kernels::relaxed_dot_form`]) when this
    /// model's linear maps run on it, else `None` (f32/f16 files, other builds).
    pub fn dot_form(&self) -> Option<crate::kernels::DotForm> {
        (self.matmul_kernel() == crate::kernels::kernel_name())
            .then(crate::kernels::relaxed_dot_form)
            .flatten()
    }

    fn text(&self) -> Result<&TextEncoder> {
        self.text.as_ref().ok_or(Error::TowerNotLoaded("text"))
    }

    fn vision(&self) -> Result<&VisionTower> {
        self.vision.as_ref().ok_or(Error::TowerNotLoaded("vision"))
    }

    /// Embeds one token-id sequence (`[BOS, ..., EOS]`, at most 77 ids, for a CLIP text tower;
    /// `[CLS, ..., SEP]`, at most `max_position_embeddings` ids, for a multilingual one).
    ///
    /// # Errors
    /// [`Error::TowerNotLoaded`] without a text tower; [`Error::InvalidArgument`] for empty,
    /// too long or out-of-vocabulary ids.
    pub fn embed_text_ids(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let mut v = self.embed_text_ids_batch(&[ids])?;
        v.pop()
            .ok_or_else(|| Error::Compute("empty text batch output".into()))
    }

    /// Embeds several token-id sequences of any lengths in one batch.
    ///
    /// # Errors
    /// As [`ClipModel::embed_text_ids`].
    pub fn embed_text_ids_batch(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let t = self.text()?.forward(batch)?;
        Ok(t.to_vec2::<f32>()?)
    }

    /// Embeds `n` preprocessed images given as `n × 3 × S × S` CHW floats.
    ///
    /// # Errors
    /// [`Error::TowerNotLoaded`] without a vision tower; [`Error::InvalidArgument`] if the
    /// length is not `n × 3 × S × S`.
    pub fn embed_pixels(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let t = self.vision()?.forward(pixels, n)?;
        Ok(t.to_vec2::<f32>()?)
    }

    /// The input side `S` of the vision tower.
    ///
    /// # Errors
    /// [`Error::TowerNotLoaded`] without a vision tower.
    pub fn image_size(&self) -> Result<usize> {
        Ok(self.vision()?.image_size())
    }
}

/// The tokenizer that goes with a text tower.
#[derive(Debug, Clone)]
enum TextTokenizer {
    Clip(ClipTokenizer),
    WordPiece(WordPieceTokenizer),
}

/// The embedding pipeline: a [`ClipModel`] with its tokenizer and image preprocessing.
pub struct Clip {
    model: ClipModel,
    tokenizer: Option<TextTokenizer>,
    preprocess: PreprocessConfig,
}

impl fmt::Debug for Clip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clip")
            .field("info", &self.model.info)
            .finish()
    }
}

impl Clip {
    /// Wraps a model: builds its tokenizer (if it has a text tower) and its preprocessing (if it
    /// has a vision tower) from the JSON it carries.
    ///
    /// # Errors
    /// [`Error::Tokenizer`] if the model has a text tower but no or an invalid `tokenizer.json`;
    /// [`Error::InvalidConfig`] for an invalid `preprocessor_config.json`.
    pub fn new(model: ClipModel) -> Result<Self> {
        let tokenizer = if model.info.towers.has_text() {
            let json = model.tokenizer_json.as_deref().ok_or_else(|| {
                Error::Tokenizer(
                    "the model has a text tower but no tokenizer.json: pass it (HF layout) or \
                     re-convert the model"
                        .into(),
                )
            })?;
            Some(match model.multilingual_config() {
                Some(c) => TextTokenizer::WordPiece(WordPieceTokenizer::from_tokenizer_json(
                    json.as_bytes(),
                    c.max_seq_length,
                )?),
                None => TextTokenizer::Clip(ClipTokenizer::from_tokenizer_json(json.as_bytes())?),
            })
        } else {
            None
        };
        let preprocess = match (&model.vision, model.preprocessor_json.as_deref()) {
            (Some(_), Some(json)) => PreprocessConfig::from_json(json.as_bytes())?,
            _ => PreprocessConfig::clip_default(),
        };
        Ok(Self {
            model,
            tokenizer,
            preprocess,
        })
    }

    /// Loads a Hugging Face layout model from bytes ([`ClipModel::from_hf`] + [`Clip::new`]).
    ///
    /// # Errors
    /// As both.
    pub fn from_hf(files: &HfFiles<'_>) -> Result<Self> {
        Self::new(ClipModel::from_hf(files)?)
    }

    /// Loads a multilingual text tower in the sentence-transformers layout from bytes
    /// ([`ClipModel::from_sentence_transformers`] + [`Clip::new`]).
    ///
    /// # Errors
    /// As both.
    pub fn from_sentence_transformers(files: &StFiles<'_>) -> Result<Self> {
        Self::new(ClipModel::from_sentence_transformers(files)?)
    }

    /// Loads a clipsearch GGUF file from bytes ([`ClipModel::from_gguf`] + [`Clip::new`]).
    ///
    /// # Errors
    /// As both.
    pub fn from_gguf(bytes: &[u8]) -> Result<Self> {
        Self::new(ClipModel::from_gguf(bytes)?)
    }

    /// Opens a `.gguf` file or a Hugging Face layout directory (native only).
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be read (a directory needs `config.json` and
    /// `model.safetensors`); then as [`Clip::from_hf`] / [`Clip::from_gguf`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<Self> {
        Self::new(ClipModel::from_path(path)?)
    }

    /// The underlying model.
    pub fn model(&self) -> &ClipModel {
        &self.model
    }

    /// What this model is.
    pub fn info(&self) -> &ModelInfo {
        &self.model.info
    }

    /// The preprocessing parameters in use.
    pub fn preprocess_config(&self) -> &PreprocessConfig {
        &self.preprocess
    }

    /// Tokenizes a text: `[BOS, ..., EOS]`, truncated to 77 ids keeping EOS (CLIP), or
    /// `[CLS, ..., SEP]` truncated to `max_seq_length` keeping SEP (multilingual tower).
    ///
    /// # Errors
    /// [`Error::TowerNotLoaded`] without a text tower; [`Error::Tokenizer`] if tokenizing fails.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        match self
            .tokenizer
            .as_ref()
            .ok_or(Error::TowerNotLoaded("text"))?
        {
            TextTokenizer::Clip(t) => t.encode(text),
            TextTokenizer::WordPiece(t) => t.encode(text),
        }
    }

    /// Embeds a text query for a collection of vectors in `space`, after checking that this
    /// text tower lives in that space (a multilingual tower aligned with the collection's CLIP
    /// qualifies).
    ///
    /// # Errors
    /// [`Error::ModelMismatch`] if `space.model_key` is not this model's
    /// [`ModelInfo::space`]; [`Error::DimensionMismatch`] if the dimensions differ; then as
    /// [`Clip::embed_text`].
    pub fn embed_text_for(&self, space: &crate::SpaceInfo, text: &str) -> Result<Vec<f32>> {
        let info = self.info();
        if space.model_key != info.space {
            return Err(Error::ModelMismatch {
                expected: space.model_key.clone(),
                found: info.space.clone(),
            });
        }
        if space.dim != info.dim {
            return Err(Error::DimensionMismatch {
                expected: space.dim,
                found: info.dim,
            });
        }
        self.embed_text(text)
    }

    /// Embeds a text query (L2-normalised). The empty string is embedded as `[BOS, EOS]`.
    ///
    /// # Errors
    /// [`Error::TowerNotLoaded`] without a text tower; [`Error::Tokenizer`].
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        self.model.embed_text_ids(&self.tokenize(text)?)
    }

    /// Embeds several texts in one batch.
    ///
    /// # Errors
    /// As [`Clip::embed_text`].
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        self.model.embed_text_ids_batch(&refs)
    }

    /// Embeds a token-id sequence (see [`ClipModel::embed_text_ids`]).
    ///
    /// # Errors
    /// As [`ClipModel::embed_text_ids`].
    pub fn embed_text_ids(&self, ids: &[u32]) -> Result<Vec<f32>> {
        self.model.embed_text_ids(ids)
    }

    /// Embeds one encoded image (JPEG, PNG, WebP, GIF, BMP).
    ///
    /// # Errors
    /// [`Error::TowerNotLoaded`] without a vision tower; image errors from
    /// [`crate::preprocess::preprocess`].
    pub fn embed_image(&self, bytes: &[u8]) -> Result<Vec<f32>> {
        self.vision_check()?;
        let px = preprocess::preprocess(bytes, &self.preprocess)?;
        let mut v = self.model.embed_pixels(&px, 1)?;
        v.pop()
            .ok_or_else(|| Error::Compute("empty image batch output".into()))
    }

    /// Embeds several encoded images in one batch.
    ///
    /// # Errors
    /// As [`Clip::embed_image`] (the first failing image fails the batch).
    pub fn embed_images(&self, images: &[&[u8]]) -> Result<Vec<Vec<f32>>> {
        self.vision_check()?;
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let mut px = Vec::new();
        for b in images {
            px.extend(preprocess::preprocess(b, &self.preprocess)?);
        }
        self.model.embed_pixels(&px, images.len())
    }

    /// Embeds decoded RGBA8 pixels (e.g. from the browser's image decoder).
    ///
    /// # Errors
    /// [`Error::TowerNotLoaded`] without a vision tower; errors of
    /// [`crate::preprocess::preprocess_rgba`].
    pub fn embed_rgba(&self, width: u32, height: u32, rgba: &[u8]) -> Result<Vec<f32>> {
        self.vision_check()?;
        let px = preprocess::preprocess_rgba(width, height, rgba, &self.preprocess)?;
        let mut v = self.model.embed_pixels(&px, 1)?;
        v.pop()
            .ok_or_else(|| Error::Compute("empty image batch output".into()))
    }

    /// Embeds `n` preprocessed `3 × S × S` CHW images.
    ///
    /// # Errors
    /// As [`ClipModel::embed_pixels`].
    pub fn embed_pixels(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        self.model.embed_pixels(pixels, n)
    }

    fn vision_check(&self) -> Result<()> {
        self.model.vision().map(|_| ())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ClipModel {
    /// Opens a `.gguf` file or a Hugging Face layout directory (native only).
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be read; then as [`ClipModel::from_hf`] /
    /// [`ClipModel::from_gguf`].
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let read = |p: std::path::PathBuf| {
            std::fs::read(&p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))
        };
        if path.is_dir() && path.join("modules.json").is_file() {
            let dir = StDir::read(path)?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "multilingual".into());
            return Self::from_sentence_transformers(&dir.files(Some(&name), None));
        }
        if path.is_dir() {
            let config = read(path.join("config.json"))?;
            let weights = read(path.join("model.safetensors"))?;
            let tok = read(path.join("tokenizer.json")).ok();
            let pre = read(path.join("preprocessor_config.json")).ok();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "clip".into());
            Self::from_hf(&HfFiles {
                config: &config,
                weights: &weights,
                tokenizer_json: tok.as_deref(),
                preprocessor_json: pre.as_deref(),
                name: Some(&name),
            })
        } else {
            Self::from_gguf(&read(path.to_path_buf())?)
        }
    }
}
