//! A candle-facing linear layer over [`PackedQ8`], a drop-in for `candle_nn::Linear` /
//! candle's `QMatMul` on the forward path.

use super::PackedQ8;
use crate::{Error, Result};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

/// `y = x · Wᵀ + b` with int8 weights packed once at load (see [`crate::kernels`]).
#[derive(Debug, Clone)]
pub struct Q8Linear {
    weight: PackedQ8,
    bias: Option<Vec<f32>>,
}

fn candle_err(e: candle_core::Error) -> Error {
    Error::Compute(e.to_string())
}

impl Q8Linear {
    /// Wraps packed weights and an optional bias of length `n`.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if the bias length is not `weight.n()`.
    pub fn new(weight: PackedQ8, bias: Option<Vec<f32>>) -> Result<Self> {
        if let Some(b) = &bias {
            if b.len() != weight.n() {
                return Err(Error::DimensionMismatch {
                    expected: weight.n(),
                    found: b.len(),
                });
            }
        }
        Ok(Self { weight, bias })
    }

    /// Builds the layer from an f32/f16 weight tensor `[n, k]` (quantized to q8_0 here) and an
    /// optional bias tensor `[n]`.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] if the weight is not 2-D; errors of [`PackedQ8::from_f32`];
    /// [`Error::Compute`] if candle cannot convert the tensors.
    pub fn from_tensors(weight: &Tensor, bias: Option<&Tensor>) -> Result<Self> {
        let (n, k) = weight
            .dims2()
            .map_err(|e| Error::InvalidModel(format!("linear weight must be [n, k]: {e}")))?;
        let w = weight
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(candle_err)?;
        Self::new(PackedQ8::from_f32(&w, n, k)?, bias_vec(bias)?)
    }

    /// Builds the layer from a candle `QTensor` `[n, k]`: q8_0 blocks are taken as they are
    /// (no loss); any other type is dequantized and quantized to q8_0.
    ///
    /// # Errors
    /// [`Error::InvalidModel`] if the tensor is not 2-D or its bytes are inconsistent;
    /// [`Error::Compute`] if candle cannot read it.
    pub fn from_qtensor(weight: &QTensor, bias: Option<&Tensor>) -> Result<Self> {
        let (n, k) = weight
            .shape()
            .dims2()
            .map_err(|e| Error::InvalidModel(format!("linear weight must be [n, k]: {e}")))?;
        let packed = if weight.dtype() == GgmlDType::Q8_0 {
            let raw = weight.data().map_err(candle_err)?;
            PackedQ8::from_q8_0_blocks(&raw, n, k)?
        } else {
            let w = weight
                .dequantize(&Device::Cpu)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(candle_err)?;
            PackedQ8::from_f32(&w, n, k)?
        };
        Self::new(packed, bias_vec(bias)?)
    }

    /// The packed weights.
    pub fn weight(&self) -> &PackedQ8 {
        &self.weight
    }

    /// The packed weights, taken out of the layer without a copy.
    pub fn into_weight(self) -> PackedQ8 {
        self.weight
    }

    /// Applies the layer to `x: [.., k]` (any leading dims, any float dtype), returning
    /// `[.., n]` in f32 on the CPU.
    ///
    /// # Errors
    /// A candle error if the last dim of `x` is not `k` or `x` holds NaN/inf values.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        forward_packed(&self.weight, x, self.bias.as_deref())
    }
}

/// `x [.., k] · Wᵀ + bias` on packed weights, returning `[.., n]` in f32 on the CPU: the one
/// forward path over [`PackedQ8`] ([`Q8Linear::forward`] and the models' linear layers). A
/// contiguous `f32` input is read where it lies (no copy out of the tensor); the bias is added
/// as each output is written.
pub(crate) fn forward_packed(
    weight: &PackedQ8,
    x: &Tensor,
    bias: Option<&[f32]>,
) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let k = weight.k();
    match dims.last() {
        Some(&last) if last == k => {}
        _ => candle_core::bail!("Q8Linear expects input [.., {k}], got {dims:?}"),
    }
    let m = dims.iter().take(dims.len() - 1).product::<usize>();
    let x = x.to_dtype(DType::F32)?.contiguous()?;
    let mut out = vec![0f32; m * weight.n()];
    match with_f32(&x, |xs| weight.matmul_bias(xs, m, bias, &mut out)) {
        Some(done) => done.map_err(|e| candle_core::Error::Msg(e.to_string()))?,
        None => candle_core::bail!("Q8Linear runs on CPU tensors"),
    }
    let mut shape = dims.to_vec();
    if let Some(l) = shape.last_mut() {
        *l = weight.n();
    }
    Tensor::from_vec(out, shape, &Device::Cpu)
}

/// Runs `f` on the values of a contiguous `f32` CPU tensor, where they lie; `None` for any
/// other tensor.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)) = &*storage else {
        return None;
    };
    let (a, b) = layout.contiguous_offsets()?;
    Some(f(v.get(a..b)?))
}

impl candle_core::Module for Q8Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        Q8Linear::forward(self, xs)
    }
}

fn bias_vec(bias: Option<&Tensor>) -> Result<Option<Vec<f32>>> {
    bias.map(|b| {
        b.to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(candle_err)
    })
    .transpose()
}
