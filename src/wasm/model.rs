//! `ClipModel`: CLIP text and vision towers in the browser.

use super::{to_js, to_js_error};
use crate::model::{Clip, HfFiles};
use serde::Serialize;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// A loaded CLIP model (either tower or both), with its tokenizer and preprocessing.
///
/// ```js
/// const bytes = new Uint8Array(await (await fetch("models/tiny-clip.gguf")).arrayBuffer());
/// const model = ClipModel.fromGguf(bytes);
/// const q = model.embedText("surfers at sunset"); // Float32Array, L2-normalised
/// ```
#[wasm_bindgen(js_name = ClipModel)]
pub struct JsClipModel {
    inner: Rc<Clip>,
}

/// What `ClipModel.info` returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InfoDto<'a> {
    key: &'a str,
    space: &'a str,
    name: &'a str,
    dim: usize,
    quantization: &'a str,
    towers: &'a str,
    has_text: bool,
    has_vision: bool,
    image_size: Option<usize>,
    kernel: &'a str,
    dot_form: Option<&'static str>,
    text_architecture: &'a str,
}

impl JsClipModel {
    /// A shared handle on the model, for async exports (`embedImages`) that must not borrow the
    /// JS object across an `.await`.
    pub(crate) fn shared(&self) -> Rc<Clip> {
        Rc::clone(&self.inner)
    }
}

#[wasm_bindgen(js_class = ClipModel)]
impl JsClipModel {
    /// Loads a model from the bytes of a clipsearch GGUF file (one or both towers). The bytes
    /// are parsed and can be dropped afterwards.
    ///
    /// Throws `InvalidModel`, `MissingTensor`, `TensorShape`, `UnsupportedQuantization`,
    /// `TokenizerError` or `InvalidConfig`.
    #[wasm_bindgen(js_name = fromGguf)]
    pub fn from_gguf(bytes: &[u8]) -> Result<JsClipModel, JsValue> {
        Ok(JsClipModel {
            inner: Rc::new(Clip::from_gguf(bytes).map_err(to_js_error)?),
        })
    }

    /// Loads a model in Hugging Face layout from the bytes of `config.json`,
    /// `model.safetensors` and optionally `tokenizer.json` and `preprocessor_config.json`.
    #[wasm_bindgen(js_name = fromHuggingFace)]
    pub fn from_hugging_face(
        config: &[u8],
        weights: &[u8],
        tokenizer: Option<Vec<u8>>,
        preprocessor: Option<Vec<u8>>,
        name: Option<String>,
    ) -> Result<JsClipModel, JsValue> {
        let files = HfFiles {
            config,
            weights,
            tokenizer_json: tokenizer.as_deref(),
            preprocessor_json: preprocessor.as_deref(),
            name: name.as_deref(),
        };
        Ok(JsClipModel {
            inner: Rc::new(Clip::from_hf(&files).map_err(to_js_error)?),
        })
    }

    /// `{ key, space, name, dim, quantization, towers, hasText, hasVision, imageSize, kernel,
    /// textArchitecture }`; `kernel` names the matmul implementation (`wasm-simd128`,
    /// `wasm-relaxed-simd` for quantized models, `candle-f32` for f32/f16 ones);
    /// `textArchitecture` is `clip`, `distilbert` (a multilingual text tower whose `space` is the
    /// CLIP it is aligned with) or `none`.
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let i = self.inner.info();
        to_js(&InfoDto {
            key: &i.key,
            space: &i.space,
            name: &i.name,
            dim: i.dim,
            quantization: i.quantization.as_str(),
            towers: i.towers.as_str(),
            has_text: i.towers.has_text(),
            has_vision: i.towers.has_vision(),
            image_size: self.inner.model().image_size().ok(),
            kernel: self.inner.model().matmul_kernel(),
            dot_form: self.inner.model().dot_form().map(|f| f.as_str()),
            text_architecture: self.inner.model().text_architecture(),
        })
    }

    /// The space description a `Collection` of this model's vectors is created with:
    /// `{ modelKey, modelName, dim, quantization }`.
    #[wasm_bindgen(js_name = spaceInfo)]
    pub fn space_info(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.info().space_info())
    }

    /// Token ids of a query: CLIP's (`[BOS, ..., EOS]`, at most 77) or, for a multilingual
    /// tower, its WordPiece ids (`[CLS, ..., SEP]`, at most `max_seq_length`).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        self.inner.tokenize(text).map_err(to_js_error)
    }

    /// Embeds a text query: an L2-normalised `Float32Array`. Throws `TowerNotLoaded` for a
    /// vision-only model.
    #[wasm_bindgen(js_name = embedText)]
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>, JsValue> {
        self.inner.embed_text(text).map_err(to_js_error)
    }

    /// Embeds an encoded image (JPEG, PNG, WebP, GIF, BMP bytes), decoded with the `image` crate.
    /// Throws `EmptyInput`, `NotAnImage`, `ImageDecode`, `ImageTooLarge` or `TowerNotLoaded`.
    #[wasm_bindgen(js_name = embedImage)]
    pub fn embed_image(&self, bytes: &[u8]) -> Result<Vec<f32>, JsValue> {
        self.inner.embed_image(bytes).map_err(to_js_error)
    }

    /// Embeds decoded RGBA pixels (e.g. from `createImageBitmap` + `OffscreenCanvas`).
    #[wasm_bindgen(js_name = embedRgba)]
    pub fn embed_rgba(&self, width: u32, height: u32, rgba: &[u8]) -> Result<Vec<f32>, JsValue> {
        self.inner
            .embed_rgba(width, height, rgba)
            .map_err(to_js_error)
    }
}
