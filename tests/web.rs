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

/// A search's `ef` reaches the graph search through the binding: a list as long as the graph
/// finds the exact top k (what a search for more results than `ef` scans exactly), and an
/// unusable `ef` is an `InvalidArgument` error.
#[wasm_bindgen_test]
fn a_search_option_ef_reaches_the_graph_search() {
    use clipsearch::wasm::JsCollection;
    use js_sys::{Array, Reflect, JSON};
    let dim = 64usize;
    let space = JSON::parse(&format!(
        r#"{{"modelKey":"k","modelName":"m","dim":{dim},"quantization":"f32"}}"#
    ))
    .unwrap();
    let policy = JSON::parse(r#"{"minIndexSize":100}"#).unwrap();
    let mut c = JsCollection::new(space, policy).unwrap();
    let mut x = 11u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 1000) as f32 / 500.0 - 1.0
    };
    for i in 0..2000 {
        let v: Vec<f32> = (0..dim).map(|_| next()).collect();
        c.upsert(i.to_string(), v, wasm_bindgen::JsValue::UNDEFINED)
            .unwrap();
    }
    c.rebuild();
    let indexed = Reflect::get(&c.stats().unwrap(), &"indexed".into()).unwrap();
    assert_eq!(indexed.as_f64(), Some(2000.0));
    let ids = |hits: wasm_bindgen::JsValue| -> Vec<String> {
        Array::from(&hits)
            .iter()
            .map(|h| Reflect::get(&h, &"id".into()).unwrap().as_string().unwrap())
            .collect()
    };
    let (mut narrow_differs, mut wide_differs) = (0, 0);
    for _ in 0..20 {
        let q: Vec<f32> = (0..dim).map(|_| next()).collect();
        let search = |o: &str| c.search(&q, JSON::parse(o).unwrap()).unwrap();
        let exact = ids(search(r#"{"k":10,"ef":5}"#));
        assert_eq!(exact.len(), 10);
        wide_differs += usize::from(ids(search(r#"{"k":10,"ef":2000}"#)) != exact);
        narrow_differs += usize::from(ids(search(r#"{"k":10,"ef":10}"#)) != exact);
    }
    assert_eq!(wide_differs, 0, "ef 2000 over 2000 items is exact");
    assert!(
        narrow_differs > 0,
        "ef 10 over random 64-d vectors misses some"
    );
    let q = vec![0.5f32; dim];
    // What JS can pass that is not a candidate-list length: refused with a typed error, never
    // rounded or wrapped.
    for bad in [
        r#"{"k":10,"ef":0}"#,
        r#"{"k":10,"ef":1.5}"#,
        r#"{"k":10,"ef":-64}"#,
        r#"{"k":10,"ef":"64"}"#,
        r#"{"k":10,"ef":true}"#,
        r#"{"k":10,"ef":100001}"#,
    ] {
        let e = c.search(&q, JSON::parse(bad).unwrap()).unwrap_err();
        let name = Reflect::get(&e, &"name".into()).unwrap().as_string();
        assert_eq!(name.as_deref(), Some("InvalidArgument"), "{bad}");
    }
    // `null` (or no `ef`) is the policy's own.
    let search = |o: &str| c.search(&q, JSON::parse(o).unwrap()).unwrap();
    assert_eq!(
        ids(search(r#"{"k":10,"ef":null}"#)),
        ids(search(r#"{"k":10}"#))
    );
}
