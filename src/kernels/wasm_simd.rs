//! wasm32 SIMD micro-kernels over the packed layout (see `PackedQ8`).
//!
//! - `simd128`: `v128.load8x8_s` (load + sign-extend to `i16x8`) then `i32x4.dot_i16x8_s` (8 MACs
//!   per dot), 2 activation rows x 4 weight columns at a time (see `group_2x4`).
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

#[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
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

#[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
#[inline(always)]
fn load_i32(s: &[i32], off: usize) -> v128 {
    let v = &s[off..off + 4];
    // SAFETY: `v` holds 4 i32 = 16 bytes (bounds checked above); unaligned reads are allowed.
    unsafe { v128_load(v.as_ptr() as *const v128) }
}

/// `a * b + c` on `f32x4`: one fused `f32x4.relaxed_madd` in the relaxed-SIMD module (an FMA on
/// x64 with FMA3, multiply then add elsewhere; the engine decides, which is within the kernel's
/// tolerance), multiply then add in the simd128 module.
#[inline(always)]
pub(super) fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
    {
        // SAFETY: compiled only into the relaxed-SIMD module (see `tile`).
        #[allow(unused_unsafe)]
        unsafe {
            f32x4_relaxed_madd(a, b, c)
        }
    }
    #[cfg(not(any(target_feature = "relaxed-simd", feature = "relaxed-simd")))]
    {
        f32x4_add(f32x4_mul(a, b), c)
    }
}

/// One (tile, group) of relaxed-SIMD work for 2 activation rows (`half` 0: rows 0-1, 1: rows
/// 2-3) by the 4 weight columns: 8 `i32x4` accumulators (lane `j` = block `j` of the group),
/// starting from the weights' `-64 * sum(q)` corrections.
///
/// The group's 8 steps stay a loop (`steps` is 8, hidden from LLVM by the caller): unrolled,
/// LLVM issues all 48 loads first and V8 spills most of them (x64 has 16 SIMD registers); as a
/// loop only one step's 2 activation and 1 weight vector are live beside the 8 accumulators,
/// which made the kernel 1.45x faster in Chromium (benches/RESULTS-kernels.md).
///
/// `SPLIT` picks how each 16-value dot product is written (see [`super::DotForm`]): fused as
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` (one `vpdpbusd` with AVX-VNNI, but five instructions
/// without it, as V8 rebuilds a vector of 1s for every dot), or split as
/// `i16x8.relaxed_dot_i8x16_i7x16_s` (`pmaddubsw`) + `i32x4.dot_i16x8_s` by `ones` (`pmaddwd`;
/// `ones` is a vector of 1s LLVM cannot see through, or it fuses the pair back) + `i32x4.add`.
/// Both are exact: an `i16` lane of the split form holds two products of at most 127 * 127.
#[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
#[target_feature(enable = "relaxed-simd")]
#[inline]
fn group_2x4_relaxed<const SPLIT: bool>(
    x: &[i8; TILE_GROUP_BYTES],
    w: &[i8; TILE_GROUP_BYTES],
    corr: &[i32],
    half: usize,
    steps: usize,
    ones: v128,
) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for c in 0..NR {
        let v = load_i32(corr, c * GROUP_BLOCKS);
        acc[c] = v;
        acc[NR + c] = v;
    }
    let mut s = 0;
    while s < steps {
        let o = s * 64;
        let (Some(xs), Some(ws)) = (x.get(o + half * 32..o + half * 32 + 32), w.get(o..o + 64))
        else {
            break; // unreachable: steps is 8
        };
        let x0 = load(xs, 0);
        let x1 = load(xs, 16);
        for c in 0..NR {
            let wv = load(ws, c * 16);
            if SPLIT {
                let d0 = i16x8_relaxed_dot_i8x16_i7x16(wv, x0);
                let d1 = i16x8_relaxed_dot_i8x16_i7x16(wv, x1);
                acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(d0, ones));
                acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(d1, ones));
            } else {
                acc[c] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, x0, acc[c]);
                acc[NR + c] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, x1, acc[NR + c]);
            }
        }
        s += 1;
    }
    acc
}

/// True when this engine computes `i32x4.relaxed_dot_i8x16_i7x16_add_s` through `pmaddubsw`
/// (x64 without AVX-VNNI), which saturates each pair of products to `i16`: with operands out of
/// the instruction's defined range (`255` as the 7-bit operand, treated as unsigned by x64
/// engines) a lane then reads `2 * 32767`; `vpdpbusd` gives `4 * 127 * 255` and Arm's signed
/// dot `-4 * 127`. The same probe as onnxruntime's MLAS (`HasUSDot`).
#[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
pub(super) fn dot_saturates_pairs() -> bool {
    let a = core::hint::black_box(i8x16_splat(127));
    let b = core::hint::black_box(u8x16_splat(255));
    // SAFETY: compiled only into the relaxed-SIMD module (see `tile`).
    #[allow(unused_unsafe)]
    let r = unsafe { i32x4_relaxed_dot_i8x16_i7x16_add(a, b, i32x4_splat(0)) };
    i32x4_extract_lane::<0>(r) == 2 * i16::MAX as i32
}

/// One `MR x NR` output tile over `groups` groups, relaxed SIMD (see [`group_2x4_relaxed`]);
/// `split` picks the dot product's form.
#[cfg(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))]
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) fn tile(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    wc: &[i32],
    out: &mut [[f32; NR]; MR],
    split: bool,
) {
    // Opaque to LLVM (see `group_2x4_relaxed`); a stack round trip once per tile.
    let steps = core::hint::black_box(8);
    let ones = core::hint::black_box(i16x8_splat(1));
    // SAFETY (both closures): this code is only compiled into the relaxed-SIMD module, which
    // requires the feature as a whole (the loader picks it only where the engine validates it).
    if split {
        tile_2x4_halves(groups, xq, wq, xs, ws, wc, out, |x, w, corr, half| {
            #[allow(unused_unsafe)]
            unsafe {
                group_2x4_relaxed::<true>(x, w, corr, half, steps, ones)
            }
        })
    } else {
        tile_2x4_halves(groups, xq, wq, xs, ws, wc, out, |x, w, corr, half| {
            #[allow(unused_unsafe)]
            unsafe {
                group_2x4_relaxed::<false>(x, w, corr, half, steps, ones)
            }
        })
    }
}

/// One `MR x NR` output tile over `groups` groups as two passes of 2 activation rows x 4 weight
/// columns: `group` gives one pass's 8 `i32x4` accumulators for one group (lane `j` = block `j`,
/// see the module docs), which are scaled by the activation and weight block scales and summed
/// in `f32` (one multiply-add per output and group, no horizontal reduction until the end).
/// Shared by both kernels; `wc` holds the relaxed kernel's per-block weight corrections (empty
/// in the simd128 module).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_2x4_halves(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    wc: &[i32],
    out: &mut [[f32; NR]; MR],
    group: impl Fn(&[i8; TILE_GROUP_BYTES], &[i8; TILE_GROUP_BYTES], &[i32], usize) -> [v128; 2 * NR],
) {
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        let chunks = xq
            .chunks_exact(TILE_GROUP_BYTES)
            .zip(wq.chunks_exact(TILE_GROUP_BYTES))
            .take(groups);
        for (g, (x, w)) in chunks.enumerate() {
            let (Ok(x), Ok(w)) = (
                <&[i8; TILE_GROUP_BYTES]>::try_from(x),
                <&[i8; TILE_GROUP_BYTES]>::try_from(w),
            ) else {
                continue; // unreachable: chunks_exact
            };
            let corr = wc
                .get(g * NR * GROUP_BLOCKS..(g + 1) * NR * GROUP_BLOCKS)
                .unwrap_or(&[]);
            let iacc = group(x, w, corr, half);
            // Each scale vector is loaded once per group (not once per output).
            let dw: [v128; NR] =
                core::array::from_fn(|c| load_f32(ws, (g * NR + c) * GROUP_BLOCKS));
            for rr in 0..2 {
                let dx = load_f32(xs, (g * MR + half * 2 + rr) * GROUP_BLOCKS);
                for c in 0..NR {
                    let i = rr * NR + c;
                    facc[i] = madd(f32x4_convert_i32x4(iacc[i]), f32x4_mul(dx, dw[c]), facc[i]);
                }
            }
        }
        for rr in 0..2 {
            for c in 0..NR {
                let a = facc[rr * NR + c];
                out[half * 2 + rr][c] = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
                    + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
            }
        }
    }
}

/// Quantizes a full block of 32 activations exactly as [`super::quantize_block_act`] does
/// (`d = amax / qmax`, `q = round_ties_even(x / d)` clamped to `±qmax`), on `f32x4` lanes, and
/// adds `offset` to every value; `None` if a value is NaN or infinite (`f32x4.max` propagates
/// NaN, and the absolute maximum is then not finite).
#[inline]
pub(super) fn quantize_block(x: &[f32; 32], qmax: f32, offset: i8) -> Option<(f32, [i8; 32])> {
    let v: [v128; 8] = core::array::from_fn(|i| load_f32(x, i * 4));
    let mut m = f32x4_abs(v[0]);
    for vi in &v[1..] {
        m = f32x4_max(m, f32x4_abs(*vi));
    }
    let m = f32x4_max(m, i32x4_shuffle::<2, 3, 0, 1>(m, m));
    let m = f32x4_max(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
    let amax = f32x4_extract_lane::<0>(m);
    if !amax.is_finite() {
        return None;
    }
    let d = amax / qmax;
    let id = f32x4_splat(if d != 0.0 { 1.0 / d } else { 0.0 });
    let (lo, hi) = (f32x4_splat(-qmax), f32x4_splat(qmax));
    let q: [v128; 8] = core::array::from_fn(|i| {
        let r = f32x4_nearest(f32x4_mul(v[i], id));
        i32x4_trunc_sat_f32x4(f32x4_min(f32x4_max(r, lo), hi))
    });
    let add = i8x16_splat(offset);
    let mut out = [0i8; 32];
    for (h, chunk) in out.chunks_exact_mut(16).enumerate() {
        let a = i16x8_narrow_i32x4(q[4 * h], q[4 * h + 1]);
        let b = i16x8_narrow_i32x4(q[4 * h + 2], q[4 * h + 3]);
        let bytes = i8x16_add(i8x16_narrow_i16x8(a, b), add);
        // SAFETY: `chunk` is 16 bytes; v128 stores may be unaligned.
        unsafe { v128_store(chunk.as_mut_ptr() as *mut v128, bytes) };
    }
    Some((d, out))
}

/// Sign-extends the 8 bytes at `off` to `i16x8` (`v128.load8x8_s`: one `pmovsxbw` on x64).
#[cfg(not(any(target_feature = "relaxed-simd", feature = "relaxed-simd")))]
#[inline(always)]
fn load_ext(s: &[i8; TILE_GROUP_BYTES], off: usize) -> v128 {
    let v = &s[off..off + 8];
    // SAFETY: `v` is an 8-byte slice (bounds checked above); the load is unaligned-safe.
    unsafe { i16x8_load_extend_i8x8(v.as_ptr()) }
}

/// One (tile, group) of plain simd128 work for 2 activation rows (`half` 0: rows 0-1, 1: rows
/// 2-3) by the 4 weight columns: 8 `i32x4` accumulators, lane `j` = block `j` of the group.
///
/// Only 8 accumulators, 4 activation vectors and 2 weight vectors are live in the loop, which
/// fits x64's 16 SIMD registers (a 4x4 tile needs 16 accumulators and spills in V8); the bytes
/// are widened by the loads (`v128.load8x8_s`), and each 8-value `i32x4.dot_i16x8_s` feeds an
/// accumulator directly.
#[cfg(not(any(target_feature = "relaxed-simd", feature = "relaxed-simd")))]
#[inline(always)]
fn group_2x4(
    x: &[i8; TILE_GROUP_BYTES],
    w: &[i8; TILE_GROUP_BYTES],
    half: usize,
) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for s in 0..8 {
        let o = s * 64;
        let xo = o + half * 32;
        let x0l = load_ext(x, xo);
        let x0h = load_ext(x, xo + 8);
        let x1l = load_ext(x, xo + 16);
        let x1h = load_ext(x, xo + 24);
        for c in 0..NR {
            let wl = load_ext(w, o + c * 16);
            let wh = load_ext(w, o + c * 16 + 8);
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0l, wl));
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0h, wh));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1l, wl));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1h, wh));
        }
    }
    acc
}

/// One `MR x NR` output tile over `groups` groups, plain simd128 (see [`group_2x4`]).
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
    tile_2x4_halves(groups, xq, wq, xs, ws, wc, out, |x, w, _, half| {
        group_2x4(x, w, half)
    })
}
