//! Prints the digest of the reference graphs built by the published instant-distance 0.6.1.

#[path = "../../../../tests/index/reference_graph.rs"]
mod reference_graph;

fn main() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("no rayon pool yet");
    println!("{}", reference_graph::reference_digest());
}
