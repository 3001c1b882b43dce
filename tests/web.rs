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

/// Builds every job of a `Collection.planIndex` plan here, as the package's workers do: the
/// segments' bytes, in order, for `applyIndex`.
fn build_jobs(plan: &wasm_bindgen::JsValue, dim: usize) -> js_sys::Array {
    use clipsearch::wasm::build_index_segment;
    use js_sys::{Array, Float32Array, Reflect, Uint8Array};
    let built = Array::new();
    for job in Array::from(&Reflect::get(plan, &"jobs".into()).unwrap()).iter() {
        let v: Float32Array = Reflect::get(&job, &"vectors".into()).unwrap().into();
        let params = Reflect::get(&job, &"params".into()).unwrap();
        let bytes = build_index_segment(v.to_vec(), dim, params).unwrap();
        built.push(&Uint8Array::from(&bytes[..]));
    }
    built
}

/// `Collection.planIndex` writes each segment's vectors from the collection straight into a JS
/// `Float32Array` (a small buffer at a time): wasm memory, which never shrinks, does not grow
/// by the plan's size, and the segments built from those arrays are accepted by `applyIndex`
/// (which checks every vector to the bit).
#[wasm_bindgen_test]
fn a_plan_for_workers_does_not_copy_its_vectors_into_wasm_memory() {
    use clipsearch::wasm::JsCollection;
    use js_sys::{Array, Float32Array, Reflect, JSON};
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
    for job in jobs.iter() {
        let v: Float32Array = Reflect::get(&job, &"vectors".into()).unwrap().into();
        assert_eq!(v.length() as usize, seg * dim);
    }
    assert!(
        c.apply_index(build_jobs(&plan, dim)).unwrap(),
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

/// An `f16` collection through the binding (`vectorType: "f16"` with `quantizedScan`): items
/// read back as their values rounded to `f16`, segments built from a plan for workers (on the
/// widened values) are accepted, searches score the stored values exactly, a save/restore
/// keeps the storage and the answers, and an unknown `vectorType` is an `InvalidArgument`.
#[wasm_bindgen_test]
fn an_f16_collection_stores_rounded_vectors_and_round_trips() {
    use clipsearch::index::normalized;
    use clipsearch::index::simd::{dot, f16_to_f32, f32_to_f16};
    use clipsearch::wasm::JsCollection;
    use js_sys::{Array, Float32Array, Reflect, JSON};
    let (dim, n) = (64usize, 1500usize);
    let space = || {
        JSON::parse(&format!(
            r#"{{"modelKey":"k","modelName":"m","dim":{dim},"quantization":"f32"}}"#
        ))
        .unwrap()
    };
    let policy = JSON::parse(
        r#"{"minIndexSize":100,"maxSegmentSize":500,"vectorType":"f16","quantizedScan":true}"#,
    )
    .unwrap();
    let mut c = JsCollection::new(space(), policy).unwrap();
    let mut x = 5u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        (x % 1000) as f32 / 500.0 - 1.0
    };
    let mut stored = Vec::new();
    for i in 0..n {
        let v: Vec<f32> = (0..dim).map(|_| next()).collect();
        let norm = v
            .iter()
            .map(|&a| f64::from(a) * f64::from(a))
            .sum::<f64>()
            .sqrt();
        stored.push(
            v.iter()
                .map(|&a| f16_to_f32(f32_to_f16((f64::from(a) / norm) as f32)))
                .collect::<Vec<f32>>(),
        );
        c.upsert(i.to_string(), v, wasm_bindgen::JsValue::UNDEFINED)
            .unwrap();
    }
    let embedding = |c: &JsCollection, id: &str| -> Vec<f32> {
        let item = c.get(id).unwrap();
        Float32Array::from(Reflect::get(&item, &"embedding".into()).unwrap()).to_vec()
    };
    assert_eq!(embedding(&c, "7"), stored[7]);
    let plan = c.plan_index(Some(2)).unwrap();
    assert!(
        c.apply_index(build_jobs(&plan, dim)).unwrap(),
        "segments built on the widened values fit"
    );
    let indexed = Reflect::get(&c.stats().unwrap(), &"indexed".into()).unwrap();
    assert_eq!(indexed.as_f64(), Some(n as f64));
    assert_eq!(embedding(&c, "7"), stored[7]);
    let hits = |c: &JsCollection, q: &[f32], o: &str| -> Vec<(String, f32)> {
        Array::from(&c.search(q, JSON::parse(o).unwrap()).unwrap())
            .iter()
            .map(|h| {
                let id = Reflect::get(&h, &"id".into()).unwrap().as_string().unwrap();
                let score = Reflect::get(&h, &"score".into()).unwrap().as_f64().unwrap();
                (id, score as f32)
            })
            .collect()
    };
    let back = JsCollection::from_bytes(&c.to_bytes().unwrap()).unwrap();
    assert_eq!(embedding(&back, "7"), stored[7]);
    for i in 0..10 {
        let q = &stored[i * 37];
        // Every item (an exact scan, k > ef): the stored values' dot products with the
        // normalised query, best first.
        let nq = normalized(q).unwrap();
        let mut want: Vec<(String, f32)> = stored
            .iter()
            .enumerate()
            .map(|(j, v)| (j.to_string(), dot(&nq, v)))
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let all = format!(r#"{{"k":{n}}}"#);
        assert_eq!(hits(&c, q, &all), want);
        assert_eq!(hits(&back, q, &all), want);
        // The graph finds the item itself first, and the restored graph answers the same.
        let top = hits(&c, q, r#"{"k":10}"#);
        assert_eq!(top[0].0, (i * 37).to_string());
        assert_eq!(hits(&back, q, r#"{"k":10}"#), top);
    }
    let bad = JSON::parse(r#"{"vectorType":"f8"}"#).unwrap();
    let e = JsCollection::new(space(), bad)
        .err()
        .expect("f8 is not a vector type");
    let name = Reflect::get(&e, &"name".into()).unwrap().as_string();
    assert_eq!(name.as_deref(), Some("InvalidArgument"));
}
