//! `embedImages` and `decodeImage`: fetch presigned URLs, read Blobs and bytes, decode with the
//! browser's decoder (or the `image` crate where there is none) and embed, reporting every item.
//!
//! Every decision (retry or not, what a status means, whether bytes are an acceptable image, the
//! id of an item, the bookkeeping of outcomes) is made by [`crate::ingest`]; this file only does
//! the I/O through the platform: the global `fetch` (Window, Worker and Node alike; never
//! `window()`), `setTimeout`, `AbortController`, `createImageBitmap` and `OffscreenCanvas`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_util::stream::{self, StreamExt};
use js_sys::{Array, Float32Array, Function, Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::model::JsClipModel;
use super::{to_js, to_js_error};
use crate::fetch::redact_url;
use crate::ingest::{
    check_image, classify_http, cors_rule, item_id, retry, Ledger, RetryPolicy,
    DEFAULT_CONCURRENCY, ERROR_BODY_PREFIX,
};
use crate::preprocess::DEFAULT_MAX_SIDE;
use crate::{Clip, Error, Result};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One input of `embedImages`: exactly one of `url`, `blob` (a File's name is its default id) or `bytes`. */
export interface EmbedImagesItem {
  id?: string;
  url?: string;
  blob?: Blob;
  bytes?: Uint8Array;
  metadata?: any;
}
/** Running totals passed to `onProgress`. */
export interface EmbedImagesProgress { done: number; failed: number; total: number; bytes: number; }
/** One embedded item passed to `onItem` (upsert it into your Collection there). */
export interface EmbeddedImage { index: number; id: string; embedding: Float32Array; metadata: any; }
/** Options of `embedImages`. */
export interface EmbedImagesOptions {
  /** Items fetched and decoded at once (default 6). */
  concurrency?: number;
  /** Time limit of one request, headers and body, in ms (default 30000). */
  timeoutMs?: number;
  /** Attempts per URL including the first (default 4); only network errors, timeouts, 429 and 5xx are retried. */
  maxAttempts?: number;
  /** Backoff base in ms (default 250; full jitter, capped at 4000). */
  baseDelayMs?: number;
  /** Refuse images whose header declares a longer side (default 16384), before decoding. */
  maxSide?: number;
  /** "auto" (default: the browser's decoder where it exists), "browser" or "image" (the image crate). */
  decoder?: "auto" | "browser" | "image";
  signal?: AbortSignal;
  onProgress?: (p: EmbedImagesProgress) => void;
  /** Called once per embedded item; a throw (or a rejected promise) fails that item. */
  onItem?: (r: EmbeddedImage) => void | Promise<void>;
}
/** Every input item is in exactly one of `embedded` and `failed` (`name` is the stable error code). */
export interface EmbedImagesResult {
  embedded: Array<{ index: number; id: string }>;
  failed: Array<{ index: number; id: string | null; name: string; message: string }>;
  aborted: boolean;
}
/** Decoded, upright RGBA pixels. */
export interface DecodedImage { width: number; height: number; rgba: Uint8Array; }
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(input: &str, init: &Object) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
    #[wasm_bindgen(js_name = createImageBitmap, catch)]
    fn create_image_bitmap(image: &Blob, options: &Object)
        -> std::result::Result<Promise, JsValue>;

    #[derive(Clone)]
    type AbortController;
    #[wasm_bindgen(constructor, catch)]
    fn new() -> std::result::Result<AbortController, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn signal(this: &AbortController) -> AbortSignal;
    #[wasm_bindgen(method)]
    fn abort(this: &AbortController);

    #[derive(Clone)]
    type AbortSignal;
    #[wasm_bindgen(method, getter)]
    fn aborted(this: &AbortSignal) -> bool;
    #[wasm_bindgen(method, js_name = addEventListener)]
    fn add_event_listener(this: &AbortSignal, kind: &str, f: &Function);
    #[wasm_bindgen(method, js_name = removeEventListener)]
    fn remove_event_listener(this: &AbortSignal, kind: &str, f: &Function);

    type Response;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Response) -> u16;
    #[wasm_bindgen(method, getter)]
    fn headers(this: &Response) -> Headers;
    #[wasm_bindgen(method, js_name = arrayBuffer, catch)]
    fn array_buffer(this: &Response) -> std::result::Result<Promise, JsValue>;

    type Headers;
    #[wasm_bindgen(method, catch)]
    fn get(this: &Headers, name: &str) -> std::result::Result<Option<String>, JsValue>;

    #[derive(Clone)]
    type Blob;
    #[wasm_bindgen(constructor, catch)]
    fn new(parts: &Array) -> std::result::Result<Blob, JsValue>;
    #[wasm_bindgen(method, js_name = arrayBuffer, catch)]
    fn array_buffer(this: &Blob) -> std::result::Result<Promise, JsValue>;
    #[wasm_bindgen(method, getter, js_name = type)]
    fn mime(this: &Blob) -> String;

    type ImageBitmap;
    #[wasm_bindgen(method, getter)]
    fn width(this: &ImageBitmap) -> u32;
    #[wasm_bindgen(method, getter)]
    fn height(this: &ImageBitmap) -> u32;
    #[wasm_bindgen(method)]
    fn close(this: &ImageBitmap);

    type OffscreenCanvas;
    #[wasm_bindgen(constructor, catch)]
    fn new(width: u32, height: u32) -> std::result::Result<OffscreenCanvas, JsValue>;
    #[wasm_bindgen(method, js_name = getContext, catch)]
    fn get_context(
        this: &OffscreenCanvas,
        kind: &str,
        options: &Object,
    ) -> std::result::Result<JsValue, JsValue>;

    type Canvas2d;
    #[wasm_bindgen(method, js_name = drawImage, catch)]
    fn draw_image(
        this: &Canvas2d,
        image: &ImageBitmap,
        x: f64,
        y: f64,
    ) -> std::result::Result<(), JsValue>;
    #[wasm_bindgen(method, js_name = getImageData, catch)]
    fn get_image_data(
        this: &Canvas2d,
        x: i32,
        y: i32,
        w: u32,
        h: u32,
    ) -> std::result::Result<ImageData, JsValue>;

    type ImageData;
    #[wasm_bindgen(method, getter)]
    fn data(this: &ImageData) -> js_sys::Uint8ClampedArray;
}

/// Which decoder turns bytes into pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Auto,
    Browser,
    Image,
}

impl Decoder {
    fn parse(v: Option<String>) -> Result<Self> {
        match v.as_deref() {
            None | Some("auto") => Ok(Decoder::Auto),
            Some("browser") => Ok(Decoder::Browser),
            Some("image") => Ok(Decoder::Image),
            Some(o) => Err(Error::InvalidArgument(format!(
                "decoder `{o}` is unknown: use \"auto\", \"browser\" or \"image\""
            ))),
        }
    }

    /// Whether to use `createImageBitmap` + `OffscreenCanvas`.
    fn use_browser(self) -> Result<bool> {
        let available = has_global("createImageBitmap") && has_global("OffscreenCanvas");
        match self {
            Decoder::Auto => Ok(available),
            Decoder::Image => Ok(false),
            Decoder::Browser if available => Ok(true),
            Decoder::Browser => Err(Error::InvalidArgument(
                "this environment has no createImageBitmap/OffscreenCanvas: use decoder \"image\""
                    .into(),
            )),
        }
    }
}

fn has_global(name: &str) -> bool {
    Reflect::has(&js_sys::global(), &JsValue::from_str(name)).unwrap_or(false)
}

/// `self.location.origin` of the page or worker; `None` outside a browser (e.g. Node).
fn page_origin() -> Option<String> {
    let location = Reflect::get(&js_sys::global(), &"location".into()).ok()?;
    if location.is_undefined() || location.is_null() {
        return None;
    }
    Reflect::get(&location, &"origin".into()).ok()?.as_string()
}

/// The `message` of a thrown JS value, with any occurrence of `url` replaced by `redacted`.
fn js_message(e: &JsValue, url: Option<(&str, &str)>) -> String {
    let m = Reflect::get(e, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into());
    match url {
        Some((raw, redacted)) if !raw.is_empty() => m.replace(raw, redacted),
        _ => m,
    }
}

fn js_name(e: &JsValue) -> String {
    Reflect::get(e, &"name".into())
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "Error".into())
}

fn set(o: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), v);
}

/// An `AbortController` for one request, aborted by a timer or by the caller's signal; the timer
/// and the listener are removed when the guard drops.
struct RequestGuard {
    ctrl: AbortController,
    timed_out: Rc<Cell<bool>>,
    timer: JsValue,
    _on_timeout: Closure<dyn FnMut()>,
    on_abort: Option<(AbortSignal, Closure<dyn FnMut()>)>,
}

impl RequestGuard {
    fn new(timeout_ms: u32, user: Option<&AbortSignal>) -> Result<Self> {
        let ctrl = AbortController::new().map_err(|e| {
            Error::InvalidArgument(format!("no AbortController: {}", js_message(&e, None)))
        })?;
        let timed_out = Rc::new(Cell::new(false));
        let (flag, c) = (Rc::clone(&timed_out), ctrl.clone());
        let on_timeout = Closure::<dyn FnMut()>::new(move || {
            flag.set(true);
            c.abort();
        });
        let ms = i32::try_from(timeout_ms).unwrap_or(i32::MAX);
        let timer = set_timeout(on_timeout.as_ref().unchecked_ref(), ms);
        let on_abort = user.map(|s| {
            let c = ctrl.clone();
            let cl = Closure::<dyn FnMut()>::new(move || c.abort());
            s.add_event_listener("abort", cl.as_ref().unchecked_ref());
            (s.clone(), cl)
        });
        if user.is_some_and(|s| s.aborted()) {
            ctrl.abort();
        }
        Ok(Self {
            ctrl,
            timed_out,
            timer,
            _on_timeout: on_timeout,
            on_abort,
        })
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        clear_timeout(&self.timer);
        if let Some((s, cl)) = &self.on_abort {
            s.remove_event_listener("abort", cl.as_ref().unchecked_ref());
        }
    }
}

/// Where an item's bytes come from.
enum Source {
    Url(String),
    Blob(Blob),
    Bytes(Uint8Array),
    Invalid(Error),
}

struct Input {
    id: Option<String>,
    name: Option<String>,
    source: Source,
    metadata: JsValue,
}

fn parse_item(v: &JsValue) -> Input {
    let get = |k: &str| {
        Reflect::get(v, &JsValue::from_str(k))
            .ok()
            .filter(|x| !x.is_undefined() && !x.is_null())
    };
    let invalid = |m: &str| Input {
        id: None,
        name: None,
        source: Source::Invalid(Error::InvalidArgument(m.into())),
        metadata: JsValue::UNDEFINED,
    };
    if !v.is_object() {
        return invalid("an item must be an object { id?, url | blob | bytes, metadata? }");
    }
    let id = match get("id") {
        None => None,
        Some(x) => match x.as_string() {
            Some(s) => Some(s),
            None => return invalid("an item's `id` must be a string"),
        },
    };
    let metadata = get("metadata").unwrap_or(JsValue::UNDEFINED);
    let (url, blob, bytes) = (get("url"), get("blob"), get("bytes"));
    let mut name = None;
    let source = match (url, blob, bytes) {
        (Some(u), None, None) => match u.as_string() {
            Some(u) => Source::Url(u),
            None => Source::Invalid(Error::InvalidArgument("`url` must be a string".into())),
        },
        (None, Some(b), None) if b.is_instance_of::<Blob>() => {
            name = Reflect::get(&b, &"name".into())
                .ok()
                .and_then(|n| n.as_string());
            Source::Blob(b.unchecked_into())
        }
        (None, Some(_), None) => Source::Invalid(Error::InvalidArgument(
            "`blob` must be a Blob or File".into(),
        )),
        (None, None, Some(b)) if b.is_instance_of::<Uint8Array>() => {
            Source::Bytes(b.unchecked_into())
        }
        (None, None, Some(b)) if b.is_instance_of::<js_sys::ArrayBuffer>() => {
            Source::Bytes(Uint8Array::new(&b))
        }
        (None, None, Some(_)) => Source::Invalid(Error::InvalidArgument(
            "`bytes` must be a Uint8Array or an ArrayBuffer".into(),
        )),
        _ => Source::Invalid(Error::InvalidArgument(
            "an item needs exactly one of `url`, `blob` or `bytes`".into(),
        )),
    };
    Input {
        id,
        name,
        source,
        metadata,
    }
}

/// Everything a run shares; no borrow of it is held across an `.await`.
struct Run {
    clip: Rc<Clip>,
    policy: RetryPolicy,
    max_side: u32,
    decoder: Decoder,
    signal: Option<AbortSignal>,
    on_progress: Option<Function>,
    on_item: Option<Function>,
    ledger: RefCell<Ledger>,
}

impl Run {
    fn aborted(&self) -> bool {
        self.signal.as_ref().is_some_and(|s| s.aborted())
    }

    fn check_abort(&self) -> Result<()> {
        if self.aborted() {
            Err(Error::Aborted)
        } else {
            Ok(())
        }
    }

    fn progress(&self) {
        let Some(f) = &self.on_progress else { return };
        let p = self.ledger.borrow().progress();
        if let Ok(v) = to_js(&p) {
            // A throwing progress callback must not lose items.
            let _ = f.call1(&JsValue::NULL, &v);
        }
    }

    fn fail(&self, index: usize, id: Option<String>, e: &Error) {
        let recorded = self.ledger.borrow_mut().failed(index, id, e);
        if recorded {
            self.progress();
        }
    }

    async fn process(&self, index: usize, item: Input) {
        let id = match item_id(item.id.as_deref(), url_of(&item), item.name.as_deref()) {
            Ok(id) => id,
            Err(e) => return self.fail(index, None, &e),
        };
        self.ledger.borrow_mut().set_id(index, Some(id.clone()));
        match self.embed(&item.source).await {
            Ok(v) => self.deliver(index, id, v, &item.metadata).await,
            Err(e) => self.fail(index, Some(id), &e),
        }
    }

    async fn deliver(&self, index: usize, id: String, v: Vec<f32>, metadata: &JsValue) {
        if let Some(f) = &self.on_item {
            let r = Object::new();
            set(&r, "index", &JsValue::from(index as u32));
            set(&r, "id", &JsValue::from_str(&id));
            set(&r, "embedding", &Float32Array::from(v.as_slice()).into());
            set(&r, "metadata", metadata);
            let outcome = match f.call1(&JsValue::NULL, &r) {
                Ok(ret) if ret.is_instance_of::<Promise>() => {
                    JsFuture::from(ret.unchecked_into::<Promise>())
                        .await
                        .map(|_| ())
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                let recorded = self.ledger.borrow_mut().failed_named(
                    index,
                    Some(id),
                    &js_name(&e),
                    js_message(&e, None),
                );
                if recorded {
                    self.progress();
                }
                return;
            }
        }
        let recorded = self.ledger.borrow_mut().embedded(index, id);
        if recorded {
            self.progress();
        }
    }

    async fn embed(&self, source: &Source) -> Result<Vec<f32>> {
        self.check_abort()?;
        let (bytes, content_type, blob) = match source {
            Source::Invalid(e) => return Err(e.clone()),
            Source::Url(url) => {
                let (bytes, ct) = self.fetch(url).await?;
                (bytes, ct, None)
            }
            Source::Blob(b) => {
                let buf = JsFuture::from(b.array_buffer().map_err(read_error)?)
                    .await
                    .map_err(read_error)?;
                let mime = b.mime();
                (
                    Uint8Array::new(&buf).to_vec(),
                    (!mime.is_empty()).then_some(mime),
                    Some(b.clone()),
                )
            }
            Source::Bytes(b) => (b.to_vec(), None, None),
        };
        self.ledger.borrow_mut().add_bytes(bytes.len() as u64);
        check_image(&bytes, content_type.as_deref(), self.max_side)?;
        self.check_abort()?;
        if self.decoder.use_browser()? {
            let (w, h, rgba) = decode_with_browser(&bytes, blob).await?;
            drop(bytes);
            self.check_abort()?;
            self.clip.embed_rgba(w, h, &rgba)
        } else {
            self.clip.embed_image(&bytes)
        }
    }

    /// GET with retries: `(body, content type)` of a 2xx answer, or a typed error.
    async fn fetch(&self, url: &str) -> Result<(Vec<u8>, Option<String>)> {
        let redacted = redact_url(url);
        let redacted = redacted.as_str();
        let signal = self.signal.as_ref();
        retry(
            &self.policy,
            js_sys::Math::random,
            move |_| self.fetch_once(url, redacted),
            move |ms| sleep(ms, signal),
        )
        .await
    }

    async fn fetch_once(&self, url: &str, redacted: &str) -> Result<(Vec<u8>, Option<String>)> {
        self.check_abort()?;
        let guard = RequestGuard::new(self.policy.timeout_ms, self.signal.as_ref())?;
        let init = Object::new();
        set(&init, "method", &"GET".into());
        set(&init, "cache", &"no-store".into());
        set(&init, "mode", &"cors".into());
        set(&init, "credentials", &"omit".into());
        set(&init, "signal", &guard.ctrl.signal());
        let answer = match global_fetch(url, &init) {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        };
        let resp: Response = match answer {
            Ok(r) => r.unchecked_into(),
            Err(e) => return Err(self.fetch_failure(&e, &guard, url, redacted, true).await),
        };
        let status = resp.status();
        let content_type = resp.headers().get("content-type").ok().flatten();
        let body = match resp.array_buffer() {
            Ok(p) => JsFuture::from(p).await,
            Err(e) => Err(e),
        };
        let body = match body {
            Ok(b) => Uint8Array::new(&b).to_vec(),
            Err(e) => return Err(self.fetch_failure(&e, &guard, url, redacted, false).await),
        };
        drop(guard);
        let prefix = body.get(..ERROR_BODY_PREFIX.min(body.len())).unwrap_or(&[]);
        classify_http(status, content_type.as_deref(), prefix, redacted)?;
        Ok((body, content_type))
    }

    /// What a rejected fetch means: the caller's abort, our timeout, a CORS refusal (a `no-cors`
    /// probe of the same URL reaches the server), or a network error.
    async fn fetch_failure(
        &self,
        e: &JsValue,
        guard: &RequestGuard,
        url: &str,
        redacted: &str,
        may_be_cors: bool,
    ) -> Error {
        if self.aborted() {
            return Error::Aborted;
        }
        if guard.timed_out.get() {
            return Error::Timeout {
                url: redacted.to_string(),
                ms: self.policy.timeout_ms,
            };
        }
        let reason = js_message(e, Some((url, redacted)));
        if may_be_cors && e.is_instance_of::<js_sys::TypeError>() {
            if let Some(origin) = page_origin() {
                if self.no_cors_probe(url).await {
                    return Error::CorsBlocked {
                        url: redacted.to_string(),
                        rule: cors_rule(&origin),
                        origin,
                    };
                }
            }
        }
        if self.aborted() {
            return Error::Aborted;
        }
        Error::Network {
            url: redacted.to_string(),
            attempts: 1,
            reason,
        }
    }

    /// Whether the server answers a `no-cors` GET of `url` (an opaque response): then the first
    /// fetch failed because CORS blocked it. The probe is cancelled once the headers arrive.
    async fn no_cors_probe(&self, url: &str) -> bool {
        let Ok(guard) = RequestGuard::new(self.policy.timeout_ms, self.signal.as_ref()) else {
            return false;
        };
        let init = Object::new();
        set(&init, "method", &"GET".into());
        set(&init, "cache", &"no-store".into());
        set(&init, "mode", &"no-cors".into());
        set(&init, "credentials", &"omit".into());
        set(&init, "signal", &guard.ctrl.signal());
        let ok = match global_fetch(url, &init) {
            Ok(p) => JsFuture::from(p).await.is_ok(),
            Err(_) => false,
        };
        guard.ctrl.abort();
        ok
    }
}

fn url_of(item: &Input) -> Option<&str> {
    match &item.source {
        Source::Url(u) => Some(u),
        _ => None,
    }
}

fn read_error(e: JsValue) -> Error {
    Error::Io(format!("could not read the Blob: {}", js_message(&e, None)))
}

/// Waits `ms` milliseconds, or less if `signal` aborts (then `Err(Aborted)`).
async fn sleep(ms: u32, signal: Option<&AbortSignal>) -> Result<()> {
    let resolve = Rc::new(RefCell::new(None::<Function>));
    let slot = Rc::clone(&resolve);
    let p = Promise::new(&mut |res, _| *slot.borrow_mut() = Some(res));
    let Some(res) = resolve.borrow_mut().take() else {
        return Ok(());
    };
    let timer = set_timeout(&res, i32::try_from(ms).unwrap_or(i32::MAX));
    if let Some(s) = signal {
        s.add_event_listener("abort", &res);
        if s.aborted() {
            let _ = res.call0(&JsValue::NULL);
        }
    }
    let _ = JsFuture::from(p).await;
    clear_timeout(&timer);
    if let Some(s) = signal {
        s.remove_event_listener("abort", &res);
        if s.aborted() {
            return Err(Error::Aborted);
        }
    }
    Ok(())
}

/// Decodes with `createImageBitmap` (EXIF orientation applied, no premultiplication, no colour
/// conversion) and reads the pixels back through a 2D `OffscreenCanvas`: `(width, height, RGBA)`.
async fn decode_with_browser(bytes: &[u8], blob: Option<Blob>) -> Result<(u32, u32, Vec<u8>)> {
    let decode_err = |e: JsValue| {
        Error::ImageDecode(format!(
            "the browser could not decode it: {}",
            js_message(&e, None)
        ))
    };
    let blob = match blob {
        Some(b) => b,
        None => {
            let parts = Array::of1(&Uint8Array::from(bytes).into());
            Blob::new(&parts).map_err(decode_err)?
        }
    };
    let opts = Object::new();
    set(&opts, "imageOrientation", &"from-image".into());
    set(&opts, "premultiplyAlpha", &"none".into());
    set(&opts, "colorSpaceConversion", &"none".into());
    let bitmap: ImageBitmap =
        JsFuture::from(create_image_bitmap(&blob, &opts).map_err(decode_err)?)
            .await
            .map_err(decode_err)?
            .unchecked_into();
    let out = read_pixels(&bitmap);
    bitmap.close();
    out
}

fn read_pixels(bitmap: &ImageBitmap) -> Result<(u32, u32, Vec<u8>)> {
    let (w, h) = (bitmap.width(), bitmap.height());
    if w == 0 || h == 0 {
        return Err(Error::ImageDecode(
            "the browser decoded an empty image".into(),
        ));
    }
    let canvas_err =
        |e: JsValue| Error::Compute(format!("OffscreenCanvas failed: {}", js_message(&e, None)));
    let canvas = OffscreenCanvas::new(w, h).map_err(canvas_err)?;
    let opts = Object::new();
    set(&opts, "willReadFrequently", &JsValue::TRUE);
    let ctx = canvas.get_context("2d", &opts).map_err(canvas_err)?;
    if ctx.is_null() || ctx.is_undefined() {
        return Err(Error::Compute("OffscreenCanvas has no 2d context".into()));
    }
    let ctx: Canvas2d = ctx.unchecked_into();
    ctx.draw_image(bitmap, 0.0, 0.0).map_err(canvas_err)?;
    let data = ctx
        .get_image_data(0, 0, w, h)
        .map_err(canvas_err)?
        .data()
        .to_vec();
    Ok((w, h, data))
}

fn opt(o: &JsValue, k: &str) -> Option<JsValue> {
    if o.is_undefined() || o.is_null() {
        return None;
    }
    Reflect::get(o, &JsValue::from_str(k))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn opt_u32(o: &JsValue, k: &str, min: u32, max: u32) -> Result<Option<u32>> {
    let Some(v) = opt(o, k) else { return Ok(None) };
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x >= f64::from(min) && x <= f64::from(max) => {
            Ok(Some(x as u32))
        }
        _ => Err(Error::InvalidArgument(format!(
            "options.{k} must be an integer from {min} to {max}"
        ))),
    }
}

fn opt_fn(o: &JsValue, k: &str) -> Result<Option<Function>> {
    match opt(o, k) {
        None => Ok(None),
        Some(f) if f.is_function() => Ok(Some(f.unchecked_into())),
        Some(_) => Err(Error::InvalidArgument(format!(
            "options.{k} must be a function"
        ))),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbeddedDto<'a> {
    index: usize,
    id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedDto<'a> {
    index: usize,
    id: Option<&'a str>,
    name: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultDto<'a> {
    embedded: Vec<EmbeddedDto<'a>>,
    failed: Vec<FailedDto<'a>>,
    aborted: bool,
}

fn setup(
    model: &JsClipModel,
    items: &JsValue,
    options: &JsValue,
) -> Result<(Run, Vec<Input>, usize)> {
    let clip = model.shared();
    clip.model().image_size()?;
    if !Array::is_array(items) {
        return Err(Error::InvalidArgument("items must be an array".into()));
    }
    let defaults = RetryPolicy::default();
    let policy = RetryPolicy {
        max_attempts: opt_u32(options, "maxAttempts", 1, 100)?.unwrap_or(defaults.max_attempts),
        base_delay_ms: opt_u32(options, "baseDelayMs", 0, 600_000)?
            .unwrap_or(defaults.base_delay_ms),
        max_delay_ms: defaults.max_delay_ms,
        timeout_ms: opt_u32(options, "timeoutMs", 1, 3_600_000)?.unwrap_or(defaults.timeout_ms),
    };
    policy.validate()?;
    let concurrency =
        opt_u32(options, "concurrency", 1, 256)?.map_or(DEFAULT_CONCURRENCY, |c| c as usize);
    let max_side = opt_u32(options, "maxSide", 1, u32::MAX)?.unwrap_or(DEFAULT_MAX_SIDE);
    let decoder =
        Decoder::parse(opt(options, "decoder").map(|d| d.as_string().unwrap_or_default()))?;
    decoder.use_browser()?;
    let signal = match opt(options, "signal") {
        None => None,
        Some(s) if Reflect::has(&s, &"aborted".into()).unwrap_or(false) => Some(s.unchecked_into()),
        Some(_) => {
            return Err(Error::InvalidArgument(
                "options.signal must be an AbortSignal".into(),
            ))
        }
    };
    let inputs: Vec<Input> = Array::from(items).iter().map(|v| parse_item(&v)).collect();
    let run = Run {
        clip,
        policy,
        max_side,
        decoder,
        signal,
        on_progress: opt_fn(options, "onProgress")?,
        on_item: opt_fn(options, "onItem")?,
        ledger: RefCell::new(Ledger::new(inputs.len())),
    };
    Ok((run, inputs, concurrency))
}

/// Fetches, decodes and embeds images from presigned URLs, Blobs/Files and bytes, at most
/// `concurrency` at a time, and reports what happened to each one.
///
/// URLs are fetched with a plain `GET` (`cache: "no-store"`, no added headers, no credentials),
/// each attempt under its own timeout; network errors, timeouts, 429 and 5xx are retried with
/// exponential backoff and full jitter, other answers are final (`UrlExpired`, `AccessDenied`,
/// `NotFound`, `HttpError`). A CORS refusal is reported as `CorsBlocked` with the bucket rule to
/// add for this page's origin. Bytes are checked from their header before decoding (`EmptyInput`,
/// `NotAnImage`, `ImageTooLarge`, `ImageDecode`), then decoded by the browser
/// (`createImageBitmap`, EXIF orientation applied) or by the `image` crate where the browser
/// decoder is absent (Node). Ids default to the URL's locator (`s3://bucket/key`, or the URL
/// without its query string) or the File's name: a presigned query string never appears in an id
/// or a message.
///
/// Each embedded item is handed to `onItem` (upsert it into your Collection there); the promise
/// resolves once every item is in exactly one of `embedded` and `failed`. After `signal` aborts,
/// in-flight requests are cancelled and every unfinished item is reported as failed with the name
/// `AbortError`. The promise rejects (`InvalidArgument`, `TowerNotLoaded`) only for bad arguments.
///
/// ```js
/// const col = new Collection(model.spaceInfo());
/// const res = await embedImages(model, urls.map((url) => ({ url })), {
///   onItem: (r) => col.upsert(r.id, r.embedding, r.metadata ?? {}),
///   onProgress: (p) => console.log(`${p.done + p.failed}/${p.total}`),
/// });
/// for (const f of res.failed) console.warn(f.id, f.name, f.message);
/// ```
#[wasm_bindgen(js_name = embedImages, unchecked_return_type = "Promise<EmbedImagesResult>")]
pub fn embed_images(
    model: &JsClipModel,
    #[wasm_bindgen(unchecked_param_type = "EmbedImagesItem[]")] items: JsValue,
    #[wasm_bindgen(unchecked_param_type = "EmbedImagesOptions")] options: Option<Object>,
) -> Promise {
    let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
    let (run, inputs, concurrency) = match setup(model, &items, &options) {
        Ok(x) => x,
        Err(e) => return Promise::reject(&to_js_error(e)),
    };
    future_to_promise(async move {
        let run = Rc::new(run);
        stream::iter(inputs.into_iter().enumerate())
            .map(|(i, item)| {
                let run = Rc::clone(&run);
                async move { run.process(i, item).await }
            })
            .buffer_unordered(concurrency)
            .for_each(|()| async {})
            .await;
        let aborted = run.aborted();
        let ledger = run.ledger.replace(Ledger::new(0));
        let report = ledger.finish(aborted);
        let mut dto = ResultDto {
            embedded: Vec::new(),
            failed: Vec::new(),
            aborted,
        };
        for o in &report.outcomes {
            match (&o.code, &o.message) {
                (Some(name), Some(message)) => dto.failed.push(FailedDto {
                    index: o.index,
                    id: o.id.as_deref(),
                    name,
                    message,
                }),
                _ => dto.embedded.push(EmbeddedDto {
                    index: o.index,
                    id: o.id.as_deref().unwrap_or_default(),
                }),
            }
        }
        to_js(&dto)
    })
}

/// Decodes an image to upright RGBA pixels with the browser's decoder (`"browser"`, the default
/// where `createImageBitmap` exists) or the `image` crate (`"image"`), exactly as `embedImages`
/// does before preprocessing. Rejects with `EmptyInput`, `NotAnImage`, `ImageTooLarge` or
/// `ImageDecode`.
///
/// ```js
/// const { width, height, rgba } = await decodeImage(file, { decoder: "image" });
/// ```
#[wasm_bindgen(js_name = decodeImage, unchecked_return_type = "Promise<DecodedImage>")]
pub fn decode_image(
    #[wasm_bindgen(unchecked_param_type = "Blob | Uint8Array")] input: JsValue,
    #[wasm_bindgen(
        unchecked_param_type = "{ decoder?: \"auto\" | \"browser\" | \"image\", maxSide?: number }"
    )]
    options: Option<Object>,
) -> Promise {
    let options: JsValue = options.map_or(JsValue::UNDEFINED, Into::into);
    future_to_promise(async move {
        let out = decode_image_impl(input, options)
            .await
            .map_err(to_js_error)?;
        let (w, h, rgba) = out;
        let o = Object::new();
        set(&o, "width", &w.into());
        set(&o, "height", &h.into());
        set(&o, "rgba", &Uint8Array::from(rgba.as_slice()).into());
        Ok(o.into())
    })
}

async fn decode_image_impl(input: JsValue, options: JsValue) -> Result<(u32, u32, Vec<u8>)> {
    let max_side = opt_u32(&options, "maxSide", 1, u32::MAX)?.unwrap_or(DEFAULT_MAX_SIDE);
    let decoder =
        Decoder::parse(opt(&options, "decoder").map(|d| d.as_string().unwrap_or_default()))?;
    let (bytes, blob) = if input.is_instance_of::<Blob>() {
        let b: Blob = input.unchecked_into();
        let buf = JsFuture::from(b.array_buffer().map_err(read_error)?)
            .await
            .map_err(read_error)?;
        (Uint8Array::new(&buf).to_vec(), Some(b))
    } else if input.is_instance_of::<Uint8Array>() {
        (input.unchecked_into::<Uint8Array>().to_vec(), None)
    } else {
        return Err(Error::InvalidArgument(
            "decodeImage takes a Blob or a Uint8Array".into(),
        ));
    };
    check_image(&bytes, None, max_side)?;
    if decoder.use_browser()? {
        decode_with_browser(&bytes, blob).await
    } else {
        let img = crate::preprocess::decode_rgb(&bytes, max_side)?;
        let rgba = img
            .data
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        Ok((img.width, img.height, rgba))
    }
}
