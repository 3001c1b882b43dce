//! `clipsearch embed-text --model <MODEL> <TEXT>...` and
//! `clipsearch embed-image --model <MODEL> <PATH>...`: one JSON object per line.

use std::path::PathBuf;

use clipsearch::{Clip, Error, Result};

/// Embed texts: prints `{"text": ..., "embedding": [...]}` per line.
#[derive(clap::Args)]
pub struct TextArgs {
    /// A .gguf file or a Hugging Face layout directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Texts to embed.
    pub texts: Vec<String>,
}

/// Embed image files: prints `{"path": ..., "embedding": [...]}` per line.
#[derive(clap::Args)]
pub struct ImageArgs {
    /// A .gguf file or a Hugging Face layout directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Image files (JPEG, PNG, WebP, GIF, BMP).
    pub paths: Vec<PathBuf>,
}

/// Runs `embed-text`.
pub fn run_text(a: TextArgs) -> Result<()> {
    let clip = Clip::from_path(&a.model)?;
    for t in &a.texts {
        let e = clip.embed_text(t)?;
        println!("{}", serde_json::json!({"text": t, "embedding": e}));
    }
    Ok(())
}

/// Runs `embed-image`.
pub fn run_image(a: ImageArgs) -> Result<()> {
    let clip = Clip::from_path(&a.model)?;
    for p in &a.paths {
        let bytes = std::fs::read(p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
        let e = clip.embed_image(&bytes)?;
        println!(
            "{}",
            serde_json::json!({"path": p.display().to_string(), "embedding": e})
        );
    }
    Ok(())
}
