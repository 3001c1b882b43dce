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

/// `simd::f16_to_f32` widens every finite `f16` exactly (as `half` does: normals, subnormals,
/// both zeros), `f32_to_f16` rounds to nearest, and `simd::dot_f16` gives to the bit what `dot`
/// gives on the widened values, at lengths on both sides of every lane boundary, as does each of
/// `simd::dot4_f16`'s four.
pub fn f16_kernels_widen_exactly_and_match_dot(mut next: impl FnMut() -> f32) {
    for bits in 0..=u16::MAX {
        let want = half::f16::from_bits(bits);
        if want.is_finite() {
            assert_eq!(
                simd::f16_to_f32(bits).to_bits(),
                want.to_f32().to_bits(),
                "{bits:#06x}"
            );
            assert_eq!(simd::f32_to_f16(want.to_f32()), bits, "{bits:#06x}");
        }
    }
    for len in [
        0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 512, 768, 1000,
    ] {
        let q: Vec<f32> = (0..len).map(|_| next()).collect();
        // Values of every magnitude an f16 holds, subnormals included, of both signs.
        let h: Vec<u16> = (0..len)
            .map(|i| simd::f32_to_f16(next() * [1.0, 1e-3, 1e-6, 3e-8][i % 4]))
            .collect();
        let w: Vec<f32> = h.iter().map(|&x| simd::f16_to_f32(x)).collect();
        assert!(len < 8 || h.iter().any(|&x| x & 0x7c00 == 0 && x & 0x3ff != 0));
        assert_eq!(
            simd::dot_f16(&q, &h).to_bits(),
            dot(&q, &w).to_bits(),
            "len {len}"
        );
        let others: Vec<Vec<u16>> = (0..3)
            .map(|_| (0..len).map(|_| simd::f32_to_f16(next())).collect())
            .collect();
        let four = simd::dot4_f16(&q, [&others[0], &h, &others[1], &others[2]]);
        for (g, x) in four.iter().zip([&others[0], &h, &others[1], &others[2]]) {
            assert_eq!(g.to_bits(), simd::dot_f16(&q, x).to_bits(), "len {len}");
        }
    }
    // Vectors of another length than the query: each its own `dot_f16`.
    let (q, h) = ([1.0, 2.0, 3.0], [0x3c00_u16; 4]);
    assert_eq!(
        simd::dot4_f16(&q, [&h[..2], &h[..3], &h, &[]]),
        [3.0, 6.0, 6.0, 0.0]
    );
}
