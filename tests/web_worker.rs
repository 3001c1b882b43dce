//! Tests that run inside a dedicated Web Worker in headless Chromium: where the package's wasm
//! lives by default. A worker has no `window`; everything must go through the global scope.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
fn the_module_runs_in_a_dedicated_worker_without_a_window() {
    let global = js_sys::global();
    assert!(global
        .dyn_ref::<web_sys::DedicatedWorkerGlobalScope>()
        .is_some());
    assert_eq!(clipsearch::wasm::version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(
        clipsearch::wasm::redact_url("https://h/p.jpg?X-Amz-Credential=k"),
        "https://h/p.jpg"
    );
}
