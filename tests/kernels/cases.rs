//! Checks shared by `tests/kernels.rs` (native) and `tests/kernels_wasm.rs` (wasm32, run in
//! Node or Chromium by wasm-bindgen-test), so every compiled kernel meets the same contract.
#![allow(dead_code)]

use clipsearch::kernels::{
    kernel_name, quantize_block_q8_0, reference, PackedQ8, ACT_QUANT, BLOCK,
};
use clipsearch::Error;

/// Prints to the test output (stdout natively, the console in wasm).
pub fn say(s: &str) {
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("{}", s);
    #[cfg(not(target_arch = "wasm32"))]
    println!("{s}");
}

/// SplitMix64: small, seedable, the same on every target.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// Roughly normal (sum of uniforms), with rare large outliers like real activations.
    pub fn value(&mut self) -> f32 {
        let v = (self.uniform() + self.uniform() + self.uniform()) * 0.6;
        if self.next_u64() % 97 == 0 {
            v * 20.0
        } else {
            v
        }
    }
    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.value()).collect()
    }
}

/// Shapes `(m, n, k)`: m = 1, 50 (ViT tokens), 52; n not a multiple of 4; k not a multiple of
/// the block or of the 4-block group; the CLIP widths 768 and 3072.
pub const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 5, 31),
    (2, 3, 32),
    (3, 4, 33),
    (4, 13, 129),
    (5, 8, 200),
    (50, 7, 100),
    (52, 9, 768),
    (50, 6, 3072),
    (1, 17, 768),
    (7, 4, 160),
];

/// Reference output for row `x` against weight row `w`: quantize both the naive way, then
/// the block-by-block sum. Returns `(value, allowed error)`; the allowed error is only what
/// `f32` summation in another order can produce (`(blocks + 4) * eps * sum |terms|`).
pub fn reference_one(x: &[f32], w: &[f32]) -> (f32, f32) {
    let (xq, xd) = reference::quantize_row(x, ACT_QUANT);
    let mut wq = Vec::new();
    let mut wd = Vec::new();
    for blk in w.chunks(BLOCK) {
        let mut q = [0i8; BLOCK];
        wd.push(quantize_block_q8_0(blk, &mut q));
        wq.extend_from_slice(&q[..blk.len()]);
    }
    let (v, mag) = reference::dot_q_with_magnitude(&xq, &xd, &wq, &wd);
    let tol = (xd.len() as f32 + 4.0) * f32::EPSILON * mag + f32::MIN_POSITIVE;
    (v, tol)
}

/// Every shape in [`SHAPES`], with weights quantized from f32, equals the naive reference.
pub fn packed_matmul_equals_naive_reference(seed: u64) {
    say(&format!(
        "kernel {} ({:?} activations), seed {seed}",
        kernel_name(),
        ACT_QUANT
    ));
    let mut rng = Rng::new(seed);
    for &(m, n, k) in SHAPES {
        let w = rng.vec(n * k);
        let x = rng.vec(m * k);
        let bias = rng.vec(n);
        let p = PackedQ8::from_f32(&w, n, k).expect("valid weights");
        let mut out = vec![f32::NAN; m * n];
        p.matmul_bias(&x, m, Some(&bias), &mut out)
            .expect("valid input");
        for i in 0..m {
            for j in 0..n {
                let (r, tol) = reference_one(&x[i * k..(i + 1) * k], &w[j * k..(j + 1) * k]);
                let got = out[i * n + j] - bias[j];
                assert!(
                    (got - r).abs() <= tol + bias[j].abs() * f32::EPSILON,
                    "seed {seed} shape m={m} n={n} k={k} at ({i},{j}): kernel {got} vs reference {r} (tol {tol})"
                );
            }
        }
    }
}

/// Packing keeps exactly the q8_0 values and scales of each weight row.
pub fn unpacked_rows_are_the_q8_0_quantization(seed: u64) {
    say(&format!("seed {seed}"));
    let mut rng = Rng::new(seed);
    for &(_, n, k) in SHAPES {
        let w = rng.vec(n * k);
        let p = PackedQ8::from_f32(&w, n, k).expect("valid weights");
        for j in 0..n {
            let (q, d) = p.unpack_row(j).expect("row in range");
            let row = &w[j * k..(j + 1) * k];
            for (b, blk) in row.chunks(BLOCK).enumerate() {
                let mut want = [0i8; BLOCK];
                let wd = quantize_block_q8_0(blk, &mut want);
                assert_eq!(d[b], wd, "seed {seed} n={n} k={k} row {j} block {b} scale");
                assert_eq!(
                    &q[b * BLOCK..b * BLOCK + blk.len()],
                    &want[..blk.len()],
                    "seed {seed} n={n} k={k} row {j} block {b} values"
                );
            }
        }
        assert!(p.unpack_row(n).is_none());
    }
}

/// Serialises q8_0 blocks (f16 scale little-endian + 32 i8) the GGUF way.
pub fn q8_0_bytes(w: &[f32], k: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    for row in w.chunks(k) {
        for blk in row.chunks(BLOCK) {
            let mut q = [0i8; BLOCK];
            let d = quantize_block_q8_0(blk, &mut q);
            raw.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
            raw.extend(q.iter().map(|&v| v as u8));
        }
    }
    raw
}

/// Weights loaded from q8_0 blocks give bit-identical results to the same weights from f32.
pub fn q8_0_blocks_load_losslessly(seed: u64) {
    say(&format!("seed {seed}"));
    let mut rng = Rng::new(seed);
    for &(m, n, k) in SHAPES.iter().filter(|s| s.2 % BLOCK == 0) {
        let w = rng.vec(n * k);
        let x = rng.vec(m * k);
        let a = PackedQ8::from_f32(&w, n, k).expect("valid");
        let b = PackedQ8::from_q8_0_blocks(&q8_0_bytes(&w, k), n, k).expect("valid");
        let (mut oa, mut ob) = (vec![0f32; m * n], vec![0f32; m * n]);
        a.matmul(&x, m, &mut oa).expect("valid");
        b.matmul(&x, m, &mut ob).expect("valid");
        assert_eq!(oa, ob, "seed {seed} shape m={m} n={n} k={k}");
    }
}

/// The quantized product stays close to the exact f32 product (cosine per output row).
pub fn matmul_is_close_to_f32(seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let (m, n, k) = (50, 64, 768);
    let w: Vec<f32> = (0..n * k).map(|_| rng.uniform() * 0.05).collect();
    let x = rng.vec(m * k);
    let p = PackedQ8::from_f32(&w, n, k).expect("valid");
    let mut out = vec![0f32; m * n];
    p.matmul(&x, m, &mut out).expect("valid");
    let mut worst = 1f64;
    for i in 0..m {
        let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
        for j in 0..n {
            let exact: f64 = (0..k)
                .map(|t| x[i * k + t] as f64 * w[j * k + t] as f64)
                .sum();
            let got = out[i * n + j] as f64;
            dot += exact * got;
            na += exact * exact;
            nb += got * got;
        }
        worst = worst.min(dot / (na.sqrt() * nb.sqrt()));
    }
    say(&format!(
        "seed {seed}: worst row cosine vs f32 {worst:.6} ({:?})",
        ACT_QUANT
    ));
    worst
}

/// Bad shapes and values get typed errors, never a panic.
pub fn bad_input_gets_typed_errors() {
    assert!(matches!(
        PackedQ8::from_f32(&[], 0, 4),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        PackedQ8::from_f32(&[1.0; 7], 2, 4),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        PackedQ8::from_f32(&[f32::NAN; 8], 2, 4),
        Err(Error::InvalidVector(_))
    ));
    assert!(matches!(
        PackedQ8::from_q8_0_blocks(&[0; 34], 1, 31),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        PackedQ8::from_q8_0_blocks(&[0; 33], 1, 32),
        Err(Error::InvalidModel(_))
    ));
    // f16 0x7C00 is +inf.
    let mut inf = vec![0u8; 34];
    inf[1] = 0x7C;
    assert!(matches!(
        PackedQ8::from_q8_0_blocks(&inf, 1, 32),
        Err(Error::InvalidModel(_))
    ));
    let p = PackedQ8::from_f32(&[1.0; 8], 2, 4).expect("valid");
    let mut out = [0f32; 2];
    assert_eq!(
        p.matmul(&[1.0; 3], 1, &mut out),
        Err(Error::DimensionMismatch {
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        p.matmul(&[1.0; 4], 1, &mut [0f32; 3]),
        Err(Error::DimensionMismatch {
            expected: 2,
            found: 3
        })
    );
    assert!(matches!(
        p.matmul(&[1.0, f32::INFINITY, 0.0, 0.0], 1, &mut out),
        Err(Error::InvalidVector(_))
    ));
    assert!(matches!(
        p.matmul_bias(&[1.0; 4], 1, Some(&[0.0; 3]), &mut out),
        Err(Error::DimensionMismatch { .. })
    ));
    assert_eq!(p.matmul(&[], 0, &mut []), Ok(()));
    // Full blocks (quantized on f32x4 lanes in the wasm builds): NaN or ±inf anywhere, beside
    // larger and smaller values, in any row.
    let p = PackedQ8::from_f32(&[0.5; 3 * 64], 3, 64).expect("valid");
    let mut out = [0f32; 2 * 3];
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for at in [0, 1, 6, 31, 33, 64 + 17, 127] {
            let mut x: Vec<f32> = (0..2 * 64).map(|i| i as f32 - 60.0).collect();
            x[at] = bad;
            assert!(
                matches!(p.matmul(&x, 2, &mut out), Err(Error::InvalidVector(_))),
                "{bad} at {at}"
            );
        }
    }
}

/// `fastmath`'s quick-GELU and softmax (vectorised in wasm32 simd128 builds, with scalar tails)
/// against their f64 definitions, on rows whose lengths are and are not multiples of 4, with a
/// masked (-inf and f32::MIN) entry and extreme values; softmax never writes a subnormal.
/// Returns the worst absolute error.
pub fn fastmath_matches_f64_definitions(seed: u64) -> f64 {
    use clipsearch::kernels::fastmath::{quick_gelu_in_place, softmax_in_place};
    let mut rng = Rng::new(seed);
    let mut worst = 0f64;
    for len in [1usize, 3, 4, 7, 50, 77, 129] {
        let mut x: Vec<f32> = (0..len).map(|_| (rng.uniform() - 0.5) * 24.0).collect();
        if len > 4 {
            x[1] = -200.0;
            x[2] = 150.0;
        }
        let mut g = x.clone();
        quick_gelu_in_place(&mut g);
        for (g, &x) in g.iter().zip(&x) {
            let x = x as f64;
            let want = x / (1.0 + (-1.702 * x).exp());
            worst = worst.max((*g as f64 - want).abs() / want.abs().max(1.0));
        }
        if len > 4 {
            x[3] = f32::NEG_INFINITY;
            // CLIP's causal mask in the text tower adds f32::MIN.
            x[4] = f32::MIN;
        }
        let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let e: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        let mut s = x.clone();
        softmax_in_place(&mut s);
        for (s, e) in s.iter().zip(&e) {
            worst = worst.max((*s as f64 - e / sum).abs());
        }
        if len > 4 {
            assert_eq!(s[3], 0.0, "a masked entry gets exactly 0");
            assert_eq!(s[4], 0.0, "an entry masked by f32::MIN gets exactly 0");
        }
        // No subnormal probability: each would cost a microcode assist on Intel CPUs in every
        // later multiplication (wasm has no flush-to-zero).
        assert!(s.iter().all(|v| !v.is_subnormal()), "subnormal in {s:?}");
        let total: f64 = s.iter().map(|&v| v as f64).sum();
        assert!((total - 1.0).abs() < 1e-5, "softmax row sums to {total}");
    }
    say(&format!(
        "fastmath ({}): worst error {worst:e}",
        kernel_name()
    ));
    assert!(worst < 2e-6, "worst error {worst}");
    worst
}

/// The attention kernel against its definition computed in f64, on shapes whose sequence
/// length leaves a partial 4-row tile and whose head size leaves columns past the last 8-column
/// tile, without a mask and with CLIP's causal, DistilBERT's key-padding and a full per-head
/// mask. Returns the worst error relative to the largest value of `v` (outputs are averages of
/// `v`'s rows).
pub fn attention_matches_its_definition(seed: u64) -> f64 {
    use clipsearch::kernels::attention::{attention, AttnMask, AttnShape};
    let mut rng = Rng::new(seed);
    let mut worst = 0f64;
    for (batch, seq, heads, head_dim) in
        [(1, 50, 2, 64), (2, 9, 3, 12), (1, 1, 1, 4), (1, 77, 1, 16)]
    {
        let s = AttnShape {
            batch,
            seq,
            heads,
            head_dim,
        };
        let mut gen =
            |scale: f32| -> Vec<f32> { (0..s.len()).map(|_| rng.value() * scale).collect() };
        let (q, k, v) = (gen(3.0), gen(3.0), gen(1.0));
        let vmax = v.iter().fold(0f64, |m, x| m.max(x.abs() as f64));
        let causal: Vec<f32> = (0..seq * seq)
            .map(|x| {
                if x % seq > x / seq {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let padding: Vec<f32> = (0..batch * seq)
            .map(|x| {
                if x % seq == seq - 1 && seq > 1 {
                    f32::MIN
                } else {
                    0.0
                }
            })
            .collect();
        let full: Vec<f32> = (0..batch * heads * seq * seq)
            .map(|_| rng.uniform())
            .collect();
        let masks = [
            None,
            Some(AttnMask {
                values: &causal,
                batch: 0,
                head: 0,
                row: seq,
            }),
            Some(AttnMask {
                values: &padding,
                batch: seq,
                head: 0,
                row: 0,
            }),
            Some(AttnMask {
                values: &full,
                batch: heads * seq * seq,
                head: seq * seq,
                row: seq,
            }),
        ];
        let scale = (head_dim as f32).powf(-0.5);
        let e = s.embed();
        for mask in masks {
            let mut out = vec![f32::NAN; s.len()];
            attention(&q, &k, &v, s, scale, mask, &mut out).expect("attention");
            for b in 0..batch {
                for h in 0..heads {
                    let at = |t: usize, d: usize| (b * seq + t) * e + h * head_dim + d;
                    for i in 0..seq {
                        let w: Vec<f64> = (0..seq)
                            .map(|j| {
                                let dot: f64 = (0..head_dim)
                                    .map(|d| q[at(i, d)] as f64 * scale as f64 * k[at(j, d)] as f64)
                                    .sum();
                                dot + mask.map_or(0.0, |m| {
                                    m.values[b * m.batch + h * m.head + i * m.row + j] as f64
                                })
                            })
                            .collect();
                        let max = w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let p: Vec<f64> = w.iter().map(|x| (x - max).exp()).collect();
                        let sum: f64 = p.iter().sum();
                        for d in 0..head_dim {
                            let want: f64 =
                                (0..seq).map(|j| p[j] * v[at(j, d)] as f64).sum::<f64>() / sum;
                            worst = worst.max((out[at(i, d)] as f64 - want).abs() / vmax);
                        }
                    }
                }
            }
        }
    }
    say(&format!(
        "attention ({}): worst error {worst:e} of the largest |v|",
        kernel_name()
    ));
    assert!(worst < 1e-5, "worst error {worst} of the largest |v|");
    worst
}
