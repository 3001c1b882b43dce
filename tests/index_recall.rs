//! Recall of the HNSW graphs against exact search on clustered 512-d vectors, default policy:
//! 50k (two segments of 25k) and 20k (one lean graph); and 50k in one graph, which keeps pruned
//! links (`max_segment_size` above the size, as before segments existed).
//!
//! The one-graph build takes about a minute in the dev profile on a free 2-core machine; run
//! them in release for speed: `cargo test --release --test index_recall`.

use clipsearch::index::{
    Collection, IndexPolicy, SearchOptions, KEEP_PRUNED_FROM, MAX_SEGMENT_SIZE,
};
use clipsearch::{Item, Metadata, SpaceInfo};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn gaussian(rng: &mut SmallRng) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Same generator as `examples/bench_index.rs`: `clusters` Gaussian centres, unit-variance
/// centres plus noise of standard deviation `spread`.
fn clustered(seed: u64, n: usize, dim: usize, clusters: usize, spread: f32) -> Vec<Vec<f32>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| gaussian(&mut rng)).collect())
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.gen_range(0..clusters)];
            c.iter().map(|x| x + spread * gaussian(&mut rng)).collect()
        })
        .collect()
}

#[test]
fn hnsw_recall_at_10_is_at_least_0_97_on_50k_clustered_512d_vectors() {
    // Two segments by default.
    const { assert!(50_000 > MAX_SEGMENT_SIZE && 50_000 <= 2 * MAX_SEGMENT_SIZE) };
    let recall = recall_at_10(50_000, IndexPolicy::default(), 2, true);
    assert!(recall >= 0.97, "recall@10 {recall}");
}

#[test]
fn one_graph_of_50k_keeps_pruned_links_and_has_recall_at_10_of_at_least_0_97() {
    const { assert!(50_000 >= KEEP_PRUNED_FROM) };
    let policy = IndexPolicy {
        max_segment_size: usize::MAX,
        ..IndexPolicy::default()
    };
    // Built on 2 threads (minutes on one): its recall varies a little from build to build, with
    // a wide margin (0.997 measured).
    let recall = recall_at_10(50_000, policy, 1, false);
    assert!(recall >= 0.97, "recall@10 {recall}");
}

#[test]
fn a_lean_graph_below_keep_pruned_from_still_has_recall_at_10_of_at_least_0_97_on_20k() {
    // This test covers lean graphs.
    const { assert!(20_000 < KEEP_PRUNED_FROM && 20_000 <= MAX_SEGMENT_SIZE) };
    let recall = recall_at_10(20_000, IndexPolicy::default(), 1, true);
    assert!(recall >= 0.97, "recall@10 {recall}");
}

/// Builds `policy`'s graphs (`segments` of them) over `n` seeded clustered vectors and returns
/// their recall@10 against the exact scan on 200 held-out queries.
///
/// instant-distance inserts in parallel natively, so a multi-threaded build is not reproducible;
/// `one_thread` builds as the browser does, giving the same graph (and recall) on every run.
fn recall_at_10(n: usize, policy: IndexPolicy, segments: usize, one_thread: bool) -> f64 {
    let seed = 42;
    let (dim, queries) = (512, 200);
    println!("seed {seed}, {n} vectors, {dim}-d, {queries} queries");
    let data = clustered(seed, n + queries, dim, 100, 1.0);
    let space = SpaceInfo {
        model_key: "recall".into(),
        model_name: "synthetic".into(),
        dim,
        quantization: "f32".into(),
    };
    let mut c = Collection::with_policy(space, policy).unwrap();
    for (i, v) in data[..n].iter().enumerate() {
        c.upsert(Item {
            id: format!("{i:06}"),
            embedding: v.clone(),
            metadata: Metadata::new(),
        })
        .unwrap();
    }
    if one_thread {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| c.rebuild());
    } else {
        c.rebuild();
    }
    assert_eq!(c.stats().indexed, n);
    assert_eq!(c.stats().segments, segments);

    // Exact reference: a collection with no graph (exact scan), itself checked against the naive
    // dot product in tests/index.rs.
    let mut exact = Collection::with_policy(
        c.space().clone(),
        IndexPolicy {
            min_index_size: usize::MAX,
            ..IndexPolicy::default()
        },
    )
    .unwrap();
    for it in c.iter() {
        exact.upsert(it.to_item()).unwrap();
    }
    let opts = SearchOptions::top(10);
    let mut found = 0;
    for q in &data[n..] {
        let truth: Vec<String> = exact
            .search(q, &opts)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        let got = c.search(q, &opts).unwrap();
        found += got.iter().filter(|h| truth.contains(&h.id)).count();
    }
    let recall = found as f64 / (10 * queries) as f64;
    println!("n = {n}, {segments} segment(s): recall@10 = {recall:.4}");
    recall
}
