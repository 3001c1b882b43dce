//! `clipsearch random-model --preset vit-b-32 -o <DIR> --seed N`: a full-size random-weight
//! model in the Hugging Face layout, generated natively (no torch), for benchmarks.

use std::path::PathBuf;

use clipsearch::model::{random_model, ClipConfig};
use clipsearch::{Error, Result};

/// Write a random-weight CLIP in the Hugging Face layout.
#[derive(clap::Args)]
pub struct Args {
    /// Architecture preset: vit-b-32.
    #[arg(long, default_value = "vit-b-32")]
    pub preset: String,
    /// Output directory (created).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs the subcommand. Copies the CLIP tokenizer and writes CLIP's preprocessing defaults.
pub fn run(a: Args) -> Result<()> {
    let config = match a.preset.as_str() {
        "vit-b-32" => ClipConfig::vit_b_32(),
        other => {
            return Err(Error::InvalidArgument(format!(
                "unknown preset `{other}`: use vit-b-32"
            )))
        }
    };
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", a.output.display()));
    std::fs::create_dir_all(&a.output).map_err(io)?;
    let (cfg, weights) = random_model(&config, a.seed)?;
    std::fs::write(a.output.join("config.json"), cfg).map_err(io)?;
    std::fs::write(a.output.join("model.safetensors"), &weights).map_err(io)?;
    std::fs::write(
        a.output.join("tokenizer.json"),
        include_bytes!("../../../models/clip-tokenizer/tokenizer.json"),
    )
    .map_err(io)?;
    std::fs::write(
        a.output.join("preprocessor_config.json"),
        include_bytes!("../../../models/tiny-clip/preprocessor_config.json"),
    )
    .map_err(io)?;
    println!(
        "{}",
        serde_json::json!({"output": a.output.display().to_string(), "preset": a.preset,
            "seed": a.seed, "bytes": weights.len()})
    );
    Ok(())
}
