//! The transformer encoder shared by both towers.
//!
//! Mirrors `ClipAttention`, `ClipMlp`, `ClipEncoderLayer` and `ClipEncoder` of
//! candle-transformers `src/models/clip/text_model.rs` (v0.11.1) and
//! `CLIPAttention`/`CLIPMLP`/`CLIPEncoderLayer`/`CLIPEncoder` of
//! transformers `src/transformers/models/clip/modeling_clip.py` (v5.23.0), with every linear
//! layer going through [`Linear`] (float or quantized) instead of `candle_nn::Linear`.

use candle_core::{Tensor, D};
use candle_nn::Module;

use super::config::Activation;
use super::weights::{Linear, Vb};
use crate::Result;

/// The element-wise ops of [`crate::kernels::fastmath`] as candle ops on contiguous `f32`
/// tensors (wasm has no `exp` instruction: these use a vectorised one).
#[derive(Debug, Clone, Copy)]
enum FastOp {
    QuickGelu,
    SoftmaxLastDim,
}

impl candle_core::CustomOp1 for FastOp {
    fn name(&self) -> &'static str {
        match self {
            Self::QuickGelu => "clipsearch-quick-gelu",
            Self::SoftmaxLastDim => "clipsearch-softmax-last-dim",
        }
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let candle_core::CpuStorage::F32(v) = storage else {
            candle_core::bail!("{}: f32 tensors only", self.name())
        };
        let Some(src) = layout.contiguous_offsets().and_then(|(a, b)| v.get(a..b)) else {
            candle_core::bail!("{}: contiguous tensors only", self.name())
        };
        let mut out = src.to_vec();
        match self {
            Self::QuickGelu => crate::kernels::fastmath::quick_gelu_in_place(&mut out),
            Self::SoftmaxLastDim => {
                let d = layout.shape().dims().last().copied().unwrap_or(0);
                if d > 0 {
                    out.chunks_exact_mut(d)
                        .for_each(crate::kernels::fastmath::softmax_in_place);
                }
            }
        }
        Ok((candle_core::CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Softmax over the last dimension (through [`FastOp`] for `f32`).
pub(crate) fn softmax_last_dim(xs: &Tensor) -> Result<Tensor> {
    if xs.dtype() != candle_core::DType::F32 {
        return Ok(candle_nn::ops::softmax_last_dim(xs)?);
    }
    Ok(xs.contiguous()?.apply_op1_no_bwd(&FastOp::SoftmaxLastDim)?)
}

/// Applies an activation.
pub(crate) fn activate(act: Activation, xs: &Tensor) -> Result<Tensor> {
    Ok(match act {
        Activation::QuickGelu if xs.dtype() == candle_core::DType::F32 => {
            xs.contiguous()?.apply_op1_no_bwd(&FastOp::QuickGelu)?
        }
        Activation::QuickGelu => (xs * candle_nn::ops::sigmoid(&(xs * 1.702f64)?)?)?,
        Activation::Gelu => xs.gelu_erf()?,
        Activation::GeluTanh => xs.gelu()?,
    })
}

/// Sizes an encoder needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncoderDims {
    pub(crate) hidden: usize,
    pub(crate) intermediate: usize,
    pub(crate) heads: usize,
    pub(crate) layers: usize,
    pub(crate) act: Activation,
    pub(crate) eps: f64,
}

#[derive(Debug, Clone)]
struct Attention {
    k_proj: Linear,
    v_proj: Linear,
    q_proj: Linear,
    out_proj: Linear,
    heads: usize,
    scale: f64,
}

impl Attention {
    fn new(vb: Vb, d: &EncoderDims) -> Result<Self> {
        let h = d.hidden;
        let head_dim = h / d.heads;
        Ok(Self {
            k_proj: vb.pp("k_proj").linear(h, h, true)?,
            v_proj: vb.pp("v_proj").linear(h, h, true)?,
            q_proj: vb.pp("q_proj").linear(h, h, true)?,
            out_proj: vb.pp("out_proj").linear(h, h, true)?,
            heads: d.heads,
            scale: (head_dim as f64).powf(-0.5),
        })
    }

    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let q = (self.q_proj.forward(xs)? * self.scale)?;
        let ctx = attention(
            &q,
            &self.k_proj.forward(xs)?,
            &self.v_proj.forward(xs)?,
            self.heads,
            mask,
        )?;
        self.out_proj.forward(&ctx)
    }
}

/// The core of multi-head attention shared by the CLIP and DistilBERT encoders: `q` (already
/// scaled), `k`, `v` are `[b, s, heads * head_dim]`; `mask` is additive and broadcasts to
/// `[b, heads, s, s]` (CLIP's causal `[b, 1, s, s]`, DistilBERT's key padding `[b, 1, 1, s]`).
/// Returns the context `[b, s, heads * head_dim]`, before the output projection.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    let (b, s, e) = q.dims3()?;
    let head_dim = e / heads;
    let split = |xs: &Tensor| -> Result<Tensor> {
        Ok(xs
            .reshape((b, s, heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * heads, s, head_dim))?)
    };
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    let w = q.matmul(&k.t()?)?;
    let w = match mask {
        Some(m) => w
            .reshape((b, heads, s, s))?
            .broadcast_add(m)?
            .reshape((b * heads, s, s))?,
        None => w,
    };
    let w = softmax_last_dim(&w)?;
    Ok(w.matmul(&v)?
        .reshape((b, heads, s, head_dim))?
        .transpose(1, 2)?
        .reshape((b, s, e))?)
}

#[derive(Debug, Clone)]
struct Mlp {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

impl Mlp {
    fn new(vb: Vb, d: &EncoderDims) -> Result<Self> {
        Ok(Self {
            fc1: vb.pp("fc1").linear(d.hidden, d.intermediate, true)?,
            fc2: vb.pp("fc2").linear(d.intermediate, d.hidden, true)?,
            act: d.act,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.fc1.forward(xs)?;
        self.fc2.forward(&activate(self.act, &xs)?)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    self_attn: Attention,
    layer_norm1: candle_nn::LayerNorm,
    mlp: Mlp,
    layer_norm2: candle_nn::LayerNorm,
}

impl EncoderLayer {
    fn new(vb: Vb, d: &EncoderDims) -> Result<Self> {
        Ok(Self {
            self_attn: Attention::new(vb.pp("self_attn"), d)?,
            layer_norm1: vb.pp("layer_norm1").layer_norm(d.hidden, d.eps)?,
            mlp: Mlp::new(vb.pp("mlp"), d)?,
            layer_norm2: vb.pp("layer_norm2").layer_norm(d.hidden, d.eps)?,
        })
    }

    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let residual = xs;
        let h = self.layer_norm1.forward(xs)?;
        let h = self.self_attn.forward(&h, mask)?;
        let xs = (h + residual)?;
        let residual = &xs;
        let h = self.layer_norm2.forward(&xs)?;
        let h = self.mlp.forward(&h)?;
        Ok((h + residual)?)
    }
}

/// `encoder.layers.{i}.*`.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    pub(crate) fn new(vb: Vb, d: &EncoderDims) -> Result<Self> {
        let vb = vb.pp("layers");
        let layers = (0..d.layers)
            .map(|i| EncoderLayer::new(vb.pp(i), d))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Name of the matmul kernel the layers' linear maps run on (see [`MatMul::kernel_name`]).
    pub(crate) fn kernel_name(&self) -> &'static str {
        self.layers
            .first()
            .map_or("none", |l| l.self_attn.q_proj.weight.kernel_name())
    }

    /// `xs [b, s, hidden]`, optional additive mask `[s, s]`.
    pub(crate) fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let mut xs = xs.clone();
        for l in &self.layers {
            xs = l.forward(&xs, mask)?;
        }
        Ok(xs)
    }
}

/// L2-normalises each row of `x [n, d]`.
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
    Ok(x.broadcast_div(&n.clamp(1e-12f32, f32::MAX)?)?)
}
