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
