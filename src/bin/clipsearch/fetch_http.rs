//! Native HTTP(S) fetch of image URLs (presigned or public) for `clipsearch index`, with a
//! timeout and bounded retries.
//!
//! Retried: network errors, timeouts, HTTP 429 and 5xx (exponential backoff from
//! `--retry-backoff-ms`, at most `--retries` extra attempts). Not retried: other statuses, which
//! map to typed errors (403 "Request has expired" -> `UrlExpired`, other 403 -> `AccessDenied`,
//! 404 -> `NotFound`, others -> `HttpError`). Every URL in an error is redacted (scheme, host and
//! path only), and so is any text the HTTP client reports.

use std::io::Read;
use std::time::Duration;

use clipsearch::fetch::redact_url;
use clipsearch::ingest::classify_http;
use clipsearch::Error;

/// Largest response body accepted (bytes).
const MAX_BODY: u64 = 256 << 20;

/// A blocking HTTP client shared by all worker threads (`ureq::Agent` is `Send + Sync`).
pub struct Fetcher {
    agent: ureq::Agent,
    retries: u32,
    backoff: Duration,
    timeout: Duration,
}

impl Fetcher {
    /// A client with a whole-request `timeout`, `retries` extra attempts and a first backoff.
    pub fn new(timeout: Duration, retries: u32, backoff: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Fetcher {
            agent,
            retries,
            backoff,
            timeout,
        }
    }

    /// GETs `url` and returns the body.
    ///
    /// # Errors
    /// `UrlExpired`, `AccessDenied`, `NotFound`, `HttpError`, `Timeout` or `NetworkError`, all
    /// with the redacted URL.
    pub fn get(&self, url: &str) -> clipsearch::Result<Vec<u8>> {
        let red = redact_url(url);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let err = match self.agent.get(url).call() {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        match resp.body_mut().with_config().limit(MAX_BODY).read_to_vec() {
                            Ok(b) => return Ok(b),
                            Err(e) => self.transport_error(e, url, &red, attempt),
                        }
                    } else {
                        let body = if status == 400 || status == 403 {
                            let mut text = String::new();
                            let _ = resp
                                .body_mut()
                                .as_reader()
                                .take(8192)
                                .read_to_string(&mut text);
                            text
                        } else {
                            String::new()
                        };
                        let e = classify_http(status, None, body.as_bytes(), &red)
                            .err()
                            .unwrap_or(Error::HttpStatus {
                                url: red.clone(),
                                status,
                            });
                        if !(status == 429 || status >= 500) {
                            return Err(e);
                        }
                        e
                    }
                }
                Err(e) => self.transport_error(e, url, &red, attempt),
            };
            if attempt > self.retries {
                return Err(err);
            }
            let wait = self
                .backoff
                .saturating_mul(1u32 << (attempt - 1).min(5))
                .min(Duration::from_secs(30));
            std::thread::sleep(wait);
        }
    }

    fn transport_error(&self, e: ureq::Error, url: &str, red: &str, attempts: u32) -> Error {
        match e {
            ureq::Error::Timeout(_) => Error::Timeout {
                url: red.to_string(),
                ms: u32::try_from(self.timeout.as_millis()).unwrap_or(u32::MAX),
            },
            other => Error::Network {
                url: red.to_string(),
                attempts,
                reason: scrub(&other.to_string(), url, red),
            },
        }
    }
}

/// Removes the URL (and its query string alone) from a message of the HTTP client.
fn scrub(msg: &str, url: &str, red: &str) -> String {
    let mut m = msg.replace(url, red);
    if let Some(q) = url
        .split_once('?')
        .map(|(_, q)| q)
        .filter(|q| !q.is_empty())
    {
        m = m.replace(q, "[redacted]");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_typed_errors() {
        let u = "https://b.s3.amazonaws.com/k.jpg";
        let expired =
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        let code = |status, body: &str| {
            classify_http(status, None, body.as_bytes(), u)
                .unwrap_err()
                .code()
        };
        assert_eq!(code(403, expired), "UrlExpired");
        assert_eq!(
            code(400, "<Error><Code>ExpiredToken</Code></Error>"),
            "UrlExpired"
        );
        assert_eq!(code(403, "nope"), "AccessDenied");
        assert_eq!(code(401, ""), "AccessDenied");
        assert_eq!(code(404, ""), "NotFound");
        assert_eq!(code(410, ""), "NotFound");
        assert_eq!(code(503, ""), "HttpError");
    }

    #[test]
    fn scrub_removes_the_query_string() {
        let url = "https://h/x.jpg?X-Amz-Signature=s3cr3t";
        let m = scrub(
            &format!("bad uri {url}, also X-Amz-Signature=s3cr3t"),
            url,
            "https://h/x.jpg",
        );
        assert!(!m.contains("s3cr3t"), "{m}");
    }
}
