//! Benchmark of the int8 kernels on the CLIP ViT-B/32 matmul shapes (M = 50 tokens), beside
//! candle 0.11.1's `QMatMul` (q8_0) and candle's f32 matmul, in the same run.
//!
//! Native:  `cargo run --release --example bench_kernels`
//! wasm32 (Node, simd128):
//!   `cargo run --release --target wasm32-unknown-unknown --example bench_kernels`
//! wasm32 relaxed SIMD: add
//!   `RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"'`
//! Chromium: add `WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver`.
//! Figures and the exact commands used: `benches/RESULTS-kernels.md`.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use clipsearch::kernels::{kernel_name, PackedQ8};

mod common;
use common::{now_ms, say};

/// Median over `samples` samples of the mean time of `reps` calls, `reps` chosen so a sample
/// lasts at least 40 ms (Date.now() has 1 ms resolution in wasm).
fn median_ms(samples: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t0 = now_ms();
    f();
    let one = (now_ms() - t0).max(0.05);
    let reps = ((40.0 / one).ceil() as usize).max(1);
    let mut v: Vec<f64> = (0..samples)
        .map(|_| {
            let t = now_ms();
            for _ in 0..reps {
                f();
            }
            (now_ms() - t) / reps as f64
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
    }
}

fn run() {
    let samples = 5;
    let dev = Device::Cpu;
    let mut rng = Lcg(42);
    say(&format!(
        "kernel: {}  (medians of {samples} samples; M = tokens)",
        kernel_name()
    ));
    say("shape                 M    k     n  | ours ms  GMAC/s | candle q8_0 ms GMAC/s | candle f32 ms GMAC/s");
    // (name, m, k, n, times per image)
    let shapes: [(&str, usize, usize, usize, usize); 8] = [
        // n = 4 (one weight tile): what a call costs besides the GEMM (input check, activation
        // quantization and packing).
        ("act pack 768 (n=4)", 50, 768, 4, 0),
        ("act pack 3072 (n=4)", 50, 3072, 4, 0),
        ("qkv fused 768x2304", 50, 768, 2304, 12),
        ("q|k|v 768x768", 50, 768, 768, 0),
        ("out 768x768", 50, 768, 768, 12),
        ("fc1 768x3072", 50, 768, 3072, 12),
        ("fc2 3072x768", 50, 3072, 768, 12),
        ("patch 3072x768", 49, 3072, 768, 1),
    ];
    let mut tot = [0f64; 3];
    for (name, m, k, n, per_image) in shapes {
        let w: Vec<f32> = (0..n * k).map(|_| rng.next()).collect();
        let x: Vec<f32> = (0..m * k).map(|_| rng.next() * 10.0).collect();
        let p = PackedQ8::from_f32(&w, n, k).expect("weights");
        let mut out = vec![0f32; m * n];
        let ours = median_ms(samples, || p.matmul(&x, m, &mut out).expect("matmul"));
        let wt = Tensor::from_vec(w, (n, k), &dev).expect("tensor");
        let xt = Tensor::from_vec(x, (m, k), &dev).expect("tensor");
        let qm = QMatMul::from_qtensor(QTensor::quantize(&wt, GgmlDType::Q8_0).expect("q"))
            .expect("qmatmul");
        let cq = median_ms(samples, || {
            qm.forward(&xt).expect("forward");
        });
        let wtt = wt.t().expect("t");
        let cf = median_ms(samples, || {
            xt.matmul(&wtt).expect("matmul");
        });
        let gmac = (m * k * n) as f64 / 1e9;
        say(&format!(
            "{name:<20} {m:>3} {k:>5} {n:>5} | {ours:>7.2} {:>6.1} | {cq:>14.2} {:>6.1} | {cf:>13.2} {:>6.1}",
            gmac / ours * 1e3,
            gmac / cq * 1e3,
            gmac / cf * 1e3
        ));
        for (t, v) in tot.iter_mut().zip([ours, cq, cf]) {
            *t += v * per_image as f64;
        }
    }
    say(&format!(
        "all matmuls of one ViT-B/32 image (12 x (qkv fused + out + fc1 + fc2) + patch): ours {:.1} ms, candle q8_0 {:.1} ms, candle f32 {:.1} ms",
        tot[0], tot[1], tot[2]
    ));
    attention(samples, &mut rng);
}

/// The attention core of one layer (`softmax(q kᵀ + mask) v` over all heads, from and to
/// `[1, s, heads * 64]`): ours against candle's ops (split heads, batched matmul, softmax,
/// matmul, merge heads), the path candle-transformers' CLIP takes.
fn attention(samples: usize, rng: &mut Lcg) {
    use clipsearch::kernels::attention::{attention, AttnMask, AttnShape};
    say("attention core        s heads | ours ms | candle ops ms   (per layer; x12 per image/query)");
    for (name, s, heads, causal) in [
        ("vision ViT-B/32", 50, 12, false),
        ("text 77 tokens", 77, 8, true),
        ("text 8 tokens", 8, 8, true),
    ] {
        let shape = AttnShape {
            batch: 1,
            seq: s,
            heads,
            head_dim: 64,
        };
        let e = shape.embed();
        let gen =
            |rng: &mut Lcg| -> Vec<f32> { (0..shape.len()).map(|_| rng.next() * 20.0).collect() };
        let (q, k, v) = (gen(rng), gen(rng), gen(rng));
        let mask: Vec<f32> = (0..s * s)
            .map(|x| {
                if causal && x % s > x / s {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let m = causal.then_some(AttnMask {
            values: &mask,
            batch: 0,
            head: 0,
            row: s,
        });
        let mut out = vec![0f32; shape.len()];
        let ours = median_ms(samples, || {
            attention(&q, &k, &v, shape, 0.125, m, &mut out).expect("attention")
        });
        let dev = Device::Cpu;
        let t = |x: &[f32]| Tensor::from_vec(x.to_vec(), (1, s, e), &dev).expect("tensor");
        let (qt, kt, vt) = (t(&q), t(&k), t(&v));
        let mt = Tensor::from_vec(mask.clone(), (s, s), &dev).expect("mask");
        let candle = median_ms(samples, || {
            let split = |x: &Tensor| {
                x.reshape((1, s, heads, 64))
                    .and_then(|x| x.transpose(1, 2))
                    .and_then(|x| x.contiguous())
                    .and_then(|x| x.reshape((heads, s, 64)))
                    .expect("split")
            };
            let (q, k, v) = (
                split(&(&qt * 0.125).expect("scale")),
                split(&kt),
                split(&vt),
            );
            let w = q.matmul(&k.t().expect("t")).expect("qk");
            let w = if causal {
                w.broadcast_add(&mt).expect("mask")
            } else {
                w
            };
            let w = candle_nn::ops::softmax_last_dim(&w).expect("softmax");
            let _ = w
                .matmul(&v)
                .and_then(|x| x.reshape((1, heads, s, 64)))
                .and_then(|x| x.transpose(1, 2))
                .and_then(|x| x.reshape((1, s, e)))
                .expect("pv");
        });
        say(&format!(
            "{name:<20} {s:>3} {heads:>5} | {ours:>7.3} | {candle:>13.3}"
        ));
    }
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn bench_kernels() {
    run();
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    run();
}
