//! `clipsearch index <DIR | MANIFEST> --model <MODEL> -o <TABLE.parquet>`: embed a folder or a
//! manifest of images on all cores into a clipsearch Parquet table (the format of
//! [`clipsearch::table`], which `import`, `search` and the browser read).
//!
//! ## Inputs
//! - A folder, walked recursively (symlinks not followed, sorted by name). A file is an image when
//!   its extension is one of jpg, jpeg, png, webp, gif, bmp (any case) or, for other names, when
//!   its first bytes are one of those formats' signatures; other files are skipped and counted.
//!   The id of an image is its path relative to the folder, with `/` separators.
//! - A manifest: CSV (`.csv`, with a header row) or JSON Lines (`.jsonl`, `.ndjson`, or any file
//!   whose first non-blank character is `{`), one image per row, with a `url` field and an
//!   optional `id` field; every other field is metadata (CSV values are strings, JSON values keep
//!   their types; empty CSV cells and JSON nulls are left out). `url` is an `http(s)://` URL
//!   (presigned or public), a `file://` URL or a local path (relative paths are relative to the
//!   manifest's folder). The id is the `id` field, else the URL's locator
//!   ([`clipsearch::fetch::locator`]: `s3://bucket/key` for S3 URLs, otherwise scheme, host and
//!   path — never the query string), else the local path as written. A bad row (unparseable, no
//!   `url`, a repeated id) is reported as a failed item; the others go on.
//!
//! ## Sharding
//! `--shard I/N` (0 <= I < N) keeps the items whose id hashes to I: the first eight bytes of the
//! SHA-256 of the id, read big-endian, modulo N. So N machines given the same manifest embed
//! disjoint subsets that together cover it, and their tables concatenate (or `import` one after
//! another) into the table one machine would have made.
//!
//! ## Resume (crash- and Ctrl-C-safe)
//! Embeddings are written in chunks of `--chunk-size` items as complete Parquet files
//! `<OUT>.parts/part-NNNNNN.parquet`, each written to a `.tmp` name, flushed to disk and renamed,
//! so a part is either whole or absent. When everything is embedded, the existing `<OUT>` (if
//! any) and all parts are merged into `<OUT>` (again through a temporary file and a rename) and
//! the parts folder is removed. A rerun after a crash or Ctrl-C reads the ids of `<OUT>` and of
//! every part and embeds only the others; at most the chunk in flight is redone. Items that failed
//! are never written, so a rerun retries them. Rows of `<OUT>` are sorted by id (independent of
//! thread scheduling and of how many runs it took). An existing `<OUT>` or part made with another
//! model is refused (`ModelMismatch`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clipsearch::fetch::{locator, redact_url};
use clipsearch::table::{import_parquet, write_parquet, ExportOptions, ImportOptions};
use clipsearch::{Clip, Error, Item, Metadata, Result, SpaceInfo};
use rayon::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::fetch_http::Fetcher;

/// Embed a folder or a manifest of images into a Parquet table (resumable, shardable).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A folder of images (walked recursively) or a manifest (.csv or .jsonl) of `id,url[,...]`.
    pub input: PathBuf,
    /// The model: a .gguf file or a Hugging Face layout directory (needs the vision tower).
    #[arg(long)]
    pub model: PathBuf,
    /// Output Parquet table (parts are kept in `<OUTPUT>.parts/` until the end).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Name of the id column of the output table.
    #[arg(long, default_value = "locator")]
    pub id_column: String,
    /// Embed only shard I of N (0-based): items whose id hashes to I (SHA-256, first 8 bytes).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Items per part file: at most this many are redone after an interruption.
    #[arg(long, default_value_t = 256)]
    pub chunk_size: usize,
    /// HTTP timeout per request, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Extra attempts after a network error, a timeout, HTTP 429 or 5xx.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// First wait before a retry, in milliseconds (doubles each time, at most 30 s).
    #[arg(long, default_value_t = 500)]
    pub retry_backoff_ms: u64,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_shard(s: &str) -> std::result::Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not I/N (e.g. 0/4)"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("`{i}` is not a number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a number"))?;
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// The shard (0..n) of an id: SHA-256 of its UTF-8 bytes, first 8 bytes big-endian, modulo n.
pub fn shard_of(id: &str, n: u64) -> u64 {
    let d = Sha256::digest(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b) % n
}

/// Where an item's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Url(String),
}

impl Source {
    /// What may be shown of the source (URLs redacted).
    fn shown(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Url(u) => redact_url(u),
        }
    }
}

/// One item to embed.
#[derive(Debug, Clone)]
struct Work {
    id: String,
    source: Source,
    metadata: Metadata,
    /// 1-based manifest line (for messages).
    line: Option<usize>,
}

/// An item (or manifest row) that could not be embedded.
#[derive(Debug, Clone)]
pub struct Failure {
    id: String,
    source: Option<String>,
    error: Box<Error>,
}

impl Failure {
    fn to_json(&self) -> Value {
        json!({"failed": self.id, "source": self.source, "error": self.error.code(),
               "message": self.error.to_string()})
    }
}

/// What `index` did (the exit code is 1 when `failures` is not empty).
pub struct Outcome {
    /// JSON summary printed on stdout.
    pub summary: Value,
    /// Failed items, printed on stderr.
    pub failures: Vec<Failure>,
}

const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "gif", "bmp"];

/// Whether a file is an image: by extension, else by signature.
fn is_image(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if ext.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str())) {
        return true;
    }
    let mut head = [0u8; 32];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    matches!(
        image::guess_format(&head[..n]),
        Ok(image::ImageFormat::Jpeg
            | image::ImageFormat::Png
            | image::ImageFormat::WebP
            | image::ImageFormat::Gif
            | image::ImageFormat::Bmp)
    )
}

/// Walks a folder: the images (sorted), walk errors as failures, and the count of other files.
fn walk_folder(root: &Path) -> (Vec<Work>, Vec<Failure>, usize) {
    let mut works = Vec::new();
    let mut failures = Vec::new();
    let mut skipped = 0;
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                let p = e.path();
                if !is_image(p) {
                    skipped += 1;
                    continue;
                }
                let rel = p.strip_prefix(root).unwrap_or(p);
                let id = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                works.push(Work {
                    id,
                    source: Source::File(p.to_path_buf()),
                    metadata: Metadata::new(),
                    line: None,
                });
            }
            Ok(_) => {}
            Err(e) => {
                let path = e.path().map(|p| p.display().to_string());
                failures.push(Failure {
                    id: path.clone().unwrap_or_else(|| root.display().to_string()),
                    source: path,
                    error: Box::new(Error::Io(e.to_string())),
                });
            }
        }
    }
    (works, failures, skipped)
}

/// Builds the work item of one manifest row.
fn manifest_work(
    base: &Path,
    line: usize,
    id: Option<String>,
    url: &str,
    metadata: Metadata,
) -> std::result::Result<Work, Failure> {
    let fail = |id: String, error: Error| Failure {
        id,
        source: Some(redact_url(url)),
        error: Box::new(error),
    };
    let url = url.trim();
    if url.is_empty() {
        return Err(fail(
            id.unwrap_or_else(|| format!("line {line}")),
            Error::InvalidData(format!("manifest line {line}: empty `url`")),
        ));
    }
    let lower = url.to_ascii_lowercase();
    let (source, derived) = if lower.starts_with("http://") || lower.starts_with("https://") {
        let derived = match &id {
            Some(_) => None,
            None => Some(locator(url).map_err(|e| fail(format!("line {line}"), e))?),
        };
        (Source::Url(url.to_string()), derived)
    } else {
        let path = url.strip_prefix("file://").unwrap_or(url);
        let p = Path::new(path);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        (Source::File(full), Some(path.to_string()))
    };
    let id = id.or(derived).unwrap_or_default();
    Ok(Work {
        id,
        source,
        metadata,
        line: Some(line),
    })
}

/// Reads a CSV manifest (header row with `url` and optionally `id`).
fn read_csv(path: &Path, base: &Path) -> Result<Vec<std::result::Result<Work, Failure>>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_path(path)
        .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let headers = rdr
        .headers()
        .map_err(|e| Error::InvalidData(format!("{}: bad CSV header: {e}", path.display())))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let url_col = col("url").ok_or_else(|| {
        Error::InvalidData(format!(
            "{}: the CSV header has no `url` column (expected `id,url[,metadata...]`)",
            path.display()
        ))
    })?;
    let id_col = col("id");
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line() as usize);
                out.push(Err(Failure {
                    id: format!("line {line}"),
                    source: None,
                    error: Box::new(Error::InvalidData(format!(
                        "manifest line {line}: {}",
                        e.kind_text()
                    ))),
                }));
                continue;
            }
        };
        let url = rec.get(url_col).unwrap_or_default();
        let id = id_col
            .and_then(|c| rec.get(c))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let mut meta = Metadata::new();
        for (c, (h, v)) in headers.iter().zip(rec.iter()).enumerate() {
            if c != url_col && Some(c) != id_col && !v.is_empty() {
                meta.insert(h.trim().to_string(), Value::String(v.to_string()));
            }
        }
        out.push(manifest_work(base, line, id, url, meta));
    }
    Ok(out)
}

/// Short description of a CSV error without the record's content.
trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for csv::Error {
    fn kind_text(&self) -> String {
        match self.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields where the header has {expected_len}"),
            csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
            csv::ErrorKind::Io(e) => format!("I/O error: {e}"),
            _ => "unreadable CSV row".into(),
        }
    }
}

/// Reads a JSON Lines manifest.
fn read_jsonl(path: &Path, base: &Path) -> Result<Vec<std::result::Result<Work, Failure>>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| Failure {
            id: format!("line {line}"),
            source: None,
            error: Box::new(Error::InvalidData(format!("manifest line {line}: {msg}"))),
        };
        let obj = match serde_json::from_str::<Value>(l) {
            Ok(Value::Object(o)) => o,
            Ok(_) => {
                out.push(Err(bad("not a JSON object".into())));
                continue;
            }
            Err(e) => {
                out.push(Err(bad(format!(
                    "not JSON ({} at column {})",
                    classify_json(&e),
                    e.column()
                ))));
                continue;
            }
        };
        let Some(url) = obj.get("url").and_then(Value::as_str) else {
            out.push(Err(bad("no string field `url`".into())));
            continue;
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            None | Some(Value::Null) => None,
            Some(_) => {
                out.push(Err(bad("`id` is not a string or a number".into())));
                continue;
            }
        };
        let meta: Metadata = obj
            .iter()
            .filter(|(k, v)| *k != "url" && *k != "id" && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.push(manifest_work(base, line, id, url, meta));
    }
    Ok(out)
}

fn classify_json(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Eof => "unexpected end",
        serde_json::error::Category::Data => "bad data",
        serde_json::error::Category::Io => "I/O error",
    }
}

/// Reads a manifest, CSV or JSON Lines (by extension, else by the first character).
fn read_manifest(path: &Path) -> Result<Vec<std::result::Result<Work, Failure>>> {
    let base = path.parent().unwrap_or(Path::new("."));
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let jsonl = match ext.as_str() {
        "jsonl" | "ndjson" => true,
        "csv" => false,
        _ => {
            let mut head = [0u8; 256];
            let n = File::open(path)
                .and_then(|mut f| f.read(&mut head))
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
            head[..n]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'{')
        }
    };
    if jsonl {
        read_jsonl(path, base)
    } else {
        read_csv(path, base)
    }
}

/// The parts folder of an output file.
fn parts_dir(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".parts");
    out.with_file_name(name)
}

/// Reads a table we wrote, checked against the model's space.
fn read_ours(path: &Path, space: &SpaceInfo, id_column: &str) -> Result<Vec<Item>> {
    let data = std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let t = import_parquet(
        data,
        &ImportOptions {
            id_column: Some(id_column.to_string()),
            expected: Some(space.clone()),
            ..ImportOptions::default()
        },
    )
    .map_err(|e| match e {
        Error::ModelMismatch { expected, found } => Error::ModelMismatch {
            expected,
            found: format!(
                "{found} (in {}: use another output or the same model)",
                path.display()
            ),
        },
        Error::InvalidData(m) => Error::InvalidData(format!("{}: {m}", path.display())),
        other => other,
    })?;
    Ok(t.items)
}

/// Writes items as a Parquet table, atomically (temporary file, flush to disk, rename).
fn write_atomic(
    path: &Path,
    items: &[Item],
    space: &SpaceInfo,
    opts: &ExportOptions,
) -> Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let io = |p: &Path, e: std::io::Error| Error::Io(format!("{}: {e}", p.display()));
    let f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
    let mut w = write_parquet(items, space, opts, std::io::BufWriter::new(f))?;
    w.flush().map_err(|e| io(&tmp, e))?;
    let f = w.into_inner().map_err(|e| io(&tmp, e.into_error()))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// The part files of a parts folder, sorted, and the next part number.
fn list_parts(dir: &Path) -> Result<(Vec<PathBuf>, usize)> {
    let mut parts = Vec::new();
    let mut next = 0;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((parts, 0)),
        Err(e) => return Err(Error::Io(format!("{}: {e}", dir.display()))),
    };
    for e in rd {
        let e = e.map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") {
            // An interrupted write: its items are redone.
            let _ = std::fs::remove_file(e.path());
            continue;
        }
        if let Some(n) = name
            .strip_prefix("part-")
            .and_then(|s| s.strip_suffix(".parquet"))
            .and_then(|s| s.parse::<usize>().ok())
        {
            next = next.max(n + 1);
            parts.push(e.path());
        }
    }
    parts.sort();
    Ok((parts, next))
}

// One model serves every worker thread: `Clip` is `Send + Sync` (checked here at compile time).
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Clip>();
    shared::<Fetcher>();
};

/// Fetches or reads an item's bytes and embeds them.
fn embed_one(clip: &Clip, fetcher: &Fetcher, w: &Work) -> std::result::Result<Item, Failure> {
    let bytes = match &w.source {
        Source::File(p) => std::fs::read(p).map_err(|e| Error::Io(format!("{}: {e}", p.display()))),
        Source::Url(u) => fetcher.get(u),
    };
    bytes
        .and_then(|b| clip.embed_image(&b))
        .map(|embedding| Item {
            id: w.id.clone(),
            embedding,
            metadata: w.metadata.clone(),
        })
        .map_err(|error| Failure {
            id: w.id.clone(),
            source: Some(w.source.shown()),
            error: Box::new(error),
        })
}

fn progress_bar(len: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} images, {per_sec}, {eta} left {msg}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Runs `clipsearch index`.
///
/// # Errors
/// Input, model or output errors (exit code 3); failed items are in [`Outcome::failures`].
pub fn run(a: &Args) -> Result<Outcome> {
    if a.chunk_size == 0 {
        return Err(Error::InvalidArgument(
            "--chunk-size must be at least 1".into(),
        ));
    }
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        return Err(Error::InvalidArgument(
            "--timeout must be a positive number of seconds".into(),
        ));
    }
    let opts = ExportOptions {
        id_columns: vec![a.id_column.clone()],
        created_at: Some(crate::table_cmds::now_rfc3339()),
        ..ExportOptions::default()
    };
    opts.primary_id_column()?;

    // Inputs first (cheap), so a bad input fails before the model loads.
    let meta = std::fs::metadata(&a.input)
        .map_err(|e| Error::Io(format!("{}: {e}", a.input.display())))?;
    let (rows, mut failures, skipped_files) = if meta.is_dir() {
        let (w, f, s) = walk_folder(&a.input);
        (w.into_iter().map(Ok).collect::<Vec<_>>(), f, s)
    } else {
        (read_manifest(&a.input)?, Vec::new(), 0)
    };
    let mut works = Vec::new();
    let mut first_line: HashMap<String, Option<usize>> = HashMap::new();
    for r in rows {
        match r {
            Err(f) => failures.push(f),
            Ok(w) => {
                if let Some((_, n)) = a.shard {
                    if shard_of(&w.id, n) != a.shard.map_or(0, |s| s.0) {
                        continue;
                    }
                }
                if let Some(prev) = first_line.get(&w.id) {
                    let at = prev.map_or(String::new(), |l| format!(" (first on line {l})"));
                    let here = w.line.map_or(String::new(), |l| format!("line {l}: "));
                    failures.push(Failure {
                        id: w.id.clone(),
                        source: Some(w.source.shown()),
                        error: Box::new(Error::InvalidData(format!(
                            "{here}duplicate id{at}: give each row a distinct `id`"
                        ))),
                    });
                    continue;
                }
                first_line.insert(w.id.clone(), w.line);
                works.push(w);
            }
        }
    }

    let clip = Clip::from_path(&a.model)?;
    clip.model().image_size()?;
    let space = clip.info().space_info();

    // Resume: ids already in the output or in finished parts.
    let dir = parts_dir(&a.output);
    let (parts, mut next_part) = list_parts(&dir)?;
    let mut done: HashSet<String> = HashSet::new();
    if a.output.exists() {
        done.extend(
            read_ours(&a.output, &space, &a.id_column)?
                .into_iter()
                .map(|i| i.id),
        );
    }
    for p in &parts {
        done.extend(
            read_ours(p, &space, &a.id_column)?
                .into_iter()
                .map(|i| i.id),
        );
    }
    let todo: Vec<&Work> = works.iter().filter(|w| !done.contains(&w.id)).collect();
    let skipped_existing = works.len() - todo.len();

    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start {jobs} threads: {e}")))?;
    let fetcher = Fetcher::new(
        Duration::from_secs_f64(a.timeout),
        a.retries,
        Duration::from_millis(a.retry_backoff_ms),
    );
    let pb = progress_bar(todo.len() as u64, a.quiet);
    let mut embedded = 0usize;
    if !todo.is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    }
    for chunk in todo.chunks(a.chunk_size) {
        let results: Vec<std::result::Result<Item, Failure>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|w| {
                    let r = embed_one(&clip, &fetcher, w);
                    pb.inc(1);
                    r
                })
                .collect()
        });
        let mut items = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(i) => items.push(i),
                Err(f) => failures.push(f),
            }
        }
        if !items.is_empty() {
            embedded += items.len();
            let p = dir.join(format!("part-{next_part:06}.parquet"));
            write_atomic(&p, &items, &space, &opts)?;
            next_part += 1;
        }
    }
    pb.finish_and_clear();

    // Merge the existing output and every part into the output.
    let (parts, _) = list_parts(&dir)?;
    let rows = if parts.is_empty() && a.output.exists() {
        read_ours(&a.output, &space, &a.id_column)?.len()
    } else {
        let mut all: BTreeMap<String, Item> = BTreeMap::new();
        if a.output.exists() {
            all.extend(
                read_ours(&a.output, &space, &a.id_column)?
                    .into_iter()
                    .map(|i| (i.id.clone(), i)),
            );
        }
        for p in &parts {
            all.extend(
                read_ours(p, &space, &a.id_column)?
                    .into_iter()
                    .map(|i| (i.id.clone(), i)),
            );
        }
        let items: Vec<Item> = all.into_values().collect();
        write_atomic(&a.output, &items, &space, &opts)?;
        items.len()
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    }
    let summary = json!({
        "output": a.output.display().to_string(),
        "rows": rows,
        "embedded": embedded,
        "skipped_existing": skipped_existing,
        "skipped_non_images": skipped_files,
        "failed": failures.len(),
        "shard": a.shard.map(|(i, n)| format!("{i}/{n}")),
        "model_key": space.model_key,
        "jobs": jobs,
    });
    Ok(Outcome { summary, failures })
}

/// Runs the subcommand and prints the summary; returns the exit code.
pub fn main(a: &Args) -> std::process::ExitCode {
    match run(a) {
        Ok(o) => {
            for f in &o.failures {
                eprintln!("{}", f.to_json());
            }
            if !o.failures.is_empty() {
                eprintln!(
                    "clipsearch index: {} item(s) failed (listed above); rerun to retry them",
                    o.failures.len()
                );
            }
            println!("{}", o.summary);
            if o.failures.is_empty() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(crate::EXIT_ITEMS_FAILED)
            }
        }
        Err(e) => crate::fail(&e),
    }
}
