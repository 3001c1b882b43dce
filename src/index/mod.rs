//! Collections and search: the items of one embedding space, instant-distance HNSW graphs (one
//! per segment of at most [`MAX_SEGMENT_SIZE`] items), an exact SIMD scan, metadata filters, recommendations and persistence.
//!
//! Numeric contract: every stored vector is L2-normalised, as `f32` or (by policy,
//! [`VectorType::F16`]) rounded to `f16`; every score is the `f32` dot product of the normalised
//! query with the stored values, i.e. the cosine similarity, in `[-1, 1]` (an `f16` vector's
//! norm is within ~1e-3 of 1, and so is its score against itself); results come best first
//! with ties broken by ascending id.
//!
//! ```
//! use clipsearch::{Item, SpaceInfo};
//! use clipsearch::index::{Collection, Filter, SearchOptions};
//! let space = SpaceInfo { model_key: "m".into(), model_name: "toy".into(), dim: 3,
//!                         quantization: "f32".into() };
//! let mut c = Collection::new(space).unwrap();
//! let meta = |y: i64| serde_json::json!({"year": y}).as_object().unwrap().clone();
//! c.upsert(Item { id: "old".into(), embedding: vec![1.0, 0.0, 0.0], metadata: meta(1999) }).unwrap();
//! c.upsert(Item { id: "new".into(), embedding: vec![0.9, 0.1, 0.0], metadata: meta(2024) }).unwrap();
//! let opts = SearchOptions {
//!     k: 5,
//!     min_score: Some(0.5),
//!     filter: Some(Filter::from_json(r#"{"must": [{"key": "year", "range": {"gte": 2000}}]}"#).unwrap()),
//!     ..SearchOptions::default()
//! };
//! let hits = c.search(&[1.0, 0.0, 0.0], &opts).unwrap();
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].id, "new");
//! ```

mod build;
mod codes;
mod collection;
pub mod filter;
mod ids;
mod persist;
pub mod simd;

pub use build::{build_segment, IndexPlan, Planned, PlannedSegment, SegmentJob, SegmentParams};
pub use collection::{
    Collection, Example, IndexPolicy, IndexStats, ItemRef, Recommend, SearchHit, SearchOptions,
    Upserted, VectorType, EXTRA_SEGMENTS, KEEP_PRUNED_FROM, MAX_SEGMENT_SIZE,
};
pub use filter::{Condition, Filter};
pub use persist::{FORMAT_VERSION, MAGIC};
pub use simd::{dot, normalized};
