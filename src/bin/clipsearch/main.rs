//! `clipsearch`: the native command-line interface over the same core as the browser package.
//!
//! Each subcommand lives in its own module beside this file.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("clipsearch {}", clipsearch::VERSION);
            std::process::ExitCode::SUCCESS
        }
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
}

#[cfg(target_arch = "wasm32")]
fn main() {}
