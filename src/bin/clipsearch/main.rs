//! `clipsearch`: the native command-line interface over the same core as the browser package.
//!
//! Each subcommand lives in its own module beside this file.

#[cfg(not(target_arch = "wasm32"))]
mod convert;
#[cfg(not(target_arch = "wasm32"))]
mod embed;
#[cfg(not(target_arch = "wasm32"))]
mod randmodel;
#[cfg(not(target_arch = "wasm32"))]
mod table_cmds;

/// Prints an error with its stable code and returns the failure exit code.
#[cfg(not(target_arch = "wasm32"))]
fn report(r: clipsearch::Result<()>) -> std::process::ExitCode {
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("clipsearch {}", clipsearch::VERSION);
            std::process::ExitCode::SUCCESS
        }
        Command::Export(a) => table_cmds::export(&a),
        Command::Import(a) => table_cmds::import(&a),
        Command::SynthTable(a) => table_cmds::synth(&a),
        Command::Convert(a) => report(convert::run(a)),
        Command::EmbedText(a) => report(embed::run_text(a)),
        Command::EmbedImage(a) => report(embed::run_image(a)),
        Command::RandomModel(a) => report(randmodel::run(a)),
    }
}

/// Private multimodal image search: embed, index, search and export, natively.
#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Parser)]
#[command(name = "clipsearch", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Subcommand)]
enum Command {
    /// Print the version.
    Version,
    /// Export a table to Qdrant request bodies, NPY + JSON, or Parquet.
    Export(table_cmds::ExportArgs),
    /// Validate a (foreign) Parquet table and write it as a clipsearch table.
    Import(table_cmds::ImportArgs),
    /// Write a seeded synthetic table of clustered unit vectors (tests and benchmarks).
    SynthTable(table_cmds::SynthArgs),
    /// Convert a Hugging Face CLIPModel directory to a clipsearch GGUF file.
    Convert(convert::Args),
    /// Embed texts: one JSON object per line.
    EmbedText(embed::TextArgs),
    /// Embed image files: one JSON object per line.
    EmbedImage(embed::ImageArgs),
    /// Write a full-size random-weight CLIP in the Hugging Face layout (benchmarks).
    RandomModel(randmodel::Args),
}

#[cfg(target_arch = "wasm32")]
fn main() {}
