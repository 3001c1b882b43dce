//! # clipsearch
//!
//! Private, client-side multimodal image search: quantized CLIP and an HNSW index, in plain Rust
//! that runs natively and in WebAssembly. Images never leave the machine; only embeddings do,
//! when the user exports them.
//!
//! The crate is a plain-Rust core (this crate's modules, testable with `cargo test`), a thin
//! `wasm-bindgen` layer (`src/wasm/`, compiled only for `wasm32`) and a native CLI
//! (`src/bin/clipsearch.rs`) over the same core.
//!
//! ## Numeric contracts
//! - Every embedding clipsearch returns is L2-normalised.
//! - Every score is a cosine similarity in `[-1, 1]` (the dot product of normalised vectors).
//!
//! ## Modules
//! - [`error`]: the one [`Error`] enum and its stable [`Error::code`] names.
//! - [`model`]: CLIP (config, HF safetensors / GGUF loading, towers, converter, [`Clip`]).
//! - [`fetch`]: URL redaction and locators (a presigned query string never leaves this module).
//! - [`ingest`]: fetching and embedding images from URLs, Blobs and bytes: retries, HTTP and
//!   image checks, per-item outcomes (the browser I/O lives in the bindings).
//! - [`index`]: collections, HNSW + exact search, filters, recommendations, persistence.
//! - [`table`]: export (Parquet, Qdrant, NPY) and import (Parquet) of embedding tables.
//! - [`kernels`]: int8 matrix multiply (q8_0 numerics) with wasm32 SIMD micro-kernels.
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod error;
pub mod fetch;
pub mod index;
pub mod ingest;
pub mod item;
pub mod kernels;
pub mod model;
pub mod preprocess;
pub mod table;
pub mod tokenizer;

pub use error::{Error, Result};
pub use index::{Collection, Filter, SearchHit, SearchOptions};
pub use item::{Item, Metadata, SpaceInfo};
pub use model::{Clip, ClipModel, ModelInfo, Quantization, Towers};

/// The version of this crate, as recorded in exported tables and saved collections.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(target_arch = "wasm32")]
pub mod wasm;
