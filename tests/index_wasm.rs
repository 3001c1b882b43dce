//! Collections in wasm32 (Chromium, via wasm-bindgen-test): the `simd128` `dot4` kernel gives
//! `dot`'s results to the bit, int8 scan codes give exactly the plain scan's results, segmented graphs search and round-trip, segments built from a plan (as
//! the package's workers build them) are those `maintain` builds, and collections saved by
//! earlier releases load. `tests/index.rs` holds
//! the fuller native versions of these checks.
#![cfg(target_arch = "wasm32")]

use clipsearch::index::{
    build_segment, dot, normalized, Collection, Filter, IndexPolicy, SearchHit, SearchOptions,
    VectorType,
};
use clipsearch::{Item, Metadata, SpaceInfo};
use serde_json::json;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "index/cases.rs"]
mod cases;

/// A seeded generator in `[-1, 1)`.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn items(seed: u64, n: usize, dim: usize) -> Vec<Item> {
    let mut r = Lcg(seed);
    let centres: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..dim).map(|_| r.next()).collect())
        .collect();
    (0..n)
        .map(|i| {
            let c = &centres[i % centres.len()];
            let mut m = Metadata::new();
            m.insert("year".into(), json!(1990 + i % 35));
            Item {
                id: format!("item-{i:05}"),
                embedding: c.iter().map(|x| x + 0.5 * r.next()).collect(),
                metadata: m,
            }
        })
        .collect()
}

fn space(dim: usize) -> SpaceInfo {
    SpaceInfo {
        model_key: "k".into(),
        model_name: "wasm".into(),
        dim,
        quantization: "f32".into(),
    }
}

fn bits(h: &[SearchHit]) -> Vec<(String, u32)> {
    h.iter()
        .map(|x| (x.id.clone(), x.score.to_bits()))
        .collect()
}

#[wasm_bindgen_test]
fn dot4_gives_each_dot_product_to_the_bit() {
    let mut r = Lcg(12);
    cases::dot4_matches_dot_to_the_bit(|| r.next());
}

#[wasm_bindgen_test]
fn f16_kernels_widen_exactly_and_match_dot() {
    let mut r = Lcg(13);
    cases::f16_kernels_widen_exactly_and_match_dot(|| r.next());
}

/// In a relaxed-SIMD build (`--features relaxed-simd`, run by `make test-wasm`) this also checks
/// the relaxed integer kernel; 100 dimensions leave a tail after its 32-code steps.
///
/// The relaxed kernel has two dot-product forms (`kernels::relaxed_dot_form`), picked by probing
/// the engine; both are forced here, so each is checked whatever this machine's CPU.
#[wasm_bindgen_test]
fn quantized_scan_returns_exactly_the_plain_scan_results() {
    use clipsearch::kernels::{set_relaxed_dot_form, DotForm};
    for form in [None, Some(DotForm::Fused), Some(DotForm::Split)] {
        set_relaxed_dot_form(form);
        for dim in [64, 100] {
            for vector_type in [VectorType::F32, VectorType::F16] {
                quantized_scan_matches_plain(dim, vector_type);
            }
        }
    }
    set_relaxed_dot_form(None);
}

fn quantized_scan_matches_plain(dim: usize, vector_type: VectorType) {
    let seed = 7;
    let all = items(seed, 2500, dim);
    let space = space(dim);
    let make = |quantized_scan: bool| {
        let mut c = Collection::with_policy(
            space.clone(),
            IndexPolicy {
                min_index_size: 500,
                min_tail: 100,
                quantized_scan,
                vector_type,
                ..IndexPolicy::default()
            },
        )
        .unwrap();
        for it in &all[..2000] {
            c.upsert(it.clone()).unwrap();
        }
        c.rebuild();
        for it in &all[2000..] {
            c.upsert(it.clone()).unwrap();
        }
        let gone: Vec<&str> = all[..300].iter().map(|i| i.id.as_str()).collect();
        c.remove(&gone);
        c
    };
    let (plain, coded) = (make(false), make(true));
    assert!(coded.stats().tail >= 500 && coded.stats().indexed > 1000);
    let filter =
        Filter::from_json(r#"{"must": [{"key": "year", "range": {"gte": 2000}}]}"#).unwrap();
    let mut r = Lcg(seed + 1);
    for (i, q) in all.iter().step_by(61).enumerate() {
        let opts = SearchOptions {
            k: [1, 10, 100, 3000][i % 4],
            min_score: (i % 3 == 0).then(|| r.next() * 0.5),
            filter: (i % 2 == 0).then(|| filter.clone()),
            ef: None,
        };
        let (a, b) = (
            plain.search(&q.embedding, &opts).unwrap(),
            coded.search(&q.embedding, &opts).unwrap(),
        );
        assert_eq!(bits(&a), bits(&b), "dim {dim} {vector_type:?} query {i}");
    }
    // Every live item, scored with `dot` on its stored (for f16: widened) values, best first.
    let q = normalized(&all[9].embedding).unwrap();
    let mut want: Vec<(String, u32)> = plain
        .iter()
        .map(|it| (it.id.to_string(), dot(&q, &it.embedding)))
        .map(|(id, s)| (id, s.to_bits()))
        .collect();
    want.sort_by(|x, y| {
        f32::from_bits(y.1)
            .total_cmp(&f32::from_bits(x.1))
            .then_with(|| x.0.cmp(&y.0))
    });
    for c in [&plain, &coded] {
        let got = c
            .search(&all[9].embedding, &SearchOptions::top(3000))
            .unwrap();
        assert_eq!(bits(&got), want, "dim {dim} {vector_type:?}");
    }
    let back = Collection::from_bytes(&coded.to_bytes().unwrap()).unwrap();
    let q = &all[5].embedding;
    assert_eq!(
        bits(&back.search(q, &SearchOptions::top(3000)).unwrap()),
        bits(&plain.search(q, &SearchOptions::top(3000)).unwrap())
    );
}

#[wasm_bindgen_test]
fn collections_saved_by_earlier_releases_still_load() {
    for bytes in [
        &include_bytes!("fixtures/collections/v1-before-keep-pruned.clipscol")[..],
        &include_bytes!("fixtures/collections/v1-keep-pruned.clipscol")[..],
        &include_bytes!("fixtures/collections/v2.clipscol")[..],
        &include_bytes!("fixtures/collections/v3.clipscol")[..],
    ] {
        let c = Collection::from_bytes(bytes).unwrap();
        assert_eq!(c.len(), 7);
        assert_eq!(c.stats().tombstones, 1);
        let first = c.iter().next().unwrap().to_item();
        assert_eq!(first.id, "s3://bucket/img0.jpg");
        let hits = c.search(&first.embedding, &SearchOptions::top(1)).unwrap();
        assert_eq!(hits[0].id, first.id);
        let again = Collection::from_bytes(&c.to_bytes().unwrap()).unwrap();
        assert!(again.iter().eq(c.iter()));
    }
}

#[wasm_bindgen_test]
fn segmented_graphs_search_like_an_exact_scan_and_round_trip() {
    let (dim, seed) = (32, 11);
    let all = items(seed, 2400, dim);
    let space = space(dim);
    let policy = IndexPolicy {
        min_index_size: 100,
        max_segment_size: 700,
        ..IndexPolicy::default()
    };
    let mut c = Collection::with_policy(space.clone(), policy).unwrap();
    let mut exact = Collection::with_policy(
        space,
        IndexPolicy {
            min_index_size: usize::MAX,
            ..IndexPolicy::default()
        },
    )
    .unwrap();
    for it in &all {
        c.upsert(it.clone()).unwrap();
        exact.upsert(it.clone()).unwrap();
    }
    c.rebuild();
    let gone: Vec<&str> = all.iter().step_by(13).map(|i| i.id.as_str()).collect();
    c.remove(&gone);
    exact.remove(&gone);
    let s = c.stats();
    assert_eq!((s.segments, s.indexed, s.tail), (4, 2400 - gone.len(), 0));
    let filter =
        Filter::from_json(r#"{"must": [{"key": "year", "range": {"gte": 2015}}]}"#).unwrap();
    let (mut found, mut expected) = (0, 0);
    for (i, q) in all.iter().step_by(37).enumerate() {
        let opts = SearchOptions {
            k: 10,
            min_score: None,
            filter: (i % 2 == 0).then(|| filter.clone()),
            ef: None,
        };
        let hits = c.search(&q.embedding, &opts).unwrap();
        let truth = exact.search(&q.embedding, &opts).unwrap();
        assert_eq!(hits.len(), truth.len(), "query {i}");
        found += hits
            .iter()
            .filter(|h| truth.iter().any(|t| t.id == h.id))
            .count();
        expected += truth.len();
    }
    let recall = found as f64 / expected as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
    let back = Collection::from_bytes(&c.to_bytes().unwrap()).unwrap();
    assert_eq!(back.stats(), c.stats());
    for q in all.iter().step_by(101) {
        let opts = SearchOptions::top(10);
        assert_eq!(
            bits(&back.search(&q.embedding, &opts).unwrap()),
            bits(&c.search(&q.embedding, &opts).unwrap())
        );
    }
}

#[wasm_bindgen_test]
fn segments_built_from_a_plan_are_the_graphs_maintain_builds() {
    // The package builds a plan's segments in other workers; in wasm too (one thread, so
    // deterministic) they must be to the byte what `maintain` builds in place.
    let (dim, seed) = (24, 12);
    let all = items(seed, 1500, dim);
    let policy = IndexPolicy {
        min_index_size: 100,
        max_segment_size: 600,
        ..IndexPolicy::default()
    };
    let mut a = Collection::with_policy(space(dim), policy.clone()).unwrap();
    let mut b = Collection::with_policy(space(dim), policy).unwrap();
    for it in &all {
        a.upsert(it.clone()).unwrap();
        b.upsert(it.clone()).unwrap();
    }
    assert!(a.maintain());
    let mut plan = b.plan_index().unwrap();
    assert_eq!(plan.segments(), 3);
    let built: Vec<Vec<u8>> = plan
        .take_jobs()
        .iter()
        .map(|j| build_segment(j).unwrap())
        .collect();
    assert!(b.apply_index(plan, &built).unwrap());
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
}
