//! Qdrant request bodies: create-collection JSON and NDJSON upsert batches.

use super::{check_vector, redact_metadata, redact_str, ExportOptions};
use crate::{Error, Item, Result, SpaceInfo};
use serde_json::{json, Value};
use std::io::Write;
use uuid::Uuid;

/// Most points in one upsert body.
pub const QDRANT_BATCH: usize = 256;

/// The body of `PUT /collections/{name}`: `{"vectors":{"size":dim,"distance":"Cosine"}}`.
///
/// # Example
/// ```
/// use clipsearch::SpaceInfo;
/// let s = SpaceInfo { model_key: "k".into(), model_name: "m".into(), dim: 512, quantization: "q8_0".into() };
/// assert_eq!(clipsearch::table::qdrant_create_collection(&s),
///            r#"{"vectors":{"size":512,"distance":"Cosine"}}"#);
/// ```
pub fn qdrant_create_collection(space: &SpaceInfo) -> String {
    format!(
        r#"{{"vectors":{{"size":{},"distance":"Cosine"}}}}"#,
        space.dim
    )
}

/// The Qdrant point id of an item: UUIDv5 of the (redacted) item id in the URL namespace, as
/// Python's `uuid.uuid5(uuid.NAMESPACE_URL, item_id)` gives.
///
/// # Example
/// ```
/// let u = clipsearch::table::qdrant_point_id("s3://b/1.jpg");
/// assert_eq!(u.get_version_num(), 5);
/// ```
pub fn qdrant_point_id(item_id: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, redact_str(item_id).as_bytes())
}

/// Writes NDJSON upsert bodies (`{"points":[{"id","vector","payload"}...]}`, at most
/// [`QDRANT_BATCH`] points per line) and returns the number of points written. The payload is
/// the item's redacted metadata plus its id under the first id column name.
///
/// # Errors
/// [`Error::DimensionMismatch`] / [`Error::InvalidVector`] for a vector that does not fit
/// `space`; [`Error::InvalidArgument`] for bad id column names; [`Error::Io`] when `out` fails.
///
/// # Example
/// ```
/// use clipsearch::table::{write_qdrant_points, ExportOptions};
/// use clipsearch::{Item, SpaceInfo};
/// let s = SpaceInfo { model_key: "k".into(), model_name: "m".into(), dim: 2, quantization: "f32".into() };
/// let items = vec![Item { id: "a".into(), embedding: vec![1.0, 0.0], metadata: Default::default() }];
/// let mut out = Vec::new();
/// assert_eq!(write_qdrant_points(&items, &s, &ExportOptions::default(), &mut out).unwrap(), 1);
/// assert!(String::from_utf8(out).unwrap().contains(r#""locator":"a""#));
/// ```
pub fn write_qdrant_points<'a, I, W>(
    items: I,
    space: &SpaceInfo,
    opts: &ExportOptions,
    mut out: W,
) -> Result<usize>
where
    I: IntoIterator<Item = &'a Item>,
    W: Write,
{
    let id_field = opts.primary_id_column()?;
    let mut n = 0;
    let mut batch: Vec<Value> = Vec::with_capacity(QDRANT_BATCH);
    let flush = |batch: &mut Vec<Value>, out: &mut W| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let body = json!({ "points": std::mem::take(batch) });
        serde_json::to_writer(&mut *out, &body).map_err(|e| Error::Io(e.to_string()))?;
        out.write_all(b"\n")?;
        Ok(())
    };
    for item in items {
        check_vector(item, space.dim)?;
        let mut payload = redact_metadata(&item.metadata);
        let id = redact_str(&item.id).into_owned();
        payload.insert(id_field.to_string(), Value::String(id.clone()));
        batch.push(json!({
            "id": qdrant_point_id(&id).to_string(),
            "vector": item.embedding,
            "payload": payload,
        }));
        n += 1;
        if batch.len() == QDRANT_BATCH {
            flush(&mut batch, &mut out)?;
        }
    }
    flush(&mut batch, &mut out)?;
    out.flush()?;
    Ok(n)
}
