//! Image preprocessing (interface placeholder; implemented on the `textimg` branch).
#![allow(missing_docs)]
use crate::{Error, Result};

/// Parameters of `preprocessor_config.json`.
#[derive(Debug, Clone)]
pub struct PreprocessConfig {
    pub crop_size: u32,
}

impl PreprocessConfig {
    pub fn from_json(_bytes: &[u8]) -> Result<Self> {
        Err(Error::InvalidConfig("preprocessing not built yet".into()))
    }
    pub fn clip_default() -> Self {
        Self { crop_size: 224 }
    }
}

/// Encoded image bytes -> CHW f32 pixels, `3 * crop * crop` values.
pub fn preprocess(_bytes: &[u8], _cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    Err(Error::ImageDecode("preprocessing not built yet".into()))
}

/// Decoded RGBA8 pixels (e.g. from the browser's decoder) -> CHW f32 pixels.
pub fn preprocess_rgba(
    _w: u32,
    _h: u32,
    _rgba: &[u8],
    _cfg: &PreprocessConfig,
) -> Result<Vec<f32>> {
    Err(Error::ImageDecode("preprocessing not built yet".into()))
}
