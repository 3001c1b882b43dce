//! `Collection`: items, HNSW + exact search, filters, persistence and table export/import.

use super::{from_js, to_js, to_js_error};
use crate::index::{
    build_segment, Collection, IndexPlan, IndexPolicy, Planned, PlannedSegment, Recommend,
    SearchOptions, SegmentJob, SegmentParams, Upserted,
};
use crate::table::{self, ExportOptions, ImportOptions};
use crate::{Item, Metadata, SpaceInfo};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// A searchable collection of embedded items. Vectors are stored L2-normalised; scores are
/// cosine similarities.
///
/// ```js
/// const col = new Collection(model.spaceInfo());
/// col.upsert("s3://bucket/a.jpg", model.embedImage(bytes), { camera: "x100" });
/// const hits = col.search(model.embedText("a red bicycle"), { k: 10, minScore: 0.2 });
/// ```
#[wasm_bindgen(js_name = Collection)]
pub struct JsCollection {
    inner: Collection,
    /// The plan of the last `planIndex()`, until `applyIndex()`.
    pending: Option<IndexPlan>,
}

/// Export options from JS (`idColumns`, `createdAt`, `rowGroupSize`, `ids`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ExportOptionsDto {
    id_columns: Option<Vec<String>>,
    created_at: Option<String>,
    row_group_size: Option<usize>,
    /// Export only these ids (a selection); default: every item.
    ids: Option<Vec<String>>,
}

/// Import options from JS.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ImportOptionsDto {
    id_column: Option<String>,
    embedding_column: Option<String>,
    normalize: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDto {
    name: &'static str,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RejectedDto {
    /// Zero-based file row; `None` when the collection (not the file) refused the item.
    row: Option<usize>,
    id: Option<String>,
    error: ErrorDto,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportReportDto {
    inserted: usize,
    replaced: usize,
    rejected: Vec<RejectedDto>,
    skipped_columns: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QdrantDto {
    create_collection: String,
    points_ndjson: String,
    points: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemDto<'a> {
    id: &'a str,
    embedding: &'a [f32],
    metadata: &'a Metadata,
}

impl JsCollection {
    fn export_options(&self, dto: &ExportOptionsDto) -> ExportOptions {
        let mut o = ExportOptions::default();
        if let Some(c) = &dto.id_columns {
            o.id_columns = c.clone();
        }
        o.created_at = dto.created_at.clone();
        if let Some(r) = dto.row_group_size {
            o.row_group_size = r;
        }
        o
    }

    fn selected<'a>(&'a self, dto: &'a ExportOptionsDto) -> Result<Vec<Item>, JsValue> {
        match &dto.ids {
            None => Ok(self.inner.iter().map(|r| r.to_item()).collect()),
            Some(ids) => ids
                .iter()
                .map(|id| {
                    self.inner
                        .get(id)
                        .map(|r| r.to_item())
                        .ok_or_else(|| to_js_error(crate::Error::UnknownId(id.clone())))
                })
                .collect(),
        }
    }
}

#[wasm_bindgen(js_class = Collection)]
impl JsCollection {
    /// A new empty collection for vectors of `space` (`{ modelKey, modelName, dim,
    /// quantization }`, e.g. `model.spaceInfo()`), with an optional index policy.
    #[wasm_bindgen(constructor)]
    pub fn new(space: JsValue, policy: JsValue) -> Result<JsCollection, JsValue> {
        let space: SpaceInfo = from_js(space)?;
        let inner = if policy.is_undefined() || policy.is_null() {
            Collection::new(space)
        } else {
            Collection::with_policy(space, from_js::<IndexPolicy>(policy)?)
        }
        .map_err(to_js_error)?;
        Ok(JsCollection {
            inner,
            pending: None,
        })
    }

    /// Restores a collection saved with `toBytes()`. Throws `InvalidData` on corrupt bytes.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<JsCollection, JsValue> {
        Ok(JsCollection {
            inner: Collection::from_bytes(bytes).map_err(to_js_error)?,
            pending: None,
        })
    }

    /// The whole collection (space, ids, vectors, metadata, graph) as versioned bytes, for
    /// IndexedDB/OPFS.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Result<Vec<u8>, JsValue> {
        self.inner.to_bytes().map_err(to_js_error)
    }

    /// `{ modelKey, modelName, dim, quantization }`.
    pub fn space(&self) -> Result<JsValue, JsValue> {
        to_js(self.inner.space())
    }

    /// Number of live items.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.inner.len()
    }

    /// Whether an item with this id exists.
    pub fn has(&self, id: &str) -> bool {
        self.inner.contains(id)
    }

    /// The ids of all live items, in insertion order.
    pub fn ids(&self) -> Vec<String> {
        self.inner.iter().map(|r| r.id.to_string()).collect()
    }

    /// `{ id, embedding, metadata }` of one item, or `undefined`.
    pub fn get(&self, id: &str) -> Result<JsValue, JsValue> {
        match self.inner.get(id) {
            None => Ok(JsValue::UNDEFINED),
            Some(r) => to_js(&ItemDto {
                id: r.id,
                embedding: &r.embedding,
                metadata: r.metadata,
            }),
        }
    }

    /// Adds or replaces (by id) one item; returns `"inserted"` or `"replaced"`. Throws
    /// `DimensionMismatch` or `InvalidVector`. The vector is normalised.
    pub fn upsert(
        &mut self,
        id: String,
        embedding: Vec<f32>,
        metadata: JsValue,
    ) -> Result<String, JsValue> {
        let metadata: Metadata = if metadata.is_undefined() || metadata.is_null() {
            Metadata::new()
        } else {
            from_js(metadata)?
        };
        let r = self
            .inner
            .upsert(Item {
                id,
                embedding,
                metadata,
            })
            .map_err(to_js_error)?;
        Ok(match r {
            Upserted::Inserted => "inserted",
            Upserted::Replaced => "replaced",
        }
        .into())
    }

    /// Removes items by id; returns how many existed.
    pub fn remove(&mut self, ids: Vec<String>) -> usize {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        self.inner.remove(&refs)
    }

    /// Top-k items most similar to `query` (a normalised embedding): `[{ id, score, metadata }]`
    /// in descending score. Options: `{ k = 10, minScore, filter, ef }`.
    pub fn search(&self, query: &[f32], options: JsValue) -> Result<JsValue, JsValue> {
        let opts = search_options(options)?;
        to_js(&self.inner.search(query, &opts).map_err(to_js_error)?)
    }

    /// "More like this": items most similar to the item `id`, itself excluded.
    #[wasm_bindgen(js_name = searchById)]
    pub fn search_by_id(&self, id: &str, options: JsValue) -> Result<JsValue, JsValue> {
        let opts = search_options(options)?;
        to_js(&self.inner.search_by_id(id, &opts).map_err(to_js_error)?)
    }

    /// Recommendation from `{ positive: [id | number[]], negative: [...] }` (Qdrant's
    /// average-vector strategy); examples given by id are excluded from the results.
    pub fn recommend(&self, query: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
        let q: Recommend = from_js(query)?;
        let opts = search_options(options)?;
        to_js(&self.inner.recommend(&q, &opts).map_err(to_js_error)?)
    }

    /// Whether a rebuild of the HNSW graph would pay off now (searches are exact either way).
    #[wasm_bindgen(js_name = needsRebuild)]
    pub fn needs_rebuild(&self) -> bool {
        self.inner.needs_rebuild()
    }

    /// Rebuilds the HNSW graphs over all live items (run it in a worker, between batches).
    pub fn rebuild(&mut self) {
        self.inner.rebuild()
    }

    /// If a rebuild would pay off: indexes the items added since the last build as new graph
    /// segments when that is enough, else rebuilds; returns whether it did either (see the Rust
    /// `Collection::maintain`).
    pub fn maintain(&mut self) -> bool {
        self.pending = None; // a plan made before this build no longer applies
        self.inner.maintain()
    }

    /// Plans what `maintain()` would build as independent graph segments, to build in other
    /// workers with `buildIndexSegment` and attach with `applyIndex`: `undefined` when nothing
    /// needs building, else `{ rebuild, segments, jobs: [{ dim, params, vectors: Float32Array }] }`.
    /// A build of fewer than `minJobs` segments (default 1) is done here at once instead, as
    /// `maintain()` does it, and `jobs` is empty (nothing copied). The collection keeps
    /// answering searches on its current graph meanwhile. A new plan replaces an unapplied one.
    #[wasm_bindgen(js_name = planIndex)]
    pub fn plan_index(&mut self, min_jobs: Option<u32>) -> Result<JsValue, JsValue> {
        self.pending = None;
        let (rebuild, segments, jobs) =
            match self.inner.plan_or_build(min_jobs.unwrap_or(1) as usize) {
                Planned::Nothing => return Ok(JsValue::UNDEFINED),
                Planned::Built { rebuild, segments } => (rebuild, segments, js_sys::Array::new()),
                Planned::Plan(mut plan) => {
                    let jobs = js_sys::Array::new();
                    for seg in plan.take_segments() {
                        let o = js_sys::Object::new();
                        js_sys::Reflect::set(&o, &"dim".into(), &JsValue::from(seg.dim() as u32))?;
                        js_sys::Reflect::set(&o, &"params".into(), &to_js(seg.params())?)?;
                        js_sys::Reflect::set(&o, &"vectors".into(), &segment_vectors(&seg))?;
                        jobs.push(&o);
                    }
                    let out = (plan.is_rebuild(), plan.segments(), jobs);
                    self.pending = Some(plan);
                    out
                }
            };
        let out = js_sys::Object::new();
        js_sys::Reflect::set(&out, &"rebuild".into(), &JsValue::from(rebuild))?;
        js_sys::Reflect::set(&out, &"segments".into(), &JsValue::from(segments as u32))?;
        js_sys::Reflect::set(&out, &"jobs".into(), &jobs)?;
        Ok(out.into())
    }

    /// Attaches the segments built for the last `planIndex()` (`segments[i]` from job `i`).
    /// Returns `false`, changing nothing, if the collection changed since the plan (plan
    /// again) or there is no plan. Throws `InvalidData` for a segment that is unreadable or
    /// not its job's, `InvalidArgument` for a wrong count; nothing changes then either.
    #[wasm_bindgen(js_name = applyIndex)]
    pub fn apply_index(&mut self, segments: js_sys::Array) -> Result<bool, JsValue> {
        let Some(plan) = self.pending.take() else {
            return Ok(false);
        };
        let built: Vec<Vec<u8>> = segments
            .iter()
            .map(|s| js_sys::Uint8Array::new(&s).to_vec())
            .collect();
        self.inner.apply_index(plan, &built).map_err(to_js_error)
    }

    /// `{ live, indexed, tail, tombstones, segments }`.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.stats())
    }

    /// Parquet bytes: id column(s), `embedding` (float32 × dim) and metadata columns; file
    /// metadata records the model. Options: `{ idColumns = ["locator"], createdAt, ids }`.
    #[wasm_bindgen(js_name = exportParquet)]
    pub fn export_parquet(&self, options: JsValue) -> Result<Vec<u8>, JsValue> {
        let dto: ExportOptionsDto = opt_from_js(options)?;
        let opts = self.export_options(&dto);
        let items = self.selected(&dto)?;
        table::export_parquet(items.iter(), self.inner.space(), &opts).map_err(to_js_error)
    }

    /// Qdrant request bodies: `{ createCollection, pointsNdjson, points }`.
    #[wasm_bindgen(js_name = exportQdrant)]
    pub fn export_qdrant(&self, options: JsValue) -> Result<JsValue, JsValue> {
        let dto: ExportOptionsDto = opt_from_js(options)?;
        let opts = self.export_options(&dto);
        let items = self.selected(&dto)?;
        let mut buf = Vec::new();
        let n = table::write_qdrant_points(items.iter(), self.inner.space(), &opts, &mut buf)
            .map_err(to_js_error)?;
        to_js(&QdrantDto {
            create_collection: table::qdrant_create_collection(self.inner.space()),
            points_ndjson: String::from_utf8_lossy(&buf).into_owned(),
            points: n,
        })
    }

    /// NPY export: `{ npy: Uint8Array (float32 [n, d]), index: string (JSON ids + metadata) }`.
    #[wasm_bindgen(js_name = exportNpy)]
    pub fn export_npy(&self, options: JsValue) -> Result<js_sys::Object, JsValue> {
        let dto: ExportOptionsDto = opt_from_js(options)?;
        let opts = self.export_options(&dto);
        let items = self.selected(&dto)?;
        let (mut npy, mut index) = (Vec::new(), Vec::new());
        table::write_npy(
            items.iter(),
            self.inner.space(),
            &opts,
            &mut npy,
            &mut index,
        )
        .map_err(to_js_error)?;
        let out = js_sys::Object::new();
        js_sys::Reflect::set(
            &out,
            &"npy".into(),
            &js_sys::Uint8Array::from(npy.as_slice()),
        )?;
        js_sys::Reflect::set(
            &out,
            &"index".into(),
            &String::from_utf8_lossy(&index).into_owned().into(),
        )?;
        Ok(out)
    }

    /// Imports a Parquet table into this collection (upsert by id). Checks the model key and
    /// dimension (throws `ModelMismatch`, `DimensionMismatch`); returns `{ inserted, replaced,
    /// rejected: [{ row, id, error: { name, message } }], skippedColumns }`.
    #[wasm_bindgen(js_name = importParquet)]
    pub fn import_parquet(&mut self, bytes: Vec<u8>, options: JsValue) -> Result<JsValue, JsValue> {
        let dto: ImportOptionsDto = opt_from_js(options)?;
        let opts = ImportOptions {
            id_column: dto.id_column,
            embedding_column: dto.embedding_column,
            expected: Some(self.inner.space().clone()),
            normalize: dto.normalize,
        };
        let t = table::import_parquet(bytes, &opts).map_err(to_js_error)?;
        let mut report = ImportReportDto {
            inserted: 0,
            replaced: 0,
            rejected: t
                .rejected
                .into_iter()
                .map(|r| RejectedDto {
                    row: Some(r.row),
                    id: r.id,
                    error: ErrorDto {
                        name: r.reason.code(),
                        message: r.reason.to_string(),
                    },
                })
                .collect(),
            skipped_columns: t.skipped_columns,
        };
        for item in t.items {
            let id = item.id.clone();
            match self.inner.upsert(item) {
                Ok(Upserted::Inserted) => report.inserted += 1,
                Ok(Upserted::Replaced) => report.replaced += 1,
                Err(e) => report.rejected.push(RejectedDto {
                    row: None,
                    id: Some(id),
                    error: ErrorDto {
                        name: e.code(),
                        message: e.to_string(),
                    },
                }),
            }
        }
        to_js(&report)
    }
}

/// Builds one graph segment of a `Collection.planIndex()` job (`vectors`: its `Float32Array`,
/// `dim`, `params`) and returns its bytes for `applyIndex`. Needs no collection, so any worker
/// that loaded the module can build one.
#[wasm_bindgen(js_name = buildIndexSegment)]
pub fn build_index_segment(
    vectors: Vec<f32>,
    dim: usize,
    params: JsValue,
) -> Result<Vec<u8>, JsValue> {
    let params: SegmentParams = from_js(params)?;
    build_segment(&SegmentJob {
        params,
        dim,
        vectors,
    })
    .map_err(to_js_error)
}

fn opt_from_js<T: for<'de> Deserialize<'de> + Default>(v: JsValue) -> Result<T, JsValue> {
    if v.is_undefined() || v.is_null() {
        Ok(T::default())
    } else {
        from_js(v)
    }
}

fn search_options(v: JsValue) -> Result<SearchOptions, JsValue> {
    opt_from_js(v)
}

/// Vectors copied per call into JS memory by [`segment_vectors`]: 256 KiB at 256-d.
const COPY_ROWS: usize = 256;

/// A planned segment's vectors as one `Float32Array` (row-major) for a worker's message, written
/// from the collection's own vectors [`COPY_ROWS`] rows at a time: the only copy made of them
/// in wasm memory is that small buffer (linear memory never shrinks, and a full plan of 100k
/// 512-d items would otherwise have grown it by 205 MB).
fn segment_vectors(seg: &PlannedSegment) -> js_sys::Float32Array {
    let out = js_sys::Float32Array::new_with_length((seg.points() * seg.dim()) as u32);
    let mut buf: Vec<f32> = Vec::with_capacity(COPY_ROWS.min(seg.points()) * seg.dim());
    let mut at = 0u32;
    let mut flush = |buf: &mut Vec<f32>| {
        let end = at + buf.len() as u32;
        out.subarray(at, end).copy_from(buf);
        at = end;
        buf.clear();
    };
    for v in seg.vectors() {
        buf.extend_from_slice(&v);
        if buf.len() >= COPY_ROWS * seg.dim() {
            flush(&mut buf);
        }
    }
    flush(&mut buf);
    out
}
