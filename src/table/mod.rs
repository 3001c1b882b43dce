//! Export and import of embedding tables: Parquet, Qdrant request bodies, NPY.
//!
//! Only embeddings and metadata leave the machine: no export contains image bytes, and every
//! string that goes out (ids and metadata values, also inside lists and objects) passes through
//! a privacy filter (see [Privacy](#privacy)).
//!
//! Every exporter takes the items as `impl IntoIterator<Item = &Item>` whose iterator is
//! `Clone` (a slice, a `Vec`'s `iter()`, a map's `values()`): the first pass infers column types
//! or counts rows, the second writes. Nothing is copied whole: Parquet is written in row groups of
//! [`ExportOptions::row_group_size`] rows, so the extra memory of an export is about one row group
//! plus the output itself.
//!
//! ## Parquet layout
//! One row per item, columns in this order:
//! 1. the id column(s) (see [Id columns](#id-columns)), `Utf8`;
//! 2. `embedding`: `FixedSizeList<Float32>` of the space's dimension (not nullable). pandas (through
//!    pyarrow) reads it as an object column of `float32` numpy arrays of equal length, the shape
//!    an ML data platform's `upload_dataset_embeddings(dataset_name, model_key, df)` takes; a
//!    fixed size list also records the dimension in the schema, which a plain `List<Float32>`
//!    does not;
//! 3. one column per metadata key (sorted by name), typed by inference over all items:
//!    all strings -> `Utf8`; all booleans -> `Boolean`; all integers -> `Int64` (`UInt64` when all
//!    are above `i64::MAX`); numbers with at least one non-integer -> `Float64` (integers in such a
//!    column come back as floats: `3` returns as `3.0`); lists of one such scalar type ->
//!    `List<...>` (empty lists fit any list column); anything else (objects, nested or mixed
//!    lists, mixed types, integers beyond ±2^53 mixed with floats) -> `Utf8` holding JSON text,
//!    marked as such in the file metadata (`clipsearch.json_columns`) and parsed back on import.
//!    A missing key and a JSON `null` are both written as null and both come back as an absent key.
//!
//! Parquet key-value file metadata (also set as the Arrow schema metadata):
//! `clipsearch.model_key`, `clipsearch.model_name`, `clipsearch.dim`, `clipsearch.quantization`,
//! `clipsearch.preprocessing`, `clipsearch.normalization` (`l2`), `clipsearch.version`,
//! `clipsearch.created_at` (when the caller gives it: wasm has no clock),
//! `clipsearch.id_columns` (JSON array), `clipsearch.embedding_column`,
//! `clipsearch.json_columns` (JSON array). Compression is snappy (pure Rust).
//!
//! ## Id columns
//! [`ExportOptions::id_columns`] names the id columns, default `["locator"]`. The first one holds
//! [`Item::id`]. Data platforms key datapoints by several fields: every further name is taken from
//! the item's metadata field of that name (which then is not repeated as a metadata column). So an
//! item `{id: "s3://b/1.jpg", metadata: {"dataset": "cats"}}` exported with
//! `id_columns = ["locator", "dataset"]` gives the columns `locator`, `dataset`, `embedding`. On
//! import the first id column becomes [`Item::id`] and the others return to the metadata, so the
//! round trip is exact.
//!
//! ## Import
//! [`import_parquet`] reads our files and reasonable foreign ones: the id column is
//! [`ImportOptions::id_column`], else the first recorded id column, else `locator`, else `id`
//! (string or integer). The embedding column (default `embedding`) may be a list, large list or
//! fixed size list of `Float32` or `Float64` (f64 values are rounded to f32). Rows are checked one
//! by one and bad ones are reported as [`RejectedRow`]s with a typed reason: missing id, missing
//! embedding, wrong length (`DimensionMismatch`), NaN/infinite or all-zero values
//! (`InvalidVector`). Duplicate ids follow upsert semantics: **the last row wins**, keeps the
//! position of the first, and each superseded row is reported as rejected. Vectors are returned
//! bit for bit as stored; [`ImportOptions::normalize`] normalises those of a foreign file whose L2
//! norm differs from 1 by more than 1e-4.
//!
//! ## Qdrant
//! [`qdrant_create_collection`] gives the body of `PUT /collections/{name}` and
//! [`write_qdrant_points`] writes NDJSON: one `PUT /collections/{name}/points` body per line, at
//! most [`QDRANT_BATCH`] points each. Point ids are UUIDv5 of the item id in the standard URL
//! namespace ([`uuid::Uuid::NAMESPACE_URL`], `6ba7b811-9dad-11d1-80b4-00c04fd430c8`; item ids are
//! locators): in Python `uuid.uuid5(uuid.NAMESPACE_URL, item_id)`. The payload is the metadata plus
//! the id under the first id column name. Load them into a running Qdrant with:
//!
//! ```sh
//! QDRANT=http://localhost:6333; C=photos
//! curl -fsS -X PUT "$QDRANT/collections/$C" -H 'Content-Type: application/json' \
//!      --data-binary @create_collection.json
//! while IFS= read -r body; do
//!   printf '%s' "$body" | curl -fsS -X PUT "$QDRANT/collections/$C/points?wait=true" \
//!        -H 'Content-Type: application/json' --data-binary @- > /dev/null || exit 1
//! done < points.ndjson
//! ```
//!
//! ## NPY
//! [`write_npy`] writes a little-endian `float32 [n, d]` `.npy` (format 1.0, C order) and a JSON
//! document `{"clipsearch": {...space and version...}, "id_column": "locator", "ids": [...],
//! "metadata": [{...}, ...]}` whose rows are in the same order.
//!
//! ## Privacy
//! A presigned URL's query string is a credential. Before anything is written, every id and every
//! metadata string (also inside lists and objects) that contains `://` together with `?`, `#` or
//! `@` is replaced by [`crate::fetch::redact_url`] of it (scheme, host and path only); a string
//! that still mentions `X-Amz-` after that is replaced by `[redacted]`. Other strings are written
//! unchanged. Metadata keys are not rewritten.

mod npy;
mod parquet;
mod qdrant;

pub use self::npy::write_npy;
pub use self::parquet::{export_parquet, import_parquet, write_parquet};
pub use self::qdrant::{
    qdrant_create_collection, qdrant_point_id, write_qdrant_points, QDRANT_BATCH,
};

use crate::{Error, Item, Metadata, Result, SpaceInfo};
use serde_json::Value;
use std::borrow::Cow;

/// Default name of the (first) id column.
pub const DEFAULT_ID_COLUMN: &str = "locator";
/// Name of the embedding column.
pub const EMBEDDING_COLUMN: &str = "embedding";
/// Default rows per Parquet row group.
pub const DEFAULT_ROW_GROUP_SIZE: usize = 8192;
/// Default description of the image preprocessing recorded in exported files.
pub const DEFAULT_PREPROCESSING: &str = "CLIPImageProcessor: RGB, resize shortest edge to 224 \
(bicubic), center crop 224x224, rescale 1/255, normalize with OpenAI CLIP mean/std";

/// Options of every export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// Id column names; the first holds [`Item::id`], the others come from metadata fields of
    /// the same name. Default `["locator"]`.
    pub id_columns: Vec<String>,
    /// Creation time recorded in the file (e.g. RFC 3339); `None` records none (wasm has no clock:
    /// the caller passes `new Date().toISOString()`).
    pub created_at: Option<String>,
    /// Description of the image preprocessing that produced the vectors.
    pub preprocessing: String,
    /// Rows per Parquet row group (default 8192); bounds the memory of an export.
    pub row_group_size: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            id_columns: vec![DEFAULT_ID_COLUMN.to_string()],
            created_at: None,
            preprocessing: DEFAULT_PREPROCESSING.to_string(),
            row_group_size: DEFAULT_ROW_GROUP_SIZE,
        }
    }
}

impl ExportOptions {
    /// The first id column name (the one holding [`Item::id`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when no id column is given or a name is empty or repeated.
    pub fn primary_id_column(&self) -> Result<&str> {
        let first = self.id_columns.first().ok_or_else(|| {
            Error::InvalidArgument("give at least one id column name (e.g. `locator`)".into())
        })?;
        for (i, c) in self.id_columns.iter().enumerate() {
            if c.is_empty() || c == EMBEDDING_COLUMN {
                return Err(Error::InvalidArgument(format!(
                    "id column name `{c}` is not allowed: use a non-empty name other than `{EMBEDDING_COLUMN}`"
                )));
            }
            if self.id_columns[..i].contains(c) {
                return Err(Error::InvalidArgument(format!(
                    "id column `{c}` is given twice"
                )));
            }
        }
        Ok(first)
    }
}

/// Options of [`import_parquet`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportOptions {
    /// Id column; `None`: the first recorded id column, else `locator`, else `id`.
    pub id_column: Option<String>,
    /// Embedding column; `None`: `embedding`.
    pub embedding_column: Option<String>,
    /// The space the rows must belong to (e.g. the collection's): a recorded model key or
    /// dimension that differs fails the whole import.
    pub expected: Option<SpaceInfo>,
    /// Normalise vectors whose L2 norm differs from 1 by more than 1e-4 (default `false` keeps
    /// every vector as stored; rows of norm 0 are always rejected).
    pub normalize: bool,
}

/// A row that an import did not take, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedRow {
    /// Zero-based row number in the file.
    pub row: usize,
    /// The row's id when it has one.
    pub id: Option<String>,
    /// Why the row was rejected (`InvalidVector`, `DimensionMismatch`, `InvalidData`).
    pub reason: Error,
}

/// The result of an import: the space, the accepted items and the rejected rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedTable {
    /// The table's space: as recorded in the file, else the expected one, else with empty model
    /// fields and the dimension of the first valid row.
    pub space: SpaceInfo,
    /// Whether the file recorded its model key (clipsearch files do; foreign ones usually not).
    pub model_recorded: bool,
    /// Accepted items, in file order (a duplicate id keeps its first position, last value).
    pub items: Vec<Item>,
    /// Rejected rows with reasons.
    pub rejected: Vec<RejectedRow>,
    /// The id column the items' ids were read from (re-export under this name to keep it).
    pub id_column: String,
    /// Columns whose type import does not understand (they are left out of the metadata).
    pub skipped_columns: Vec<String>,
}

/// Applies the privacy filter of the module docs to one string.
///
/// # Example
/// ```
/// use clipsearch::table::redact_str;
/// let u = "https://b.s3.amazonaws.com/a.jpg?X-Amz-Signature=s";
/// assert_eq!(redact_str(u), "https://b.s3.amazonaws.com/a.jpg");
/// assert_eq!(redact_str("a cat? yes"), "a cat? yes");
/// ```
pub fn redact_str(s: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(s);
    if s.contains("://") && s.contains(['?', '#', '@']) {
        out = Cow::Owned(crate::fetch::redact_url(s));
    }
    if out.to_ascii_lowercase().contains("x-amz-") {
        out = Cow::Owned("[redacted]".to_string());
    }
    out
}

/// Applies [`redact_str`] to every string inside a JSON value.
pub(crate) fn redact_value(v: &Value) -> Cow<'_, Value> {
    match v {
        Value::String(s) => match redact_str(s) {
            Cow::Borrowed(_) => Cow::Borrowed(v),
            Cow::Owned(o) => Cow::Owned(Value::String(o)),
        },
        Value::Array(a) => {
            let r: Vec<Cow<'_, Value>> = a.iter().map(redact_value).collect();
            if r.iter().all(|c| matches!(c, Cow::Borrowed(_))) {
                Cow::Borrowed(v)
            } else {
                Cow::Owned(Value::Array(r.into_iter().map(Cow::into_owned).collect()))
            }
        }
        Value::Object(o) => {
            let r: Vec<(&String, Cow<'_, Value>)> =
                o.iter().map(|(k, x)| (k, redact_value(x))).collect();
            if r.iter().all(|(_, c)| matches!(c, Cow::Borrowed(_))) {
                Cow::Borrowed(v)
            } else {
                Cow::Owned(Value::Object(
                    r.into_iter()
                        .map(|(k, c)| (k.clone(), c.into_owned()))
                        .collect(),
                ))
            }
        }
        _ => Cow::Borrowed(v),
    }
}

/// Redacted copy of a metadata map.
pub(crate) fn redact_metadata(m: &Metadata) -> Metadata {
    m.iter()
        .map(|(k, v)| (k.clone(), redact_value(v).into_owned()))
        .collect()
}

/// Checks an item's vector against the space before it is exported.
pub(crate) fn check_vector(item: &Item, dim: usize) -> Result<()> {
    if item.embedding.len() != dim {
        return Err(Error::DimensionMismatch {
            expected: dim,
            found: item.embedding.len(),
        });
    }
    if let Some(p) = item.embedding.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidVector(format!(
            "item `{}` has a non-finite value at position {p}: re-embed it before exporting",
            redact_str(&item.id)
        )));
    }
    Ok(())
}

/// The key-value metadata recorded in exported files.
pub(crate) fn space_metadata(space: &SpaceInfo, opts: &ExportOptions) -> Vec<(String, String)> {
    let mut kv = vec![
        ("clipsearch.model_key".to_string(), space.model_key.clone()),
        (
            "clipsearch.model_name".to_string(),
            space.model_name.clone(),
        ),
        ("clipsearch.dim".to_string(), space.dim.to_string()),
        (
            "clipsearch.quantization".to_string(),
            space.quantization.clone(),
        ),
        (
            "clipsearch.preprocessing".to_string(),
            opts.preprocessing.clone(),
        ),
        ("clipsearch.normalization".to_string(), "l2".to_string()),
        ("clipsearch.version".to_string(), crate::VERSION.to_string()),
    ];
    if let Some(t) = &opts.created_at {
        kv.push(("clipsearch.created_at".to_string(), t.clone()));
    }
    kv
}
