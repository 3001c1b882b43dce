//! The CLIP vision tower: `vision_model.*` and `visual_projection`.
//!
//! Mirrors candle-transformers `src/models/clip/vision_model.rs` (v0.11.1) and
//! `CLIPVisionEmbeddings` / `CLIPVisionTransformer` / `CLIPModel.get_image_features` of
//! transformers `src/transformers/models/clip/modeling_clip.py` (v5.23.0). As
//! `quantized_blip.rs` does for what `quantized_nn` lacks, the patch convolution is dequantized:
//! a stride-`p` `p×p` convolution without bias is exactly a linear layer over flattened
//! `3×p×p` patches, so it runs as one matmul, multiplied as the tower's linear maps are
//! ([`MatMul::float_like`]: int8 in the wasm SIMD builds of quantized files).

use candle_core::{Device, Tensor};
use candle_nn::Module;

use super::config::ClipConfig;
use super::encoder::{l2_normalize, Encoder, EncoderDims};
use super::weights::{Linear, MatMul, Vb};
use crate::{Error, Result};

/// The vision tower with its projection.
#[derive(Debug, Clone)]
pub(crate) struct VisionTower {
    class_embedding: Tensor,
    patch_embedding: MatMul,
    position_embedding: Tensor,
    pre_layrnorm: candle_nn::LayerNorm,
    encoder: Encoder,
    post_layernorm: candle_nn::LayerNorm,
    visual_projection: Linear,
    hidden: usize,
    channels: usize,
    image_size: usize,
    patch: usize,
}

impl VisionTower {
    /// Builds the tower from `root` (`vision_model.*`, `visual_projection.weight`).
    pub(crate) fn new(root: Vb, c: &ClipConfig) -> Result<Self> {
        let v = &c.vision;
        let h = v.hidden_size;
        let vb = root.pp("vision_model");
        let e = vb.pp("embeddings");
        let p = v.patch_size;
        let conv = e
            .pp("patch_embedding")
            .get(&[h, v.num_channels, p, p], "weight")?
            .reshape((h, v.num_channels * p * p))?;
        let dims = EncoderDims {
            hidden: h,
            intermediate: v.intermediate_size,
            heads: v.num_attention_heads,
            layers: v.num_hidden_layers,
            act: v.hidden_act,
            eps: v.layer_norm_eps,
        };
        let visual_projection = root
            .pp("visual_projection")
            .linear(h, c.projection_dim, false)?;
        Ok(Self {
            class_embedding: e.get(&[h], "class_embedding")?,
            patch_embedding: MatMul::float_like(conv, &visual_projection.weight)?,
            position_embedding: e
                .pp("position_embedding")
                .get(&[v.num_positions(), h], "weight")?,
            pre_layrnorm: vb.pp("pre_layrnorm").layer_norm(h, v.layer_norm_eps)?,
            encoder: Encoder::new(vb.pp("encoder"), &dims)?,
            post_layernorm: vb.pp("post_layernorm").layer_norm(h, v.layer_norm_eps)?,
            visual_projection,
            hidden: h,
            channels: v.num_channels,
            image_size: v.image_size,
            patch: p,
        })
    }

    /// Quantization of the projection-sized matrices (for [`super::ModelInfo`]).
    pub(crate) fn matmul_type(&self) -> &'static str {
        self.visual_projection.weight.type_name()
    }

    /// The kernel the encoder's linear maps run on.
    pub(crate) fn kernel_name(&self) -> &'static str {
        self.encoder.kernel_name()
    }

    /// Values per image: `channels × image_size × image_size`.
    pub(crate) fn pixels_per_image(&self) -> usize {
        self.channels * self.image_size * self.image_size
    }

    /// Input side in pixels.
    pub(crate) fn image_size(&self) -> usize {
        self.image_size
    }

    /// Embeds `n` CHW images: `[n, projection_dim]`, L2-normalised.
    pub(crate) fn forward(&self, pixels: &[f32], n: usize) -> Result<Tensor> {
        let per = self.pixels_per_image();
        if n == 0 || pixels.len() != n * per {
            return Err(Error::InvalidArgument(format!(
                "expected {n} images of 3x{s}x{s} = {} values, got {}",
                n * per,
                pixels.len(),
                s = self.image_size
            )));
        }
        let (c, s, p) = (self.channels, self.image_size, self.patch);
        let g = s / p;
        let x = Tensor::from_slice(pixels, (n, c, g, p, g, p), &Device::Cpu)?;
        // [n, gy, gx, c, py, px] -> one row per patch, in the conv weight's (c, ky, kx) order.
        let patches = x
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((n * g * g, c * p * p))?;
        let pe = self
            .patch_embedding
            .forward(&patches, None)?
            .reshape((n, g * g, self.hidden))?;
        let cls = self
            .class_embedding
            .reshape((1, 1, self.hidden))?
            .repeat((n, 1, 1))?;
        let h = Tensor::cat(&[cls, pe], 1)?;
        let h = h.broadcast_add(&self.position_embedding)?;
        let h = self.pre_layrnorm.forward(&h)?;
        let h = self.encoder.forward(&h, None)?;
        let pooled = h.narrow(1, 0, 1)?.squeeze(1)?;
        let pooled = self.post_layernorm.forward(&pooled)?;
        let projected = self.visual_projection.forward(&pooled)?;
        l2_normalize(&projected)
    }
}
