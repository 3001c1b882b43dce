//! Dot products over `f32` slices: the distance kernel of every search.
//!
//! Vectors in a collection are L2-normalised, so the dot product is the cosine similarity and
//! `1 - dot` is the distance the HNSW graph minimises.
//!
//! - Everywhere: [`dot`] keeps 16 independent accumulators over `chunks_exact(16)`, which lets
//!   LLVM vectorise the loop without reassociating a single floating-point sum (it may not
//!   reorder one accumulator, but it maps the 16 lanes onto SIMD registers: AVX/AVX-512 natively).
//! - On `wasm32` with `simd128` enabled (`.cargo/config.toml` sets it), [`dot`] uses explicit
//!   `core::arch::wasm32` `f32x4` intrinsics with four vector accumulators (16 lanes, the same
//!   association order as the portable version).
//! - [`dot_naive`] is the plain sequential reference the fast paths are tested against.

/// Lanes summed independently by [`dot`]; a multiple of every SIMD width we target.
const LANES: usize = 16;

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

/// The portable kernel: 16 independent accumulators, written so LLVM vectorises it.
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

/// Sums 16 lanes pairwise (the same tree the wasm kernel uses, so both agree closely).
#[inline]
fn horizontal_sum(acc: [f32; LANES]) -> f32 {
    let mut s = [0.0_f32; 4];
    for (j, lane) in s.iter_mut().enumerate() {
        *lane = (acc[j] + acc[4 + j]) + (acc[8 + j] + acc[12 + j]);
    }
    (s[0] + s[2]) + (s[1] + s[3])
}

/// The explicit wasm `simd128` kernel: four `f32x4` accumulators.
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
    let (mut s0, mut s1, mut s2, mut s3) = (zero, zero, zero, zero);
    for (x, y) in ca.zip(cb) {
        s0 = f32x4_add(s0, f32x4_mul(load(&x[0..4]), load(&y[0..4])));
        s1 = f32x4_add(s1, f32x4_mul(load(&x[4..8]), load(&y[4..8])));
        s2 = f32x4_add(s2, f32x4_mul(load(&x[8..12]), load(&y[8..12])));
        s3 = f32x4_add(s3, f32x4_mul(load(&x[12..16]), load(&y[12..16])));
    }
    let s = f32x4_add(f32x4_add(s0, s1), f32x4_add(s2, s3));
    let mut tail = 0.0_f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<2>(s))
        + (f32x4_extract_lane::<1>(s) + f32x4_extract_lane::<3>(s))
        + tail
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
