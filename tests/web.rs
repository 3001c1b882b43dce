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

/// `Collection.planIndex` writes each segment's vectors from the collection straight into a JS
/// `Float32Array` (a small buffer at a time): wasm memory, which never shrinks, does not grow
/// by the plan's size, and the segments built from those arrays are accepted by `applyIndex`
/// (which checks every vector to the bit).
#[wasm_bindgen_test]
fn a_plan_for_workers_does_not_copy_its_vectors_into_wasm_memory() {
    use clipsearch::wasm::{build_index_segment, JsCollection};
    use js_sys::{Array, Float32Array, Reflect, Uint8Array, JSON};
    use wasm_bindgen::JsCast;
    let (dim, n, seg) = (512usize, 3000usize, 1000usize);
    let space = JSON::parse(&format!(
        r#"{{"modelKey":"k","modelName":"m","dim":{dim},"quantization":"f32"}}"#
    ))
    .unwrap();
    let policy = JSON::parse(&format!(r#"{{"minIndexSize":100,"maxSegmentSize":{seg}}}"#)).unwrap();
    let mut c = JsCollection::new(space, policy).unwrap();
    let mut x = 7u32;
    for i in 0..n {
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 1000) as f32 / 500.0 - 1.0
            })
            .collect();
        c.upsert(i.to_string(), v, wasm_bindgen::JsValue::UNDEFINED)
            .unwrap();
    }
    let memory = || {
        wasm_bindgen::memory()
            .unchecked_into::<js_sys::WebAssembly::Memory>()
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length() as usize
    };
    let before = memory();
    let plan = c.plan_index(Some(2)).unwrap();
    let grown = memory() - before;
    let vector_bytes = n * dim * 4;
    assert!(
        grown < vector_bytes / 4,
        "wasm memory grew by {grown} bytes for a plan of {vector_bytes} bytes of vectors"
    );
    let jobs: Array = Reflect::get(&plan, &"jobs".into()).unwrap().into();
    assert_eq!(jobs.length() as usize, n / seg);
    let built = Array::new();
    for job in jobs.iter() {
        let v: Float32Array = Reflect::get(&job, &"vectors".into()).unwrap().into();
        assert_eq!(v.length() as usize, seg * dim);
        let params = Reflect::get(&job, &"params".into()).unwrap();
        let bytes = build_index_segment(v.to_vec(), dim, params).unwrap();
        built.push(&Uint8Array::from(&bytes[..]));
    }
    assert!(
        c.apply_index(built).unwrap(),
        "the built segments hold the items' vectors"
    );
    let stats = c.stats().unwrap();
    let segments = Reflect::get(&stats, &"segments".into()).unwrap();
    assert_eq!(segments.as_f64(), Some((n / seg) as f64));
}
