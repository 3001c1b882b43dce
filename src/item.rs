//! Types shared by collections, tables and bindings.

use serde::{Deserialize, Serialize};

/// Metadata of an item: a JSON object of strings, numbers, booleans and lists.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// One embedded item: its id (by default the image's locator), its L2-normalised embedding and
/// its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable id, e.g. `s3://bucket/key` or a file name. Never contains a URL query string.
    pub id: String,
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Describes the embedding space of a collection or table: which model made the vectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaceInfo {
    /// Stable model key derived from the weights (see `model`): vectors from different keys do
    /// not mix.
    pub model_key: String,
    /// Human-readable model name, e.g. `openai/clip-vit-base-patch32`.
    pub model_name: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Quantization of the tower that produced the vectors (`f32`, `f16`, `q8_0`, ...).
    pub quantization: String,
}
