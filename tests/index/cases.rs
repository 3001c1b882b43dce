//! Checks shared by `tests/index.rs` (native) and `tests/index_wasm.rs` (wasm32 in Chromium),
//! so both targets' kernels face the same cases.

use clipsearch::index::{dot, simd};

/// `simd::dot4` gives each vector's `dot` to the bit, at lengths on both sides of every lane
/// boundary, with values drawn from `next`; vectors of other lengths than the query are
/// truncated as `dot` truncates them.
pub fn dot4_matches_dot_to_the_bit(mut next: impl FnMut() -> f32) {
    for len in [
        0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 512, 768, 1000,
    ] {
        let mut v = || -> Vec<f32> { (0..len).map(|_| next()).collect() };
        let (q, a, b, c, d) = (v(), v(), v(), v(), v());
        let got = simd::dot4(&q, [&a, &b, &c, &d]);
        for (g, x) in got.iter().zip([&a, &b, &c, &d]) {
            assert_eq!(g.to_bits(), dot(&q, x).to_bits(), "len {len}");
        }
    }
    let q = [1.0, 2.0, 3.0];
    let got = simd::dot4(&q, [&[1.0, 1.0], &[1.0; 3], &[1.0; 4], &[]]);
    assert_eq!(got, [3.0, 6.0, 6.0, 0.0]);
}
