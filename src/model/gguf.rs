//! Our single-file model format (GGUF) and the converter from the Hugging Face layout.
//!
//! A clipsearch GGUF file is a plain GGUF v2 file (written by candle's
//! `quantized::gguf_file::write`) holding the tensors of one or both towers under their exact
//! Hugging Face names, plus these metadata keys:
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `general.architecture` | string | always `clip` |
//! | `general.name` | string | model name, e.g. `openai/clip-vit-base-patch32` |
//! | `clipsearch.format_version` | u32 | 1 |
//! | `clipsearch.model_key` | string | the model key (see [`super::model_key`]) |
//! | `clipsearch.space` | string | the embedding space the vectors live in; equals the key for a CLIP converted as is (a future multilingual text tower distilled into a CLIP space declares that CLIP's key here, and its own weights give its `model_key`) |
//! | `clipsearch.quantization` | string | `f32`, `f16`, `q8_0`, `q4_0` or `q4_1` (of the matrices) |
//! | `clipsearch.towers` | string | `text`, `vision` or `both` |
//! | `clipsearch.config_json` | string | the `config.json` (`CLIPModel`) |
//! | `clipsearch.tokenizer_json` | string | `tokenizer.json` (files holding the text tower) |
//! | `clipsearch.preprocessor_json` | string | `preprocessor_config.json` (files holding the vision tower) |
//!
//! A multilingual text tower ([`super::convert_sentence_transformers`]) is written the same
//! way with `general.architecture` = `distilbert` (the loader's marker), `clipsearch.towers` =
//! `text`, `clipsearch.model_key` = `mclip-` + the digest of its own weights, `clipsearch.space`
//! = the key of the CLIP it is aligned with (required), and `clipsearch.config_json` = the
//! combined sentence-transformers configuration ([`super::MultilingualConfig::to_json`]). Its
//! tensors keep the Hugging Face `DistilBertModel` names, the Dense module's are stored as
//! `2_Dense.linear.weight` / `2_Dense.linear.bias`; the linear maps and the word embeddings
//! follow the same type rules as CLIP's.
//!
//! Tensor types: the matrices of every linear layer use the requested quantization (when their
//! input width is a multiple of the block size, 64 for q4_1, else f16); the token embedding uses it too,
//! except for 4-bit files where it stays q8_0 (rows are dequantized on lookup); 1-D tensors
//! (norms, biases, class embedding) stay f32; the position embeddings and the patch convolution
//! are f32 in f32 files and f16 otherwise.

use std::io::Cursor;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Tensor;

use super::weights::WeightStore;
use super::{ClipModel, HfFiles, Quantization, Towers};
use crate::{Error, Result};

/// Metadata key: model key.
pub(crate) const KEY_MODEL_KEY: &str = "clipsearch.model_key";
/// Metadata key: embedding space.
pub(crate) const KEY_SPACE: &str = "clipsearch.space";
/// Metadata key: quantization.
pub(crate) const KEY_QUANT: &str = "clipsearch.quantization";
/// Metadata key: towers.
pub(crate) const KEY_TOWERS: &str = "clipsearch.towers";
/// Metadata key: config JSON.
pub(crate) const KEY_CONFIG: &str = "clipsearch.config_json";
/// Metadata key: tokenizer JSON.
pub(crate) const KEY_TOKENIZER: &str = "clipsearch.tokenizer_json";
/// Metadata key: preprocessor JSON.
pub(crate) const KEY_PREPROCESSOR: &str = "clipsearch.preprocessor_json";
/// `general.architecture` of a multilingual (DistilBERT) text tower.
pub(crate) const ARCH_DISTILBERT: &str = "distilbert";
/// Metadata key: format version.
pub(crate) const KEY_VERSION: &str = "clipsearch.format_version";

/// Options of [`convert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Quantization of the matrices.
    pub quantization: Quantization,
    /// Which towers to write.
    pub towers: Towers,
    /// Model name stored in the file (defaults to `clip`).
    pub name: Option<String>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            quantization: Quantization::Q8_0,
            towers: Towers::Both,
            name: None,
        }
    }
}

fn is_matrix(name: &str) -> bool {
    name == "text_projection.weight"
        || name == "visual_projection.weight"
        || (name.ends_with(".weight")
            && ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
                .iter()
                .any(|p| name.contains(&format!(".{p}."))))
}

fn in_tower(name: &str, towers: Towers) -> bool {
    let text = name.starts_with("text_model.") || name == "text_projection.weight";
    let vision = name.starts_with("vision_model.") || name == "visual_projection.weight";
    match towers {
        Towers::Text => text,
        Towers::Vision => vision,
        Towers::Both => text || vision,
    }
}

/// The tensors of `store` that `keep` selects, sorted by name, each quantized to the type
/// `type_of(name, tensor)` picks.
fn quantize_tensors(
    store: &WeightStore,
    keep: impl Fn(&str) -> bool,
    type_of: impl Fn(&str, &Tensor) -> GgmlDType,
) -> Result<Vec<(String, QTensor)>> {
    let mut names: Vec<&String> = store.map.keys().filter(|n| keep(n)).collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for name in names {
        let Some(stored) = store.map.get(name) else {
            continue;
        };
        let t = stored.to_f32()?;
        let q = QTensor::quantize(&t, type_of(name, &t))
            .map_err(|e| Error::Compute(format!("quantizing `{name}`: {e}")))?;
        tensors.push((name.clone(), q));
    }
    Ok(tensors)
}

/// The GGML type a tensor gets in a file of quantization `q`.
fn target_type(name: &str, t: &Tensor, q: Quantization) -> GgmlDType {
    type_for(
        is_matrix(name),
        name == "text_model.embeddings.token_embedding.weight",
        t,
        q,
    )
}

/// The GGML type of a tensor: `matrix` for linear maps, `token_embedding` for the vocabulary
/// table (see the module docs).
fn type_for(matrix: bool, token_embedding: bool, t: &Tensor, q: Quantization) -> GgmlDType {
    let float = if q == Quantization::F32 {
        GgmlDType::F32
    } else {
        GgmlDType::F16
    };
    if t.rank() < 2 {
        return GgmlDType::F32;
    }
    let last = t.dims().last().copied().unwrap_or(0);
    let want = if matrix {
        q.ggml()
    } else if token_embedding {
        match q {
            Quantization::Q4_0 | Quantization::Q4_1 => GgmlDType::Q8_0,
            other => other.ggml(),
        }
    } else {
        float
    };
    // candle's q4_1 dot product needs an even number of blocks per row.
    let block = if want == GgmlDType::Q4_1 {
        64
    } else {
        want.block_size()
    };
    if t.rank() == 2 && last % block == 0 {
        want
    } else {
        float
    }
}

/// Converts a Hugging Face `CLIPModel` (given as bytes) to a clipsearch GGUF file.
///
/// The model is fully loaded first (so a missing tensor or a wrong shape is reported before any
/// output), its model key computed from the original float weights, then the requested towers
/// are written with `opts.quantization` (see the module docs for the per-tensor types).
/// Text-only and vision-only files of one model carry the same key.
///
/// # Errors
/// [`Error::InvalidConfig`], [`Error::InvalidModel`], [`Error::MissingTensor`],
/// [`Error::TensorShape`] for bad input; [`Error::TowerNotLoaded`] if the requested tower is
/// absent from the source; [`Error::Compute`] if quantization fails.
pub fn convert(files: &HfFiles<'_>, opts: &ConvertOptions) -> Result<Vec<u8>> {
    let store = WeightStore::from_safetensors(files.weights)?;
    let model = ClipModel::from_hf_store(files, &store)?;
    let info = model.info().clone();
    drop(model);
    if opts.towers.has_text() && !info.towers.has_text() {
        return Err(Error::TowerNotLoaded("text"));
    }
    if opts.towers.has_vision() && !info.towers.has_vision() {
        return Err(Error::TowerNotLoaded("vision"));
    }
    let tensors = quantize_tensors(
        &store,
        |n| in_tower(n, opts.towers),
        |n, t| target_type(n, t, opts.quantization),
    )?;
    drop(store);
    let name = opts
        .name
        .clone()
        .or_else(|| files.name.map(str::to_string))
        .unwrap_or_else(|| "clip".to_string());
    let s = |v: &str| gguf_file::Value::String(v.to_string());
    let mut meta: Vec<(&str, gguf_file::Value)> = vec![
        ("general.architecture", s("clip")),
        ("general.name", s(&name)),
        (KEY_VERSION, gguf_file::Value::U32(1)),
        (KEY_MODEL_KEY, s(&info.key)),
        (KEY_SPACE, s(&info.space)),
        (KEY_QUANT, s(opts.quantization.as_str())),
        (KEY_TOWERS, s(opts.towers.as_str())),
        (KEY_CONFIG, s(&String::from_utf8_lossy(files.config))),
    ];
    if opts.towers.has_text() {
        if let Some(t) = files.tokenizer_json {
            meta.push((KEY_TOKENIZER, s(&String::from_utf8_lossy(t))));
        }
    }
    if opts.towers.has_vision() {
        if let Some(p) = files.preprocessor_json {
            meta.push((KEY_PREPROCESSOR, s(&String::from_utf8_lossy(p))));
        }
    }
    let meta_refs: Vec<(&str, &gguf_file::Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &meta_refs, &tensor_refs)
        .map_err(|e| Error::Compute(format!("writing GGUF: {e}")))?;
    Ok(out.into_inner())
}

/// Reads a string metadata value.
pub(crate) fn meta_str<'a>(
    meta: &'a std::collections::HashMap<String, gguf_file::Value>,
    key: &str,
) -> Option<&'a str> {
    match meta.get(key) {
        Some(gguf_file::Value::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// Converts a multilingual text tower in the sentence-transformers layout (DistilBERT, mean
/// pooling, Dense; e.g. `sentence-transformers/clip-ViT-B-32-multilingual-v1`) to a text-only
/// clipsearch GGUF file (see the module docs), declaring `files.space` as its space.
///
/// `opts.towers` must be `text` or `both` (there is no vision tower).
///
/// # Errors
/// [`Error::InvalidArgument`] if `files.space` is absent or blank: pass the key of the CLIP
/// this tower is aligned with; [`Error::TowerNotLoaded`] for `towers = vision`; then as
/// [`super::ClipModel::from_sentence_transformers`]; [`Error::Compute`] if quantization fails.
pub fn convert_sentence_transformers(
    files: &super::StFiles<'_>,
    opts: &ConvertOptions,
) -> Result<Vec<u8>> {
    let space = files
        .space
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        .ok_or_else(|| {
            Error::InvalidArgument(
                "a multilingual text tower needs the key of the CLIP whose image space it is \
                 aligned with (`--space <clip key | CLIP .gguf>`)"
                    .into(),
            )
        })?;
    if opts.towers == Towers::Vision {
        return Err(Error::TowerNotLoaded("vision"));
    }
    let (config, store) = files.load()?;
    let model = ClipModel::from_st_store(files, &config, &store)?;
    let key = model.info().key.clone();
    drop(model);
    let tensors = quantize_tensors(
        &store,
        |_| true,
        |n, t| {
            type_for(
                super::distilbert::is_matrix(n),
                n == "embeddings.word_embeddings.weight",
                t,
                opts.quantization,
            )
        },
    )?;
    drop(store);
    let name = opts
        .name
        .clone()
        .or_else(|| files.name.map(str::to_string))
        .unwrap_or_else(|| "multilingual".to_string());
    let s = |v: &str| gguf_file::Value::String(v.to_string());
    let mut meta: Vec<(&str, gguf_file::Value)> = vec![
        ("general.architecture", s(ARCH_DISTILBERT)),
        ("general.name", s(&name)),
        (KEY_VERSION, gguf_file::Value::U32(1)),
        (KEY_MODEL_KEY, s(&key)),
        (KEY_SPACE, s(space)),
        (KEY_QUANT, s(opts.quantization.as_str())),
        (KEY_TOWERS, s(Towers::Text.as_str())),
        (KEY_CONFIG, s(&config.to_json())),
    ];
    if let Some(t) = files.tokenizer_json {
        meta.push((KEY_TOKENIZER, s(&String::from_utf8_lossy(t))));
    }
    let meta_refs: Vec<(&str, &gguf_file::Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &meta_refs, &tensor_refs)
        .map_err(|e| Error::Compute(format!("writing GGUF: {e}")))?;
    Ok(out.into_inner())
}
