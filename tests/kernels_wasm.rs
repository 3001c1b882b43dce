//! Int8 kernels in wasm32: the same checks as `tests/kernels.rs`, run by wasm-bindgen-test in
//! Node (default) or Chromium, once per build: `+simd128` (the `.cargo/config.toml` default)
//! and `+simd128,+relaxed-simd`. See `benches/RESULTS-kernels.md` for the commands.
#![cfg(target_arch = "wasm32")]

#[path = "kernels/cases.rs"]
mod cases;

use wasm_bindgen_test::wasm_bindgen_test;

const SEEDS: [u64; 3] = [1, 0x5eed_cafe, 20261121];

#[wasm_bindgen_test]
fn packed_matmul_equals_the_naive_reference_on_random_shapes() {
    for seed in SEEDS {
        cases::packed_matmul_equals_naive_reference(seed);
    }
}

/// The relaxed module writes its dot products in one of two forms, picked by probing the
/// engine (`kernels::relaxed_dot_form`); this machine runs only one of them unless forced. Both
/// must equal the naive reference, and each other bit for bit (the integer sums are exact).
#[wasm_bindgen_test]
fn both_relaxed_dot_forms_equal_the_reference_and_each_other() {
    use clipsearch::kernels::{relaxed_dot_form, set_relaxed_dot_form, DotForm, PackedQ8, RELAXED};
    let probed = relaxed_dot_form();
    cases::say(&format!("probed dot form: {probed:?}"));
    assert_eq!(
        probed.is_some(),
        RELAXED,
        "a dot form exactly in relaxed builds"
    );
    let (m, n, k) = (13, 37, 800);
    let mut rng = cases::Rng::new(SEEDS[1]);
    let w = rng.vec(n * k);
    let x = rng.vec(m * k);
    let p = PackedQ8::from_f32(&w, n, k).expect("valid weights");
    let mut outs = Vec::new();
    for form in [DotForm::Fused, DotForm::Split] {
        set_relaxed_dot_form(Some(form));
        assert_eq!(relaxed_dot_form(), RELAXED.then_some(form));
        for seed in SEEDS {
            cases::packed_matmul_equals_naive_reference(seed);
        }
        let mut out = vec![f32::NAN; m * n];
        p.matmul(&x, m, &mut out).expect("valid input");
        outs.push(out);
    }
    set_relaxed_dot_form(None);
    assert_eq!(
        relaxed_dot_form(),
        probed,
        "probing again gives the same form"
    );
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&outs[0]),
        bits(&outs[1]),
        "fused and split forms differ"
    );
}

#[wasm_bindgen_test]
fn packing_keeps_exactly_the_q8_0_values_and_scales() {
    cases::unpacked_rows_are_the_q8_0_quantization(SEEDS[0]);
}

#[wasm_bindgen_test]
fn q8_0_blocks_load_without_further_loss() {
    cases::q8_0_blocks_load_losslessly(SEEDS[1]);
}

#[wasm_bindgen_test]
fn quantized_product_is_close_to_the_f32_product() {
    let cos = cases::matmul_is_close_to_f32(SEEDS[2]);
    // 7-bit activations (relaxed-simd build) are coarser than q8_0's 8 bits.
    let floor = match clipsearch::kernels::ACT_QUANT {
        clipsearch::kernels::ActQuant::I8 => 0.9995,
        clipsearch::kernels::ActQuant::U7 => 0.998,
    };
    assert!(cos >= floor, "worst row cosine {cos}");
}

#[wasm_bindgen_test]
fn bad_shapes_and_values_get_typed_errors() {
    cases::bad_input_gets_typed_errors();
}

#[wasm_bindgen_test]
fn fast_quick_gelu_and_softmax_match_their_f64_definitions() {
    cases::fastmath_matches_f64_definitions(SEEDS[0]);
}

/// The attention core of both encoders against its f64 definition (see the case).
#[wasm_bindgen_test]
fn attention_matches_its_definition() {
    cases::attention_matches_its_definition(SEEDS[1]);
}
