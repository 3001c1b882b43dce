//! `clipsearch convert <HF_DIR> -o <FILE.gguf> --quant <..> [--tower text|vision|both]`, and
//! for a multilingual sentence-transformers text tower (a directory with `modules.json`):
//! `clipsearch convert <ST_DIR> -o <FILE.gguf> --quant <..> --space <CLIP key | CLIP .gguf | CLIP dir>`.

use std::path::PathBuf;

use clipsearch::model::{
    convert, convert_sentence_transformers, ClipModel, ConvertOptions, HfFiles, Quantization,
    StDir, Towers,
};
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
    /// For a multilingual sentence-transformers text tower: the CLIP whose image space it is
    /// aligned with, as its model key (`clip-...`) or the path of that CLIP (.gguf or
    /// Hugging Face directory; its key and dimension are then checked).
    #[arg(long)]
    pub space: Option<String>,
}

/// Resolves `--space`: a path to a CLIP model gives its key (and its dimension is checked),
/// anything else is taken as a key.
fn resolve_space(space: &str) -> Result<(String, Option<usize>)> {
    let p = std::path::Path::new(space);
    if p.exists() {
        let m = ClipModel::from_path(p)?;
        let i = m.info();
        if m.text_architecture() == "distilbert" {
            return Err(Error::InvalidArgument(format!(
                "--space {space} is a multilingual text tower: give the CLIP it is aligned with"
            )));
        }
        Ok((i.key.clone(), Some(i.dim)))
    } else {
        Ok((space.to_string(), None))
    }
}

/// Converts a sentence-transformers directory (one with `modules.json`).
fn run_st(a: &Args, quantization: Quantization, name: Option<String>) -> Result<()> {
    let space = a.space.as_deref().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{} is a sentence-transformers text tower: pass --space <CLIP key or CLIP .gguf> \
             (the CLIP whose image space it is aligned with)",
            a.hf_dir.display()
        ))
    })?;
    let (space, dim) = resolve_space(space)?;
    let dir = StDir::read(&a.hf_dir)?;
    if !dir.has_tokenizer() {
        return Err(Error::Io(format!(
            "{}: no tokenizer.json (needed to embed text)",
            a.hf_dir.join("tokenizer.json").display()
        )));
    }
    let files = dir.files(name.as_deref(), Some(&space));
    let bytes = convert_sentence_transformers(
        &files,
        &ConvertOptions {
            quantization,
            towers: Towers::Text,
            name: name.clone(),
        },
    )?;
    let model = ClipModel::from_gguf(&bytes)?;
    if let Some(dim) = dim {
        if dim != model.info().dim {
            return Err(Error::DimensionMismatch {
                expected: dim,
                found: model.info().dim,
            });
        }
    }
    std::fs::write(&a.output, &bytes)
        .map_err(|e| Error::Io(format!("{}: {e}", a.output.display())))?;
    println!(
        "{}",
        serde_json::json!({
            "output": a.output.display().to_string(),
            "bytes": bytes.len(),
            "quantization": quantization.as_str(),
            "towers": "text",
            "architecture": "distilbert",
            "model_key": model.info().key,
            "space": model.info().space,
        })
    );
    Ok(())
}

fn read(p: PathBuf) -> Result<Vec<u8>> {
    std::fs::read(&p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))
}

/// Runs the subcommand; prints a one-line JSON summary.
pub fn run(a: Args) -> Result<()> {
    let quantization = Quantization::parse(&a.quant)?;
    let towers = Towers::parse(&a.tower)?;
    if a.hf_dir.join("modules.json").is_file() {
        let dir_name = a
            .hf_dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()));
        let name = a.name.clone().or(dir_name);
        return run_st(&a, quantization, name);
    }
    if a.space.is_some() {
        return Err(Error::InvalidArgument(
            "--space is for multilingual sentence-transformers text towers (a directory with \
             modules.json); a CLIP's space is its own key"
                .into(),
        ));
    }
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
