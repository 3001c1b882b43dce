//! NPY export: `float32 [n, d]` plus a JSON file of ids and metadata in the same order.

use super::{check_vector, redact_metadata, redact_str, space_metadata, ExportOptions};
use crate::{Error, Item, Result, SpaceInfo};
use serde_json::{json, Map, Value};
use std::io::Write;

/// The NPY 1.0 header for a little-endian C-order `float32 [n, d]` array, padded so the data
/// starts at a multiple of 64 bytes (as numpy writes it).
fn npy_header(n: usize, d: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    // magic (6) + version (2) + header length (2) + dict + padding + '\n'
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let hlen = dict.len() + pad + 1;
    let mut h = Vec::with_capacity(10 + hlen);
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    h.extend_from_slice(&(hlen as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.extend(std::iter::repeat_n(b' ', pad));
    h.push(b'\n');
    h
}

/// Writes the vectors as a `float32 [n, d]` little-endian `.npy` to `npy` and a JSON document
/// `{"clipsearch": {space, version, ...}, "id_column": ..., "ids": [...], "metadata": [...]}` with
/// rows in the same order to `index`; returns the number of rows. Ids and metadata pass the
/// privacy filter of the [module docs](crate::table).
///
/// # Errors
/// [`Error::DimensionMismatch`] / [`Error::InvalidVector`] for a vector that does not fit
/// `space`; [`Error::InvalidArgument`] for bad id column names; [`Error::Io`] when a writer fails.
///
/// # Example
/// ```
/// use clipsearch::table::{write_npy, ExportOptions};
/// use clipsearch::{Item, SpaceInfo};
/// let s = SpaceInfo { model_key: "k".into(), model_name: "m".into(), dim: 2, quantization: "f32".into() };
/// let items = vec![Item { id: "a".into(), embedding: vec![1.0, 0.0], metadata: Default::default() }];
/// let (mut npy, mut ids) = (Vec::new(), Vec::new());
/// write_npy(&items, &s, &ExportOptions::default(), &mut npy, &mut ids).unwrap();
/// assert_eq!(npy.len(), 128 + 8);
/// ```
pub fn write_npy<'a, I, W1, W2>(
    items: I,
    space: &SpaceInfo,
    opts: &ExportOptions,
    mut npy: W1,
    mut index: W2,
) -> Result<usize>
where
    I: IntoIterator<Item = &'a Item>,
    I::IntoIter: Clone,
    W1: Write,
    W2: Write,
{
    let id_col = opts.primary_id_column()?.to_string();
    let iter = items.into_iter();
    let mut n = 0;
    for it in iter.clone() {
        check_vector(it, space.dim)?;
        n += 1;
    }
    let header = npy_header(n, space.dim);
    if header.len() > usize::from(u16::MAX) {
        return Err(Error::InvalidArgument(
            "array shape too large for NPY 1.0".into(),
        ));
    }
    npy.write_all(&header)?;
    let mut ids = Vec::with_capacity(n);
    let mut metas = Vec::with_capacity(n);
    let mut buf = Vec::with_capacity(space.dim * 4);
    for it in iter {
        buf.clear();
        for x in &it.embedding {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        npy.write_all(&buf)?;
        ids.push(Value::String(redact_str(&it.id).into_owned()));
        metas.push(Value::Object(redact_metadata(&it.metadata)));
    }
    npy.flush()?;
    let info: Map<String, Value> = space_metadata(space, opts)
        .into_iter()
        .map(|(k, v)| {
            (
                k.trim_start_matches("clipsearch.").to_string(),
                Value::String(v),
            )
        })
        .collect();
    let doc = json!({
        "clipsearch": info,
        "id_column": id_col,
        "ids": ids,
        "metadata": metas,
    });
    serde_json::to_writer(&mut index, &doc).map_err(|e| Error::Io(e.to_string()))?;
    index.flush()?;
    Ok(n)
}
