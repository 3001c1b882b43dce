//! CLIP hyper-parameters, read from a Hugging Face `CLIPModel` `config.json`.
//!
//! Mirrors `transformers/models/clip/configuration_clip.py` (transformers v5.23.0): the
//! `text_config` and `vision_config` sub-objects and the top-level `projection_dim`, which is the
//! real projection size (the sub-configs' `projection_dim` belongs to
//! `CLIPTextModelWithProjection` and can be stale). Missing fields take the defaults of
//! `CLIPTextConfig` / `CLIPVisionConfig`, exactly as `transformers` does.

use serde::Deserialize;

use crate::{Error, Result};

/// The activation of the MLP blocks (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `quick_gelu`: `x * sigmoid(1.702 x)` (OpenAI CLIP).
    QuickGelu,
    /// `gelu`: the exact erf-based GELU.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh` / `gelu_fast`: the tanh approximation.
    GeluTanh,
}

impl Activation {
    /// Parses a Hugging Face `hidden_act` name.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an activation CLIP does not use.
    pub fn from_hf(name: &str) -> Result<Self> {
        match name {
            "quick_gelu" => Ok(Self::QuickGelu),
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            other => Err(Error::InvalidConfig(format!(
                "unsupported hidden_act `{other}` (expected quick_gelu or gelu)"
            ))),
        }
    }

    /// The Hugging Face name of this activation.
    pub fn hf_name(&self) -> &'static str {
        match self {
            Self::QuickGelu => "quick_gelu",
            Self::Gelu => "gelu",
            Self::GeluTanh => "gelu_pytorch_tanh",
        }
    }
}

/// Hyper-parameters of the text tower (`text_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipTextConfig {
    /// Vocabulary size (49408 for OpenAI CLIP).
    pub vocab_size: usize,
    /// Width of the transformer (`hidden_size`).
    pub hidden_size: usize,
    /// Width of the MLP (`intermediate_size`).
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Maximum number of tokens, including BOS and EOS (77).
    pub max_position_embeddings: usize,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// The end-of-text token id at which the text is pooled (see [`ClipTextConfig::eos_token_id`]).
    pub eos_token_id: u32,
}

/// Hyper-parameters of the vision tower (`vision_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipVisionConfig {
    /// Width of the transformer (`hidden_size`).
    pub hidden_size: usize,
    /// Width of the MLP (`intermediate_size`).
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Input image side in pixels (224 for ViT-B/32).
    pub image_size: usize,
    /// Patch side in pixels (32 for ViT-B/32).
    pub patch_size: usize,
    /// Input channels (3).
    pub num_channels: usize,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl ClipVisionConfig {
    /// Number of patches per side (`image_size / patch_size`).
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    /// Number of positions: patches plus the class token.
    pub fn num_positions(&self) -> usize {
        self.grid() * self.grid() + 1
    }
}

/// A whole `CLIPModel` configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    /// Text tower.
    pub text: ClipTextConfig,
    /// Vision tower.
    pub vision: ClipVisionConfig,
    /// Size of the shared embedding space (top-level `projection_dim`).
    pub projection_dim: usize,
}

#[derive(Deserialize)]
struct RawTop {
    #[serde(default)]
    text_config: Option<RawText>,
    #[serde(default)]
    vision_config: Option<RawVision>,
    #[serde(default)]
    projection_dim: Option<usize>,
}

#[derive(Deserialize)]
struct RawText {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    max_position_embeddings: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
    eos_token_id: Option<u32>,
}

#[derive(Deserialize)]
struct RawVision {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
}

fn positive(name: &str, v: usize) -> Result<usize> {
    if v == 0 || v > 1 << 20 {
        return Err(Error::InvalidConfig(format!(
            "`{name}` = {v} is out of range"
        )));
    }
    Ok(v)
}

impl ClipConfig {
    /// Parses a Hugging Face `CLIPModel` `config.json`.
    ///
    /// Missing fields take `transformers`' defaults (`CLIPTextConfig` / `CLIPVisionConfig`,
    /// v5.23.0). A legacy `eos_token_id` of 2 (old OpenAI configs, for which `transformers`
    /// pools at `argmax(input_ids)`, i.e. at the highest id) becomes `vocab_size - 1`, the
    /// `<|endoftext|>` id, so pooling is the same position and never an argmax.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the bytes are not JSON, a size is zero or absurd, a width is
    /// not divisible by the head count, the image size is not a multiple of the patch size, or
    /// the activation is unknown.
    ///
    /// # Example
    /// ```
    /// let c = clipsearch::model::ClipConfig::from_json(br#"{"projection_dim": 512}"#).unwrap();
    /// assert_eq!(c.text.hidden_size, 512);
    /// assert_eq!(c.vision.patch_size, 32);
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawTop = serde_json::from_slice(bytes)
            .map_err(|e| Error::InvalidConfig(format!("config.json is not valid JSON: {e}")))?;
        let t = raw.text_config.unwrap_or(RawText {
            vocab_size: None,
            hidden_size: None,
            intermediate_size: None,
            num_hidden_layers: None,
            num_attention_heads: None,
            max_position_embeddings: None,
            hidden_act: None,
            layer_norm_eps: None,
            eos_token_id: None,
        });
        let v = raw.vision_config.unwrap_or(RawVision {
            hidden_size: None,
            intermediate_size: None,
            num_hidden_layers: None,
            num_attention_heads: None,
            image_size: None,
            patch_size: None,
            num_channels: None,
            hidden_act: None,
            layer_norm_eps: None,
        });
        let vocab_size = positive("text_config.vocab_size", t.vocab_size.unwrap_or(49408))?;
        let eos = t.eos_token_id.unwrap_or(49407);
        let eos_token_id = if eos == 2 {
            (vocab_size - 1) as u32
        } else {
            eos
        };
        let text = ClipTextConfig {
            vocab_size,
            hidden_size: positive("text_config.hidden_size", t.hidden_size.unwrap_or(512))?,
            intermediate_size: positive(
                "text_config.intermediate_size",
                t.intermediate_size.unwrap_or(2048),
            )?,
            num_hidden_layers: positive(
                "text_config.num_hidden_layers",
                t.num_hidden_layers.unwrap_or(12),
            )?,
            num_attention_heads: positive(
                "text_config.num_attention_heads",
                t.num_attention_heads.unwrap_or(8),
            )?,
            max_position_embeddings: positive(
                "text_config.max_position_embeddings",
                t.max_position_embeddings.unwrap_or(77),
            )?,
            hidden_act: Activation::from_hf(t.hidden_act.as_deref().unwrap_or("quick_gelu"))?,
            layer_norm_eps: t.layer_norm_eps.unwrap_or(1e-5),
            eos_token_id,
        };
        let vision = ClipVisionConfig {
            hidden_size: positive("vision_config.hidden_size", v.hidden_size.unwrap_or(768))?,
            intermediate_size: positive(
                "vision_config.intermediate_size",
                v.intermediate_size.unwrap_or(3072),
            )?,
            num_hidden_layers: positive(
                "vision_config.num_hidden_layers",
                v.num_hidden_layers.unwrap_or(12),
            )?,
            num_attention_heads: positive(
                "vision_config.num_attention_heads",
                v.num_attention_heads.unwrap_or(12),
            )?,
            image_size: positive("vision_config.image_size", v.image_size.unwrap_or(224))?,
            patch_size: positive("vision_config.patch_size", v.patch_size.unwrap_or(32))?,
            num_channels: positive("vision_config.num_channels", v.num_channels.unwrap_or(3))?,
            hidden_act: Activation::from_hf(v.hidden_act.as_deref().unwrap_or("quick_gelu"))?,
            layer_norm_eps: v.layer_norm_eps.unwrap_or(1e-5),
        };
        let projection_dim = positive("projection_dim", raw.projection_dim.unwrap_or(512))?;
        let c = ClipConfig {
            text,
            vision,
            projection_dim,
        };
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<()> {
        let t = &self.text;
        let v = &self.vision;
        if t.hidden_size % t.num_attention_heads != 0 {
            return Err(Error::InvalidConfig(format!(
                "text hidden_size {} is not divisible by num_attention_heads {}",
                t.hidden_size, t.num_attention_heads
            )));
        }
        if v.hidden_size % v.num_attention_heads != 0 {
            return Err(Error::InvalidConfig(format!(
                "vision hidden_size {} is not divisible by num_attention_heads {}",
                v.hidden_size, v.num_attention_heads
            )));
        }
        if v.image_size % v.patch_size != 0 {
            return Err(Error::InvalidConfig(format!(
                "vision image_size {} is not a multiple of patch_size {}",
                v.image_size, v.patch_size
            )));
        }
        let ok = |e: f64| e.is_finite() && e > 0.0;
        if !ok(t.layer_norm_eps) || !ok(v.layer_norm_eps) {
            return Err(Error::InvalidConfig("layer_norm_eps must be > 0".into()));
        }
        if t.eos_token_id as usize >= t.vocab_size {
            return Err(Error::InvalidConfig(format!(
                "eos_token_id {} is outside the vocabulary ({})",
                t.eos_token_id, t.vocab_size
            )));
        }
        Ok(())
    }

    /// Serialises this configuration as a Hugging Face `config.json` (`CLIPModel` layout).
    pub fn to_json(&self) -> String {
        let t = &self.text;
        let v = &self.vision;
        serde_json::json!({
            "architectures": ["CLIPModel"],
            "model_type": "clip",
            "projection_dim": self.projection_dim,
            "text_config": {
                "vocab_size": t.vocab_size,
                "hidden_size": t.hidden_size,
                "intermediate_size": t.intermediate_size,
                "num_hidden_layers": t.num_hidden_layers,
                "num_attention_heads": t.num_attention_heads,
                "max_position_embeddings": t.max_position_embeddings,
                "hidden_act": t.hidden_act.hf_name(),
                "layer_norm_eps": t.layer_norm_eps,
                "bos_token_id": 49406,
                "eos_token_id": t.eos_token_id,
                "projection_dim": self.projection_dim,
            },
            "vision_config": {
                "hidden_size": v.hidden_size,
                "intermediate_size": v.intermediate_size,
                "num_hidden_layers": v.num_hidden_layers,
                "num_attention_heads": v.num_attention_heads,
                "image_size": v.image_size,
                "patch_size": v.patch_size,
                "num_channels": v.num_channels,
                "hidden_act": v.hidden_act.hf_name(),
                "layer_norm_eps": v.layer_norm_eps,
                "projection_dim": self.projection_dim,
            },
        })
        .to_string()
    }

    /// The configuration of OpenAI's ViT-B/32 (`openai/clip-vit-base-patch32`), used only to
    /// generate random-weight benchmark models; loading always reads `config.json`.
    pub fn vit_b_32() -> Self {
        ClipConfig {
            text: ClipTextConfig {
                vocab_size: 49408,
                hidden_size: 512,
                intermediate_size: 2048,
                num_hidden_layers: 12,
                num_attention_heads: 8,
                max_position_embeddings: 77,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
                eos_token_id: 49407,
            },
            vision: ClipVisionConfig {
                hidden_size: 768,
                intermediate_size: 3072,
                num_hidden_layers: 12,
                num_attention_heads: 12,
                image_size: 224,
                patch_size: 32,
                num_channels: 3,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            },
            projection_dim: 512,
        }
    }
}
