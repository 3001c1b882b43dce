//! `clipsearch search --table <T> (--text Q | --image PATH | --id ID) [--model M] [-k 10]
//! [--filter EXPR]... [--min-score S]`: one JSON object per result on stdout, best first:
//! `{"id": ..., "score": ..., "metadata": {...}}` (score = cosine similarity).
//!
//! The table is loaded into a [`Collection`] and searched exactly (a one-shot search gains nothing
//! from building a graph first). `--model` embeds a `--text` or `--image` query; its model key must
//! be the table's (`ModelMismatch` otherwise). `--id` ("more like this") needs no model.
//!
//! `--filter` takes the JSON filter of [`clipsearch::index::filter`] (Qdrant-like:
//! `{"must": [{"key": "year", "range": {"gte": 2020}}]}`), or the sugar `FIELD=VALUE` (the field
//! equals the value; the value is read as JSON when it parses — `3`, `true`, `"x"` — else as a
//! string). Several `--filter`s must all hold.

use std::path::PathBuf;

use clipsearch::index::{Collection, Condition, Filter, SearchOptions};
use clipsearch::table::{import_parquet, ImportOptions};
use clipsearch::{Clip, Error, Result};
use serde_json::{json, Value};

/// Search a table by text, image or item id.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["text", "image", "id"])))]
pub struct Args {
    /// The table (Parquet, as written by `index`, `import` or the browser's export).
    #[arg(long)]
    pub table: PathBuf,
    /// Text query (needs --model).
    #[arg(long, requires = "model")]
    pub text: Option<String>,
    /// Image file query (needs --model).
    #[arg(long, requires = "model")]
    pub image: Option<PathBuf>,
    /// Id of an item of the table: "more like this" (the item itself is excluded).
    #[arg(long)]
    pub id: Option<String>,
    /// Model that embeds the query: a .gguf file or a Hugging Face layout directory.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Number of results.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// Metadata filter: JSON (see `clipsearch::index::filter`) or FIELD=VALUE. Repeatable (and).
    #[arg(long)]
    pub filter: Vec<String>,
    /// Drop results whose score is below this cosine similarity.
    #[arg(long)]
    pub min_score: Option<f32>,
    /// Id column of the table (default: recorded, else `locator`, else `id`).
    #[arg(long)]
    pub id_column: Option<String>,
}

/// Parses one `--filter` argument.
fn parse_filter(s: &str) -> Result<Condition> {
    let t = s.trim();
    if t.starts_with('{') {
        return Ok(Condition::Filter(Box::new(Filter::from_json(t)?)));
    }
    let (k, v) = t.split_once('=').ok_or_else(|| {
        Error::InvalidFilter(format!(
            "`{s}` is neither a JSON filter nor FIELD=VALUE (e.g. city=London)"
        ))
    })?;
    let key = k.trim();
    if key.is_empty() {
        return Err(Error::InvalidFilter(format!(
            "`{s}` has no field name before `=`"
        )));
    }
    let value = match serde_json::from_str::<Value>(v.trim()) {
        Ok(x @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => x,
        _ => Value::String(v.trim().to_string()),
    };
    Ok(Condition::Equals {
        key: key.to_string(),
        value,
    })
}

/// Runs the search; returns the result lines.
///
/// # Errors
/// I/O, table, model, filter errors; `ModelMismatch` / `DimensionMismatch` when the model does
/// not match the table; `UnknownId` for an unknown `--id`.
pub fn run(a: &Args) -> Result<Vec<Value>> {
    let mut must = Vec::new();
    for f in &a.filter {
        must.push(parse_filter(f)?);
    }
    let opts = SearchOptions {
        k: a.k,
        min_score: a.min_score,
        filter: (!must.is_empty()).then(|| Filter {
            must,
            ..Filter::default()
        }),
        ..SearchOptions::default()
    };
    let data =
        std::fs::read(&a.table).map_err(|e| Error::Io(format!("{}: {e}", a.table.display())))?;
    let t = import_parquet(
        data,
        &ImportOptions {
            id_column: a.id_column.clone(),
            ..ImportOptions::default()
        },
    )?;
    for r in &t.rejected {
        eprintln!(
            "{}",
            json!({"rejected_row": r.row, "id": r.id, "error": r.reason.code(), "message": r.reason.to_string()})
        );
    }
    if t.space.dim == 0 {
        return Err(Error::InvalidData(format!(
            "{} has no valid rows: nothing to search",
            a.table.display()
        )));
    }
    let mut c = Collection::new(t.space.clone())?;
    for item in t.items {
        c.upsert(item)?;
    }
    let hits = if let Some(id) = &a.id {
        c.search_by_id(id, &opts)?
    } else {
        let model = a
            .model
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("--text and --image need --model".into()))?;
        let clip = Clip::from_path(model)?;
        let mine = clip.info().space_info();
        if t.model_recorded && mine.model_key != t.space.model_key {
            return Err(Error::ModelMismatch {
                expected: t.space.model_key.clone(),
                found: mine.model_key,
            });
        }
        let q = if let Some(text) = &a.text {
            clip.embed_text(text)?
        } else if let Some(p) = &a.image {
            let b = std::fs::read(p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
            clip.embed_image(&b)?
        } else {
            return Err(Error::InvalidArgument(
                "give one of --text, --image or --id".into(),
            ));
        };
        c.search(&q, &opts)?
    };
    Ok(hits
        .into_iter()
        .map(|h| json!({"id": h.id, "score": h.score, "metadata": h.metadata}))
        .collect())
}

/// Runs the subcommand; returns the exit code.
pub fn main(a: &Args) -> std::process::ExitCode {
    match run(a) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => crate::fail(&e),
    }
}
