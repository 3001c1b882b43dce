//! Int8 kernels (native build): the packed micro-kernel against the naive reference, lossless
//! q8_0 loading, accuracy against f32, candle interop and typed errors.
//! The same checks run in wasm32 (simd128 and relaxed-simd builds) from `tests/kernels_wasm.rs`.

#[path = "kernels/cases.rs"]
mod cases;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use clipsearch::kernels::{PackedQ8, Q8Linear};

const SEEDS: [u64; 3] = [1, 0x5eed_cafe, 20261121];

#[test]
fn packed_matmul_equals_the_naive_reference_on_random_shapes() {
    for seed in SEEDS {
        cases::packed_matmul_equals_naive_reference(seed);
    }
}

#[test]
fn packing_keeps_exactly_the_q8_0_values_and_scales() {
    cases::unpacked_rows_are_the_q8_0_quantization(SEEDS[0]);
}

#[test]
fn q8_0_blocks_load_without_further_loss() {
    cases::q8_0_blocks_load_losslessly(SEEDS[1]);
}

#[test]
fn quantized_product_is_close_to_the_f32_product() {
    let cos = cases::matmul_is_close_to_f32(SEEDS[2]);
    assert!(cos >= 0.9995, "worst row cosine {cos}");
}

#[test]
fn bad_shapes_and_values_get_typed_errors() {
    cases::bad_input_gets_typed_errors();
}

#[test]
fn candle_q8_0_blocks_are_read_exactly_as_ours() {
    let seed = SEEDS[0];
    println!("seed {seed}");
    let mut rng = cases::Rng::new(seed);
    let (n, k) = (9, 96);
    let w = rng.vec(n * k);
    let t = Tensor::from_vec(w.clone(), (n, k), &Device::Cpu).expect("tensor");
    let qt = QTensor::quantize(&t, GgmlDType::Q8_0).expect("quantize");
    let raw = qt.data().expect("bytes");
    assert_eq!(raw.as_ref(), cases::q8_0_bytes(&w, k).as_slice());
    let ours = PackedQ8::from_f32(&w, n, k).expect("valid");
    let theirs = PackedQ8::from_q8_0_blocks(&raw, n, k).expect("valid");
    for j in 0..n {
        assert_eq!(ours.unpack_row(j), theirs.unpack_row(j), "row {j}");
    }
}

#[test]
fn q8_linear_matches_candle_qmatmul_on_3d_input() {
    let seed = SEEDS[1];
    println!("seed {seed}");
    let mut rng = cases::Rng::new(seed);
    let (n, k) = (30, 256);
    let w: Vec<f32> = (0..n * k).map(|_| rng.uniform() * 0.05).collect();
    let b = rng.vec(n);
    let x = rng.vec(2 * 25 * k);
    let wt = Tensor::from_vec(w, (n, k), &Device::Cpu).expect("tensor");
    let bt = Tensor::from_vec(b, n, &Device::Cpu).expect("tensor");
    let xt = Tensor::from_vec(x, (2, 25, k), &Device::Cpu).expect("tensor");
    let qt = QTensor::quantize(&wt, GgmlDType::Q8_0).expect("quantize");
    let ours = Q8Linear::from_qtensor(&qt, Some(&bt)).expect("valid");
    let y = ours.forward(&xt).expect("forward");
    assert_eq!(y.dims(), &[2, 25, n]);
    let candle = QMatMul::from_qtensor(qt)
        .expect("qmatmul")
        .forward(&xt)
        .and_then(|t| t.broadcast_add(&bt))
        .expect("candle forward");
    let a = y
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("vec");
    let c = candle
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("vec");
    // Both quantize activations to q8_0 blocks; candle stores their scale in f16, we keep f32.
    let scale = c.iter().fold(0f32, |s, v| s.max(v.abs()));
    for (i, (p, q)) in a.iter().zip(&c).enumerate() {
        assert!(
            (p - q).abs() <= 5e-3 * scale,
            "seed {seed} at {i}: ours {p} candle {q}"
        );
    }
    // Also usable through candle's Module trait.
    let via_trait = Module::forward(&ours, &xt).expect("forward");
    assert_eq!(
        via_trait
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("vec"),
        a
    );
    assert!(ours
        .forward(&Tensor::zeros((2, 5), candle_core::DType::F32, &Device::Cpu).expect("t"))
        .is_err());
}

#[test]
fn fast_quick_gelu_and_softmax_match_their_f64_definitions() {
    cases::fastmath_matches_f64_definitions(SEEDS[0]);
}

/// Native builds run the portable kernel: there is no relaxed dot form to probe or force.
#[test]
fn native_builds_have_no_relaxed_dot_form() {
    use clipsearch::kernels::{relaxed_dot_form, set_relaxed_dot_form, DotForm};
    assert_eq!(relaxed_dot_form(), None);
    set_relaxed_dot_form(Some(DotForm::Split));
    assert_eq!(relaxed_dot_form(), None);
    set_relaxed_dot_form(None);
    assert_eq!(DotForm::Split.as_str(), "split");
    assert_eq!(DotForm::Fused.as_str(), "fused");
}

/// The attention core of both encoders against its f64 definition (see the case).
#[test]
fn attention_matches_its_definition() {
    cases::attention_matches_its_definition(SEEDS[1]);
}
