//! Element-wise math of the encoders (quick-GELU, softmax), vectorised for wasm32 `simd128`.
//!
//! wasm has no `exp` instruction: `f32::exp` compiles to a software `expf` (about 10 ns a call in
//! V8), which made the vision tower's sigmoid and softmax ~8% of an image's time. [`exp`] is
//! Cephes' `expf` (range reduction by `ln 2` split in two constants, degree-6 polynomial,
//! relative error below 2e-7 on `[-87, 88]`), written once per lane set: `f32x4` in wasm32
//! `simd128` builds, scalar elsewhere. Inputs above 88 are clamped to it and inputs below -87
//! give 0, so the result is always finite and either 0 or normal (`exp(-87) ≈ 1.6e-38`), never
//! subnormal: on Intel CPUs every operation that reads or makes a subnormal takes a microcode
//! assist, and wasm cannot turn on flush-to-zero. That is all sigmoid and a max-shifted softmax
//! need. NaN inputs give NaN.
//!
//! # Example
//! ```
//! use clipsearch::kernels::fastmath;
//! assert!((fastmath::exp(1.0) - std::f32::consts::E).abs() < 1e-6);
//! let mut row = [1.0f32, 2.0, 3.0];
//! fastmath::softmax_in_place(&mut row);
//! assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
//! ```

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 = C1 + C2, C1 exact in few bits so `n * C1` is exact for |n| <= 128.
const C1: f32 = 0.693_359_4;
const C2: f32 = -2.121_944_4e-4;
const P: [f32; 6] = [
    1.987_569_2e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    0.5,
];
const LO: f32 = -87.0;
const HI: f32 = 88.0;

/// `e^x` (Cephes `expf`; see the module docs for range and accuracy).
#[inline]
pub fn exp(x: f32) -> f32 {
    if x < LO {
        return 0.0;
    }
    // (Not `min`: NaN stays NaN.)
    let x = if x > HI { HI } else { x };
    // Round to nearest (even) with the 1.5 * 2^23 trick: no libm call on targets without a
    // rounding instruction (x86-64 baseline); |x * LOG2E| < 128, far inside the trick's range.
    let n = (x * LOG2E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * C1 - n * C2;
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let y = p * r * r + r + 1.0;
    // 2^n built in the exponent field: n is in [-126, 127] after the clamp.
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `x * sigmoid(1.702 x)` (OpenAI CLIP's `quick_gelu`) over a slice, in place.
pub fn quick_gelu_in_place(xs: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let xs = {
        let mut chunks = xs.chunks_exact_mut(4);
        for c in &mut chunks {
            simd::quick_gelu4(c);
        }
        chunks.into_remainder()
    };
    for x in xs {
        *x *= 1.0 / (1.0 + exp(-1.702 * *x));
    }
}

/// Softmax of one row, in place: `e^(x - max) / sum`. An empty row is left as is; a row of
/// `-inf` only (a fully masked row) becomes NaN, as in candle and PyTorch.
///
/// Probabilities below the smallest normal float (`f32::MIN_POSITIVE`, 1.2e-38) are written as
/// 0: masked entries (a large negative mask such as `f32::MIN`) would otherwise come out as
/// `exp(-87) / sum`, a subnormal, and every later multiplication by a subnormal takes a
/// microcode assist on Intel CPUs (wasm cannot turn on flush-to-zero). On one Xeon that made
/// a 77-token CLIP query 2.4-2.7x slower natively and in Chromium (`benches/RESULTS-model.md`).
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f32;
    {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        let rest = {
            let mut chunks = row.chunks_exact_mut(4);
            for c in &mut chunks {
                sum += simd::exp_shifted4(c, max);
            }
            chunks.into_remainder()
        };
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        let rest = &mut *row;
        for v in rest {
            // A masked entry (-inf, or f32::MIN) gives exactly 0: `exp` is 0 below -87.
            *v = exp(*v - max);
            sum += *v;
        }
    }
    for v in row.iter_mut() {
        let p = *v / sum;
        // `p >= 0`; NaN (a fully masked row) stays NaN.
        *v = if p < f32::MIN_POSITIVE { 0.0 } else { p };
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use super::{C1, C2, HI, LO, LOG2E, P};
    use core::arch::wasm32::*;

    /// [`super::exp`] on 4 lanes.
    #[inline(always)]
    pub(super) fn exp4(x: v128) -> v128 {
        let below = f32x4_lt(x, f32x4_splat(LO));
        let x = f32x4_pmin(f32x4_pmax(x, f32x4_splat(LO)), f32x4_splat(HI));
        let n = f32x4_nearest(f32x4_mul(x, f32x4_splat(LOG2E)));
        let r = f32x4_sub(
            f32x4_sub(x, f32x4_mul(n, f32x4_splat(C1))),
            f32x4_mul(n, f32x4_splat(C2)),
        );
        let mut p = f32x4_splat(P[0]);
        for &c in &P[1..] {
            p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
        }
        let y = f32x4_add(
            f32x4_add(f32x4_mul(f32x4_mul(p, r), r), r),
            f32x4_splat(1.0),
        );
        let e = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        // Below `LO`: 0, never the clamped `exp(LO)` (see the module docs).
        v128_andnot(f32x4_mul(y, e), below)
    }

    #[inline(always)]
    fn load(c: &[f32]) -> v128 {
        let c = &c[..4];
        // SAFETY: `c` holds 4 f32 = 16 bytes (bounds checked above); unaligned reads are allowed.
        unsafe { v128_load(c.as_ptr() as *const v128) }
    }

    #[inline(always)]
    fn store(c: &mut [f32], v: v128) {
        let c = &mut c[..4];
        // SAFETY: as in `load`, for a write.
        unsafe { v128_store(c.as_mut_ptr() as *mut v128, v) }
    }

    /// `x * sigmoid(1.702 x)` on 4 values.
    #[inline(always)]
    pub(super) fn quick_gelu4(c: &mut [f32]) {
        let x = load(c);
        let e = exp4(f32x4_mul(x, f32x4_splat(-1.702)));
        store(c, f32x4_div(x, f32x4_add(f32x4_splat(1.0), e)));
    }

    /// `e^(x - max)` on 4 values in place (`-inf` gives 0, as [`exp4`] does below -87);
    /// returns their sum.
    #[inline(always)]
    pub(super) fn exp_shifted4(c: &mut [f32], max: f32) -> f32 {
        let x = load(c);
        let e = exp4(f32x4_sub(x, f32x4_splat(max)));
        store(c, e);
        (f32x4_extract_lane::<0>(e) + f32x4_extract_lane::<1>(e))
            + (f32x4_extract_lane::<2>(e) + f32x4_extract_lane::<3>(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_2e_7_of_f64_exp_on_its_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(1e9).is_finite());
        // Never subnormal: 0 below -87.
        assert_eq!(exp(-1e9), 0.0);
        assert_eq!(exp(-87.5), 0.0);
        assert!(exp(-87.0).is_normal());
    }

    #[test]
    fn softmax_and_quick_gelu_match_their_definitions() {
        let mut row: Vec<f32> = (0..13).map(|i| (i as f32 - 6.0) * 0.7).collect();
        let orig = row.clone();
        row[3] = f32::NEG_INFINITY;
        let mut want: Vec<f64> = row.iter().map(|&v| (v as f64 - 5.0 * 0.7).exp()).collect();
        let s: f64 = want.iter().sum();
        want.iter_mut().for_each(|w| *w /= s);
        softmax_in_place(&mut row);
        for (g, w) in row.iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{g} vs {w}");
        }
        assert_eq!(row[3], 0.0);
        let mut g = orig.clone();
        quick_gelu_in_place(&mut g);
        for (g, x) in g.iter().zip(&orig) {
            let x = *x as f64;
            let want = x / (1.0 + (-1.702 * x).exp());
            assert!((*g as f64 - want).abs() < 1e-6, "{g} vs {want}");
        }
    }
}
