//! `clipsearch download <REPO> -o <DIR> [--revision main]`: fetches a CLIP model repository's
//! files (or a sentence-transformers text tower's, e.g.
//! `sentence-transformers/clip-ViT-B-32-multilingual-v1`) from the Hugging Face Hub, ready for
//! `clipsearch convert`.
//!
//! The Hub address is `--endpoint`, else the `HF_ENDPOINT` environment variable (as in
//! `huggingface_hub`), else `https://huggingface.co`; files come from
//! `<endpoint>/<repo>/resolve/<revision>/<file>`. `HF_TOKEN`, when set, is sent as a bearer token
//! (gated or private repositories) and never printed. Each file is streamed to `<file>.part`
//! and renamed when complete, so an interrupted download never leaves a truncated file under
//! the real name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clipsearch::ingest::classify_http;
use clipsearch::{Error, Result};

/// Weights: the first of these the repository has (older sentence-transformers repositories
/// ship only the PyTorch pickle, which `convert` reads too).
const WEIGHTS: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];
/// Files fetched when the repository has them: tokenizer and preprocessing, and the modules of
/// a sentence-transformers model (pooling, dense projection).
const OPTIONAL: [&str; 9] = [
    "tokenizer.json",
    "preprocessor_config.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "2_Dense/config.json",
];

/// Download a Hugging Face model repository's CLIP (or sentence-transformers) files.
#[derive(clap::Args)]
pub struct Args {
    /// Repository id, e.g. `openai/clip-vit-base-patch32`.
    pub repo: String,
    /// Directory to write the files into (created if needed).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Branch, tag or commit.
    #[arg(long, default_value = "main")]
    pub revision: String,
    /// Hub address (default: `$HF_ENDPOINT`, else https://huggingface.co).
    #[arg(long)]
    pub endpoint: Option<String>,
}

/// A repository id or revision: ASCII letters, digits, `-`, `_`, `.`, at most one `/` (repo).
fn check_name(what: &str, s: &str, slashes: usize) -> Result<()> {
    let parts: Vec<&str> = s.split('/').collect();
    let ok = !s.is_empty()
        && parts.len() <= slashes + 1
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{what} `{s}` is not valid: use letters, digits, '-', '_', '.'{}",
            if slashes > 0 { " and one '/'" } else { "" }
        )))
    }
}

/// Runs the subcommand; prints one JSON line per file and a summary.
pub fn run(a: Args) -> Result<()> {
    check_name("repository", &a.repo, 1)?;
    check_name("revision", &a.revision, 0)?;
    let endpoint = a
        .endpoint
        .clone()
        .or_else(|| std::env::var("HF_ENDPOINT").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "https://huggingface.co".to_string());
    let endpoint = endpoint.trim_end_matches('/').to_string();
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
        return Err(Error::InvalidArgument(format!(
            "the Hub endpoint `{endpoint}` must start with https:// or http://"
        )));
    }
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
    std::fs::create_dir_all(&a.output)
        .map_err(|e| Error::Io(format!("{}: {e}", a.output.display())))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut got: Vec<String> = Vec::new();
    // Ok(true) when fetched, Ok(false) when the repository does not have it.
    let get = |got: &mut Vec<String>, file: &str| -> Result<bool> {
        let url = format!("{endpoint}/{}/resolve/{}/{file}", a.repo, a.revision);
        match fetch(&agent, &url, token.as_deref(), &a.output.join(file)) {
            Ok(bytes) => {
                println!(
                    "{}",
                    serde_json::json!({ "file": file, "bytes": bytes, "url": url })
                );
                got.push(file.to_string());
                Ok(true)
            }
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    };
    let not_a_model = |file: &str| Error::NotFound {
        url: format!(
            "{endpoint}/{}/resolve/{}/{file} (is `{}` a CLIP or sentence-transformers model \
             repository?)",
            a.repo, a.revision, a.repo
        ),
    };
    if !get(&mut got, "config.json")? {
        return Err(not_a_model("config.json"));
    }
    let mut has_weights = false;
    for w in WEIGHTS {
        if get(&mut got, w)? {
            has_weights = true;
            break;
        }
    }
    if !has_weights {
        return Err(not_a_model(WEIGHTS[0]));
    }
    for file in OPTIONAL {
        get(&mut got, file)?;
    }
    if got.iter().any(|f| f == "2_Dense/config.json") {
        for w in WEIGHTS {
            if get(&mut got, &format!("2_Dense/{w}"))? {
                break;
            }
        }
    }
    let has = |f: &str| got.iter().any(|g| g == f);
    let has_tokenizer = has("tokenizer.json") || (has("vocab.json") && has("merges.txt"));
    if !has_tokenizer {
        eprintln!(
            "note: {} has no tokenizer (tokenizer.json, or vocab.json + merges.txt): only the \
             vision tower can be converted",
            a.repo
        );
    }
    println!(
        "{}",
        serde_json::json!({ "repo": a.repo, "revision": a.revision, "dir": a.output, "files": got })
    );
    Ok(())
}

/// GETs `url` into `dest` (through `dest.part`); returns the byte count.
fn fetch(agent: &ureq::Agent, url: &str, token: Option<&str>, dest: &Path) -> Result<u64> {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().map_err(|e| Error::Network {
        url: url.to_string(),
        attempts: 1,
        reason: e.to_string(),
    })?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        let mut prefix = Vec::new();
        let _ = resp
            .body_mut()
            .as_reader()
            .take(4096)
            .read_to_end(&mut prefix);
        classify_http(status, None, &prefix, url)?;
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    }
    let part = dest.with_extension(format!(
        "{}.part",
        dest.extension().map_or("", |e| e.to_str().unwrap_or(""))
    ));
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", part.display()));
    let mut out = std::fs::File::create(&part).map_err(io)?;
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let n = std::io::copy(&mut reader, &mut out).map_err(|e| Error::Network {
        url: url.to_string(),
        attempts: 1,
        reason: format!("the download broke off: {e}"),
    })?;
    out.flush().map_err(io)?;
    drop(out);
    std::fs::rename(&part, dest).map_err(|e| Error::Io(format!("{}: {e}", dest.display())))?;
    Ok(n)
}
