//! `clipsearch`: the native command-line interface over the same core as the browser package.
//!
//! Each subcommand lives in its own module beside this file.
//!
//! Exit codes (also in `clipsearch --help` and the README):
//! - 0: success;
//! - 1: the command ran but some items failed (`index`: listed on stderr, one JSON object each;
//!   `import --strict`: rejected rows);
//! - 2: bad usage (unknown option, missing argument: clap's message);
//! - 3: an input, model or output error stopped the command (stderr: one JSON object
//!   `{"error": <stable code>, "message": ...}`, the codes of `clipsearch::Error::code`).

#[cfg(not(target_arch = "wasm32"))]
mod convert;
#[cfg(not(target_arch = "wasm32"))]
mod download;
#[cfg(not(target_arch = "wasm32"))]
mod embed;
#[cfg(not(target_arch = "wasm32"))]
mod fetch_http;
#[cfg(not(target_arch = "wasm32"))]
mod index;
#[cfg(not(target_arch = "wasm32"))]
mod randmodel;
#[cfg(not(target_arch = "wasm32"))]
mod search;
#[cfg(not(target_arch = "wasm32"))]
mod table_cmds;

/// Exit code: some items failed (the others were processed).
#[cfg(not(target_arch = "wasm32"))]
pub const EXIT_ITEMS_FAILED: u8 = 1;
/// Exit code: an input, model or output error stopped the command.
#[cfg(not(target_arch = "wasm32"))]
pub const EXIT_ERROR: u8 = 3;

/// Prints an error as one JSON object on stderr and returns [`EXIT_ERROR`].
#[cfg(not(target_arch = "wasm32"))]
pub fn fail(e: &clipsearch::Error) -> std::process::ExitCode {
    eprintln!(
        "{}",
        serde_json::json!({"error": e.code(), "message": e.to_string()})
    );
    std::process::ExitCode::from(EXIT_ERROR)
}

/// Maps a subcommand's result to the exit code.
#[cfg(not(target_arch = "wasm32"))]
fn report(r: clipsearch::Result<()>) -> std::process::ExitCode {
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => fail(&e),
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
        Command::Index(a) => index::main(&a),
        Command::Search(a) => search::main(&a),
        Command::Export(a) => table_cmds::export(&a),
        Command::Import(a) => table_cmds::import(&a),
        Command::SynthTable(a) => table_cmds::synth(&a),
        Command::Download(a) => report(download::run(a)),
        Command::Convert(a) => report(convert::run(a)),
        Command::EmbedText(a) => report(embed::run_text(a)),
        Command::EmbedImage(a) => report(embed::run_image(a)),
        Command::RandomModel(a) => report(randmodel::run(a)),
    }
}

/// Private multimodal image search: embed, index, search and export, natively.
#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Parser)]
#[command(
    name = "clipsearch",
    version,
    after_help = "Exit codes: 0 success; 1 some items failed (index: listed on stderr; \
import --strict: rejected rows); 2 bad usage; 3 an input, model or output error \
(stderr: {\"error\": code, \"message\": ...})."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Subcommand)]
enum Command {
    /// Print the version.
    Version,
    /// Embed a folder or a manifest (CSV/JSONL of id,url,...) into a Parquet table, on all
    /// cores; resumable and shardable.
    Index(index::Args),
    /// Search a table by text, image or item id; one JSON object per result.
    Search(search::Args),
    /// Export a table to Qdrant request bodies, NPY + JSON, Parquet, or a saved collection.
    Export(table_cmds::ExportArgs),
    /// Read a (foreign) Parquet table or a saved collection and write it as a clipsearch table.
    Import(table_cmds::ImportArgs),
    /// Write a seeded synthetic table of clustered unit vectors (tests and benchmarks).
    SynthTable(table_cmds::SynthArgs),
    /// Download a CLIP model repository from the Hugging Face Hub (or `$HF_ENDPOINT`).
    Download(download::Args),
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
