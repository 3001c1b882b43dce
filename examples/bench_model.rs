//! Benchmark of the CLIP towers on a full-size random-weight ViT-B/32 (generated natively).
//!
//! ```text
//! cargo run --release --example bench_model -- prepare /tmp/clipbench    # HF dir + 3 GGUFs
//! for q in f32 q8_0 q4_0; do
//!   RAYON_NUM_THREADS=1 cargo run --release --example bench_model -- run /tmp/clipbench/vit-b-32-$q.gguf
//! done
//! ```
//! `run` prints one JSON line: file size, load time, medians (ms) of image batch 1 and 8
//! (per batch and per image), 8-token and 77-token queries, and the peak RSS (VmHWM) of the
//! process, which loads only that file.

use std::path::Path;
use std::time::Instant;

use clipsearch::model::{
    convert, random_model, ClipConfig, ClipModel, ConvertOptions, HfFiles, Quantization, Towers,
};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn prepare(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let (cfg, weights) = random_model(&ClipConfig::vit_b_32(), 1).expect("random");
    std::fs::write(dir.join("config.json"), &cfg).expect("write");
    std::fs::write(dir.join("model.safetensors"), &weights).expect("write");
    let tok = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/clip-tokenizer/tokenizer.json"),
    )
    .expect("tokenizer");
    for q in [Quantization::F32, Quantization::Q8_0, Quantization::Q4_0] {
        let t = Instant::now();
        let bytes = convert(
            &HfFiles {
                config: cfg.as_bytes(),
                weights: &weights,
                tokenizer_json: Some(&tok),
                preprocessor_json: None,
                name: Some("random-vit-b-32"),
            },
            &ConvertOptions {
                quantization: q,
                towers: Towers::Both,
                name: None,
            },
        )
        .expect("convert");
        let p = dir.join(format!("vit-b-32-{q}.gguf"));
        std::fs::write(&p, &bytes).expect("write");
        println!(
            "{{\"file\": \"{}\", \"bytes\": {}, \"convert_s\": {:.1}}}",
            p.display(),
            bytes.len(),
            t.elapsed().as_secs_f64()
        );
    }
}

fn run(file: &Path, runs: usize) {
    let bytes = std::fs::read(file).expect("read");
    let size = bytes.len();
    let t = Instant::now();
    let m = ClipModel::from_gguf(&bytes).expect("load");
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(bytes);
    let s = m.image_size().expect("vision");
    let mut seed = 1u32;
    let px: Vec<f32> = (0..8 * 3 * s * s)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
        })
        .collect();
    let one = &px[..3 * s * s];
    let img1 = time(runs, || {
        m.embed_pixels(one, 1).expect("img");
    });
    let img8 = time((runs / 3).max(3), || {
        m.embed_pixels(&px, 8).expect("img8");
    });
    let q8: Vec<u32> = [49406, 320, 1125, 539, 320, 2368, 525, 49407].to_vec();
    let mut q77: Vec<u32> = vec![49406];
    q77.extend((0..75).map(|i| 320 + i));
    q77.push(49407);
    let t8 = time(runs * 3, || {
        m.embed_text_ids(&q8).expect("q8");
    });
    let t77 = time(runs * 3, || {
        m.embed_text_ids(&q77).expect("q77");
    });
    println!(
        "{{\"file\": \"{}\", \"quant\": \"{}\", \"bytes\": {size}, \"load_ms\": {load_ms:.0}, \
         \"image_b1_ms\": {img1:.1}, \"image_b8_ms\": {img8:.1}, \"image_b8_per_image_ms\": {:.1}, \
         \"text_8tok_ms\": {t8:.2}, \"text_77tok_ms\": {t77:.2}, \"peak_rss_mb\": {:.0}, \
         \"threads\": \"{}\"}}",
        file.display(),
        m.info().quantization,
        img8 / 8.0,
        peak_rss_mb(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into())
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("prepare"), Some(dir)) => prepare(Path::new(dir)),
        (Some("run"), Some(file)) => {
            let runs = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(9);
            run(Path::new(file), runs)
        }
        _ => eprintln!("usage: bench_model prepare <DIR> | run <FILE.gguf> [RUNS]"),
    }
}
