//! The CLIP text tower: `text_model.*` and `text_projection`.
//!
//! Mirrors candle-transformers `src/models/clip/text_model.rs` (v0.11.1) and `CLIPTextTransformer`
//! / `CLIPModel.get_text_features` of transformers
//! `src/transformers/models/clip/modeling_clip.py` (v5.23.0), with two deliberate differences
//! from candle's `ClipTextTransformer`: the text runs at its true length (no padding to 77), and
//! the pooled output is taken at an explicitly computed end position, never at `argmax(ids)`.
//!
//! End position: the first `eos_token_id` in the ids (what `transformers` does when
//! `eos_token_id != 2`, and the same position its legacy `argmax` picks for CLIP's vocabulary),
//! or the last id if there is none. With causal attention, nothing after it can change it, so
//! the tower only computes up to that position.

use candle_core::{Device, Tensor};
use candle_nn::Module;

use super::config::ClipConfig;
use super::encoder::{l2_normalize, Encoder, EncoderDims};
use super::weights::{Embedding, Linear, Vb};
use crate::{Error, Result};

/// `text_model.embeddings.*`.
#[derive(Debug, Clone)]
struct TextEmbeddings {
    token_embedding: Embedding,
    position_embedding: Tensor,
}

/// The text tower with its projection.
#[derive(Debug, Clone)]
pub(crate) struct TextTower {
    embeddings: TextEmbeddings,
    encoder: Encoder,
    final_layer_norm: candle_nn::LayerNorm,
    text_projection: Linear,
    vocab_size: usize,
    max_len: usize,
    eos: u32,
}

impl TextTower {
    /// Builds the tower from `root` (the model root: `text_model.*`, `text_projection.weight`).
    pub(crate) fn new(root: Vb, c: &ClipConfig) -> Result<Self> {
        let t = &c.text;
        let vb = root.pp("text_model");
        let e = vb.pp("embeddings");
        let embeddings = TextEmbeddings {
            token_embedding: e
                .pp("token_embedding")
                .embedding(t.vocab_size, t.hidden_size)?,
            position_embedding: e
                .pp("position_embedding")
                .get(&[t.max_position_embeddings, t.hidden_size], "weight")?,
        };
        let dims = EncoderDims {
            hidden: t.hidden_size,
            intermediate: t.intermediate_size,
            heads: t.num_attention_heads,
            layers: t.num_hidden_layers,
            act: t.hidden_act,
            eps: t.layer_norm_eps,
        };
        Ok(Self {
            embeddings,
            encoder: Encoder::new(vb.pp("encoder"), &dims)?,
            final_layer_norm: vb
                .pp("final_layer_norm")
                .layer_norm(t.hidden_size, t.layer_norm_eps)?,
            text_projection: root.pp("text_projection").linear(
                t.hidden_size,
                c.projection_dim,
                false,
            )?,
            vocab_size: t.vocab_size,
            max_len: t.max_position_embeddings,
            eos: t.eos_token_id,
        })
    }

    /// Quantization of the projection-sized matrices (for [`super::ModelInfo`]).
    pub(crate) fn matmul_type(&self) -> &'static str {
        self.text_projection.weight.type_name()
    }

    /// The kernel the encoder's linear maps run on.
    pub(crate) fn kernel_name(&self) -> &'static str {
        self.encoder.kernel_name()
    }

    /// The pooled position of one id sequence (see the module docs).
    pub(crate) fn end_position(&self, ids: &[u32]) -> Result<usize> {
        if ids.is_empty() {
            return Err(Error::InvalidArgument(
                "token ids are empty: a CLIP text has at least [BOS, EOS]".into(),
            ));
        }
        if ids.len() > self.max_len {
            return Err(Error::InvalidArgument(format!(
                "{} token ids, over the model's maximum of {}: truncate (the tokenizer does)",
                ids.len(),
                self.max_len
            )));
        }
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= self.vocab_size) {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the vocabulary of {} ids",
                self.vocab_size
            )));
        }
        Ok(ids
            .iter()
            .position(|&i| i == self.eos)
            .unwrap_or(ids.len() - 1))
    }

    /// Embeds a batch of id sequences (any lengths): `[n, projection_dim]`, L2-normalised.
    pub(crate) fn forward(&self, batch: &[&[u32]]) -> Result<Tensor> {
        let ends = batch
            .iter()
            .map(|ids| self.end_position(ids))
            .collect::<Result<Vec<_>>>()?;
        let b = batch.len();
        let s = ends.iter().map(|e| e + 1).max().unwrap_or(1);
        // Causal attention: padding after each sequence's end cannot reach its end position.
        let mut flat = Vec::with_capacity(b * s);
        for (ids, &end) in batch.iter().zip(&ends) {
            flat.extend(ids.iter().take(end + 1));
            flat.extend(std::iter::repeat_n(self.eos, s - (end + 1)));
        }
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(flat, b * s, &dev)?;
        let h = self.embeddings.token_embedding.forward(&ids)?;
        let hidden = h.dim(1)?;
        let h = h.reshape((b, s, hidden))?;
        let pos = self.embeddings.position_embedding.narrow(0, 0, s)?;
        let h = h.broadcast_add(&pos)?;
        let mask: Vec<f32> = (0..s)
            .flat_map(|i| (0..s).map(move |j| if j > i { f32::MIN } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (s, s), &dev)?;
        let h = self.encoder.forward(&h, Some(&mask))?;
        let rows: Vec<u32> = ends
            .iter()
            .enumerate()
            .map(|(i, &e)| (i * s + e) as u32)
            .collect();
        let rows = Tensor::from_vec(rows, b, &dev)?;
        let pooled = h.reshape((b * s, hidden))?.index_select(&rows, 0)?;
        let pooled = self.final_layer_norm.forward(&pooled)?;
        let projected = self.text_projection.forward(&pooled)?;
        l2_normalize(&projected)
    }
}
