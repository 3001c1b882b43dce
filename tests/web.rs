//! Tests that run inside headless Chromium through wasm-bindgen-test (`make test-wasm`).
//! They call the core exactly as the browser package does.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn the_module_runs_in_a_real_browser_page() {
    let window = web_sys::window();
    assert!(window.is_some(), "a page has a window");
    assert_eq!(clipsearch::wasm::version(), env!("CARGO_PKG_VERSION"));
}

#[wasm_bindgen_test]
fn locators_never_carry_the_presigned_query_string_in_wasm() {
    let url = "https://shots.s3.us-east-1.amazonaws.com/a/b.jpg?X-Amz-Signature=deadbeef";
    let id = clipsearch::wasm::locator(url).unwrap();
    assert_eq!(id, "s3://shots/a/b.jpg");
    let err = clipsearch::wasm::locator("ftp://h/x?X-Amz-Signature=deadbeef").unwrap_err();
    let err: js_sys::Error = err.into();
    assert_eq!(String::from(err.name()), "InvalidUrl");
    assert!(!String::from(err.message()).contains("deadbeef"));
}
