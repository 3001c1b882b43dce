//! JavaScript bindings (compiled only for `wasm32`). Thin: they convert types, errors and
//! promises; every decision lives in the plain-Rust core.

use wasm_bindgen::prelude::*;

mod collection;
mod ingest;
mod model;

pub use collection::{build_index_segment, JsCollection};
pub use ingest::{decode_image, embed_images};
pub use model::JsClipModel;

/// Serialises a DTO to a plain JS value (objects, not `Map`s, so results read naturally).
pub(crate) fn to_js<T: serde::Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| to_js_error(crate::Error::InvalidArgument(e.to_string())))
}

/// Deserialises options or DTOs from JS; a malformed value throws `InvalidArgument`.
pub(crate) fn from_js<T: serde::de::DeserializeOwned>(v: JsValue) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(v)
        .map_err(|e| to_js_error(crate::Error::InvalidArgument(e.to_string())))
}

/// Converts a core [`crate::Error`] into a JS `Error` whose `name` is the stable
/// [`crate::Error::code`] and whose `message` is the error's text (URLs already redacted).
pub(crate) fn to_js_error(e: crate::Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name(e.code());
    err.into()
}

/// The clipsearch version.
///
/// ```js
/// import init, { version } from "clipsearch";
/// await init();
/// console.log(version()); // "0.1.0"
/// ```
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// The stable id of a URL: `s3://bucket/key` for S3 URLs, otherwise the URL without its query
/// string. Throws an `Error` named `InvalidUrl` for anything but an absolute http(s) URL.
///
/// ```js
/// locator("https://b.s3.amazonaws.com/a.jpg?X-Amz-Signature=…") // "s3://b/a.jpg"
/// ```
#[wasm_bindgen]
pub fn locator(url: &str) -> Result<String, JsValue> {
    crate::fetch::locator(url).map_err(to_js_error)
}

/// The URL reduced to scheme, host and path: safe to show or log.
#[wasm_bindgen(js_name = redactUrl)]
pub fn redact_url(url: &str) -> String {
    crate::fetch::redact_url(url)
}
