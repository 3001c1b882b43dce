//! Parquet export and import (see the module docs of [`crate::table`] for the layout).

use super::{
    check_vector, redact_str, redact_value, space_metadata, ExportOptions, ImportOptions,
    ImportedTable, RejectedRow, DEFAULT_ID_COLUMN, EMBEDDING_COLUMN,
};
use crate::{Error, Item, Metadata, Result, SpaceInfo};
use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::Compression;
use ::parquet::file::metadata::KeyValue;
use ::parquet::file::properties::WriterProperties;
use ::parquet::schema::types::ColumnPath;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde_json::{Number, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

/// Scalar type of a metadata column (or of a list column's elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Str,
    Bool,
    I64,
    U64,
    F64,
}

/// Inferred type of a metadata column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar(Scalar),
    /// A list column; `None` while only empty lists were seen.
    List(Option<Scalar>),
    /// JSON text.
    Json,
}

/// Largest integer magnitude that a `Float64` column holds exactly.
const F64_EXACT: u64 = 1 << 53;

fn merge_scalar(a: Scalar, b: Scalar) -> Option<Scalar> {
    use Scalar::*;
    match (a, b) {
        _ if a == b => Some(a),
        (I64, F64) | (F64, I64) => Some(F64),
        _ => None,
    }
}

fn scalar_of(v: &Value, max_int: &mut u64) -> Option<Scalar> {
    match v {
        Value::String(_) => Some(Scalar::Str),
        Value::Bool(_) => Some(Scalar::Bool),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                *max_int = (*max_int).max(i.unsigned_abs());
                Some(Scalar::I64)
            } else if n.is_u64() {
                *max_int = u64::MAX;
                Some(Scalar::U64)
            } else {
                Some(Scalar::F64)
            }
        }
        _ => None,
    }
}

fn kind_of(v: &Value, max_int: &mut u64) -> Kind {
    match v {
        Value::Array(a) => {
            let mut elem: Option<Scalar> = None;
            for x in a {
                let Some(s) = scalar_of(x, max_int) else {
                    return Kind::Json;
                };
                elem = match elem {
                    None => Some(s),
                    Some(e) => match merge_scalar(e, s) {
                        Some(m) => Some(m),
                        None => return Kind::Json,
                    },
                };
            }
            Kind::List(elem)
        }
        _ => scalar_of(v, max_int).map_or(Kind::Json, Kind::Scalar),
    }
}

fn merge_kind(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        (Kind::Scalar(x), Kind::Scalar(y)) => merge_scalar(x, y).map_or(Kind::Json, Kind::Scalar),
        (Kind::List(None), Kind::List(y)) => Kind::List(y),
        (Kind::List(x), Kind::List(None)) => Kind::List(x),
        (Kind::List(Some(x)), Kind::List(Some(y))) => {
            merge_scalar(x, y).map_or(Kind::Json, |s| Kind::List(Some(s)))
        }
        _ => Kind::Json,
    }
}

/// Infers the metadata column kinds over all items (values already redacted do not change
/// kinds: redaction maps strings to strings).
fn infer_columns<'a>(items: impl Iterator<Item = &'a Item>) -> BTreeMap<String, Kind> {
    let mut cols: BTreeMap<String, (Kind, u64)> = BTreeMap::new();
    for item in items {
        for (k, v) in &item.metadata {
            if v.is_null() {
                continue;
            }
            let mut max_int = 0;
            let kind = kind_of(v, &mut max_int);
            match cols.get_mut(k) {
                Some((c, m)) => {
                    *c = merge_kind(*c, kind);
                    *m = (*m).max(max_int);
                }
                None => {
                    cols.insert(k.clone(), (kind, max_int));
                }
            }
        }
    }
    cols.into_iter()
        .map(|(k, (kind, max_int))| {
            let exact = max_int <= F64_EXACT;
            let kind = match kind {
                Kind::Scalar(Scalar::F64) | Kind::List(Some(Scalar::F64)) if !exact => Kind::Json,
                other => other,
            };
            (k, kind)
        })
        .collect()
}

fn scalar_type(s: Option<Scalar>) -> DataType {
    match s {
        Some(Scalar::Str) | None => DataType::Utf8,
        Some(Scalar::Bool) => DataType::Boolean,
        Some(Scalar::I64) => DataType::Int64,
        Some(Scalar::U64) => DataType::UInt64,
        Some(Scalar::F64) => DataType::Float64,
    }
}

fn kind_type(k: Kind) -> DataType {
    match k {
        Kind::Scalar(s) => scalar_type(Some(s)),
        Kind::List(s) => DataType::List(Arc::new(Field::new("item", scalar_type(s), true))),
        Kind::Json => DataType::Utf8,
    }
}

fn arrow_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidData(format!("Parquet/Arrow: {e}"))
}

/// A scalar column builder.
enum ScalarBuilder {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    I64(Int64Builder),
    U64(UInt64Builder),
    F64(Float64Builder),
}

impl ScalarBuilder {
    fn new(s: Option<Scalar>) -> Self {
        match s {
            Some(Scalar::Str) | None => ScalarBuilder::Str(StringBuilder::new()),
            Some(Scalar::Bool) => ScalarBuilder::Bool(BooleanBuilder::new()),
            Some(Scalar::I64) => ScalarBuilder::I64(Int64Builder::new()),
            Some(Scalar::U64) => ScalarBuilder::U64(UInt64Builder::new()),
            Some(Scalar::F64) => ScalarBuilder::F64(Float64Builder::new()),
        }
    }

    /// Appends a value of the inferred type (the inference guarantees the match; anything
    /// else is appended as null).
    fn append(&mut self, v: Option<&Value>) {
        match self {
            ScalarBuilder::Str(b) => match v {
                Some(Value::String(s)) => b.append_value(redact_str(s)),
                _ => b.append_null(),
            },
            ScalarBuilder::Bool(b) => b.append_option(v.and_then(Value::as_bool)),
            ScalarBuilder::I64(b) => b.append_option(v.and_then(Value::as_i64)),
            ScalarBuilder::U64(b) => b.append_option(v.and_then(Value::as_u64)),
            ScalarBuilder::F64(b) => b.append_option(v.and_then(Value::as_f64)),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ScalarBuilder::Str(b) => Arc::new(b.finish()),
            ScalarBuilder::Bool(b) => Arc::new(b.finish()),
            ScalarBuilder::I64(b) => Arc::new(b.finish()),
            ScalarBuilder::U64(b) => Arc::new(b.finish()),
            ScalarBuilder::F64(b) => Arc::new(b.finish()),
        }
    }
}

/// Builds one metadata column of a row group.
fn build_column(kind: Kind, key: &str, items: &[&Item]) -> ArrayRef {
    match kind {
        Kind::Scalar(s) => {
            let mut b = ScalarBuilder::new(Some(s));
            for it in items {
                b.append(it.metadata.get(key));
            }
            b.finish()
        }
        Kind::Json => {
            let mut b = StringBuilder::new();
            for it in items {
                match it.metadata.get(key) {
                    None | Some(Value::Null) => b.append_null(),
                    Some(v) => b.append_value(redact_value(v).to_string()),
                }
            }
            Arc::new(b.finish())
        }
        Kind::List(s) => {
            macro_rules! list {
                ($builder:expr, $get:expr) => {{
                    let mut b = ListBuilder::new($builder);
                    for it in items {
                        match it.metadata.get(key) {
                            Some(Value::Array(a)) => {
                                for x in a {
                                    b.values().append_option($get(x));
                                }
                                b.append(true);
                            }
                            _ => b.append(false),
                        }
                    }
                    Arc::new(b.finish()) as ArrayRef
                }};
            }
            match s {
                Some(Scalar::Str) | None => list!(StringBuilder::new(), |x: &Value| x
                    .as_str()
                    .map(|s| redact_str(s).into_owned())),
                Some(Scalar::Bool) => list!(BooleanBuilder::new(), Value::as_bool),
                Some(Scalar::I64) => list!(Int64Builder::new(), Value::as_i64),
                Some(Scalar::U64) => list!(UInt64Builder::new(), Value::as_u64),
                Some(Scalar::F64) => list!(Float64Builder::new(), Value::as_f64),
            }
        }
    }
}

/// Writes items as a Parquet table to `out` and returns `out` (see the [module docs](crate::table)
/// for the layout, the id columns and the privacy filter).
///
/// # Errors
/// [`Error::DimensionMismatch`] when an embedding's length is not `space.dim`;
/// [`Error::InvalidVector`] for a non-finite value; [`Error::InvalidArgument`] for bad id column
/// names, a metadata key named like the primary id column or `embedding`, or an extra id column
/// that no item has in its metadata; [`Error::Io`] when `out` fails.
///
/// # Example
/// ```
/// use clipsearch::table::{export_parquet, import_parquet, ExportOptions, ImportOptions};
/// use clipsearch::{Item, SpaceInfo};
/// let space = SpaceInfo { model_key: "k".into(), model_name: "m".into(), dim: 2, quantization: "f32".into() };
/// let items = vec![Item { id: "s3://b/1.jpg".into(), embedding: vec![0.6, 0.8], metadata: Default::default() }];
/// let bytes = export_parquet(&items, &space, &ExportOptions::default()).unwrap();
/// let back = import_parquet(bytes, &ImportOptions::default()).unwrap();
/// assert_eq!(back.items, items);
/// ```
pub fn write_parquet<'a, I, W>(
    items: I,
    space: &SpaceInfo,
    opts: &ExportOptions,
    out: W,
) -> Result<W>
where
    I: IntoIterator<Item = &'a Item>,
    I::IntoIter: Clone,
    W: Write + Send,
{
    let primary = opts.primary_id_column()?;
    let iter = items.into_iter();
    let dim = space.dim;
    let dim_i32 = i32::try_from(dim)
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| Error::InvalidArgument(format!("dimension {dim} is out of range")))?;
    for it in iter.clone() {
        check_vector(it, dim)?;
    }
    let mut columns = infer_columns(iter.clone());
    for bad in [primary, EMBEDDING_COLUMN] {
        if columns.contains_key(bad) {
            return Err(Error::InvalidArgument(format!(
                "metadata key `{bad}` collides with the `{bad}` column: choose another id column name or rename the key"
            )));
        }
    }
    // Extra id columns come from metadata and go right after the primary id column.
    let mut extra_ids = Vec::new();
    for name in opts.id_columns.iter().skip(1) {
        let kind = columns.remove(name).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "id column `{name}` is in no item's metadata: extra id columns are taken from the metadata field of the same name"
            ))
        })?;
        extra_ids.push((name.clone(), kind));
    }
    let ordered: Vec<(String, Kind)> = extra_ids.into_iter().chain(columns).collect();
    let json_columns: Vec<&str> = ordered
        .iter()
        .filter(|(_, k)| *k == Kind::Json)
        .map(|(n, _)| n.as_str())
        .collect();

    let mut kv = space_metadata(space, opts);
    kv.push((
        "clipsearch.id_columns".into(),
        serde_json::to_string(&opts.id_columns).map_err(arrow_err)?,
    ));
    kv.push((
        "clipsearch.embedding_column".into(),
        EMBEDDING_COLUMN.into(),
    ));
    kv.push((
        "clipsearch.json_columns".into(),
        serde_json::to_string(&json_columns).map_err(arrow_err)?,
    ));

    let item_field = Arc::new(Field::new("item", DataType::Float32, false));
    let mut fields = vec![
        Field::new(primary, DataType::Utf8, false),
        Field::new(
            EMBEDDING_COLUMN,
            DataType::FixedSizeList(item_field.clone(), dim_i32),
            false,
        ),
    ];
    for (i, (name, kind)) in ordered.iter().enumerate() {
        // Extra id columns sit before the embedding.
        let f = Field::new(name, kind_type(*kind), true);
        if i < opts.id_columns.len() - 1 {
            fields.insert(1 + i, f);
        } else {
            fields.push(f);
        }
    }
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        kv.iter().cloned().collect::<HashMap<_, _>>(),
    ));

    let rows = opts.row_group_size.max(1);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows))
        .set_column_dictionary_enabled(
            ColumnPath::new(vec![EMBEDDING_COLUMN.into(), "list".into(), "item".into()]),
            false,
        )
        .set_key_value_metadata(Some(
            kv.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect(),
        ))
        .build();
    let mut writer = ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(arrow_err)?;

    let mut it = iter;
    let mut chunk: Vec<&Item> = Vec::with_capacity(rows);
    loop {
        chunk.clear();
        chunk.extend(it.by_ref().take(rows));
        if chunk.is_empty() {
            break;
        }
        let mut ids = StringBuilder::new();
        let mut values: Vec<f32> = Vec::with_capacity(chunk.len() * dim);
        for item in &chunk {
            ids.append_value(redact_str(&item.id));
            values.extend_from_slice(&item.embedding);
        }
        let emb = FixedSizeListArray::try_new(
            item_field.clone(),
            dim_i32,
            Arc::new(Float32Array::from(values)),
            None,
        )
        .map_err(arrow_err)?;
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(ids.finish()), Arc::new(emb)];
        for (i, (name, kind)) in ordered.iter().enumerate() {
            let a = build_column(*kind, name, &chunk);
            if i < opts.id_columns.len() - 1 {
                arrays.insert(1 + i, a);
            } else {
                arrays.push(a);
            }
        }
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(arrow_err)?;
        writer.write(&batch).map_err(write_err)?;
        writer.flush().map_err(write_err)?;
    }
    writer.into_inner().map_err(write_err)
}

fn write_err(e: ::parquet::errors::ParquetError) -> Error {
    match e {
        ::parquet::errors::ParquetError::External(e) => Error::Io(e.to_string()),
        other => Error::InvalidData(format!("Parquet writer: {other}")),
    }
}

/// Exports items as Parquet bytes (see [`write_parquet`]).
///
/// # Errors
/// As [`write_parquet`].
///
/// # Example
/// See [`write_parquet`].
pub fn export_parquet<'a, I>(items: I, space: &SpaceInfo, opts: &ExportOptions) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = &'a Item>,
    I::IntoIter: Clone,
{
    write_parquet(items, space, opts, Vec::new())
}

fn kv_get<'a>(kv: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    kv.get(k).map(String::as_str)
}

/// Whether import turns this type into metadata values.
fn supported(t: &DataType) -> bool {
    match t {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64 => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            !matches!(
                f.data_type(),
                DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
            ) && supported(f.data_type())
        }
        _ => false,
    }
}

fn num_f64(x: f64) -> Value {
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// One cell as a JSON value (`None` for null). `a` has a [`supported`] type.
fn cell(a: &dyn Array, i: usize, json: bool) -> Option<Value> {
    if a.is_null(i) {
        return None;
    }
    let text = |s: &str| {
        if json {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
        } else {
            Value::String(s.to_string())
        }
    };
    let list = |v: ArrayRef| {
        Value::Array(
            (0..v.len())
                .map(|j| cell(v.as_ref(), j, false).unwrap_or(Value::Null))
                .collect(),
        )
    };
    Some(match a.data_type() {
        DataType::Utf8 => text(a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => text(a.as_string::<i64>().value(i)),
        DataType::Utf8View => text(a.as_string_view().value(i)),
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float32 => num_f64(f64::from(a.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => num_f64(a.as_primitive::<Float64Type>().value(i)),
        DataType::List(_) => list(a.as_list::<i32>().value(i)),
        DataType::LargeList(_) => list(a.as_list::<i64>().value(i)),
        DataType::FixedSizeList(..) => list(a.as_fixed_size_list().value(i)),
        _ => return None,
    })
}

/// An id cell as a string (string or integer id columns).
fn id_cell(a: &dyn Array, i: usize) -> Option<String> {
    match cell(a, i, false)? {
        Value::String(s) => Some(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// The values of row `i` of an embedding column as f32, or `None` when null.
fn embedding_cell(a: &dyn Array, i: usize) -> Option<Vec<f32>> {
    if a.is_null(i) {
        return None;
    }
    let v: ArrayRef = match a.data_type() {
        DataType::FixedSizeList(..) => a.as_fixed_size_list().value(i),
        DataType::List(_) => a.as_list::<i32>().value(i),
        DataType::LargeList(_) => a.as_list::<i64>().value(i),
        _ => return None,
    };
    if v.null_count() > 0 {
        return Some(vec![f32::NAN; v.len()]);
    }
    match v.data_type() {
        DataType::Float32 => Some(v.as_primitive::<Float32Type>().values().to_vec()),
        DataType::Float64 => Some(
            v.as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|x| *x as f32)
                .collect(),
        ),
        _ => None,
    }
}

fn embedding_type_ok(t: &DataType) -> bool {
    match t {
        DataType::FixedSizeList(f, _) | DataType::List(f) | DataType::LargeList(f) => {
            matches!(f.data_type(), DataType::Float32 | DataType::Float64)
        }
        _ => false,
    }
}

/// Reads a Parquet table (ours or a foreign one) into items, checking it against
/// [`ImportOptions::expected`] (see the [module docs](crate::table) for what is accepted, the
/// rejected rows and the duplicate rule: last row wins).
///
/// # Errors
/// [`Error::InvalidData`] when the bytes are not Parquet, or the id or embedding column is
/// missing or of an unusable type; [`Error::ModelMismatch`] when the file records another model
/// key than the expected one; [`Error::DimensionMismatch`] when the file records (or its fixed
/// size list has) another dimension than the expected one.
///
/// # Example
/// See [`write_parquet`].
pub fn import_parquet(data: Vec<u8>, opts: &ImportOptions) -> Result<ImportedTable> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(data))
        .map_err(|e| Error::InvalidData(format!("not a readable Parquet file ({e})")))?;
    let kv: HashMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|v| {
            v.iter()
                .filter_map(|k| Some((k.key.clone(), k.value.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    let schema = builder.schema().clone();

    // The space recorded in the file, checked against the expected one.
    let recorded_key = kv_get(&kv, "clipsearch.model_key").map(str::to_string);
    let recorded_dim = match kv_get(&kv, "clipsearch.dim") {
        Some(d) => Some(d.parse::<usize>().map_err(|_| {
            Error::InvalidData(format!("the file records dimension `{d}`, not a number"))
        })?),
        None => None,
    };
    if let (Some(exp), Some(found)) = (&opts.expected, &recorded_key) {
        if &exp.model_key != found {
            return Err(Error::ModelMismatch {
                expected: exp.model_key.clone(),
                found: found.clone(),
            });
        }
    }

    let recorded_ids: Vec<String> = kv_get(&kv, "clipsearch.id_columns")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let has = |n: &str| schema.field_with_name(n).is_ok();
    let id_col = match &opts.id_column {
        Some(c) => c.clone(),
        None => recorded_ids
            .first()
            .cloned()
            .or_else(|| {
                [DEFAULT_ID_COLUMN, "id"]
                    .into_iter()
                    .find(|c| has(c))
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                Error::InvalidData(
                    "no id column: name it with the id column option (default `locator` or `id`)"
                        .into(),
                )
            })?,
    };
    let emb_col = opts
        .embedding_column
        .clone()
        .or_else(|| kv_get(&kv, "clipsearch.embedding_column").map(str::to_string))
        .unwrap_or_else(|| EMBEDDING_COLUMN.to_string());
    let id_idx = schema.index_of(&id_col).map_err(|_| {
        Error::InvalidData(format!(
            "the table has no id column `{id_col}`: name the right one in the import options"
        ))
    })?;
    let emb_idx = schema.index_of(&emb_col).map_err(|_| {
        Error::InvalidData(format!(
            "the table has no embedding column `{emb_col}`: name the right one in the import options"
        ))
    })?;
    let emb_type = schema.field(emb_idx).data_type().clone();
    if !embedding_type_ok(&emb_type) {
        return Err(Error::InvalidData(format!(
            "embedding column `{emb_col}` is {emb_type}: expected a list of float32 or float64"
        )));
    }
    if !supported(schema.field(id_idx).data_type()) {
        return Err(Error::InvalidData(format!(
            "id column `{id_col}` is {}: expected strings or integers",
            schema.field(id_idx).data_type()
        )));
    }
    let fixed_dim = match &emb_type {
        DataType::FixedSizeList(_, n) => usize::try_from(*n).ok(),
        _ => None,
    };
    let file_dim = recorded_dim.or(fixed_dim);
    if let (Some(exp), Some(found)) = (&opts.expected, file_dim) {
        if exp.dim != found {
            return Err(Error::DimensionMismatch {
                expected: exp.dim,
                found,
            });
        }
    }
    let mut dim = file_dim.or(opts.expected.as_ref().map(|e| e.dim));

    let json_cols: Vec<String> = kv_get(&kv, "clipsearch.json_columns")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut skipped_columns = Vec::new();
    let mut meta_cols: Vec<(usize, String, bool)> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if i == id_idx || i == emb_idx {
            continue;
        }
        if supported(f.data_type()) {
            meta_cols.push((i, f.name().clone(), json_cols.contains(f.name())));
        } else {
            skipped_columns.push(f.name().clone());
        }
    }

    let reader = builder
        .with_batch_size(super::DEFAULT_ROW_GROUP_SIZE)
        .build()
        .map_err(|e| Error::InvalidData(format!("cannot read the Parquet file ({e})")))?;
    let mut items: Vec<Item> = Vec::new();
    let mut rows_of: Vec<usize> = Vec::new();
    let mut pos: HashMap<String, usize> = HashMap::new();
    let mut rejected = Vec::new();
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| Error::InvalidData(format!("corrupt Parquet data ({e})")))?;
        let ids = batch.column(id_idx);
        let embs = batch.column(emb_idx);
        for i in 0..batch.num_rows() {
            let r = row;
            row += 1;
            let id = id_cell(ids.as_ref(), i);
            let reject = |reason: Error, id: Option<String>| RejectedRow { row: r, id, reason };
            let Some(id) = id.filter(|s| !s.is_empty()) else {
                rejected.push(reject(
                    Error::InvalidData(format!("row {r} has no id in column `{id_col}`")),
                    None,
                ));
                continue;
            };
            let Some(mut v) = embedding_cell(embs.as_ref(), i) else {
                rejected.push(reject(
                    Error::InvalidData(format!("row {r} has no embedding")),
                    Some(id),
                ));
                continue;
            };
            let d = *dim.get_or_insert(v.len());
            if v.len() != d {
                rejected.push(reject(
                    Error::DimensionMismatch {
                        expected: d,
                        found: v.len(),
                    },
                    Some(id),
                ));
                continue;
            }
            if let Some(p) = v.iter().position(|x| !x.is_finite()) {
                rejected.push(reject(
                    Error::InvalidVector(format!("NaN or infinite value at position {p}")),
                    Some(id),
                ));
                continue;
            }
            let norm = v
                .iter()
                .map(|x| f64::from(*x) * f64::from(*x))
                .sum::<f64>()
                .sqrt();
            if norm == 0.0 {
                rejected.push(reject(
                    Error::InvalidVector("all values are zero".into()),
                    Some(id),
                ));
                continue;
            }
            if opts.normalize && (norm - 1.0).abs() > 1e-4 {
                v.iter_mut()
                    .for_each(|x| *x = (f64::from(*x) / norm) as f32);
            }
            let mut metadata = Metadata::new();
            for (c, name, json) in &meta_cols {
                if let Some(val) = cell(batch.column(*c).as_ref(), i, *json) {
                    metadata.insert(name.clone(), val);
                }
            }
            let item = Item {
                id: id.clone(),
                embedding: v,
                metadata,
            };
            match pos.get(&id) {
                Some(&p) => {
                    rejected.push(RejectedRow {
                        row: rows_of[p],
                        id: Some(id.clone()),
                        reason: Error::InvalidData(format!(
                            "duplicate id: row {} superseded by row {r} (last row wins)",
                            rows_of[p]
                        )),
                    });
                    items[p] = item;
                    rows_of[p] = r;
                }
                None => {
                    pos.insert(id, items.len());
                    items.push(item);
                    rows_of.push(r);
                }
            }
        }
    }

    let space = SpaceInfo {
        model_key: recorded_key
            .clone()
            .or_else(|| opts.expected.as_ref().map(|e| e.model_key.clone()))
            .unwrap_or_default(),
        model_name: kv_get(&kv, "clipsearch.model_name")
            .map(str::to_string)
            .or_else(|| opts.expected.as_ref().map(|e| e.model_name.clone()))
            .unwrap_or_default(),
        dim: dim.unwrap_or(0),
        quantization: kv_get(&kv, "clipsearch.quantization")
            .map(str::to_string)
            .or_else(|| opts.expected.as_ref().map(|e| e.quantization.clone()))
            .unwrap_or_default(),
    };
    Ok(ImportedTable {
        space,
        model_recorded: recorded_key.is_some(),
        items,
        rejected,
        id_column: id_col,
        skipped_columns,
    })
}
