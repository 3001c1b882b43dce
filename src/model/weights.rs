//! Weight storage and the layers built from it: [`Linear`] (float or quantized behind one type),
//! [`Embedding`], LayerNorm, and a tiny `VarBuilder`-like path builder ([`Vb::pp`]) so tower code
//! names tensors exactly as Hugging Face does, as candle-transformers'
//! `models/clip/text_model.rs` (v0.11.1) does with `candle_nn::VarBuilder`.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use crate::{Error, Result};

/// One stored tensor, as read from the file.
#[derive(Debug, Clone)]
pub(crate) enum Stored {
    /// A float tensor from safetensors (f32, f16 or bf16).
    Float(Tensor),
    /// A GGUF tensor (f32, f16, q8_0, q4_0, q4_1).
    Quant(Arc<QTensor>),
}

impl Stored {
    pub(crate) fn dims(&self) -> Vec<usize> {
        match self {
            Stored::Float(t) => t.dims().to_vec(),
            Stored::Quant(q) => q.shape().dims().to_vec(),
        }
    }

    /// The tensor as f32, dequantized if needed.
    pub(crate) fn to_f32(&self) -> Result<Tensor> {
        Ok(match self {
            Stored::Float(t) => t.to_dtype(DType::F32)?,
            Stored::Quant(q) => q.dequantize(&Device::Cpu)?,
        })
    }

    /// Storage type name (`f32`, `f16`, `bf16`, `q8_0`, ...).
    pub(crate) fn type_name(&self) -> String {
        match self {
            Stored::Float(t) => format!("{:?}", t.dtype()).to_lowercase(),
            Stored::Quant(q) => ggml_name(q.dtype()).to_string(),
        }
    }
}

/// Our name of a GGML type.
pub(crate) fn ggml_name(d: GgmlDType) -> &'static str {
    match d {
        GgmlDType::F32 => "f32",
        GgmlDType::F16 => "f16",
        GgmlDType::BF16 => "bf16",
        GgmlDType::Q4_0 => "q4_0",
        GgmlDType::Q4_1 => "q4_1",
        GgmlDType::Q8_0 => "q8_0",
        _ => "unsupported",
    }
}

/// All tensors of a model file, by Hugging Face name.
#[derive(Debug, Clone, Default)]
pub(crate) struct WeightStore {
    pub(crate) map: HashMap<String, Stored>,
}

impl WeightStore {
    /// Reads a `model.safetensors` buffer (f32, f16 or bf16 tensors).
    pub(crate) fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| Error::InvalidModel(format!("model.safetensors: {e}")))?;
        let mut map = HashMap::with_capacity(tensors.len());
        for (name, t) in tensors {
            match t.dtype() {
                DType::F32 | DType::F16 | DType::BF16 => {}
                DType::I64 | DType::U32 | DType::U8 | DType::I32 | DType::I16
                    if name.ends_with("position_ids") =>
                {
                    continue
                }
                other => {
                    return Err(Error::UnsupportedQuantization(format!(
                        "{other:?} (tensor `{name}`)"
                    )))
                }
            }
            map.insert(name, Stored::Float(t));
        }
        Ok(WeightStore { map })
    }

    /// Reads a GGUF buffer: its metadata and tensors.
    pub(crate) fn from_gguf(bytes: &[u8]) -> Result<(Self, HashMap<String, gguf_file::Value>)> {
        let mut cur = Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut cur).map_err(|e| {
            let s = e.to_string();
            if s.contains("unknown dtype") {
                Error::UnsupportedQuantization(s)
            } else {
                Error::InvalidModel(format!("not a readable GGUF file: {s}"))
            }
        })?;
        let mut map = HashMap::with_capacity(content.tensor_infos.len());
        for (name, info) in content.tensor_infos.iter() {
            match info.ggml_dtype {
                GgmlDType::F32
                | GgmlDType::F16
                | GgmlDType::Q8_0
                | GgmlDType::Q4_0
                | GgmlDType::Q4_1 => {}
                other => {
                    return Err(Error::UnsupportedQuantization(format!(
                        "{other:?} (tensor `{name}`)"
                    )))
                }
            }
            let dims = info.shape.dims();
            let mut n: usize = 1;
            for &d in dims {
                n = n.checked_mul(d).ok_or_else(|| {
                    Error::InvalidModel(format!("tensor `{name}` declares an absurd shape"))
                })?;
            }
            if n as u64 > bytes.len() as u64 * 8 {
                return Err(Error::InvalidModel(format!(
                    "tensor `{name}` declares {n} elements, more than the file can hold"
                )));
            }
            let q = info
                .read(&mut cur, content.tensor_data_offset, &Device::Cpu)
                .map_err(|e| Error::InvalidModel(format!("tensor `{name}`: {e}")))?;
            map.insert(name.clone(), Stored::Quant(Arc::new(q)));
        }
        Ok((WeightStore { map }, content.metadata))
    }

    /// A path builder at the root.
    pub(crate) fn root(&self) -> Vb<'_> {
        Vb {
            store: self,
            prefix: String::new(),
        }
    }

    /// Whether any tensor name starts with `prefix`.
    pub(crate) fn has_prefix(&self, prefix: &str) -> bool {
        self.map.keys().any(|k| k.starts_with(prefix))
    }
}

/// A position in the tensor-name tree, like `candle_nn::VarBuilder`.
#[derive(Clone)]
pub(crate) struct Vb<'a> {
    store: &'a WeightStore,
    prefix: String,
}

impl<'a> Vb<'a> {
    /// Descends one level: `vb.pp("encoder").pp(3)` names `encoder.3.*`.
    pub(crate) fn pp<S: ToString>(&self, s: S) -> Vb<'a> {
        let s = s.to_string();
        let prefix = if self.prefix.is_empty() {
            s
        } else {
            format!("{}.{}", self.prefix, s)
        };
        Vb {
            store: self.store,
            prefix,
        }
    }

    fn full(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{}", self.prefix, name)
        }
    }

    /// The stored tensor `name`, checked against `shape`.
    pub(crate) fn stored(&self, shape: &[usize], name: &str) -> Result<&'a Stored> {
        let full = self.full(name);
        let s = self
            .store
            .map
            .get(&full)
            .ok_or_else(|| Error::MissingTensor(full.clone()))?;
        let found = s.dims();
        if found != shape {
            return Err(Error::TensorShape {
                name: full,
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(s)
    }

    /// The tensor `name` as f32, checked against `shape`.
    pub(crate) fn get(&self, shape: &[usize], name: &str) -> Result<Tensor> {
        self.stored(shape, name)?.to_f32()
    }

    /// A linear layer `in_dim -> out_dim` from `name.weight` (`[out, in]`) and `name.bias`.
    pub(crate) fn linear(&self, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
        let weight = MatMul::from_stored(self.stored(&[out_dim, in_dim], "weight")?)?;
        let bias = if bias {
            Some(self.get(&[out_dim], "bias")?)
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            out_dim,
        })
    }

    /// A LayerNorm of width `size`.
    pub(crate) fn layer_norm(&self, size: usize, eps: f64) -> Result<candle_nn::LayerNorm> {
        let w = self.get(&[size], "weight")?;
        let b = self.get(&[size], "bias")?;
        Ok(candle_nn::LayerNorm::new(w, b, eps))
    }

    /// An embedding table `[rows, dim]` from `name.weight`.
    pub(crate) fn embedding(&self, rows: usize, dim: usize) -> Result<Embedding> {
        Ok(match self.stored(&[rows, dim], "weight")? {
            Stored::Quant(q)
                if !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) =>
            {
                Embedding::Quantized(q.clone())
            }
            s => Embedding::Float(s.to_f32()?),
        })
    }
}

/// The matrix behind a [`Linear`]: the one place where the matmul implementation is chosen.
///
/// `Float` holds an f32 `[out, in]` matrix (f32 and f16 files, and any dequantized tensor);
/// `Quantized` holds a candle [`QTensor`] (q8_0, q4_0, q4_1) multiplied through candle's
/// `QMatMul` kernels (natively: candle's AVX/NEON q8_0 dot products). `Packed` holds the same
/// weights packed once at load for [`crate::kernels::PackedQ8`], our int8 GEMM for wasm32
/// SIMD, where candle's int8 dot product is slower than its f32 one: every quantized tensor
/// takes this path in wasm32 builds with `simd128` (q8_0 blocks as they are; q4_0/q4_1
/// dequantized and re-quantized to q8_0 once, at load).
#[derive(Debug, Clone)]
pub(crate) enum MatMul {
    /// f32 weights `[out, in]`.
    Float(Tensor),
    /// GGML-quantized weights `[out, in]`.
    Quantized(Arc<QTensor>),
    /// Int8 weights packed for [`crate::kernels::PackedQ8`] (wasm32 SIMD builds), with the
    /// GGML type the file stored (q8_0 for a float matrix quantized at load by
    /// [`MatMul::float_like`]).
    #[cfg_attr(
        not(all(target_arch = "wasm32", target_feature = "simd128")),
        allow(dead_code)
    )]
    Packed(Arc<crate::kernels::PackedQ8>, GgmlDType),
}

impl MatMul {
    /// Picks the implementation for a stored tensor.
    pub(crate) fn from_stored(s: &Stored) -> Result<Self> {
        Ok(match s {
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Stored::Quant(q)
                if !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) =>
            {
                let linear = crate::kernels::Q8Linear::from_qtensor(q, None)?;
                MatMul::Packed(Arc::new(linear.into_weight()), q.dtype())
            }
            Stored::Quant(q)
                if !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
                    && kernel_accepts(q) =>
            {
                MatMul::Quantized(q.clone())
            }
            other => MatMul::Float(other.to_f32()?),
        })
    }

    /// An f32 matrix `w [out, in]` multiplied the way `like` is: packed int8 (quantized here to
    /// q8_0, per block of 32 as GGML does) when `like` is [`MatMul::Packed`], f32 otherwise.
    ///
    /// For matrices a file keeps in float although the model's linear maps are quantized (the
    /// vision tower's patch convolution, rank 4 in the file): in wasm32 SIMD builds candle's f32
    /// gemm takes ~10 ms per ViT-B/32 image for its 49×3072·3072×768, our int8 GEMM a quarter of
    /// that (`benches/RESULTS-model.md`). Natively (candle's AVX gemm) and in float files it
    /// stays f32.
    pub(crate) fn float_like(w: Tensor, like: &MatMul) -> Result<Self> {
        Ok(match like {
            MatMul::Packed(..) => {
                let linear = crate::kernels::Q8Linear::from_tensors(&w, None)?;
                MatMul::Packed(Arc::new(linear.into_weight()), GgmlDType::Q8_0)
            }
            _ => MatMul::Float(w),
        })
    }

    /// `x [rows, in] -> x · Wᵀ + bias [rows, out]`. Packed weights add the bias inside the
    /// kernel as each output is written ([`crate::kernels::forward_packed`], bit for bit the
    /// sum a separate broadcast add makes); the others add it after.
    pub(crate) fn forward(&self, x: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let y = match self {
            MatMul::Float(w) => x.matmul(&w.t()?)?,
            MatMul::Quantized(q) => QMatMul::QTensor(q.clone()).forward(x)?,
            MatMul::Packed(p, _) => {
                return Ok(match bias {
                    None => crate::kernels::forward_packed(p, x, None)?,
                    Some(b) => {
                        let b = b.to_dtype(DType::F32)?.contiguous()?;
                        crate::kernels::with_f32(&b, |b| {
                            crate::kernels::forward_packed(p, x, Some(b))
                        })
                        .ok_or_else(|| Error::Compute("a bias off the CPU".into()))??
                    }
                });
            }
        };
        Ok(match bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// Name of the kernel that multiplies: `candle-f32`, `candle-quantized`, or
    /// [`crate::kernels::kernel_name`] for packed int8 weights.
    pub(crate) fn kernel_name(&self) -> &'static str {
        match self {
            MatMul::Float(_) => "candle-f32",
            MatMul::Quantized(_) => "candle-quantized",
            MatMul::Packed(..) => crate::kernels::kernel_name(),
        }
    }

    /// Storage type name.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            MatMul::Float(_) => "f32",
            MatMul::Quantized(q) => ggml_name(q.dtype()),
            MatMul::Packed(_, d) => ggml_name(*d),
        }
    }
}

/// Whether candle's CPU kernel can multiply by `q` without panicking: q4_1 (and q5_*) dot
/// products assert an even number of blocks per row; such tensors are dequantized instead.
fn kernel_accepts(q: &QTensor) -> bool {
    let cols = q.shape().dims().last().copied().unwrap_or(0);
    let bs = q.dtype().block_size();
    match q.dtype() {
        GgmlDType::Q4_1 => cols % (2 * bs) == 0,
        _ => cols % bs == 0,
    }
}

/// `y = x Wᵀ + b` over the last dimension, for any leading dimensions.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub(crate) weight: MatMul,
    bias: Option<Tensor>,
    out_dim: usize,
}

impl Linear {
    /// Applies the layer to `x [..., in]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_dim = dims.last().copied().unwrap_or(0);
        let rows = x.elem_count() / in_dim.max(1);
        let x2 = x.reshape((rows, in_dim))?.contiguous()?;
        let y = self.weight.forward(&x2, self.bias.as_ref())?;
        let mut out_dims = dims;
        if let Some(last) = out_dims.last_mut() {
            *last = self.out_dim;
        }
        Ok(y.reshape(out_dims)?)
    }
}

/// A token-embedding table, float or quantized (rows dequantized on lookup).
#[derive(Debug, Clone)]
pub(crate) enum Embedding {
    /// f32 `[rows, dim]`.
    Float(Tensor),
    /// GGML-quantized `[rows, dim]`.
    Quantized(Arc<QTensor>),
}

impl Embedding {
    /// Looks up `ids [n]` -> `[n, dim]`.
    pub(crate) fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Embedding::Float(w) => w.index_select(ids, 0)?,
            Embedding::Quantized(q) => q.embedding(ids)?,
        })
    }
}
