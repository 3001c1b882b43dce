//! Collection benchmark: build time, query latency (HNSW and exact scan), recall@10 and bytes per
//! item on seeded clustered vectors.
//!
//! ```text
//! cargo run --release --example bench_index -- --n 10000 --queries 500 --runs 3 \
//!     --npy /tmp/bench10k.npy
//! ```
//! In headless Chromium (one thread, the wasm build, in a dedicated worker), the same code; options come from the
//! compile-time `BENCH_ARGS` variable:
//! ```text
//! BENCH_ARGS="--n 100000 --queries 300 --runs 1" WASM_BINDGEN_USE_BROWSER=1 \
//!   WASM_BINDGEN_TEST_TIMEOUT=3600 CHROMEDRIVER=/usr/bin/chromedriver \
//!   cargo run --release --target wasm32-unknown-unknown --example bench_index
//! ```
//! Options: `--n`, `--dim` (512), `--queries` (500), `--clusters` (100), `--spread` (1.0),
//! `--seed` (42), `--runs` (3), `--ef-construction`, `--ef-search`, `--heuristic true|false`,
//! `--keep-pruned-from N`, `--max-segment-size N`, `--grow G` (build over `n - G`, upsert `G`,
//! time `maintain` then a full `rebuild`), `--runs 0` (only the exact scans: plain `f32`, with int8 scan
//! codes (`IndexPolicy::quantized_scan`), over `f16` vectors (`IndexPolicy::vector_type`), and
//! both), `--vector-type f32|f16` and `--quantized-scan true|false` (the graph runs' storage and
//! scan codes; recall is always against the `f32` exact answer),
//! `--ef-list 16,32,64` (after run 0's queries, the same queries again with each of these as
//! the search's `SearchOptions::ef`, the graph unchanged: two rounds, the second in reverse
//! order), `--k` (10), `--npy PATH` (writes the normalised base vectors followed by the queries as
//! `float32 [n + queries, dim]` for `benches/bench_hnswlib.py`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use clipsearch::index::{
    normalized, Collection, IndexPolicy, SearchHit, SearchOptions, VectorType,
};
use clipsearch::{Item, Metadata, SpaceInfo};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Counts live heap bytes, to report the collection's bytes per item (and the most live at once,
/// for what a save or load needs besides the collection).
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let grow = new as isize - l.size() as isize;
        PEAK.fetch_max(
            LIVE.fetch_add(grow, Ordering::Relaxed) + grow,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

mod common;
use common::{median, now_ms, pct, say};

/// Argument lists: the command line natively; in wasm, `BENCH_ARGS` (compile time), where `;`
/// separates several configurations run one after the other in the same page.
fn arg_sets() -> Vec<Vec<String>> {
    #[cfg(target_arch = "wasm32")]
    {
        option_env!("BENCH_ARGS")
            .unwrap_or("")
            .split(';')
            .map(|set| {
                std::iter::once("bench_index".to_string())
                    .chain(set.split_whitespace().map(str::to_string))
                    .collect()
            })
            .collect()
    }
    #[cfg(not(target_arch = "wasm32"))]
    vec![std::env::args().collect()]
}

fn gaussian(rng: &mut SmallRng) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

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

#[cfg(not(target_arch = "wasm32"))]
fn write_npy(path: &str, rows: &[Vec<f32>], dim: usize) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        rows.len(),
        dim
    );
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + rows.len() * dim * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for r in rows {
        for x in r {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, out)
}

// In a dedicated worker, as the npm package builds its index: a 100k build is one synchronous
// call of a minute or more, which would stall the page the test runner polls.
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn bench_index_web() {
    for args in arg_sets() {
        run(&args);
    }
}

fn main() {
    #[cfg(not(target_arch = "wasm32"))]
    for args in arg_sets() {
        run(&args);
    }
}

fn run(args: &[String]) {
    let get = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let num = |name: &str, d: usize| get(name).map_or(d, |v| v.parse().expect("a number"));
    let n = num("--n", 10_000);
    let dim = num("--dim", 512);
    let nq = num("--queries", 500);
    let clusters = num("--clusters", 100);
    let seed = num("--seed", 42) as u64;
    let runs = num("--runs", 3);
    let k = num("--k", 10);
    let spread: f32 = get("--spread").map_or(1.0, |v| v.parse().expect("a number"));
    let mut policy = IndexPolicy {
        min_index_size: 1,
        ..IndexPolicy::default()
    };
    policy.ef_construction = num("--ef-construction", policy.ef_construction);
    policy.ef_search = num("--ef-search", policy.ef_search);
    if let Some(h) = get("--heuristic") {
        policy.heuristic = h == "true";
    }
    if let Some(v) = get("--keep-pruned-from") {
        policy.keep_pruned_from = v.parse().expect("--keep-pruned-from N");
    }
    policy.max_segment_size = num("--max-segment-size", policy.max_segment_size);
    if let Some(v) = get("--quantized-scan") {
        policy.quantized_scan = v == "true";
    }
    if let Some(v) = get("--vector-type") {
        policy.vector_type = serde_json::from_value(serde_json::json!(v)).expect("f32 or f16");
    }
    say(&format!(
        "n={n} dim={dim} queries={nq} clusters={clusters} spread={spread} seed={seed} k={k} \
         ef_construction={} ef_search={} heuristic={} keep_pruned_from={} max_segment_size={} \
         vector_type={:?} quantized_scan={} threads={}",
        policy.ef_construction,
        policy.ef_search,
        policy.heuristic,
        policy.keep_pruned_from,
        policy.max_segment_size,
        policy.vector_type,
        policy.quantized_scan,
        std::thread::available_parallelism().map_or(1, |x| x.get())
    ));

    let data: Vec<Vec<f32>> = clustered(seed, n + nq, dim, clusters, spread)
        .iter()
        .map(|v| normalized(v).expect("finite"))
        .collect();
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(path) = get("--npy") {
        write_npy(&path, &data, dim).expect("write npy");
        say(&format!("wrote {path}"));
    }
    let (base, queries) = data.split_at(n);
    let space = SpaceInfo {
        model_key: "bench".into(),
        model_name: "synthetic".into(),
        dim,
        quantization: "f32".into(),
    };

    // Exact reference (and exact-scan timing): a collection with no graph, scanned in f32, then
    // the same with int8 scan codes (whose results must be identical).
    let exact_only = |quantized_scan: bool, vector_type: VectorType| {
        let before = LIVE.load(Ordering::Relaxed);
        let mut c = Collection::with_policy(
            space.clone(),
            IndexPolicy {
                min_index_size: usize::MAX,
                quantized_scan,
                vector_type,
                ..IndexPolicy::default()
            },
        )
        .unwrap();
        for (i, v) in base.iter().enumerate() {
            c.upsert(Item {
                id: format!("{i:07}"),
                embedding: v.clone(),
                metadata: Metadata::new(),
            })
            .unwrap();
        }
        let bytes = (LIVE.load(Ordering::Relaxed) - before) as f64 / n as f64;
        (c, bytes)
    };
    let opts = SearchOptions::top(k);
    let (exact, exact_bytes) = exact_only(false, VectorType::F32);
    let mut exact_ms = Vec::new();
    let mut truth = Vec::new();
    let mut truth_hits = Vec::new();
    for q in queries {
        let t = now_ms();
        let hits = exact.search(q, &opts).unwrap();
        exact_ms.push(now_ms() - t);
        truth.push(hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>());
        truth_hits.push(hits);
    }
    drop(exact);
    // Every other storage: its latencies, bytes per item, how many results differ from the
    // `reference` hits (the plain scan of the same storage: must be 0 with codes) and its
    // recall@k against the f32 exact answer.
    let scan = |quantized_scan: bool,
                vector_type: VectorType,
                reference: Option<&[Vec<SearchHit>]>| {
        let (c, bytes) = exact_only(quantized_scan, vector_type);
        let mut ms = Vec::new();
        let mut hits_all = Vec::new();
        let mut found = 0;
        for (q, tr) in queries.iter().zip(&truth) {
            let t = now_ms();
            let hits = c.search(q, &opts).unwrap();
            ms.push(now_ms() - t);
            found += hits.iter().filter(|h| tr.contains(&h.id)).count();
            hits_all.push(hits);
        }
        let differ = reference.map_or(0, |r| {
            r.iter().zip(&hits_all).filter(|(a, b)| a != b).count()
        });
        let recall = found as f64 / (k * queries.len()) as f64;
        say(&format!(
            "exact scan n={n} {vector_type:?}{}: p50 {:.3} ms p99 {:.3} ms, {bytes:.0} bytes/item, \
             {differ} of {nq} results differ from the plain scan of the same storage, recall@{k} {recall:.4} against f32",
            if quantized_scan { " + int8 codes" } else { "" },
            pct(&mut ms.clone(), 0.5),
            pct(&mut ms, 0.99),
        ));
        hits_all
    };
    scan(true, VectorType::F32, Some(&truth_hits));
    let f16_hits = scan(false, VectorType::F16, None);
    scan(true, VectorType::F16, Some(&f16_hits));
    say(&format!(
        "exact scan n={n} F32: p50 {:.3} ms p99 {:.3} ms, {exact_bytes:.0} bytes/item (the reference)",
        pct(&mut exact_ms.clone(), 0.5),
        pct(&mut exact_ms.clone(), 0.99),
    ));
    if runs == 0 {
        return;
    }
    if let Some(g) = get("--grow") {
        grow(
            g.parse().expect("--grow N"),
            &space,
            &policy,
            base,
            queries,
            &truth,
            k,
        );
        return;
    }

    let mut builds = Vec::new();
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut recalls = Vec::new();
    let mut bytes_per_item = 0.0;
    let mut saved = 0;
    for run in 0..runs {
        let before = LIVE.load(Ordering::Relaxed);
        let mut c = Collection::with_policy(
            space.clone(),
            IndexPolicy {
                seed: policy.seed + run as u64,
                ..policy.clone()
            },
        )
        .unwrap();
        for (i, v) in base.iter().enumerate() {
            c.upsert(Item {
                id: format!("{i:07}"),
                embedding: v.clone(),
                metadata: Metadata::new(),
            })
            .unwrap();
        }
        let t = now_ms();
        c.rebuild();
        let build = (now_ms() - t) / 1e3;
        bytes_per_item = (LIVE.load(Ordering::Relaxed) - before) as f64 / n as f64;
        let (mut lat, recall) = timed_queries(&c, queries, &truth, &opts);
        let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
        say(&format!(
            "run {run}: build {build:.2} s, query p50 {p50:.3} ms p99 {p99:.3} ms, recall@{k} \
             {recall:.4}, {bytes_per_item:.0} bytes/item"
        ));
        if run == 0 {
            if let Some(list) = get("--ef-list") {
                let mut efs: Vec<usize> = list
                    .split(',')
                    .map(|e| e.trim().parse().expect("--ef-list N,N,.."))
                    .collect();
                for round in 0..2 {
                    for &ef in &efs {
                        let o = SearchOptions {
                            ef: Some(ef),
                            ..opts.clone()
                        };
                        let (mut lat, recall) = timed_queries(&c, queries, &truth, &o);
                        say(&format!(
                            "ef {ef} (round {round}): query p50 {:.3} ms p99 {:.3} ms, recall@{k} {recall:.4}",
                            pct(&mut lat.clone(), 0.5),
                            pct(&mut lat, 0.99),
                        ));
                    }
                    efs.reverse();
                }
            }
            // Transient memory: the most live at once during the call, beyond what was live
            // before it and what it returns.
            let extra = |before: isize, kept: usize| {
                (PEAK.load(Ordering::Relaxed) - before - kept as isize) as f64 / 1e6
            };
            let before = LIVE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            let t = now_ms();
            let bytes = c.to_bytes().unwrap();
            let save = (now_ms() - t) / 1e3;
            let save_extra = extra(before, bytes.len());
            let before = LIVE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            let t = now_ms();
            let back = Collection::from_bytes(&bytes).unwrap();
            let load = (now_ms() - t) / 1e3;
            let load_extra = extra(before, (LIVE.load(Ordering::Relaxed) - before) as usize);
            saved = bytes.len();
            say(&format!(
                "saved {:.1} MB ({:.0} bytes/item), save {save:.2} s (+{save_extra:.0} MB transient), \
                 load {load:.2} s (+{load_extra:.0} MB transient), {} items",
                bytes.len() as f64 / 1e6,
                bytes.len() as f64 / n as f64,
                back.len()
            ));
        }
        builds.push(build);
        p50s.push(p50);
        p99s.push(p99);
        recalls.push(recall);
    }
    say(&format!(
        "MEDIAN n={n}: build {:.2} s | hnsw p50 {:.3} ms p99 {:.3} ms | recall@{k} {:.4} | \
         exact p50 {:.3} ms p99 {:.3} ms | {:.0} bytes/item in memory | {:.0} bytes/item saved",
        median(&mut builds),
        median(&mut p50s),
        median(&mut p99s),
        median(&mut recalls),
        pct(&mut exact_ms.clone(), 0.5),
        pct(&mut exact_ms, 0.99),
        bytes_per_item,
        saved as f64 / n as f64
    ));
}

/// Runs every query with `opts`, timing each: (latencies in ms, recall@k against `truth`).
fn timed_queries(
    c: &Collection,
    queries: &[Vec<f32>],
    truth: &[Vec<String>],
    opts: &SearchOptions,
) -> (Vec<f64>, f64) {
    let mut lat = Vec::new();
    let mut found = 0;
    for (q, tr) in queries.iter().zip(truth) {
        let t = now_ms();
        let hits = c.search(q, opts).unwrap();
        lat.push(now_ms() - t);
        found += hits.iter().filter(|h| tr.contains(&h.id)).count();
    }
    (lat, found as f64 / (opts.k * queries.len()) as f64)
}

/// `--grow G`: a graph over the first `n - G` items, then the last `G` upserted and indexed by
/// `maintain` (a new segment when the policy allows), then a full `rebuild` of all `n` for
/// comparison; times both and measures queries after each.
fn grow(
    g: usize,
    space: &SpaceInfo,
    policy: &IndexPolicy,
    base: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<String>],
    k: usize,
) {
    let n = base.len();
    assert!(g < n, "--grow must be below --n");
    let mut c = Collection::with_policy(space.clone(), policy.clone()).unwrap();
    let add = |c: &mut Collection, range: std::ops::Range<usize>| {
        for i in range {
            c.upsert(Item {
                id: format!("{i:07}"),
                embedding: base[i].clone(),
                metadata: Metadata::new(),
            })
            .unwrap();
        }
    };
    add(&mut c, 0..n - g);
    let t = now_ms();
    c.rebuild();
    let first = (now_ms() - t) / 1e3;
    add(&mut c, n - g..n);
    let measure = |c: &Collection| {
        let (mut lat, recall) = timed_queries(c, queries, truth, &SearchOptions::top(k));
        (pct(&mut lat.clone(), 0.5), pct(&mut lat, 0.99), recall)
    };
    let needs = c.needs_rebuild();
    let t = now_ms();
    let did = c.maintain();
    let maintain = (now_ms() - t) / 1e3;
    let (p50, p99, recall) = measure(&c);
    say(&format!(
        "grow: graph over {} built in {first:.2} s; {g} upserted (needs_rebuild {needs}); \
         maintain {maintain:.2} s (did {did}) -> {} segments: p50 {p50:.3} ms p99 {p99:.3} ms, \
         recall@{k} {recall:.4}",
        n - g,
        c.stats().segments
    ));
    let t = now_ms();
    c.rebuild();
    let rebuild = (now_ms() - t) / 1e3;
    let (p50, p99, recall) = measure(&c);
    say(&format!(
        "grow: full rebuild {rebuild:.2} s -> {} segments: p50 {p50:.3} ms p99 {p99:.3} ms, \
         recall@{k} {recall:.4}",
        c.stats().segments
    ));
}
