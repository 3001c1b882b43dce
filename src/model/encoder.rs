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
use crate::kernels::with_f32;
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
        let ctx = attention(
            &self.q_proj.forward(xs)?,
            &self.k_proj.forward(xs)?,
            &self.v_proj.forward(xs)?,
            self.heads,
            self.scale,
            mask,
        )?;
        self.out_proj.forward(&ctx)
    }
}

/// The core of multi-head attention shared by the CLIP and DistilBERT encoders: `q` (not yet
/// scaled: `scale` is applied to it first, as `q_proj(x) * scale` in transformers), `k`, `v`
/// are `[b, s, heads * head_dim]`; `mask` is additive and broadcasts to `[b, heads, s, s]`
/// (CLIP's causal `[s, s]`, DistilBERT's key padding `[b, 1, 1, s]`). Returns the context
/// `[b, s, heads * head_dim]`, before the output projection.
///
/// In wasm32 SIMD builds, contiguous `f32` tensors (every model this crate loads) go through
/// [`crate::kernels::attention::attention`], straight on the projections' storage: 1.9-2.4x
/// faster than candle's ops there (per ViT-B/32 layer in Chromium: 0.31 against 0.58 ms in the
/// relaxed module, 0.38 against 0.90 ms in the simd128 one; `benches/RESULTS-kernels.md`).
/// Natively, and for anything else, candle's ops ([`attention_candle`]): natively its AVX gemm
/// beats the portable kernel (0.35 against 0.62 ms).
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    scale: f64,
    mask: Option<&Tensor>,
) -> Result<Tensor> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if !crate::kernels::attention::uses_candle_ops() {
        if let Some(ctx) = attention_fast(q, k, v, heads, scale, mask)? {
            return Ok(ctx);
        }
    }
    attention_candle(&(q * scale)?, k, v, heads, mask)
}

/// [`attention`] through [`crate::kernels::attention::attention`]; `Ok(None)` when the tensors
/// are not all contiguous `f32` on the CPU of one shape, or the mask does not broadcast.
#[cfg_attr(
    not(all(target_arch = "wasm32", target_feature = "simd128")),
    allow(dead_code)
)]
fn attention_fast(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    scale: f64,
    mask: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    use crate::kernels::attention::{AttnMask, AttnShape};
    let (b, s, e) = q.dims3()?;
    if heads == 0 || e % heads != 0 || k.dims() != q.dims() || v.dims() != q.dims() {
        return Ok(None);
    }
    let shape = AttnShape {
        batch: b,
        seq: s,
        heads,
        head_dim: e / heads,
    };
    // The mask's dims, left-padded to 4, each 1 (a stride of 0) or the full size.
    let mask = match mask {
        None => None,
        Some(m) => {
            let md = m.dims();
            if md.len() > 4 {
                return Ok(None);
            }
            let mut dims = [1usize; 4];
            dims[4 - md.len()..].copy_from_slice(md);
            let full = [b, heads, s, s];
            if dims.iter().zip(full).any(|(&d, f)| d != 1 && d != f) || dims[3] != s {
                return Ok(None);
            }
            let mut strides = [0usize; 4];
            let mut acc = 1;
            for i in (0..4).rev() {
                strides[i] = if dims[i] == 1 { 0 } else { acc };
                acc *= dims[i];
            }
            Some((m.contiguous()?, strides))
        }
    };
    let mut out = vec![0f32; shape.len()];
    let run = |q: &[f32], k: &[f32], v: &[f32], m: Option<AttnMask<'_>>, out: &mut [f32]| {
        crate::kernels::attention::attention(q, k, v, shape, scale as f32, m, out)
    };
    let done = with_f32(q, |q| {
        with_f32(k, |k| {
            with_f32(v, |v| match &mask {
                None => Some(run(q, k, v, None, &mut out)),
                Some((m, st)) => with_f32(m, |values| {
                    let m = AttnMask {
                        values,
                        batch: st[0],
                        head: st[1],
                        row: st[2],
                    };
                    run(q, k, v, Some(m), &mut out)
                }),
            })
        })
    })
    .flatten()
    .flatten()
    .flatten();
    match done {
        None => Ok(None),
        Some(r) => {
            r?;
            Ok(Some(Tensor::from_vec(out, (b, s, e), q.device())?))
        }
    }
}

/// candle's ops for [`attention`] (the path of candle-transformers' CLIP), with `q` already
/// scaled: split the heads, `q · kᵀ`, add the mask, softmax, `· v`, merge the heads. For
/// tensors [`attention_fast`] does not take, and the reference its tests compare with.
pub(crate) fn attention_candle(
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(dims: &[usize], seed: u64) -> Tensor {
        let n: usize = dims.iter().product();
        let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let v: Vec<f32> = (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 40) % 2001) as f32 / 500.0 - 2.0
            })
            .collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// The kernel path equals candle's on both encoders' masks (CLIP's causal `[s, s]`,
    /// DistilBERT's key padding `[b, 1, 1, s]`), a per-head mask and none; and it is taken.
    #[test]
    fn the_attention_kernel_matches_candles_ops() {
        let (b, s, heads, hd) = (2, 11, 3, 16);
        let (q, k, v) = (
            t(&[b, s, heads * hd], 1),
            t(&[b, s, heads * hd], 2),
            t(&[b, s, heads * hd], 3),
        );
        let causal: Vec<f32> = (0..s * s)
            .map(|x| {
                if x % s > x / s {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let causal = Tensor::from_vec(causal, (s, s), &Device::Cpu).unwrap();
        let keys: Vec<f32> = (0..b * s)
            .map(|x| {
                if x % s >= s - 3 && x >= s {
                    f32::MIN
                } else {
                    0.0
                }
            })
            .collect();
        let keys = Tensor::from_vec(keys, (b, 1, 1, s), &Device::Cpu).unwrap();
        let per_head = t(&[1, heads, s, s], 4);
        let scale = (hd as f64).powf(-0.5);
        for mask in [None, Some(&causal), Some(&keys), Some(&per_head)] {
            let fast = attention_fast(&q, &k, &v, heads, scale, mask).unwrap();
            let fast = fast.expect("contiguous f32 tensors take the kernel");
            let slow = attention_candle(&(&q * scale).unwrap(), &k, &v, heads, mask).unwrap();
            assert_eq!(fast.dims(), slow.dims());
            let d = max_diff(&fast, &slow);
            assert!(
                d < 1e-5,
                "max difference {d} (mask {:?})",
                mask.map(|m| m.dims().to_vec())
            );
        }
        // A mask that does not broadcast is left to candle (which refuses it).
        let bad = t(&[s, s + 1], 5);
        assert!(attention_fast(&q, &k, &v, heads, scale, Some(&bad))
            .unwrap()
            .is_none());
        assert!(attention(&q, &k, &v, heads, scale, Some(&bad)).is_err());
    }
}
