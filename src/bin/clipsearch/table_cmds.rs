//! `export`, `import` and `synth-table`: embedding tables on the command line, in the formats
//! the browser package reads and writes (Parquet tables of [`clipsearch::table`] and the saved
//! collections of `Collection.toBytes()` / [`clipsearch::Collection::to_bytes`]).
//!
//! Exit codes: 0 success; 1 `import --strict` with rejected rows; 2 bad usage (clap); 3 a typed
//! error (printed on stderr as one JSON object `{"error": code, "message": ...}`).

use clipsearch::model::SplitMix64;
use clipsearch::table::{
    export_parquet, import_parquet, qdrant_create_collection, write_npy, write_qdrant_points,
    ExportOptions, ImportOptions, ImportedTable,
};
use clipsearch::{Collection, Error, Item, Metadata, Result, SpaceInfo};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Export targets.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Target {
    /// `DIR/create_collection.json` + `DIR/points.ndjson` (batches of 256 points).
    Qdrant,
    /// `DIR/embeddings.npy` (float32 [n, d]) + `DIR/items.json` (ids and metadata, same order).
    Npy,
    /// A Parquet file (e.g. with other id columns).
    Parquet,
    /// A saved collection file (the bytes of the browser's `Collection.toBytes()`, which
    /// `Collection.fromBytes()` loads), with its search graph built when it is large enough.
    Collection,
}

/// `clipsearch export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Input table (Parquet written by clipsearch, or a foreign one) or a saved collection.
    #[arg(long)]
    table: PathBuf,
    /// Output format.
    #[arg(long)]
    to: Target,
    /// Output directory (qdrant, npy) or file (parquet, collection).
    #[arg(short, long)]
    output: PathBuf,
    /// Id column(s) of the output; the first holds the item id, further ones come from metadata
    /// fields of the same name. Repeatable. Default: `locator`.
    #[arg(long = "id-column")]
    id_columns: Vec<String>,
    /// Id column of the input table (default: recorded, else `locator`, else `id`).
    #[arg(long)]
    input_id_column: Option<String>,
}

/// `clipsearch import`: validate a (foreign) Parquet table, or read a saved collection (e.g.
/// downloaded from the browser), and write it as a clipsearch Parquet table.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["file", "table"])))]
pub struct ImportArgs {
    /// Input: a Parquet table or a saved collection (`Collection.toBytes()`).
    file: Option<PathBuf>,
    /// Same as the positional FILE.
    #[arg(long)]
    table: Option<PathBuf>,
    /// Output clipsearch Parquet table.
    #[arg(short, long)]
    output: PathBuf,
    /// Id column of the input (default: recorded, else `locator`, else `id`).
    #[arg(long)]
    id_column: Option<String>,
    /// Embedding column of the input (default `embedding`).
    #[arg(long)]
    embedding_column: Option<String>,
    /// Expected model key: a table recording another one is refused (ModelMismatch). Also
    /// recorded for foreign tables that record none.
    #[arg(long)]
    model_key: Option<String>,
    /// Model name recorded for foreign tables.
    #[arg(long, default_value = "")]
    model_name: String,
    /// Expected dimension (DimensionMismatch otherwise).
    #[arg(long)]
    dim: Option<usize>,
    /// Quantization recorded for foreign tables.
    #[arg(long, default_value = "")]
    quantization: String,
    /// Normalise vectors whose L2 norm is not 1.
    #[arg(long)]
    normalize: bool,
    /// Exit with code 1 when any row was rejected.
    #[arg(long)]
    strict: bool,
}

/// `clipsearch synth-table`: a seeded table of clustered, normalised vectors (no model needed).
#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Rows.
    #[arg(long)]
    n: usize,
    /// Dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Cluster count.
    #[arg(long, default_value_t = 16)]
    clusters: usize,
    /// Output Parquet file.
    #[arg(short, long)]
    output: PathBuf,
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| io_err(path, e))
}

/// UTC now as RFC 3339 (the native CLI has a clock; wasm callers pass their own).
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Reads a Parquet table, or a saved collection (recognised by its magic bytes) checked against
/// `opts.expected` like a table.
fn read_table(path: &Path, opts: &ImportOptions) -> Result<ImportedTable> {
    let data = std::fs::read(path).map_err(|e| io_err(path, e))?;
    if !data.starts_with(clipsearch::index::MAGIC) {
        return import_parquet(data, opts);
    }
    let c = Collection::from_bytes(&data)?;
    if let Some(exp) = &opts.expected {
        if exp.model_key != c.space().model_key {
            return Err(Error::ModelMismatch {
                expected: exp.model_key.clone(),
                found: c.space().model_key.clone(),
            });
        }
        if exp.dim != c.space().dim {
            return Err(Error::DimensionMismatch {
                expected: exp.dim,
                found: c.space().dim,
            });
        }
    }
    Ok(ImportedTable {
        space: c.space().clone(),
        model_recorded: true,
        items: c.iter().map(|r| r.to_item()).collect(),
        rejected: Vec::new(),
        id_column: opts
            .id_column
            .clone()
            .unwrap_or_else(|| clipsearch::table::DEFAULT_ID_COLUMN.to_string()),
        skipped_columns: Vec::new(),
    })
}

fn report_rejected(t: &ImportedTable) {
    for r in &t.rejected {
        eprintln!(
            "{}",
            json!({"rejected_row": r.row, "id": r.id, "error": r.reason.code(), "message": r.reason.to_string()})
        );
    }
}

fn export_opts(ids: &[String]) -> ExportOptions {
    let mut o = ExportOptions {
        created_at: Some(now_rfc3339()),
        ..ExportOptions::default()
    };
    if !ids.is_empty() {
        o.id_columns = ids.to_vec();
    }
    o
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| io_err(path, e))
}

fn run_export(a: &ExportArgs) -> Result<Value> {
    let t = read_table(
        &a.table,
        &ImportOptions {
            id_column: a.input_id_column.clone(),
            ..ImportOptions::default()
        },
    )?;
    report_rejected(&t);
    let opts = export_opts(&a.id_columns);
    let n = match a.to {
        Target::Parquet => {
            let bytes = export_parquet(&t.items, &t.space, &opts)?;
            write_file(&a.output, &bytes)?;
            t.items.len()
        }
        Target::Collection => {
            let mut c = Collection::new(t.space.clone())?;
            let n = t.items.len();
            for it in t.items.iter().cloned() {
                c.upsert(it)?;
            }
            c.rebuild();
            write_file(&a.output, &c.to_bytes()?)?;
            n
        }
        Target::Qdrant => {
            std::fs::create_dir_all(&a.output).map_err(|e| io_err(&a.output, e))?;
            write_file(
                &a.output.join("create_collection.json"),
                qdrant_create_collection(&t.space).as_bytes(),
            )?;
            let p = a.output.join("points.ndjson");
            write_qdrant_points(&t.items, &t.space, &opts, create(&p)?)?
        }
        Target::Npy => {
            std::fs::create_dir_all(&a.output).map_err(|e| io_err(&a.output, e))?;
            let p1 = a.output.join("embeddings.npy");
            let p2 = a.output.join("items.json");
            write_npy(&t.items, &t.space, &opts, create(&p1)?, create(&p2)?)?
        }
    };
    Ok(
        json!({"exported": n, "rejected": t.rejected.len(), "output": a.output.display().to_string()}),
    )
}

fn run_import(a: &ImportArgs) -> Result<(Value, bool)> {
    let expected = match (&a.model_key, a.dim) {
        (Some(k), Some(d)) => Some(SpaceInfo {
            model_key: k.clone(),
            model_name: a.model_name.clone(),
            dim: d,
            quantization: a.quantization.clone(),
        }),
        (None, None) => None,
        _ => {
            return Err(Error::InvalidArgument(
                "give both --model-key and --dim, or neither".into(),
            ))
        }
    };
    let input = a
        .file
        .as_ref()
        .or(a.table.as_ref())
        .ok_or_else(|| Error::InvalidArgument("give the input file".into()))?;
    let t = read_table(
        input,
        &ImportOptions {
            id_column: a.id_column.clone(),
            embedding_column: a.embedding_column.clone(),
            expected,
            normalize: a.normalize,
        },
    )?;
    report_rejected(&t);
    if !t.skipped_columns.is_empty() {
        eprintln!("{}", json!({"skipped_columns": t.skipped_columns}));
    }
    let opts = export_opts(std::slice::from_ref(&t.id_column));
    let bytes = export_parquet(&t.items, &t.space, &opts)?;
    write_file(&a.output, &bytes)?;
    Ok((
        json!({"imported": t.items.len(), "rejected": t.rejected.len(), "dim": t.space.dim,
               "model_key": t.space.model_key, "output": a.output.display().to_string()}),
        !t.rejected.is_empty(),
    ))
}

fn normalized(v: Vec<f64>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.into_iter().map(|x| (x / n) as f32).collect()
}

/// Seeded clustered unit vectors with some metadata (cluster, label, score, tags, even).
pub fn synth_items(n: usize, dim: usize, seed: u64, clusters: usize) -> Vec<Item> {
    let mut rng = SplitMix64::new(seed);
    let clusters = clusters.max(1);
    let centres: Vec<Vec<f64>> = (0..clusters)
        .map(|_| {
            let c = normalized((0..dim).map(|_| rng.normal()).collect());
            c.into_iter().map(f64::from).collect()
        })
        .collect();
    let spread = 0.6 / (dim as f64).sqrt();
    (0..n)
        .map(|i| {
            let c = (rng.next_u64() % clusters as u64) as usize;
            let v = centres[c]
                .iter()
                .map(|x| x + spread * rng.normal())
                .collect();
            let mut m = Metadata::new();
            m.insert("cluster".into(), json!(c));
            m.insert("label".into(), json!(format!("cluster-{c}")));
            m.insert("score".into(), json!(rng.uniform()));
            m.insert("even".into(), json!(i % 2 == 0));
            m.insert("tags".into(), json!(["synthetic", format!("c{c}")]));
            Item {
                id: format!("s3://synth-bucket/img/{i:07}.jpg"),
                embedding: normalized(v),
                metadata: m,
            }
        })
        .collect()
}

fn run_synth(a: &SynthArgs) -> Result<Value> {
    if a.dim == 0 {
        return Err(Error::InvalidArgument("--dim must be at least 1".into()));
    }
    eprintln!("synth-table: seed {}", a.seed);
    let items = synth_items(a.n, a.dim, a.seed, a.clusters);
    let space = SpaceInfo {
        model_key: "synthetic".into(),
        model_name: "synthetic-clusters".into(),
        dim: a.dim,
        quantization: "f32".into(),
    };
    let f = create(&a.output)?;
    let mut f = clipsearch::table::write_parquet(&items, &space, &export_opts(&[]), f)?;
    f.flush().map_err(|e| io_err(&a.output, e))?;
    Ok(json!({"rows": a.n, "dim": a.dim, "seed": a.seed, "output": a.output.display().to_string()}))
}

fn finish(r: Result<Value>) -> ExitCode {
    match r {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => crate::fail(&e),
    }
}

/// Runs `clipsearch export`.
pub fn export(a: &ExportArgs) -> ExitCode {
    finish(run_export(a))
}

/// Runs `clipsearch import`.
pub fn import(a: &ImportArgs) -> ExitCode {
    match run_import(a) {
        Ok((v, any_rejected)) => {
            println!("{v}");
            if any_rejected && a.strict {
                ExitCode::from(crate::EXIT_ITEMS_FAILED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => finish(Err(e)),
    }
}

/// Runs `clipsearch synth-table`.
pub fn synth(a: &SynthArgs) -> ExitCode {
    finish(run_synth(a))
}
