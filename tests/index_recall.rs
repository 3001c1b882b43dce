//! Recall of the HNSW graph against exact search on clustered 512-d vectors: 50k (a graph that
//! keeps pruned links) and 20k (a lean graph, below `KEEP_PRUNED_FROM`).
//!
//! Builds a 50k graph: about a minute in the dev profile on a free 2-core machine; run it in
//! release for speed: `cargo test --release --test index_recall`.

use clipsearch::index::{Collection, IndexPolicy, SearchOptions, KEEP_PRUNED_FROM};
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
    // This test covers graphs that keep pruned links.
    const { assert!(50_000 >= KEEP_PRUNED_FROM) };
    let recall = recall_at_10(50_000);
    assert!(recall >= 0.97, "recall@10 {recall}");
}

#[test]
fn a_lean_graph_below_keep_pruned_from_still_has_recall_at_10_of_at_least_0_97_on_20k() {
    // This test covers lean graphs.
    const { assert!(20_000 < KEEP_PRUNED_FROM) };
    let recall = recall_at_10(20_000);
    assert!(recall >= 0.97, "recall@10 {recall}");
}

/// Builds a default-policy graph over `n` seeded clustered vectors and returns its recall@10
/// against the exact scan on 200 held-out queries.
fn recall_at_10(n: usize) -> f64 {
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
    let mut c = Collection::with_policy(space, IndexPolicy::default()).unwrap();
    for (i, v) in data[..n].iter().enumerate() {
        c.upsert(Item {
            id: format!("{i:06}"),
            embedding: v.clone(),
            metadata: Metadata::new(),
        })
        .unwrap();
    }
    c.rebuild();
    assert_eq!(c.stats().indexed, n);

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
    println!("n = {n}: recall@10 = {recall:.4}");
    recall
}
