//! `clipsearch convert <HF_DIR> -o <FILE.gguf> --quant <..> [--tower text|vision|both]`.

use std::path::PathBuf;

use clipsearch::model::{convert, ConvertOptions, HfFiles, Quantization, Towers};
use clipsearch::{Error, Result};

/// Convert a Hugging Face CLIPModel directory to a clipsearch GGUF file.
#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face layout directory (config.json, model.safetensors, tokenizer.json,
    /// preprocessor_config.json).
    pub hf_dir: PathBuf,
    /// Output .gguf file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Quantization of the matrices: f32, f16, q8_0, q4_0, q4_1.
    #[arg(long, default_value = "q8_0")]
    pub quant: String,
    /// Towers to write: text, vision or both.
    #[arg(long, default_value = "both")]
    pub tower: String,
    /// Model name to record (defaults to the directory name).
    #[arg(long)]
    pub name: Option<String>,
}

fn read(p: PathBuf) -> Result<Vec<u8>> {
    std::fs::read(&p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))
}

/// Runs the subcommand; prints a one-line JSON summary.
pub fn run(a: Args) -> Result<()> {
    let quantization = Quantization::parse(&a.quant)?;
    let towers = Towers::parse(&a.tower)?;
    let config = read(a.hf_dir.join("config.json"))?;
    let weights = read(a.hf_dir.join("model.safetensors"))?;
    let tokenizer = read(a.hf_dir.join("tokenizer.json")).ok();
    let pre = read(a.hf_dir.join("preprocessor_config.json")).ok();
    if towers.has_text() && tokenizer.is_none() {
        return Err(Error::Tokenizer(format!(
            "{} has no tokenizer.json: the text tower needs it",
            a.hf_dir.display()
        )));
    }
    let dir_name = a
        .hf_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()));
    let name = a.name.or(dir_name);
    let bytes = convert(
        &HfFiles {
            config: &config,
            weights: &weights,
            tokenizer_json: tokenizer.as_deref(),
            preprocessor_json: pre.as_deref(),
            name: name.as_deref(),
        },
        &ConvertOptions {
            quantization,
            towers,
            name: name.clone(),
        },
    )?;
    std::fs::write(&a.output, &bytes)
        .map_err(|e| Error::Io(format!("{}: {e}", a.output.display())))?;
    let key = clipsearch::model::model_key(&weights)?;
    println!(
        "{}",
        serde_json::json!({
            "output": a.output.display().to_string(),
            "bytes": bytes.len(),
            "quantization": quantization.as_str(),
            "towers": towers.as_str(),
            "model_key": key,
        })
    );
    Ok(())
}
