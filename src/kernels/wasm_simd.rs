//! wasm32 SIMD micro-kernels over the packed layout (see `PackedQ8`).
//!
//! - `simd128`: `i16x8.extend_{low,high}_i8x16_s` then `i32x4.dot_i16x8_s` (8 MACs per dot).
//! - `relaxed-simd`: `i32x4.relaxed_dot_i8x16_i7x16_add_s` (16 MACs per instruction); the
//!   activations are stored as `q + 64` in `[1, 127]` and the accumulators start from the
//!   weights' `-64 * sum(q)` per block, which makes the result exact and deterministic on every
//!   engine (the instruction is only implementation-defined for a second operand >= 128).
//!
//! Lane `j` of every `i32x4` accumulator holds block `j` of the current group of 4 blocks, so a
//! group ends with one `f32x4` multiply-add per output and no horizontal reduction.
// The micro-kernels index their accumulator tiles by (row, column) on purpose: the loops are
// fully unrolled over MR x NR registers, which iterator chains would only obscure.
#![allow(clippy::needless_range_loop)]

use super::{GROUP_BLOCKS, MR, NR, TILE_GROUP_BYTES};
use core::arch::wasm32::*;

#[inline(always)]
fn load(s: &[i8], off: usize) -> v128 {
    let v = &s[off..off + 16];
    // SAFETY: `v` is a 16-byte slice (bounds checked above); v128_load allows unaligned reads.
    unsafe { v128_load(v.as_ptr() as *const v128) }
}

#[inline(always)]
fn load_f32(s: &[f32], off: usize) -> v128 {
    let v = &s[off..off + 4];
    // SAFETY: `v` holds 4 f32 = 16 bytes (bounds checked above); unaligned reads are allowed.
    unsafe { v128_load(v.as_ptr() as *const v128) }
}

#[inline(always)]
#[allow(dead_code)]
fn load_i32(s: &[i32], off: usize) -> v128 {
    let v = &s[off..off + 4];
    // SAFETY: `v` holds 4 i32 = 16 bytes (bounds checked above); unaligned reads are allowed.
    unsafe { v128_load(v.as_ptr() as *const v128) }
}

/// One `MR x NR` output tile over `groups` groups.
#[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
#[inline]
pub(super) fn tile(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    wc: &[i32],
    out: &mut [[f32; NR]; MR],
) {
    // Only compiled in builds that opted into relaxed SIMD (the whole module then requires it).
    #[allow(unused_unsafe)]
    unsafe {
        tile_impl(groups, xq, wq, xs, ws, wc, out)
    }
}

/// One `MR x NR` output tile over `groups` groups.
#[cfg(not(any(target_feature = "relaxed-simd", feature = "relaxed-simd")))]
#[inline]
pub(super) fn tile(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    wc: &[i32],
    out: &mut [[f32; NR]; MR],
) {
    tile_impl(groups, xq, wq, xs, ws, wc, out)
}

#[cfg_attr(
    any(target_feature = "relaxed-simd", feature = "relaxed-simd"),
    target_feature(enable = "relaxed-simd")
)]
#[inline]
fn tile_impl(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    #[allow(unused_variables)] wc: &[i32],
    out: &mut [[f32; NR]; MR],
) {
    let mut facc = [[f32x4_splat(0.0); NR]; MR];
    let chunks = xq
        .chunks_exact(TILE_GROUP_BYTES)
        .zip(wq.chunks_exact(TILE_GROUP_BYTES))
        .take(groups);
    for (g, (x, w)) in chunks.enumerate() {
        #[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
        let iacc = {
            let mut corr = [i32x4_splat(0); NR];
            for (c, v) in corr.iter_mut().enumerate() {
                *v = load_i32(wc, (g * NR + c) * GROUP_BLOCKS);
            }
            let mut iacc = [corr; MR];
            for s in 0..8 {
                let o = s * 64;
                let xv = [
                    load(x, o),
                    load(x, o + 16),
                    load(x, o + 32),
                    load(x, o + 48),
                ];
                let wv = [
                    load(w, o),
                    load(w, o + 16),
                    load(w, o + 32),
                    load(w, o + 48),
                ];
                for r in 0..MR {
                    for c in 0..NR {
                        iacc[r][c] = i32x4_relaxed_dot_i8x16_i7x16_add(wv[c], xv[r], iacc[r][c]);
                    }
                }
            }
            iacc
        };

        #[cfg(not(any(target_feature = "relaxed-simd", feature = "relaxed-simd")))]
        let iacc = {
            let mut iacc = [[i32x4_splat(0); NR]; MR];
            for s in 0..8 {
                let o = s * 64;
                let mut xl = [i32x4_splat(0); MR];
                let mut xh = [i32x4_splat(0); MR];
                for r in 0..MR {
                    let v = load(x, o + r * 16);
                    xl[r] = i16x8_extend_low_i8x16(v);
                    xh[r] = i16x8_extend_high_i8x16(v);
                }
                for c in 0..NR {
                    let v = load(w, o + c * 16);
                    let wl = i16x8_extend_low_i8x16(v);
                    let wh = i16x8_extend_high_i8x16(v);
                    for r in 0..MR {
                        let d = i32x4_add(i32x4_dot_i16x8(xl[r], wl), i32x4_dot_i16x8(xh[r], wh));
                        iacc[r][c] = i32x4_add(iacc[r][c], d);
                    }
                }
            }
            iacc
        };

        for r in 0..MR {
            let dx = load_f32(xs, (g * MR + r) * GROUP_BLOCKS);
            for c in 0..NR {
                let dw = load_f32(ws, (g * NR + c) * GROUP_BLOCKS);
                let s = f32x4_mul(dx, dw);
                facc[r][c] = f32x4_add(facc[r][c], f32x4_mul(f32x4_convert_i32x4(iacc[r][c]), s));
            }
        }
    }
    for r in 0..MR {
        for c in 0..NR {
            let a = facc[r][c];
            out[r][c] = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
                + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
        }
    }
}
