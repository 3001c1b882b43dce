//! Graphs and searches that the vendored instant-distance must build exactly as the published
//! 0.6.1 does. Compiled twice: by `tests/index.rs` against the vendored crate, and by
//! `vendor/instant-distance/reference` against the published crate from crates.io, which prints
//! the digest `tests/index.rs` checks. The point type keeps instant-distance's default
//! `distances4` (four `distance` calls), so the vendored crate's reordered search (a node's
//! unvisited neighbours collected first, then measured in groups of four) must give the same
//! graphs and results, node for node and bit for bit.

use instant_distance::{Builder, Heuristic, Point, Search};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A point whose distance is `1 - dot`, one plain scalar loop (the same in both builds).
#[derive(Clone, Serialize)]
pub struct RefPoint(pub Vec<f32>);

impl Point for RefPoint {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum::<f32>()
    }
}

/// `n` unit vectors of `dim` around 8 centres, from a fixed xorshift stream (no `rand`, so
/// both builds draw the same numbers whatever their dependency versions).
pub fn ref_points(n: usize, dim: usize, seed: u64) -> Vec<RefPoint> {
    let mut s = seed.max(1);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..8).map(|_| (0..dim).map(|_| next()).collect()).collect();
    (0..n)
        .map(|i| {
            let c = &centres[i % centres.len()];
            let v: Vec<f32> = c.iter().map(|x| x + 0.3 * next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            RefPoint(v.iter().map(|x| x / norm).collect())
        })
        .collect()
}

/// SHA-256 (hex) of three graphs (no heuristic, the lean heuristic, the heuristic keeping pruned
/// links), each serialised with serde_json, and of every query's results (point ids and
/// distance bits). Build on one thread: instant-distance's parallel inserts are not
/// reproducible.
pub fn reference_digest() -> String {
    let points = ref_points(2600, 24, 0x1d_0601);
    let (base, queries) = points.split_at(2400);
    let lean = Heuristic {
        extend_candidates: false,
        keep_pruned: false,
    };
    let mut hash = Sha256::new();
    for heuristic in [None, Some(lean), Some(Heuristic::default())] {
        let (hnsw, ids) = Builder::default()
            .ef_construction(32)
            .ef_search(32)
            .select_heuristic(heuristic)
            .seed(11)
            .build_hnsw(base.to_vec());
        hash.update(serde_json::to_vec(&hnsw).expect("serialisable"));
        hash.update(serde_json::to_vec(&ids).expect("serialisable"));
        let mut search = Search::default();
        for q in queries {
            for item in hnsw.search(q, &mut search) {
                hash.update(item.pid.into_inner().to_le_bytes());
                hash.update(item.distance.to_bits().to_le_bytes());
            }
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
