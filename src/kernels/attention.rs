//! Multi-head scaled dot-product attention on row-major `f32` slices: the attention core of both
//! encoders, computed straight from the `[b, s, heads * head_dim]` projections.
//!
//! candle's path (split the heads with a transpose and a copy per tensor, a batched gemm for
//! `q · kᵀ`, a broadcast mask add, softmax, a second batched gemm, a transpose back) copies each
//! of q, k, v and the context once more, and candle's gemm is slow on these small matrices in
//! wasm. Here, per sequence and head: one head's keys are copied transposed (and scaled) into a
//! `[head_dim, seq]` scratch, `scores = q · kᵀ` and `context = softmax(scores + mask) · v` are
//! two small matrix products by one register-tiled micro-kernel (`gemm`: 4 rows by 8 columns,
//! eight `f32x4` accumulators in wasm), reading q and v and writing the context in place in the
//! `[b, s, e]` tensors; the softmax is [`super::fastmath::softmax_in_place`].
//!
//! Numerics: the same operations as candle's and PyTorch's path (`(scale · q) · kᵀ + mask`,
//! softmax, `· v`; here the scale multiplies the keys, `q · (scale · k)ᵀ`), summed in another
//! order.
//!
//! # Example
//! ```
//! use clipsearch::kernels::attention::{attention, AttnShape};
//! // One sequence of 2 tokens, 1 head of 2 dims; the keys are orthogonal.
//! let shape = AttnShape { batch: 1, seq: 2, heads: 1, head_dim: 2 };
//! let q = [10.0, 0.0, 0.0, 10.0];
//! let k = [1.0, 0.0, 0.0, 1.0];
//! let v = [1.0, 2.0, 3.0, 4.0];
//! let mut out = [0.0; 4];
//! attention(&q, &k, &v, shape, 1.0, None, &mut out)?;
//! assert!((out[0] - 1.0).abs() < 1e-3 && (out[3] - 4.0).abs() < 1e-3);
//! # Ok::<(), clipsearch::Error>(())
//! ```

use super::fastmath::softmax_in_place;
use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`use_candle_ops`].
static CANDLE_OPS: AtomicBool = AtomicBool::new(false);

/// Makes the models' attention run on candle's ops (`true`) instead of [`attention`] in the
/// builds that use it (wasm32 SIMD), for benchmarks that time both in one page. Affects every
/// model in this module instance. Default `false`.
pub fn use_candle_ops(on: bool) {
    CANDLE_OPS.store(on, Ordering::Relaxed);
}

/// Whether [`use_candle_ops`] asked for candle's ops.
pub fn uses_candle_ops() -> bool {
    CANDLE_OPS.load(Ordering::Relaxed)
}

/// Sizes of one attention call: q, k, v and the output are `[batch, seq, heads * head_dim]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// Tokens per sequence (queries and keys: self-attention).
    pub seq: usize,
    /// Attention heads.
    pub heads: usize,
    /// Values per head.
    pub head_dim: usize,
}

impl AttnShape {
    /// Values per token (`heads * head_dim`).
    pub fn embed(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Values in q, k, v and the output.
    pub fn len(&self) -> usize {
        self.batch * self.seq * self.embed()
    }

    /// True when the tensors hold no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An additive mask broadcast to `[batch, heads, seq, seq]` by strides: the row of keys for
/// (sequence `b`, head `h`, query `i`) is `values[b * batch + h * head + i * row..][..seq]`. A
/// stride of 0 repeats the mask along that axis (CLIP's causal mask has `batch` and `head` 0,
/// DistilBERT's key padding mask has `head` and `row` 0).
#[derive(Debug, Clone, Copy)]
pub struct AttnMask<'a> {
    /// The mask's values, row-major.
    pub values: &'a [f32],
    /// Stride between sequences (0: one mask for every sequence).
    pub batch: usize,
    /// Stride between heads (0: one mask for every head).
    pub head: usize,
    /// Stride between query rows (0: one key mask for every query).
    pub row: usize,
}

/// `out = softmax(scale * q · kᵀ + mask) · v` per sequence and head, for `q`, `k`, `v` and
/// `out` of [`AttnShape::len`] values each (`[batch, seq, heads * head_dim]`, row-major).
///
/// # Errors
/// [`Error::DimensionMismatch`] if a slice has the wrong length or the mask's strides reach past
/// its values.
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    shape: AttnShape,
    scale: f32,
    mask: Option<AttnMask<'_>>,
    out: &mut [f32],
) -> Result<()> {
    let n = shape.len();
    for found in [q.len(), k.len(), v.len(), out.len()] {
        if found != n {
            return Err(Error::DimensionMismatch { expected: n, found });
        }
    }
    if n == 0 {
        return Ok(());
    }
    let AttnShape {
        batch,
        seq,
        heads,
        head_dim: hd,
    } = shape;
    if let Some(m) = mask {
        let last = (batch - 1) * m.batch + (heads - 1) * m.head + (seq - 1) * m.row + seq;
        if last > m.values.len() {
            return Err(Error::DimensionMismatch {
                expected: last,
                found: m.values.len(),
            });
        }
    }
    let e = shape.embed();
    // Scores of one head, rows padded to whole micro-tiles (the padding columns stay 0 and are
    // never read back); the head's keys transposed and scaled, padded alike.
    let np = seq.next_multiple_of(NC);
    let mut scores = vec![0f32; seq * np];
    let mut kt = vec![0f32; hd * np];
    for b in 0..batch {
        for h in 0..heads {
            let col = b * seq * e + h * hd;
            for j in 0..seq {
                let kj = &k[col + j * e..col + j * e + hd];
                for (d, &x) in kj.iter().enumerate() {
                    kt[d * np + j] = x * scale;
                }
            }
            let qh = &q[col..];
            gemm(qh, e, &kt, np, &mut scores, np, seq, np, hd);
            for (i, row) in scores.chunks_exact_mut(np).enumerate() {
                let row = &mut row[..seq];
                if let Some(m) = mask {
                    let at = b * m.batch + h * m.head + i * m.row;
                    for (x, &mj) in row.iter_mut().zip(&m.values[at..at + seq]) {
                        *x += mj;
                    }
                }
                softmax_in_place(row);
            }
            gemm(&scores, np, &v[col..], e, &mut out[col..], e, seq, hd, seq);
        }
    }
    Ok(())
}

/// Columns per micro-tile: two `f32x4` vectors.
const NC: usize = 8;
/// Rows per micro-tile.
const MC: usize = 4;

/// `c = a · b` for `a: [m, kk]`, `b: [kk, n]`, `c: [m, n]`, row-major with row strides `lda`,
/// `ldb`, `ldc` (views into larger tensors: a head's columns). Tiles of [`MC`] rows by [`NC`]
/// columns go through [`tile`]; columns past the last whole tile are summed one by one.
#[allow(clippy::too_many_arguments)]
fn gemm(
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    m: usize,
    n: usize,
    kk: usize,
) {
    let n8 = n - n % NC;
    for i0 in (0..m).step_by(MC) {
        let a = &a[i0 * lda..];
        let c = &mut c[i0 * ldc..];
        for c0 in (0..n8).step_by(NC) {
            let (b, c) = (&b[c0..], &mut c[c0..]);
            match m - i0 {
                1 => tile::<1>(a, lda, b, ldb, c, ldc, kk),
                2 => tile::<2>(a, lda, b, ldb, c, ldc, kk),
                3 => tile::<3>(a, lda, b, ldb, c, ldc, kk),
                _ => tile::<MC>(a, lda, b, ldb, c, ldc, kk),
            }
        }
        for r in 0..(m - i0).min(MC) {
            for cc in n8..n {
                c[r * ldc + cc] = (0..kk).map(|p| a[r * lda + p] * b[p * ldb + cc]).sum();
            }
        }
    }
}

/// One tile: `R` rows of `a` by the first [`NC`] columns of `b`, written to `c`. Each step of
/// `kk` loads 8 values of a row of `b` and multiplies them by one value of each of the `R` rows
/// of `a` into `R x 8` accumulators (wasm: `2 * R` `f32x4` registers, 8 for `R = 4`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn tile<const R: usize>(
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    kk: usize,
) {
    use core::arch::wasm32::*;
    let rows: [&[f32]; R] = core::array::from_fn(|r| &a[r * lda..r * lda + kk]);
    let mut acc = [[f32x4_splat(0.0); 2]; R];
    for p in 0..kk {
        let bp = &b[p * ldb..p * ldb + NC];
        // SAFETY: `bp` holds 8 f32 (bounds checked above); v128 loads may be unaligned.
        let (b0, b1) = unsafe {
            (
                v128_load(bp.as_ptr() as *const v128),
                v128_load(bp[4..].as_ptr() as *const v128),
            )
        };
        for r in 0..R {
            let x = f32x4_splat(rows[r][p]);
            acc[r][0] = super::wasm_simd::madd(x, b0, acc[r][0]);
            acc[r][1] = super::wasm_simd::madd(x, b1, acc[r][1]);
        }
    }
    for r in 0..R {
        let cr = &mut c[r * ldc..r * ldc + NC];
        // SAFETY: `cr` holds 8 f32 (bounds checked above); v128 stores may be unaligned.
        unsafe {
            v128_store(cr.as_mut_ptr() as *mut v128, acc[r][0]);
            v128_store(cr[4..].as_mut_ptr() as *mut v128, acc[r][1]);
        }
    }
}

/// [`tile`] in portable Rust (LLVM vectorises the 8 columns).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn tile<const R: usize>(
    a: &[f32],
    lda: usize,
    b: &[f32],
    ldb: usize,
    c: &mut [f32],
    ldc: usize,
    kk: usize,
) {
    let rows: [&[f32]; R] = core::array::from_fn(|r| &a[r * lda..r * lda + kk]);
    let mut acc = [[0f32; NC]; R];
    for p in 0..kk {
        let bp = &b[p * ldb..p * ldb + NC];
        for r in 0..R {
            let x = rows[r][p];
            for (o, &y) in acc[r].iter_mut().zip(bp) {
                *o += x * y;
            }
        }
    }
    for r in 0..R {
        c[r * ldc..r * ldc + NC].copy_from_slice(&acc[r]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_lengths_are_refused() {
        let s = AttnShape {
            batch: 1,
            seq: 3,
            heads: 2,
            head_dim: 4,
        };
        let x = vec![0.5f32; s.len()];
        let mut out = vec![0f32; s.len()];
        let short = vec![0.5f32; s.len() - 1];
        assert!(matches!(
            attention(&x, &short, &x, s, 1.0, None, &mut out),
            Err(Error::DimensionMismatch {
                expected: 24,
                found: 23
            })
        ));
        let mask = vec![0f32; 8]; // a causal mask of 3 x 3 needs 9
        let m = AttnMask {
            values: &mask,
            batch: 0,
            head: 0,
            row: 3,
        };
        assert!(matches!(
            attention(&x, &x, &x, s, 1.0, Some(m), &mut out),
            Err(Error::DimensionMismatch {
                expected: 9,
                found: 8
            })
        ));
    }
}
