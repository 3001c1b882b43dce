//! `clipsearch`: the native command-line interface over the same core as the browser package.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    println!("clipsearch {}", clipsearch::VERSION);
}

#[cfg(target_arch = "wasm32")]
fn main() {}
