//! Dot products over `f32` slices: the distance kernel of every search.
//!
//! Vectors in a collection are L2-normalised, so the dot product is the cosine similarity and
//! `1 - dot` is the distance the HNSW graph minimises.
//!
//! - Everywhere: [`dot`] keeps 8 independent accumulators over `chunks_exact(8)`, which lets
//!   LLVM vectorise the loop without reassociating a single floating-point sum (it may not
//!   reorder one accumulator, but it maps the 8 lanes onto SIMD registers: two SSE registers or
//!   one AVX register natively).
//! - On `wasm32` with `simd128` enabled (`.cargo/config.toml` sets it), [`dot`] uses explicit
//!   `core::arch::wasm32` `f32x4` intrinsics with two vector accumulators (8 lanes, the same
//!   association order as the portable version).
//! - [`dot4`] computes four dot products with one query at once, each bit-identical to [`dot`]:
//!   graph searches use it so the memory loads of four scattered vectors overlap.
//! - [`dot_naive`] is the plain sequential reference the fast paths are tested against.

/// Lanes summed independently by [`dot`]: two 128-bit vectors (wasm `simd128`, SSE), one AVX
/// register. Few enough that [`dot4`] keeps all its accumulators in registers.
const LANES: usize = 8;

/// Dot product of `a` and `b` over `min(a.len(), b.len())` elements.
///
/// Never panics: slices of different lengths are truncated to the shorter one (collections
/// check dimensions before they get here).
///
/// # Example
/// ```
/// let a = [1.0_f32, 2.0, 3.0];
/// let b = [4.0_f32, 5.0, 6.0];
/// assert_eq!(clipsearch::index::dot(&a, &b), 32.0);
/// ```
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_wasm_simd128(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dot_portable(a, b)
    }
}

/// The portable kernel: 8 independent accumulators, written so LLVM vectorises it.
///
/// # Example
/// ```
/// let v = vec![0.5_f32; 40];
/// assert!((clipsearch::index::simd::dot_portable(&v, &v) - 10.0).abs() < 1e-6);
/// ```
#[inline]
pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0_f32; LANES];
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0_f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    horizontal_sum(acc) + tail
}

/// Sums 8 lanes pairwise (the same tree the wasm kernel uses, so both agree closely).
#[inline]
fn horizontal_sum(acc: [f32; LANES]) -> f32 {
    let mut s = [0.0_f32; 4];
    for (j, lane) in s.iter_mut().enumerate() {
        *lane = acc[j] + acc[4 + j];
    }
    (s[0] + s[2]) + (s[1] + s[3])
}

/// The explicit wasm `simd128` kernel: two `f32x4` accumulators.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn dot_wasm_simd128(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::wasm32::{f32x4, f32x4_add, f32x4_extract_lane, f32x4_mul, v128};
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let load = |s: &[f32]| -> v128 { f32x4(s[0], s[1], s[2], s[3]) };
    let zero = f32x4(0.0, 0.0, 0.0, 0.0);
    let (mut s0, mut s1) = (zero, zero);
    for (x, y) in ca.zip(cb) {
        s0 = f32x4_add(s0, f32x4_mul(load(&x[0..4]), load(&y[0..4])));
        s1 = f32x4_add(s1, f32x4_mul(load(&x[4..8]), load(&y[4..8])));
    }
    let s = f32x4_add(s0, s1);
    let mut tail = 0.0_f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<2>(s))
        + (f32x4_extract_lane::<1>(s) + f32x4_extract_lane::<3>(s))
        + tail
}

/// The dot products of `q` with four vectors, each exactly (to the bit) what [`dot`] returns
/// for it: the same lanes, accumulated in the same order.
///
/// Computing four at once interleaves their memory loads. A graph search visits vectors
/// scattered in memory and waits on each one's first cache lines; four streams in flight hide
/// most of that wait.
///
/// # Example
/// ```
/// use clipsearch::index::simd::{dot, dot4};
/// let q: Vec<f32> = (0..40).map(|i| i as f32 * 0.1).collect();
/// let vs: Vec<Vec<f32>> = (0..4).map(|j| q.iter().map(|x| x - j as f32).collect()).collect();
/// let d = dot4(&q, [&vs[0], &vs[1], &vs[2], &vs[3]]);
/// for j in 0..4 {
///     assert_eq!(d[j].to_bits(), dot(&q, &vs[j]).to_bits());
/// }
/// ```
#[inline]
pub fn dot4(q: &[f32], vs: [&[f32]; 4]) -> [f32; 4] {
    let n = vs.iter().fold(q.len(), |n, v| n.min(v.len()));
    if vs.iter().any(|v| v.len() != n) || q.len() != n {
        // Mixed lengths (never in a collection): each its own `dot`, truncated as `dot` does.
        return vs.map(|v| dot(q, v));
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot4_wasm_simd128(q, vs)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dot4_portable(q, vs)
    }
}

/// [`dot4`]'s portable kernel: [`dot_portable`]'s 8 accumulators for each of the four.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline]
fn dot4_portable(q: &[f32], vs: [&[f32]; 4]) -> [f32; 4] {
    let n = q.len();
    let full = n - n % LANES;
    let (mut a0, mut a1, mut a2, mut a3) =
        ([0.0_f32; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES]);
    for (i, x) in q[..full].chunks_exact(LANES).enumerate() {
        let at = i * LANES;
        let (y0, y1, y2, y3) = (
            &vs[0][at..at + LANES],
            &vs[1][at..at + LANES],
            &vs[2][at..at + LANES],
            &vs[3][at..at + LANES],
        );
        for l in 0..LANES {
            a0[l] += x[l] * y0[l];
            a1[l] += x[l] * y1[l];
            a2[l] += x[l] * y2[l];
            a3[l] += x[l] * y3[l];
        }
    }
    let mut out = [0.0_f32; 4];
    for ((o, a), v) in out.iter_mut().zip([a0, a1, a2, a3]).zip(vs) {
        let mut tail = 0.0_f32;
        for (x, y) in q[full..].iter().zip(&v[full..]) {
            tail += x * y;
        }
        *o = horizontal_sum(a) + tail;
    }
    out
}

/// [`dot4`]'s wasm `simd128` kernel: [`dot_wasm_simd128`]'s two `f32x4` accumulators for each
/// of the four (eight in all, with the query's two: fits the 16 registers of SSE).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
fn dot4_wasm_simd128(q: &[f32], vs: [&[f32]; 4]) -> [f32; 4] {
    use core::arch::wasm32::{f32x4, f32x4_add, f32x4_extract_lane, f32x4_mul, v128};
    let n = q.len();
    let full = n - n % LANES;
    let load = |s: &[f32]| -> v128 { f32x4(s[0], s[1], s[2], s[3]) };
    let zero = f32x4(0.0, 0.0, 0.0, 0.0);
    let (mut a0, mut a1, mut a2, mut a3) = ([zero; 2], [zero; 2], [zero; 2], [zero; 2]);
    for (i, x) in q[..full].chunks_exact(LANES).enumerate() {
        let at = i * LANES;
        let (x0, x1) = (load(&x[0..4]), load(&x[4..8]));
        let (y0, y1, y2, y3) = (
            &vs[0][at..at + LANES],
            &vs[1][at..at + LANES],
            &vs[2][at..at + LANES],
            &vs[3][at..at + LANES],
        );
        a0[0] = f32x4_add(a0[0], f32x4_mul(x0, load(&y0[0..4])));
        a1[0] = f32x4_add(a1[0], f32x4_mul(x0, load(&y1[0..4])));
        a2[0] = f32x4_add(a2[0], f32x4_mul(x0, load(&y2[0..4])));
        a3[0] = f32x4_add(a3[0], f32x4_mul(x0, load(&y3[0..4])));
        a0[1] = f32x4_add(a0[1], f32x4_mul(x1, load(&y0[4..8])));
        a1[1] = f32x4_add(a1[1], f32x4_mul(x1, load(&y1[4..8])));
        a2[1] = f32x4_add(a2[1], f32x4_mul(x1, load(&y2[4..8])));
        a3[1] = f32x4_add(a3[1], f32x4_mul(x1, load(&y3[4..8])));
    }
    let mut out = [0.0_f32; 4];
    for ((o, a), v) in out.iter_mut().zip([a0, a1, a2, a3]).zip(vs) {
        let s = f32x4_add(a[0], a[1]);
        let mut tail = 0.0_f32;
        for (x, y) in q[full..].iter().zip(&v[full..]) {
            tail += x * y;
        }
        *o = (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<2>(s))
            + (f32x4_extract_lane::<1>(s) + f32x4_extract_lane::<3>(s))
            + tail;
    }
    out
}

/// `2^112`: scales an `f16`'s exponent and mantissa, placed in an `f32`'s bits, to its value.
const F16_SCALE: f32 = f32::from_bits((127 + 112) << 23);

/// The `f32` value of the `f16` with bits `h` (exact for every finite `f16`, subnormals and
/// `-0` included; collections never store infinities or NaN).
///
/// The exponent and mantissa move to an `f32`'s bits 27..13 and the sign to bit 31, which reads
/// as the value divided by `2^112`; one multiplication, exact for every finite `f16`, restores
/// it. The SIMD kernels do the same on four lanes at once.
///
/// # Example
/// ```
/// use clipsearch::index::simd::f16_to_f32;
/// assert_eq!(f16_to_f32(0x3c00), 1.0);
/// assert_eq!(f16_to_f32(0xc000), -2.0);
/// assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
/// ```
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    f32::from_bits((((h as i16 as i32) << 13) as u32) & 0x8fff_e000) * F16_SCALE
}

/// Rounds `x` to the nearest `f16` (ties to even) and returns its bits.
///
/// # Example
/// ```
/// use clipsearch::index::simd::{f16_to_f32, f32_to_f16};
/// assert_eq!(f16_to_f32(f32_to_f16(0.1)), 0.099975586);
/// ```
#[inline]
pub fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

/// [`dot`] of `q` with an `f16` vector: exactly (to the bit) `dot(q, w)` where `w` holds the
/// `f32` values of `h` ([`f16_to_f32`]): the same lanes, accumulated in the same order, on
/// values widened exactly. Collections with [`VectorType::F16`](super::VectorType) score with it.
///
/// # Example
/// ```
/// use clipsearch::index::simd::{dot, dot_f16, f16_to_f32, f32_to_f16};
/// let q: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
/// let h: Vec<u16> = (0..40).map(|i| f32_to_f16((i as f32 * 0.11).cos())).collect();
/// let w: Vec<f32> = h.iter().map(|&x| f16_to_f32(x)).collect();
/// assert_eq!(dot_f16(&q, &h).to_bits(), dot(&q, &w).to_bits());
/// ```
#[inline]
pub fn dot_f16(q: &[f32], h: &[u16]) -> f32 {
    let n = q.len().min(h.len());
    let (q, h) = (&q[..n], &h[..n]);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_f16_wasm_simd128(q, h)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dot_f16_portable(q, h)
    }
}

/// [`dot_f16`]'s portable kernel: [`dot_portable`] on each chunk of 8 widened values.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline]
fn dot_f16_portable(q: &[f32], h: &[u16]) -> f32 {
    let cq = q.chunks_exact(LANES);
    let ch = h.chunks_exact(LANES);
    let (rq, rh) = (cq.remainder(), ch.remainder());
    let mut acc = [0.0_f32; LANES];
    for (x, y) in cq.zip(ch) {
        for i in 0..LANES {
            acc[i] += x[i] * f16_to_f32(y[i]);
        }
    }
    let mut tail = 0.0_f32;
    for (x, &y) in rq.iter().zip(rh) {
        tail += x * f16_to_f32(y);
    }
    horizontal_sum(acc) + tail
}

/// [`dot_f16`]'s wasm `simd128` kernel: eight `f16` in one load, widened on two `f32x4`
/// (sign-extend, shift, mask, scale), then [`dot_wasm_simd128`]'s two accumulators.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
fn dot_f16_wasm_simd128(q: &[f32], h: &[u16]) -> f32 {
    use core::arch::wasm32::{
        f32x4, f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat, i32x4_extend_high_i16x8,
        i32x4_extend_low_i16x8, i32x4_shl, u32x4_splat, v128, v128_and, v128_load,
    };
    let cq = q.chunks_exact(LANES);
    let ch = h.chunks_exact(LANES);
    let (rq, rh) = (cq.remainder(), ch.remainder());
    let load = |s: &[f32]| -> v128 { f32x4(s[0], s[1], s[2], s[3]) };
    let mask = u32x4_splat(0x8fff_e000);
    let scale = f32x4_splat(F16_SCALE);
    let widen = |x: v128| f32x4_mul(v128_and(i32x4_shl(x, 13), mask), scale);
    let zero = f32x4(0.0, 0.0, 0.0, 0.0);
    let (mut s0, mut s1) = (zero, zero);
    for (x, y) in cq.zip(ch) {
        // SAFETY: `y` is 8 `u16`, 16 readable bytes; `v128_load` has no alignment requirement.
        let v = unsafe { v128_load(y.as_ptr().cast::<v128>()) };
        let (lo, hi) = (
            widen(i32x4_extend_low_i16x8(v)),
            widen(i32x4_extend_high_i16x8(v)),
        );
        s0 = f32x4_add(s0, f32x4_mul(load(&x[0..4]), lo));
        s1 = f32x4_add(s1, f32x4_mul(load(&x[4..8]), hi));
    }
    let s = f32x4_add(s0, s1);
    let mut tail = 0.0_f32;
    for (x, &y) in rq.iter().zip(rh) {
        tail += x * f16_to_f32(y);
    }
    (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<2>(s))
        + (f32x4_extract_lane::<1>(s) + f32x4_extract_lane::<3>(s))
        + tail
}

/// [`dot_f16`] of `q` with four `f16` vectors at once, each exactly (to the bit) what
/// [`dot_f16`] returns for it (as [`dot4`] is to [`dot`]): graph searches over `f16`
/// collections use it, and exact scans score four items at a time with it.
///
/// # Example
/// ```
/// use clipsearch::index::simd::{dot4_f16, dot_f16, f32_to_f16};
/// let q: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
/// let hs: Vec<Vec<u16>> = (0..4)
///     .map(|j| (0..40).map(|i| f32_to_f16((i as f32 * 0.11 + j as f32).cos())).collect())
///     .collect();
/// let d = dot4_f16(&q, [&hs[0], &hs[1], &hs[2], &hs[3]]);
/// for j in 0..4 {
///     assert_eq!(d[j].to_bits(), dot_f16(&q, &hs[j]).to_bits());
/// }
/// ```
#[inline]
pub fn dot4_f16(q: &[f32], hs: [&[u16]; 4]) -> [f32; 4] {
    let n = q.len();
    if hs.iter().any(|h| h.len() != n) {
        // Mixed lengths (never in a collection): each its own `dot_f16`.
        return hs.map(|h| dot_f16(q, h));
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot4_f16_wasm_simd128(q, hs)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        hs.map(|h| dot_f16_portable(q, h))
    }
}

/// [`dot4_f16`]'s wasm `simd128` kernel: [`dot4_wasm_simd128`]'s accumulators, on `f16` values
/// widened as [`dot_f16`] widens them.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
fn dot4_f16_wasm_simd128(q: &[f32], hs: [&[u16]; 4]) -> [f32; 4] {
    use core::arch::wasm32::{
        f32x4, f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat, i32x4_extend_high_i16x8,
        i32x4_extend_low_i16x8, i32x4_shl, u32x4_splat, v128, v128_and, v128_load,
    };
    let n = q.len();
    let full = n - n % LANES;
    let load = |s: &[f32]| -> v128 { f32x4(s[0], s[1], s[2], s[3]) };
    let mask = u32x4_splat(0x8fff_e000);
    let scale = f32x4_splat(F16_SCALE);
    let widen = |x: v128| f32x4_mul(v128_and(i32x4_shl(x, 13), mask), scale);
    let zero = f32x4(0.0, 0.0, 0.0, 0.0);
    let mut acc = [[zero; 2]; 4];
    for (i, x) in q[..full].chunks_exact(LANES).enumerate() {
        let at = i * LANES;
        let (x0, x1) = (load(&x[0..4]), load(&x[4..8]));
        for (a, h) in acc.iter_mut().zip(hs) {
            // SAFETY: `at + 8 <= full <= h.len()`: 16 readable bytes; no alignment needed.
            let v = unsafe { v128_load(h[at..at + LANES].as_ptr().cast::<v128>()) };
            let lo = widen(i32x4_extend_low_i16x8(v));
            let hi = widen(i32x4_extend_high_i16x8(v));
            a[0] = f32x4_add(a[0], f32x4_mul(x0, lo));
            a[1] = f32x4_add(a[1], f32x4_mul(x1, hi));
        }
    }
    let mut out = [0.0_f32; 4];
    for ((o, a), h) in out.iter_mut().zip(acc).zip(hs) {
        let s = f32x4_add(a[0], a[1]);
        let mut tail = 0.0_f32;
        for (x, &y) in q[full..].iter().zip(&h[full..]) {
            tail += x * f16_to_f32(y);
        }
        *o = (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<2>(s))
            + (f32x4_extract_lane::<1>(s) + f32x4_extract_lane::<3>(s))
            + tail;
    }
    out
}

/// The sequential reference dot product (one accumulator, in order). Slow; for tests.
///
/// # Example
/// ```
/// assert_eq!(clipsearch::index::simd::dot_naive(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
pub fn dot_naive(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Checks that `v` is finite and non-zero and returns its L2-normalised copy.
///
/// # Errors
/// [`crate::Error::InvalidVector`] if `v` holds NaN or an infinity, or is all zeros.
///
/// # Example
/// ```
/// let v = clipsearch::index::normalized(&[3.0, 4.0]).unwrap();
/// assert_eq!(v, vec![0.6, 0.8]);
/// assert!(clipsearch::index::normalized(&[0.0, 0.0]).is_err());
/// ```
pub fn normalized(v: &[f32]) -> crate::Result<Vec<f32>> {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(crate::Error::InvalidVector(format!(
            "value {i} is {}: embeddings must be finite",
            v[i]
        )));
    }
    // Accumulate in f64 so huge or tiny finite values neither overflow nor underflow.
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(crate::Error::InvalidVector(
            "the vector is all zeros and has no direction".into(),
        ));
    }
    Ok(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect())
}
