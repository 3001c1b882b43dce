//! Naive reference for the int8 kernels: unpacked, one output at a time, block by block.
//!
//! Every fast path must reproduce these numbers: identical `i32` block sums, then the same
//! `f32` products, summed in a different order (so equal up to `f32` rounding of the sum).

use super::{quantize_block_act, ActQuant, BLOCK};

/// Quantizes one activation row `x` (length `k`) per block of 32 with `scheme`: returns the
/// signed quantized values (`k` of them) and one scale per block.
pub fn quantize_row(x: &[f32], scheme: ActQuant) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(x.len());
    let mut d = Vec::with_capacity(x.len().div_ceil(BLOCK));
    for blk in x.chunks(BLOCK) {
        let (s, v) = quantize_block_act(blk, scheme);
        q.extend_from_slice(&v[..blk.len()]);
        d.push(s);
    }
    (q, d)
}

/// Exact `i32` dot product of block `b` of two quantized rows.
pub fn block_dot(xq: &[i8], wq: &[i8], b: usize) -> i32 {
    let lo = b * BLOCK;
    let hi = (lo + BLOCK).min(xq.len()).min(wq.len());
    xq[lo..hi]
        .iter()
        .zip(&wq[lo..hi])
        .map(|(&a, &w)| a as i32 * w as i32)
        .sum()
}

/// One output: `sum_b (dx[b] * dw[b]) * dot_b(xq, wq)` in block order.
pub fn dot_q(xq: &[i8], xd: &[f32], wq: &[i8], wd: &[f32]) -> f32 {
    xd.iter()
        .zip(wd)
        .enumerate()
        .map(|(b, (&dx, &dw))| block_dot(xq, wq, b) as f32 * (dx * dw))
        .sum()
}

/// Like [`dot_q`], also returning `sum_b |term_b|` (the scale of the summation's rounding error).
pub fn dot_q_with_magnitude(xq: &[i8], xd: &[f32], wq: &[i8], wd: &[f32]) -> (f32, f32) {
    let mut s = 0f32;
    let mut mag = 0f32;
    for (b, (&dx, &dw)) in xd.iter().zip(wd).enumerate() {
        let t = block_dot(xq, wq, b) as f32 * (dx * dw);
        s += t;
        mag += t.abs();
    }
    (s, mag)
}
