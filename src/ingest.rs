//! Ingestion of images from URLs, Blobs and bytes: the decisions, in plain Rust.
//!
//! The browser binding (`src/wasm/ingest.rs`) does the I/O (fetch, timers, the browser's image
//! decoder) and asks this module what every answer means:
//! - [`RetryPolicy`] and [`retry`]: bounded attempts, exponential backoff with full jitter, only
//!   for failures worth retrying ([`is_retryable`]: network errors, timeouts, 429 and 5xx).
//! - [`classify_http`]: an HTTP status (and the start of its body) to a typed [`Error`]
//!   (`UrlExpired`, `AccessDenied`, `NotFound`, `HttpError`).
//! - [`check_image`]: the bytes of a 200 answer are an image of acceptable size, checked from the
//!   header only, **before** any decoder sees them (`EmptyInput`, `NotAnImage`, `ImageTooLarge`).
//! - [`cors_rule`]: the bucket CORS rule a user adds when the browser blocks a response.
//! - [`item_id`]: an item's id (its locator by default: never a presigned query string).
//! - [`Ledger`]: the per-item outcomes and the progress counters; every input item ends as exactly
//!   one of embedded or failed, even when the run is aborted.
//!
//! Privacy: every message built here from a URL uses the redacted URL (scheme, host, path).
//!
//! # Example
//! ```
//! use clipsearch::ingest::{classify_http, is_retryable, RetryPolicy};
//! let body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
//! let e = classify_http(403, Some("application/xml"), body, "https://b.example/a.jpg").unwrap_err();
//! assert_eq!(e.code(), "UrlExpired");
//! assert!(!is_retryable(&e));
//! let p = RetryPolicy::default();
//! assert!(p.delay_ms(1, 0.5) <= p.base_delay_ms);
//! ```

use std::future::Future;

use serde::Serialize;

use crate::preprocess::{probe, ImageInfo};
use crate::{Error, Result};

/// Default number of items fetched and decoded at once.
pub const DEFAULT_CONCURRENCY: usize = 6;

/// How many bytes of an error body [`classify_http`] needs to recognise S3's XML error codes.
pub const ERROR_BODY_PREFIX: usize = 4096;

/// When and how often a failed request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt, before jitter, in milliseconds.
    pub base_delay_ms: u32,
    /// Upper bound of any backoff, in milliseconds.
    pub max_delay_ms: u32,
    /// Time limit of one attempt (request and body), in milliseconds.
    pub timeout_ms: u32,
}

impl Default for RetryPolicy {
    /// 4 attempts, 250 ms base, 4 s cap, 30 s per attempt.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay_ms: 250,
            max_delay_ms: 4000,
            timeout_ms: 30_000,
        }
    }
}

impl RetryPolicy {
    /// The backoff after failed attempt number `attempt` (1-based): "full jitter", a uniform draw
    /// in `[0, min(max_delay_ms, base_delay_ms * 2^(attempt-1))]` made from `random01` in `[0, 1)`
    /// (values outside are clamped).
    ///
    /// # Example
    /// ```
    /// let p = clipsearch::ingest::RetryPolicy::default();
    /// assert_eq!(p.delay_ms(3, 0.999_999), 999); // cap 250 * 4 = 1000 ms
    /// assert_eq!(p.delay_ms(30, 0.5), 2000); // capped at 4 s
    /// ```
    pub fn delay_ms(&self, attempt: u32, random01: f64) -> u32 {
        let exp = attempt.saturating_sub(1).min(31);
        let ceiling = u64::from(self.base_delay_ms)
            .saturating_mul(1u64 << exp)
            .min(u64::from(self.max_delay_ms));
        let r = if random01.is_finite() {
            random01.clamp(0.0, 1.0)
        } else {
            0.0
        };
        (ceiling as f64 * r).floor() as u32
    }

    /// Checks the policy.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `max_attempts` or `timeout_ms` is 0.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(Error::InvalidArgument(
                "maxAttempts must be at least 1".into(),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(Error::InvalidArgument(
                "timeoutMs must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Whether a failed attempt is worth repeating: network errors, timeouts, HTTP 429 and 5xx.
/// Everything else (403, 404, other 4xx, undecodable bytes, an abort) fails at once.
///
/// # Example
/// ```
/// use clipsearch::{ingest::is_retryable, Error};
/// assert!(is_retryable(&Error::HttpStatus { url: "u".into(), status: 503 }));
/// assert!(!is_retryable(&Error::HttpStatus { url: "u".into(), status: 400 }));
/// ```
pub fn is_retryable(e: &Error) -> bool {
    match e {
        Error::Network { .. } | Error::Timeout { .. } => true,
        Error::HttpStatus { status, .. } => *status == 429 || (500..600).contains(status),
        _ => false,
    }
}

/// Maps an HTTP answer to `Ok(())` (2xx) or a typed error. `body_prefix` is the start of the body
/// (S3 sends an XML `<Error>` document; [`ERROR_BODY_PREFIX`] bytes suffice, an empty slice is
/// fine when the body cannot be read). `redacted_url` goes into the message as is: pass the output
/// of [`crate::fetch::redact_url`].
///
/// - 400 or 403 whose body has `<Code>AccessDenied</Code>` and `Request has expired` (AWS's text
///   for an expired presigned URL, also the JuiceFS/MinIO gateway's) or `<Code>ExpiredToken</Code>`
///   (the URL was signed with temporary credentials that have expired) -> [`Error::UrlExpired`];
/// - 401 and any other 403 (e.g. `SignatureDoesNotMatch` for a tampered URL) ->
///   [`Error::AccessDenied`];
/// - 404 and 410 -> [`Error::NotFound`];
/// - anything else that is not 2xx -> [`Error::HttpStatus`] (retryable for 429 and 5xx).
///
/// # Errors
/// As listed above.
///
/// # Example
/// ```
/// use clipsearch::ingest::classify_http;
/// assert!(classify_http(200, Some("image/jpeg"), b"", "https://h/a.jpg").is_ok());
/// let e = classify_http(404, None, b"", "https://h/a.jpg").unwrap_err();
/// assert_eq!(e.code(), "NotFound");
/// ```
pub fn classify_http(
    status: u16,
    content_type: Option<&str>,
    body_prefix: &[u8],
    redacted_url: &str,
) -> Result<()> {
    let _ = content_type; // S3 error bodies are recognised by their content, whatever the type.
    let url = redacted_url.to_string();
    match status {
        200..=299 => Ok(()),
        400 | 403 => {
            let body =
                String::from_utf8_lossy(&body_prefix[..body_prefix.len().min(ERROR_BODY_PREFIX)]);
            let expired = (body.contains("<Code>AccessDenied</Code>")
                && body.contains("Request has expired"))
                || body.contains("<Code>ExpiredToken</Code>");
            if expired {
                Err(Error::UrlExpired { url })
            } else if status == 403 {
                Err(Error::AccessDenied { url })
            } else {
                Err(Error::HttpStatus { url, status })
            }
        }
        401 => Err(Error::AccessDenied { url }),
        404 | 410 => Err(Error::NotFound { url }),
        status => Err(Error::HttpStatus { url, status }),
    }
}

/// Checks that the body of a successful answer (or a Blob's bytes) is an image of acceptable
/// size, from its header only, before any decoder allocates pixels.
///
/// # Errors
/// [`Error::EmptyInput`] for zero bytes; [`Error::NotAnImage`] for HTML, XML or any bytes without
/// a supported image signature (the message names the declared `Content-Type`, if any);
/// [`Error::ImageTooLarge`] when a declared side exceeds `max_side`; [`Error::ImageDecode`] for a
/// corrupt header or a truncated JPEG.
///
/// # Example
/// ```
/// use clipsearch::ingest::check_image;
/// let e = check_image(b"<!doctype html><p>sign in</p>", Some("text/html"), 4096).unwrap_err();
/// assert_eq!(e.code(), "NotAnImage");
/// assert!(e.to_string().contains("text/html"));
/// ```
pub fn check_image(bytes: &[u8], content_type: Option<&str>, max_side: u32) -> Result<ImageInfo> {
    // PNG's IHDR is always the first chunk: read its size directly. (The png decoder refuses to
    // even report the size of a huge image on 32-bit targets: its buffer size overflows.)
    if let Some((width, height)) = png_ihdr_size(bytes) {
        if width > max_side || height > max_side {
            return Err(Error::ImageTooLarge {
                width,
                height,
                limit: max_side,
            });
        }
    }
    let info = probe(bytes).map_err(|e| match (e, content_type) {
        (Error::NotAnImage(m), Some(ct)) => {
            let ct: String = ct.chars().filter(|c| !c.is_control()).take(100).collect();
            Error::NotAnImage(format!("{m} (Content-Type: {ct})"))
        }
        (e, _) => e,
    })?;
    if info.width > max_side || info.height > max_side {
        return Err(Error::ImageTooLarge {
            width: info.width,
            height: info.height,
            limit: max_side,
        });
    }
    // The same refusal as the `image` crate path, so a browser decoder that would paint a
    // truncated JPEG gray gives the same answer.
    if info.format == image::ImageFormat::Jpeg && !crate::preprocess::jpeg_has_end(bytes) {
        return Err(Error::ImageDecode(
            "the JPEG is truncated (no end-of-image marker after its last scan)".into(),
        ));
    }
    Ok(info)
}

/// `(width, height)` from a PNG's leading IHDR chunk, if `bytes` start like a PNG.
fn png_ihdr_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let head = bytes.get(..24)?;
    if head.get(..8)? != b"\x89PNG\r\n\x1a\n" || head.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |r: std::ops::Range<usize>| -> Option<u32> {
        Some(u32::from_be_bytes(head.get(r)?.try_into().ok()?))
    };
    Some((be(16..20)?, be(20..24)?))
}

/// The S3 bucket CORS rule (JSON) that lets a page at `origin` GET objects from the bucket, as
/// the user adds it (AWS console "CORS" JSON, or inside `{"CORSRules": [...]}` for
/// `aws s3api put-bucket-cors`).
///
/// # Example
/// ```
/// let rule = clipsearch::ingest::cors_rule("https://app.example");
/// assert_eq!(
///     rule,
///     r#"{"AllowedOrigins":["https://app.example"],"AllowedMethods":["GET"],"AllowedHeaders":["*"],"MaxAgeSeconds":3600}"#
/// );
/// ```
pub fn cors_rule(origin: &str) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Rule<'a> {
        allowed_origins: [&'a str; 1],
        allowed_methods: [&'a str; 1],
        allowed_headers: [&'a str; 1],
        max_age_seconds: u32,
    }
    serde_json::to_string(&Rule {
        allowed_origins: [origin],
        allowed_methods: ["GET"],
        allowed_headers: ["*"],
        max_age_seconds: 3600,
    })
    .unwrap_or_default()
}

/// The id of an input item: the caller's `id` if given, else the URL's locator
/// ([`crate::fetch::locator`]: `s3://bucket/key`, or the URL without its query string), else the
/// file `name`.
///
/// # Errors
/// [`Error::InvalidUrl`] (redacted) for a URL that is not absolute http(s) when no id is given;
/// [`Error::InvalidArgument`] when there is neither an id, a URL nor a name, or the given id is
/// empty.
///
/// # Example
/// ```
/// use clipsearch::ingest::item_id;
/// let url = "https://b.s3.amazonaws.com/a/1.jpg?X-Amz-Signature=secret";
/// assert_eq!(item_id(None, Some(url), None).unwrap(), "s3://b/a/1.jpg");
/// assert_eq!(item_id(None, None, Some("cat.png")).unwrap(), "cat.png");
/// assert_eq!(item_id(Some("mine"), Some(url), None).unwrap(), "mine");
/// ```
pub fn item_id(id: Option<&str>, url: Option<&str>, name: Option<&str>) -> Result<String> {
    match (id, url, name) {
        (Some(""), _, _) => Err(Error::InvalidArgument(
            "an item's id must not be empty".into(),
        )),
        (Some(id), _, _) => Ok(id.to_string()),
        (None, Some(url), _) => crate::fetch::locator(url),
        (None, None, Some(name)) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(Error::InvalidArgument(
            "an item needs an `id`, a `url` or a named File".into(),
        )),
    }
}

/// Runs `attempt(n)` (n = 1, 2, ...) until it succeeds, fails with an error that is not
/// [retryable](is_retryable), or `policy.max_attempts` attempts have failed; between attempts it
/// awaits `sleep(policy.delay_ms(n, random01()))`, which may itself fail (e.g. with
/// [`Error::Aborted`]) to stop. A final [`Error::Network`] carries the number of attempts made.
///
/// Plain `async` Rust: the binding passes a browser fetch and a `setTimeout` sleep; tests pass
/// closures.
///
/// # Errors
/// The last attempt's error, or the error of `sleep`.
pub async fn retry<T, A, AF, S, SF>(
    policy: &RetryPolicy,
    mut random01: impl FnMut() -> f64,
    mut attempt: A,
    mut sleep: S,
) -> Result<T>
where
    A: FnMut(u32) -> AF,
    AF: Future<Output = Result<T>>,
    S: FnMut(u32) -> SF,
    SF: Future<Output = Result<()>>,
{
    let max = policy.max_attempts.max(1);
    let mut n = 1;
    loop {
        match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(e) if is_retryable(&e) && n < max => {
                sleep(policy.delay_ms(n, random01())).await?;
                n += 1;
            }
            Err(Error::Network { url, reason, .. }) => {
                return Err(Error::Network {
                    url,
                    attempts: n,
                    reason,
                })
            }
            Err(e) => return Err(e),
        }
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemStatus {
    /// Embedded; the caller received its vector.
    Embedded,
    /// Not embedded; see the error.
    Failed,
}

/// The outcome of one input item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemOutcome {
    /// Position in the input list.
    pub index: usize,
    /// The item's id (see [`item_id`]); `None` only when no id could be made (e.g. an invalid
    /// URL without an explicit id).
    pub id: Option<String>,
    /// Embedded or failed.
    pub status: ItemStatus,
    /// For a failure, the stable [`Error::code`] (or the `name` of an error thrown by the
    /// caller's callback).
    pub code: Option<String>,
    /// For a failure, the error's message (URLs redacted).
    pub message: Option<String>,
}

/// Running totals, sent to progress callbacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Items embedded so far.
    pub done: usize,
    /// Items failed so far.
    pub failed: usize,
    /// Items in the run.
    pub total: usize,
    /// Encoded image bytes received so far (fetched bodies and Blob/bytes inputs).
    pub bytes: u64,
}

/// The outcomes of a run, one per input item, in input order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    /// One outcome per input item, ordered by index.
    pub outcomes: Vec<ItemOutcome>,
    /// The final counters.
    pub progress: Progress,
    /// Whether the run was aborted by the caller.
    pub aborted: bool,
}

/// Bookkeeping of a run: records each item's outcome once and keeps the counters. When the run
/// ends, [`Ledger::finish`] reports every item that never got an outcome as failed with
/// [`Error::Aborted`], so nothing is dropped silently.
///
/// # Example
/// ```
/// use clipsearch::{ingest::{Ledger, ItemStatus}, Error};
/// let mut l = Ledger::new(3);
/// l.add_bytes(10);
/// l.embedded(0, "a".into());
/// l.failed(2, Some("c".into()), &Error::EmptyInput);
/// let r = l.finish(true);
/// assert_eq!(r.outcomes[1].status, ItemStatus::Failed);
/// assert_eq!(r.outcomes[1].code.as_deref(), Some("AbortError"));
/// assert_eq!((r.progress.done, r.progress.failed, r.progress.bytes), (1, 2, 10));
/// ```
#[derive(Debug, Clone)]
pub struct Ledger {
    slots: Vec<Option<ItemOutcome>>,
    ids: Vec<Option<String>>,
    progress: Progress,
}

impl Ledger {
    /// A ledger for `total` items, none reported yet.
    pub fn new(total: usize) -> Self {
        Self {
            slots: vec![None; total],
            ids: vec![None; total],
            progress: Progress {
                total,
                ..Progress::default()
            },
        }
    }

    /// Remembers an item's id before its outcome is known (used if it ends aborted).
    pub fn set_id(&mut self, index: usize, id: Option<String>) {
        if let Some(slot) = self.ids.get_mut(index) {
            *slot = id;
        }
    }

    /// Counts received bytes.
    pub fn add_bytes(&mut self, n: u64) {
        self.progress.bytes = self.progress.bytes.saturating_add(n);
    }

    /// Records that item `index` was embedded. Returns `false` (and changes nothing) if the
    /// index is out of range or the item already has an outcome.
    pub fn embedded(&mut self, index: usize, id: String) -> bool {
        self.record(ItemOutcome {
            index,
            id: Some(id),
            status: ItemStatus::Embedded,
            code: None,
            message: None,
        })
    }

    /// Records that item `index` failed with `error`. Returns `false` (and changes nothing) if
    /// the index is out of range or the item already has an outcome.
    pub fn failed(&mut self, index: usize, id: Option<String>, error: &Error) -> bool {
        self.failed_named(index, id, error.code(), error.to_string())
    }

    /// Records that item `index` failed with an error known only by its `name` and `message`
    /// (e.g. thrown by the caller's `onItem` callback). Returns `false` as [`Ledger::failed`].
    pub fn failed_named(
        &mut self,
        index: usize,
        id: Option<String>,
        name: &str,
        message: String,
    ) -> bool {
        self.record(ItemOutcome {
            index,
            id,
            status: ItemStatus::Failed,
            code: Some(name.to_string()),
            message: Some(message),
        })
    }

    fn record(&mut self, outcome: ItemOutcome) -> bool {
        let Some(slot) = self.slots.get_mut(outcome.index) else {
            return false;
        };
        if slot.is_some() {
            return false;
        }
        match outcome.status {
            ItemStatus::Embedded => self.progress.done += 1,
            ItemStatus::Failed => self.progress.failed += 1,
        }
        *slot = Some(outcome);
        true
    }

    /// Whether item `index` already has an outcome.
    pub fn is_reported(&self, index: usize) -> bool {
        matches!(self.slots.get(index), Some(Some(_)))
    }

    /// The current counters.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Ends the run: every item without an outcome is recorded as failed with
    /// [`Error::Aborted`]; `aborted` is reported as given.
    pub fn finish(mut self, aborted: bool) -> IngestReport {
        for i in 0..self.slots.len() {
            if !self.is_reported(i) {
                let id = self.ids.get_mut(i).and_then(Option::take);
                self.failed(i, id, &Error::Aborted);
            }
        }
        IngestReport {
            outcomes: self.slots.into_iter().flatten().collect(),
            progress: self.progress,
            aborted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_under_the_exponential_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(1, 0.0), 0);
        assert_eq!(p.delay_ms(1, 0.999_999), 249);
        assert_eq!(p.delay_ms(2, 0.5), 250);
        assert_eq!(p.delay_ms(0, 1.0), 250);
        assert_eq!(p.delay_ms(u32::MAX, 1.0), 4000);
        assert_eq!(p.delay_ms(2, f64::NAN), 0);
        assert_eq!(p.delay_ms(2, 7.0), 500);
    }
}
