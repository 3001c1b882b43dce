//! A multilingual text tower aligned with a CLIP image space: the sentence-transformers model
//! `sentence-transformers/clip-ViT-B-32-multilingual-v1` (DistilBERT, mean pooling, Dense).
//!
//! The three modules of that model, in its `modules.json` order:
//! 1. `Transformer`: a `DistilBertModel`. Mirrors transformers
//!    `src/transformers/models/distilbert/modeling_distilbert.py` (v5.23.0): `Embeddings`
//!    (word + learned position embeddings, LayerNorm eps 1e-12), `TransformerBlock` (post-norm:
//!    `sa_layer_norm(attention(x) + x)`, then `output_layer_norm(lin2(act(lin1(h))) + h)`),
//!    attention scaled by `head_dim^-0.5` with padded keys masked. Tensors keep the Hugging
//!    Face names (`transformer.layer.0.attention.q_lin.weight`), and every linear map goes
//!    through the same [`super::weights::Linear`] as the CLIP towers (f32, f16, q8_0, q4_0, q4_1;
//!    the packed int8 kernel in wasm32 SIMD builds).
//! 2. `Pooling` with mean pooling: sentence-transformers (v6.2.0)
//!    `sentence_transformer/modules/pooling.py`: the mean of the token states over the
//!    attention mask (`sum(h * mask) / clamp(sum(mask), 1e-9)`).
//! 3. `Dense`: sentence-transformers (v6.2.0) `base/modules/dense.py`: `activation(x Wᵀ + b)`
//!    (768 -> 512, `Identity` in the real model), stored here as `2_Dense.linear.weight` /
//!    `2_Dense.linear.bias`.
//!
//! The result is L2-normalised (what `model.encode(..., normalize_embeddings=True)` returns), so
//! it compares by cosine with the CLIP image vectors the model was distilled onto.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::Module;
use serde::Deserialize;
use serde_json::Value;

use super::config::Activation;
use super::encoder::{activate, l2_normalize};
use super::weights::{Embedding, Linear, Vb, WeightStore};
use crate::{Error, Result};

/// The LayerNorm epsilon DistilBERT hard-codes (`nn.LayerNorm(config.dim, eps=1e-12)`).
const LN_EPS: f64 = 1e-12;

/// The activation after the `Dense` module (`activation_function` in `2_Dense/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseActivation {
    /// `torch.nn.modules.linear.Identity` (clip-ViT-B-32-multilingual-v1).
    Identity,
    /// `torch.nn.modules.activation.Tanh` (sentence-transformers' default).
    Tanh,
}

impl DenseActivation {
    fn parse(s: &str) -> Result<Self> {
        match s.rsplit('.').next().unwrap_or(s) {
            "Identity" => Ok(Self::Identity),
            "Tanh" => Ok(Self::Tanh),
            _ => Err(Error::InvalidConfig(format!(
                "2_Dense activation_function `{s}` is not supported (Identity or Tanh)"
            ))),
        }
    }
    fn torch_name(&self) -> &'static str {
        match self {
            Self::Identity => "torch.nn.modules.linear.Identity",
            Self::Tanh => "torch.nn.modules.activation.Tanh",
        }
    }
}

/// Hyper-parameters of a DistilBERT + mean pooling + Dense sentence-transformers text tower,
/// read from its `config.json`, `1_Pooling/config.json`, `2_Dense/config.json` and
/// `sentence_bert_config.json` (never from a preset).
#[derive(Debug, Clone, PartialEq)]
pub struct MultilingualConfig {
    /// Vocabulary size (119547 for bert-base-multilingual-cased).
    pub vocab_size: usize,
    /// Width of the transformer (`dim`, 768).
    pub dim: usize,
    /// Number of transformer blocks (`n_layers`, 6).
    pub n_layers: usize,
    /// Number of attention heads (`n_heads`, 12).
    pub n_heads: usize,
    /// Width of the feed-forward layer (`hidden_dim`, 3072).
    pub hidden_dim: usize,
    /// Number of learned positions (`max_position_embeddings`, 512).
    pub max_position_embeddings: usize,
    /// Feed-forward activation (`activation`, `gelu`).
    pub activation: Activation,
    /// Tokens a text is truncated to, `[CLS]` and `[SEP]` included (`max_seq_length`, 128).
    pub max_seq_length: usize,
    /// Output size of the Dense module (the CLIP projection size, 512).
    pub out_dim: usize,
    /// Whether the Dense module has a bias.
    pub dense_bias: bool,
    /// The Dense module's activation.
    pub dense_activation: DenseActivation,
}

#[derive(Deserialize)]
struct RawDistil {
    model_type: Option<String>,
    vocab_size: Option<usize>,
    dim: Option<usize>,
    n_layers: Option<usize>,
    n_heads: Option<usize>,
    hidden_dim: Option<usize>,
    max_position_embeddings: Option<usize>,
    activation: Option<String>,
}

#[derive(Deserialize)]
struct RawDense {
    in_features: usize,
    out_features: usize,
    bias: Option<bool>,
    activation_function: Option<String>,
}

fn positive(name: &str, v: usize) -> Result<usize> {
    if v == 0 || v > 1 << 20 {
        return Err(Error::InvalidConfig(format!(
            "`{name}` = {v} is out of range"
        )));
    }
    Ok(v)
}

fn json(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::InvalidConfig(format!("{what} is not valid JSON: {e}")))
}

impl MultilingualConfig {
    /// Reads the configuration from the sentence-transformers files.
    ///
    /// Missing DistilBERT fields take `DistilBertConfig`'s defaults (transformers v5.23.0).
    /// `max_seq_length` is taken as sentence-transformers (v6.2.0, `Transformer`) takes it: the
    /// `max_seq_length` of `sentence_bert_config.json` (older models, such as
    /// clip-ViT-B-32-multilingual-v1: 128), else the tokenizer's `model_max_length` from
    /// `tokenizer_config.json` (newer saves), else `max_position_embeddings`; never more than
    /// `max_position_embeddings`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for invalid JSON, a `model_type` other than `distilbert`, a
    /// pooling mode other than mean, a pooling or Dense width that does not match `dim`, an
    /// unsupported activation, or zero/absurd sizes.
    pub fn from_parts(
        config_json: &[u8],
        pooling_json: &[u8],
        dense_json: &[u8],
        sbert_json: Option<&[u8]>,
        tokenizer_config_json: Option<&[u8]>,
    ) -> Result<Self> {
        let raw: RawDistil = serde_json::from_slice(config_json)
            .map_err(|e| Error::InvalidConfig(format!("config.json is not valid JSON: {e}")))?;
        if let Some(t) = raw.model_type.as_deref() {
            if t != "distilbert" {
                return Err(Error::InvalidConfig(format!(
                    "config.json model_type is `{t}`: only `distilbert` text towers are supported"
                )));
            }
        }
        let dim = positive("dim", raw.dim.unwrap_or(768))?;
        let n_heads = positive("n_heads", raw.n_heads.unwrap_or(12))?;
        if dim % n_heads != 0 {
            return Err(Error::InvalidConfig(format!(
                "dim {dim} is not divisible by n_heads {n_heads}"
            )));
        }
        let max_position_embeddings = positive(
            "max_position_embeddings",
            raw.max_position_embeddings.unwrap_or(512),
        )?;
        let pool = json(pooling_json, "1_Pooling/config.json")?;
        let mean = pool.get("pooling_mode").and_then(Value::as_str) == Some("mean")
            || pool
                .get("pooling_mode_mean_tokens")
                .and_then(Value::as_bool)
                == Some(true);
        let other = [
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
            "pooling_mode_weightedmean_tokens",
            "pooling_mode_lasttoken",
        ]
        .iter()
        .any(|k| pool.get(*k).and_then(Value::as_bool) == Some(true));
        if !mean || other {
            return Err(Error::InvalidConfig(
                "1_Pooling/config.json: only mean pooling is supported (as in \
                 clip-ViT-B-32-multilingual-v1)"
                    .into(),
            ));
        }
        let pool_dim = pool
            .get("embedding_dimension")
            .or_else(|| pool.get("word_embedding_dimension"))
            .and_then(Value::as_u64);
        if let Some(p) = pool_dim {
            if p as usize != dim {
                return Err(Error::InvalidConfig(format!(
                    "1_Pooling/config.json dimension {p} differs from the transformer dim {dim}"
                )));
            }
        }
        let dense: RawDense = serde_json::from_slice(dense_json).map_err(|e| {
            Error::InvalidConfig(format!(
                "2_Dense/config.json is not valid (needs in_features, out_features): {e}"
            ))
        })?;
        if dense.in_features != dim {
            return Err(Error::InvalidConfig(format!(
                "2_Dense in_features {} differs from the transformer dim {dim}",
                dense.in_features
            )));
        }
        let from = |b: Option<&[u8]>, what: &str, key: &str| -> Result<Option<u64>> {
            Ok(match b {
                Some(b) => json(b, what)?.get(key).and_then(Value::as_u64),
                None => None,
            })
        };
        let max_seq_length = from(sbert_json, "sentence_bert_config.json", "max_seq_length")?
            .or(from(
                tokenizer_config_json,
                "tokenizer_config.json",
                "model_max_length",
            )?)
            .map_or(max_position_embeddings, |v| {
                v.min(max_position_embeddings as u64) as usize
            });
        if !(2..=max_position_embeddings).contains(&max_seq_length) {
            return Err(Error::InvalidConfig(format!(
                "max_seq_length {max_seq_length} must be between 2 and max_position_embeddings \
                 {max_position_embeddings}"
            )));
        }
        Ok(Self {
            vocab_size: positive("vocab_size", raw.vocab_size.unwrap_or(30522))?,
            dim,
            n_layers: positive("n_layers", raw.n_layers.unwrap_or(6))?,
            n_heads,
            hidden_dim: positive("hidden_dim", raw.hidden_dim.unwrap_or(3072))?,
            max_position_embeddings,
            activation: Activation::from_hf(raw.activation.as_deref().unwrap_or("gelu"))?,
            max_seq_length,
            out_dim: positive("2_Dense out_features", dense.out_features)?,
            dense_bias: dense.bias.unwrap_or(true),
            dense_activation: DenseActivation::parse(
                dense
                    .activation_function
                    .as_deref()
                    .unwrap_or("torch.nn.modules.activation.Tanh"),
            )?,
        })
    }

    /// The four parts as one JSON object (`{"config", "pooling", "dense", "sentence_bert"}`),
    /// as stored in a GGUF file's `clipsearch.config_json`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "config": {
                "model_type": "distilbert",
                "architectures": ["DistilBertModel"],
                "vocab_size": self.vocab_size,
                "dim": self.dim,
                "n_layers": self.n_layers,
                "n_heads": self.n_heads,
                "hidden_dim": self.hidden_dim,
                "max_position_embeddings": self.max_position_embeddings,
                "activation": self.activation.hf_name(),
                "sinusoidal_pos_embds": false,
            },
            "pooling": {"embedding_dimension": self.dim, "pooling_mode": "mean"},
            "dense": {
                "in_features": self.dim,
                "out_features": self.out_dim,
                "bias": self.dense_bias,
                "activation_function": self.dense_activation.torch_name(),
            },
            "sentence_bert": {"max_seq_length": self.max_seq_length},
        })
        .to_string()
    }

    /// Parses the combined JSON written by [`MultilingualConfig::to_json`].
    ///
    /// # Errors
    /// As [`MultilingualConfig::from_parts`]; [`Error::InvalidConfig`] if a part is missing.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let v = json(bytes, "multilingual config")?;
        let part = |k: &str| {
            v.get(k)
                .map(Value::to_string)
                .ok_or_else(|| Error::InvalidConfig(format!("multilingual config lacks `{k}`")))
        };
        let sbert = part("sentence_bert").ok();
        Self::from_parts(
            part("config")?.as_bytes(),
            part("pooling")?.as_bytes(),
            part("dense")?.as_bytes(),
            sbert.as_deref().map(str::as_bytes),
            None,
        )
    }

    /// The configuration of `sentence-transformers/clip-ViT-B-32-multilingual-v1` (6 layers,
    /// 768 wide, 12 heads, vocabulary 119547, Dense 768 -> 512), used only to generate
    /// random-weight benchmark models.
    pub fn clip_vit_b_32_multilingual_v1() -> Self {
        Self {
            vocab_size: 119547,
            dim: 768,
            n_layers: 6,
            n_heads: 12,
            hidden_dim: 3072,
            max_position_embeddings: 512,
            activation: Activation::Gelu,
            max_seq_length: 128,
            out_dim: 512,
            dense_bias: false,
            dense_activation: DenseActivation::Identity,
        }
    }

    /// Every tensor name and shape of the model (Hugging Face names, Dense under `2_Dense.`).
    pub(crate) fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, h) = (self.dim, self.hidden_dim);
        let mut v = vec![
            (
                "embeddings.word_embeddings.weight".to_string(),
                vec![self.vocab_size, d],
            ),
            (
                "embeddings.position_embeddings.weight".to_string(),
                vec![self.max_position_embeddings, d],
            ),
            ("embeddings.LayerNorm.weight".to_string(), vec![d]),
            ("embeddings.LayerNorm.bias".to_string(), vec![d]),
        ];
        for l in 0..self.n_layers {
            let p = format!("transformer.layer.{l}");
            for lin in ["q_lin", "k_lin", "v_lin", "out_lin"] {
                v.push((format!("{p}.attention.{lin}.weight"), vec![d, d]));
                v.push((format!("{p}.attention.{lin}.bias"), vec![d]));
            }
            v.push((format!("{p}.ffn.lin1.weight"), vec![h, d]));
            v.push((format!("{p}.ffn.lin1.bias"), vec![h]));
            v.push((format!("{p}.ffn.lin2.weight"), vec![d, h]));
            v.push((format!("{p}.ffn.lin2.bias"), vec![d]));
            for ln in ["sa_layer_norm", "output_layer_norm"] {
                v.push((format!("{p}.{ln}.weight"), vec![d]));
                v.push((format!("{p}.{ln}.bias"), vec![d]));
            }
        }
        v.push((DENSE_WEIGHT.to_string(), vec![self.out_dim, d]));
        if self.dense_bias {
            v.push(("2_Dense.linear.bias".to_string(), vec![self.out_dim]));
        }
        v
    }
}

/// Name under which the Dense weight is stored in our files.
pub(crate) const DENSE_WEIGHT: &str = "2_Dense.linear.weight";

/// Whether `name` is the matrix of a linear map (quantized in quantized files).
pub(crate) fn is_matrix(name: &str) -> bool {
    name == DENSE_WEIGHT
        || (name.ends_with(".weight")
            && ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"]
                .iter()
                .any(|p| name.contains(&format!(".{p}."))))
}

/// Adds the Dense module's tensors (`linear.weight`, `linear.bias` of `2_Dense/model.safetensors`)
/// to `store` under `2_Dense.`.
pub(crate) fn merge_dense(store: &mut WeightStore, dense: WeightStore) {
    for (k, v) in dense.map {
        store.map.insert(format!("2_Dense.{k}"), v);
    }
}

#[derive(Debug, Clone)]
struct Block {
    q_lin: Linear,
    k_lin: Linear,
    v_lin: Linear,
    out_lin: Linear,
    sa_layer_norm: candle_nn::LayerNorm,
    lin1: Linear,
    lin2: Linear,
    output_layer_norm: candle_nn::LayerNorm,
    heads: usize,
    head_dim: usize,
    act: Activation,
}

impl Block {
    fn new(vb: Vb, c: &MultilingualConfig) -> Result<Self> {
        let (d, h) = (c.dim, c.hidden_dim);
        let a = vb.pp("attention");
        Ok(Self {
            q_lin: a.pp("q_lin").linear(d, d, true)?,
            k_lin: a.pp("k_lin").linear(d, d, true)?,
            v_lin: a.pp("v_lin").linear(d, d, true)?,
            out_lin: a.pp("out_lin").linear(d, d, true)?,
            sa_layer_norm: vb.pp("sa_layer_norm").layer_norm(d, LN_EPS)?,
            lin1: vb.pp("ffn").pp("lin1").linear(d, h, true)?,
            lin2: vb.pp("ffn").pp("lin2").linear(h, d, true)?,
            output_layer_norm: vb.pp("output_layer_norm").layer_norm(d, LN_EPS)?,
            heads: c.n_heads,
            head_dim: d / c.n_heads,
            act: c.activation,
        })
    }

    /// `xs [b, s, dim]`; `mask` is an additive key mask `[b, 1, 1, s]` (padded batches only).
    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let scale = (self.head_dim as f64).powf(-0.5);
        let ctx = super::encoder::attention(
            &self.q_lin.forward(xs)?,
            &self.k_lin.forward(xs)?,
            &self.v_lin.forward(xs)?,
            self.heads,
            scale,
            mask,
        )?;
        let sa = self
            .sa_layer_norm
            .forward(&(self.out_lin.forward(&ctx)? + xs)?)?;
        let ffn = self
            .lin2
            .forward(&activate(self.act, &self.lin1.forward(&sa)?)?)?;
        Ok(self.output_layer_norm.forward(&(ffn + sa)?)?)
    }
}

/// The whole tower: DistilBERT, mean pooling, Dense, L2 normalisation.
#[derive(Debug, Clone)]
pub(crate) struct DistilBertTower {
    config: MultilingualConfig,
    word_embeddings: Embedding,
    position_embeddings: Tensor,
    layer_norm: candle_nn::LayerNorm,
    layers: Vec<Block>,
    dense: Linear,
}

impl DistilBertTower {
    /// Builds the tower from the model root (`embeddings.*`, `transformer.layer.*`, `2_Dense.*`).
    pub(crate) fn new(root: Vb, c: &MultilingualConfig) -> Result<Self> {
        let e = root.pp("embeddings");
        let layers = (0..c.n_layers)
            .map(|i| Block::new(root.pp("transformer").pp("layer").pp(i), c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config: c.clone(),
            word_embeddings: e.pp("word_embeddings").embedding(c.vocab_size, c.dim)?,
            position_embeddings: e
                .pp("position_embeddings")
                .get(&[c.max_position_embeddings, c.dim], "weight")?,
            layer_norm: e.pp("LayerNorm").layer_norm(c.dim, LN_EPS)?,
            layers,
            dense: root
                .pp("2_Dense")
                .pp("linear")
                .linear(c.dim, c.out_dim, c.dense_bias)?,
        })
    }

    /// The hyper-parameters.
    pub(crate) fn config(&self) -> &MultilingualConfig {
        &self.config
    }

    /// Storage type of the linear maps.
    pub(crate) fn matmul_type(&self) -> &'static str {
        self.dense.weight.type_name()
    }

    /// The kernel the linear maps run on.
    pub(crate) fn kernel_name(&self) -> &'static str {
        self.layers
            .first()
            .map_or("none", |l| l.q_lin.weight.kernel_name())
    }

    fn check(&self, ids: &[u32]) -> Result<()> {
        let c = &self.config;
        if ids.is_empty() {
            return Err(Error::InvalidArgument(
                "token ids are empty: a text has at least [CLS, SEP]".into(),
            ));
        }
        if ids.len() > c.max_position_embeddings {
            return Err(Error::InvalidArgument(format!(
                "{} token ids, over the model's maximum of {}: truncate (the tokenizer does)",
                ids.len(),
                c.max_position_embeddings
            )));
        }
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= c.vocab_size) {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the vocabulary of {} ids",
                c.vocab_size
            )));
        }
        Ok(())
    }

    /// Embeds a batch of id sequences (any lengths, padded and masked): `[n, out_dim]`,
    /// L2-normalised.
    pub(crate) fn forward(&self, batch: &[&[u32]]) -> Result<Tensor> {
        for ids in batch {
            self.check(ids)?;
        }
        let b = batch.len();
        let s = batch.iter().map(|ids| ids.len()).max().unwrap_or(1);
        let padded = batch.iter().any(|ids| ids.len() != s);
        let mut flat = Vec::with_capacity(b * s);
        let mut keep = Vec::with_capacity(b * s);
        for ids in batch {
            flat.extend_from_slice(ids);
            flat.extend(std::iter::repeat_n(0u32, s - ids.len()));
            keep.extend((0..s).map(|j| if j < ids.len() { 1f32 } else { 0f32 }));
        }
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(flat, b * s, &dev)?;
        let h = self.word_embeddings.forward(&ids)?;
        let dim = h.dim(1)?;
        let h = h
            .reshape((b, s, dim))?
            .broadcast_add(&self.position_embeddings.narrow(0, 0, s)?)?;
        let mut h = self.layer_norm.forward(&h)?;
        let keep = Tensor::from_vec(keep, (b, s), &dev)?;
        let mask = if padded {
            // (1 - keep) * f32::MIN: 0 for real tokens, the most negative float for padding.
            let m = ((keep.ones_like()? - &keep)? * f64::from(f32::MIN))?;
            Some(m.reshape((b, 1, 1, s))?)
        } else {
            None
        };
        for l in &self.layers {
            h = l.forward(&h, mask.as_ref())?;
        }
        let keep3 = keep.unsqueeze(D::Minus1)?;
        let sum = h.broadcast_mul(&keep3)?.sum(1)?;
        let count = keep3.sum(1)?.clamp(1e-9f32, f32::MAX)?;
        let pooled = sum.broadcast_div(&count)?;
        let mut out = self.dense.forward(&pooled)?;
        if self.config.dense_activation == DenseActivation::Tanh {
            out = out.tanh()?;
        }
        l2_normalize(&out.to_dtype(DType::F32)?)
    }
}
