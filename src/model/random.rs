//! Random-weight models in the Hugging Face layout, generated natively (no torch), for
//! benchmarks at full size.

use super::config::ClipConfig;
use crate::Result;

/// SplitMix64 (Steele, Lea and Flood 2014): a small, seedable generator, deterministic across
/// platforms. Used for random-weight models and for synthetic tables (the CLI's `synth-table`);
/// not for anything that needs unpredictability.
///
/// # Example
/// ```
/// use clipsearch::model::SplitMix64;
/// let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// let u = a.uniform();
/// assert!(u > 0.0 && u < 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform `f32` in `[-1, 1)` (24 random bits).
    pub fn sym(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Uniform `f64` in the open interval `(0, 1)` (53 random bits).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal `f64` (Box–Muller, one draw per two uniforms).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Every tensor name and shape of a Hugging Face `CLIPModel` with configuration `c`.
pub(crate) fn tensor_shapes(c: &ClipConfig) -> Vec<(String, Vec<usize>)> {
    let mut v = Vec::new();
    let t = &c.text;
    let vi = &c.vision;
    let enc = |v: &mut Vec<(String, Vec<usize>)>, prefix: &str, h: usize, i: usize, n: usize| {
        for l in 0..n {
            let p = format!("{prefix}.encoder.layers.{l}");
            for proj in ["k_proj", "v_proj", "q_proj", "out_proj"] {
                v.push((format!("{p}.self_attn.{proj}.weight"), vec![h, h]));
                v.push((format!("{p}.self_attn.{proj}.bias"), vec![h]));
            }
            for ln in ["layer_norm1", "layer_norm2"] {
                v.push((format!("{p}.{ln}.weight"), vec![h]));
                v.push((format!("{p}.{ln}.bias"), vec![h]));
            }
            v.push((format!("{p}.mlp.fc1.weight"), vec![i, h]));
            v.push((format!("{p}.mlp.fc1.bias"), vec![i]));
            v.push((format!("{p}.mlp.fc2.weight"), vec![h, i]));
            v.push((format!("{p}.mlp.fc2.bias"), vec![h]));
        }
    };
    let h = t.hidden_size;
    v.push((
        "text_model.embeddings.token_embedding.weight".into(),
        vec![t.vocab_size, h],
    ));
    v.push((
        "text_model.embeddings.position_embedding.weight".into(),
        vec![t.max_position_embeddings, h],
    ));
    enc(
        &mut v,
        "text_model",
        h,
        t.intermediate_size,
        t.num_hidden_layers,
    );
    v.push(("text_model.final_layer_norm.weight".into(), vec![h]));
    v.push(("text_model.final_layer_norm.bias".into(), vec![h]));
    v.push(("text_projection.weight".into(), vec![c.projection_dim, h]));
    let h = vi.hidden_size;
    v.push(("vision_model.embeddings.class_embedding".into(), vec![h]));
    v.push((
        "vision_model.embeddings.patch_embedding.weight".into(),
        vec![h, vi.num_channels, vi.patch_size, vi.patch_size],
    ));
    v.push((
        "vision_model.embeddings.position_embedding.weight".into(),
        vec![vi.num_positions(), h],
    ));
    for ln in ["pre_layrnorm", "post_layernorm"] {
        v.push((format!("vision_model.{ln}.weight"), vec![h]));
        v.push((format!("vision_model.{ln}.bias"), vec![h]));
    }
    enc(
        &mut v,
        "vision_model",
        h,
        vi.intermediate_size,
        vi.num_hidden_layers,
    );
    v.push(("visual_projection.weight".into(), vec![c.projection_dim, h]));
    v.push(("logit_scale".into(), vec![]));
    v
}

/// Serialises f32 tensors as a safetensors buffer.
pub(crate) fn safetensors_f32(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let end = offset + data.len() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut h = serde_json::Value::Object(header).to_string().into_bytes();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + offset);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, _, data) in tensors {
        for x in data {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// Generates a random-weight `CLIPModel` with configuration `config` in the Hugging Face
/// layout: returns `(config.json, model.safetensors)` bytes (f32). Deterministic in `seed`.
///
/// Weights are uniform with the scale of a trained model's (matrices ~ 1/sqrt(fan-in), LayerNorm
/// weights near 1, small biases), so activations stay in a realistic range for benchmarks.
/// Memory: the safetensors buffer (~600 MB for ViT-B/32) plus one tensor.
///
/// # Errors
/// Never in practice; kept fallible for future configurations.
///
/// # Example
/// ```
/// use clipsearch::model::{random_model, ClipConfig};
/// let mut c = ClipConfig::vit_b_32();
/// c.text.num_hidden_layers = 1;
/// c.vision.num_hidden_layers = 1;
/// let (config, weights) = random_model(&c, 7).unwrap();
/// assert!(ClipConfig::from_json(config.as_bytes()).is_ok());
/// assert!(weights.len() > 1_000_000);
/// ```
pub fn random_model(config: &ClipConfig, seed: u64) -> Result<(String, Vec<u8>)> {
    let mut rng = SplitMix64::new(seed);
    let mut tensors = Vec::new();
    for (name, shape) in tensor_shapes(config) {
        let n: usize = shape.iter().product();
        let scale = if name.contains("norm") && name.ends_with("weight") {
            0.0
        } else if name.ends_with("bias") {
            0.02
        } else if name == "logit_scale" {
            0.0
        } else if name.contains("embedding") {
            0.05
        } else {
            let fan_in: usize = shape.iter().skip(1).product();
            (3.0 / fan_in.max(1) as f32).sqrt()
        };
        let base = if name.contains("norm") && name.ends_with("weight") {
            1.0
        } else if name == "logit_scale" {
            4.6052
        } else {
            0.0
        };
        let jitter = if base == 1.0 { 0.1 } else { scale };
        let data: Vec<f32> = (0..n).map(|_| base + jitter * rng.sym()).collect();
        tensors.push((name, shape, data));
    }
    Ok((config.to_json(), safetensors_f32(&tensors)))
}

/// The owned bytes of a sentence-transformers layout text tower (see [`random_multilingual_model`]).
#[derive(Debug, Clone)]
pub struct StOwnedFiles {
    /// `config.json`.
    pub config: Vec<u8>,
    /// `model.safetensors`.
    pub weights: Vec<u8>,
    /// `sentence_bert_config.json`.
    pub sentence_bert_config: Vec<u8>,
    /// `1_Pooling/config.json`.
    pub pooling_config: Vec<u8>,
    /// `2_Dense/config.json`.
    pub dense_config: Vec<u8>,
    /// `2_Dense/model.safetensors`.
    pub dense_weights: Vec<u8>,
}

impl StOwnedFiles {
    /// Borrows the files as [`super::StFiles`] (no tokenizer: add one to embed strings).
    pub fn files<'a>(&'a self, space: Option<&'a str>) -> super::StFiles<'a> {
        super::StFiles {
            config: &self.config,
            weights: &self.weights,
            tokenizer_json: None,
            modules_json: None,
            sentence_bert_config: Some(&self.sentence_bert_config),
            tokenizer_config: None,
            pooling_config: Some(&self.pooling_config),
            dense_config: Some(&self.dense_config),
            dense_weights: Some(&self.dense_weights),
            name: Some("random-multilingual"),
            space,
        }
    }
}

/// Generates a random-weight multilingual text tower (DistilBERT + mean pooling + Dense) with
/// configuration `config` in the sentence-transformers layout, f32. Deterministic in `seed`.
/// Used for full-size benchmarks
/// ([`super::MultilingualConfig::clip_vit_b_32_multilingual_v1`], ~540 MB of f32 weights).
///
/// # Errors
/// Never in practice; kept fallible for future configurations.
///
/// # Example
/// ```
/// use clipsearch::model::{random_multilingual_model, ClipModel, MultilingualConfig};
/// let mut c = MultilingualConfig::clip_vit_b_32_multilingual_v1();
/// c.n_layers = 1;
/// c.vocab_size = 1000;
/// let files = random_multilingual_model(&c, 7).unwrap();
/// let m = ClipModel::from_sentence_transformers(&files.files(Some("clip-x"))).unwrap();
/// assert_eq!(m.info().space, "clip-x");
/// assert_eq!(m.embed_text_ids(&[101, 5, 102]).unwrap().len(), 512);
/// ```
pub fn random_multilingual_model(
    config: &super::MultilingualConfig,
    seed: u64,
) -> Result<StOwnedFiles> {
    let mut rng = SplitMix64::new(seed);
    let (mut main, mut dense) = (Vec::new(), Vec::new());
    for (name, shape) in config.tensor_shapes() {
        let n: usize = shape.iter().product();
        let norm_w =
            (name.contains("LayerNorm") || name.contains("layer_norm")) && name.ends_with("weight");
        let (base, jitter) = if norm_w {
            (1.0, 0.1)
        } else if name.ends_with("bias") {
            (0.0, 0.02)
        } else if name.contains("embeddings") {
            (0.0, 0.05)
        } else {
            let fan_in: usize = shape.iter().skip(1).product();
            (0.0, (3.0 / fan_in.max(1) as f32).sqrt())
        };
        let data: Vec<f32> = (0..n).map(|_| base + jitter * rng.sym()).collect();
        match name.strip_prefix("2_Dense.") {
            Some(short) => dense.push((short.to_string(), shape, data)),
            None => main.push((name, shape, data)),
        }
    }
    let v: serde_json::Value = serde_json::from_str(&config.to_json())
        .map_err(|e| crate::Error::Compute(e.to_string()))?;
    let part = |k: &str| {
        v.get(k)
            .map(|p| p.to_string().into_bytes())
            .unwrap_or_default()
    };
    Ok(StOwnedFiles {
        config: part("config"),
        weights: safetensors_f32(&main),
        sentence_bert_config: part("sentence_bert"),
        pooling_config: part("pooling"),
        dense_config: part("dense"),
        dense_weights: safetensors_f32(&dense),
    })
}
