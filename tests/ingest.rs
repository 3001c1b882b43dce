//! Ingestion decisions (plain Rust): HTTP classification, retries, image checks, ids, outcomes.
//! The browser side (fetch, CORS, decoders) is tested in `tests/e2e/ingest.test.mjs`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use clipsearch::ingest::{
    check_image, classify_http, cors_rule, is_retryable, item_id, retry, ItemStatus, Ledger,
    RetryPolicy,
};
use clipsearch::Error;

/// Polls a future that never waits on I/O (our closures are immediately ready).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

const URL: &str = "https://bucket.s3.amazonaws.com/a.jpg";

/// The body AWS S3 (and the JuiceFS / MinIO gateway) sends for an expired presigned URL.
const EXPIRED: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
<Message>Request has expired</Message><Key>a.jpg</Key><BucketName>bucket</BucketName>\
<Resource>/bucket/a.jpg</Resource><RequestId>1</RequestId><HostId>2</HostId></Error>";
const TAMPERED: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch\
</Code><Message>The request signature we calculated does not match the signature you provided. \
Check your key and signing method.</Message></Error>";

#[test]
fn an_expired_presigned_url_is_told_apart_from_other_403s() {
    let e = classify_http(403, Some("application/xml"), EXPIRED, URL).unwrap_err();
    assert_eq!(e, Error::UrlExpired { url: URL.into() });
    assert!(e.to_string().contains("fresh URL"));
    let e = classify_http(403, Some("application/xml"), TAMPERED, URL).unwrap_err();
    assert_eq!(e, Error::AccessDenied { url: URL.into() });
    // A body the browser could not read is an ordinary denial.
    assert_eq!(
        classify_http(403, None, b"", URL).unwrap_err().code(),
        "AccessDenied"
    );
    // "expired" outside an AccessDenied code is not an expiry.
    let other = b"<Error><Code>InvalidToken</Code><Message>Request has expired</Message></Error>";
    assert_eq!(
        classify_http(403, None, other, URL).unwrap_err().code(),
        "AccessDenied"
    );
}

#[test]
fn statuses_map_to_typed_errors_and_only_429_and_5xx_are_retried() {
    assert!(classify_http(200, Some("image/png"), b"", URL).is_ok());
    assert!(classify_http(206, None, b"", URL).is_ok());
    assert_eq!(
        classify_http(404, None, b"", URL).unwrap_err(),
        Error::NotFound { url: URL.into() }
    );
    // 401 is a refusal, 410 a missing object, and S3's 400 ExpiredToken an expired URL (signed
    // with temporary credentials); the CLI and the browser share this mapping.
    assert_eq!(
        classify_http(401, None, b"", URL).unwrap_err(),
        Error::AccessDenied { url: URL.into() }
    );
    assert_eq!(
        classify_http(410, None, b"", URL).unwrap_err(),
        Error::NotFound { url: URL.into() }
    );
    assert_eq!(
        classify_http(400, None, b"<Error><Code>ExpiredToken</Code></Error>", URL).unwrap_err(),
        Error::UrlExpired { url: URL.into() }
    );
    for (status, retryable) in [
        (400, false),
        (405, false),
        (429, true),
        (500, true),
        (502, true),
        (503, true),
        (599, true),
        (304, false),
    ] {
        let e = classify_http(status, None, b"", URL).unwrap_err();
        assert_eq!(
            e,
            Error::HttpStatus {
                url: URL.into(),
                status
            },
            "{status}"
        );
        assert_eq!(is_retryable(&e), retryable, "{status}");
    }
    for e in [
        classify_http(403, None, EXPIRED, URL).unwrap_err(),
        classify_http(403, None, b"", URL).unwrap_err(),
        classify_http(404, None, b"", URL).unwrap_err(),
        classify_http(401, None, b"", URL).unwrap_err(),
        classify_http(410, None, b"", URL).unwrap_err(),
        Error::Aborted,
        Error::ImageDecode("x".into()),
    ] {
        assert!(!is_retryable(&e), "{e:?}");
    }
    assert!(is_retryable(&Error::Timeout {
        url: URL.into(),
        ms: 1
    }));
    assert!(is_retryable(&Error::Network {
        url: URL.into(),
        attempts: 1,
        reason: "x".into()
    }));
}

fn net(reason: &str) -> Error {
    Error::Network {
        url: URL.into(),
        attempts: 1,
        reason: reason.into(),
    }
}

#[test]
fn retry_stops_after_max_attempts_and_reports_how_many_were_made() {
    let policy = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let calls = RefCell::new(Vec::new());
    let sleeps = RefCell::new(Vec::new());
    let r: Result<(), Error> = block_on(retry(
        &policy,
        || 0.999,
        |n| {
            calls.borrow_mut().push(n);
            async { Err(net("connection refused")) }
        },
        |ms| {
            sleeps.borrow_mut().push(ms);
            async { Ok(()) }
        },
    ));
    assert_eq!(
        r.unwrap_err(),
        Error::Network {
            url: URL.into(),
            attempts: 3,
            reason: "connection refused".into()
        }
    );
    assert_eq!(*calls.borrow(), [1, 2, 3]);
    assert_eq!(*sleeps.borrow(), [249, 499]);
}

#[test]
fn retry_recovers_from_a_transient_503_and_never_repeats_a_404() {
    let policy = RetryPolicy::default();
    let calls = RefCell::new(0);
    let r = block_on(retry(
        &policy,
        || 0.0,
        |n| {
            *calls.borrow_mut() += 1;
            async move {
                if n < 3 {
                    Err(Error::HttpStatus {
                        url: URL.into(),
                        status: 503,
                    })
                } else {
                    Ok(n)
                }
            }
        },
        |_| async { Ok(()) },
    ));
    assert_eq!(r, Ok(3));
    assert_eq!(*calls.borrow(), 3);

    *calls.borrow_mut() = 0;
    let r: Result<(), Error> = block_on(retry(
        &policy,
        || 0.0,
        |_| {
            *calls.borrow_mut() += 1;
            async { Err(Error::NotFound { url: URL.into() }) }
        },
        |_| async { Ok(()) },
    ));
    assert_eq!(r.unwrap_err().code(), "NotFound");
    assert_eq!(*calls.borrow(), 1);
}

#[test]
fn an_abort_during_backoff_ends_the_retries_at_once() {
    let calls = RefCell::new(0);
    let r: Result<(), Error> = block_on(retry(
        &RetryPolicy::default(),
        || 0.5,
        |_| {
            *calls.borrow_mut() += 1;
            async {
                Err(Error::Timeout {
                    url: URL.into(),
                    ms: 5,
                })
            }
        },
        |_| async { Err(Error::Aborted) },
    ));
    assert_eq!(r, Err(Error::Aborted));
    assert_eq!(*calls.borrow(), 1);
}

#[test]
fn a_policy_needs_at_least_one_attempt_and_a_timeout() {
    assert!(RetryPolicy::default().validate().is_ok());
    let p = RetryPolicy {
        max_attempts: 0,
        ..RetryPolicy::default()
    };
    assert_eq!(p.validate().unwrap_err().code(), "InvalidArgument");
    let p = RetryPolicy {
        timeout_ms: 0,
        ..RetryPolicy::default()
    };
    assert_eq!(p.validate().unwrap_err().code(), "InvalidArgument");
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut body = kind.to_vec();
    body.extend(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
    out
}

/// A PNG declaring `w x h` (IHDR), with a token IDAT (a 2-byte zlib header) and IEND: the header
/// is well formed, the pixel data is not there.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &[0x78, 0x9c]));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[test]
fn image_checks_refuse_empty_html_and_huge_images_before_decoding() {
    assert_eq!(
        check_image(b"", Some("image/jpeg"), 4096),
        Err(Error::EmptyInput)
    );
    let e = check_image(
        b"\n<!DOCTYPE html><html>login</html>",
        Some("text/html"),
        4096,
    )
    .unwrap_err();
    assert_eq!(e.code(), "NotAnImage");
    assert!(e.to_string().contains("HTML or XML"), "{e}");
    assert!(e.to_string().contains("Content-Type: text/html"), "{e}");
    let e = check_image(b"<?xml version=\"1.0\"?><Error/>", None, 4096).unwrap_err();
    assert_eq!(e.code(), "NotAnImage");
    assert_eq!(
        check_image(b"plain text", Some("text/plain"), 4096)
            .unwrap_err()
            .code(),
        "NotAnImage"
    );
    // A header declaring 50000 x 50000 is refused from the header alone.
    assert_eq!(
        check_image(&png_header(50_000, 50_000), Some("image/png"), 16_384),
        Err(Error::ImageTooLarge {
            width: 50_000,
            height: 50_000,
            limit: 16_384
        })
    );
    let info = check_image(&png_header(640, 480), None, 16_384).unwrap();
    assert_eq!((info.width, info.height), (640, 480));
    let jpeg = std::fs::read("tests/fixtures/model/gradient.jpg").unwrap();
    assert!(check_image(&jpeg, Some("image/jpeg"), 16_384).is_ok());
}

#[test]
fn ids_default_to_the_locator_and_never_hold_the_query_string() {
    let presigned = "https://photos.s3.eu-west-1.amazonaws.com/2024/a%20b.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=deadbeef";
    assert_eq!(
        item_id(None, Some(presigned), None).unwrap(),
        "s3://photos/2024/a b.jpg"
    );
    let local = "http://127.0.0.1:9000/bucket/k.jpg?X-Amz-Signature=deadbeef";
    assert_eq!(
        item_id(None, Some(local), Some("ignored")).unwrap(),
        "http://127.0.0.1:9000/bucket/k.jpg"
    );
    assert_eq!(
        item_id(None, None, Some("dropped.png")).unwrap(),
        "dropped.png"
    );
    assert_eq!(item_id(Some("x"), Some(local), None).unwrap(), "x");
    let e = item_id(None, Some("ftp://h/k?X-Amz-Signature=deadbeef"), None).unwrap_err();
    assert_eq!(e.code(), "InvalidUrl");
    assert!(!e.to_string().contains("deadbeef"));
    assert_eq!(
        item_id(None, None, None).unwrap_err().code(),
        "InvalidArgument"
    );
    assert_eq!(
        item_id(Some(""), None, None).unwrap_err().code(),
        "InvalidArgument"
    );
}

#[test]
fn the_cors_rule_is_valid_json_for_exactly_this_origin() {
    let rule = cors_rule("http://127.0.0.1:8080");
    let v: serde_json::Value = serde_json::from_str(&rule).unwrap();
    assert_eq!(
        v["AllowedOrigins"],
        serde_json::json!(["http://127.0.0.1:8080"])
    );
    assert_eq!(v["AllowedMethods"], serde_json::json!(["GET"]));
    assert_eq!(v["AllowedHeaders"], serde_json::json!(["*"]));
    assert!(v["MaxAgeSeconds"].as_u64().unwrap() > 0);
    // An origin with quotes cannot break out of the JSON.
    let v: serde_json::Value = serde_json::from_str(&cors_rule("a\"b")).unwrap();
    assert_eq!(v["AllowedOrigins"][0], "a\"b");
    let e = Error::CorsBlocked {
        url: URL.into(),
        origin: "http://127.0.0.1:8080".into(),
        rule: rule.clone(),
    };
    assert!(e.to_string().contains(&rule));
}

#[test]
fn every_item_gets_exactly_one_outcome_even_when_aborted() {
    let mut l = Ledger::new(5);
    l.set_id(3, Some("d".into()));
    assert!(l.embedded(0, "a".into()));
    assert!(l.failed(1, Some("b".into()), &Error::NotFound { url: URL.into() }));
    // A second outcome for the same item, or an index out of range, changes nothing.
    assert!(!l.embedded(1, "b".into()));
    assert!(!l.failed(0, None, &Error::EmptyInput));
    assert!(!l.embedded(9, "z".into()));
    l.add_bytes(100);
    l.add_bytes(23);
    assert_eq!(l.progress().done + l.progress().failed, 2);
    let r = l.finish(true);
    assert!(r.aborted);
    assert_eq!(r.outcomes.len(), 5);
    let idx: Vec<usize> = r.outcomes.iter().map(|o| o.index).collect();
    assert_eq!(idx, [0, 1, 2, 3, 4]);
    assert_eq!(r.outcomes[0].status, ItemStatus::Embedded);
    assert_eq!(r.outcomes[1].code.as_deref(), Some("NotFound"));
    for i in [2, 3, 4] {
        assert_eq!(r.outcomes[i].status, ItemStatus::Failed);
        assert_eq!(r.outcomes[i].code.as_deref(), Some("AbortError"));
    }
    assert_eq!(r.outcomes[3].id.as_deref(), Some("d"));
    assert_eq!(r.outcomes[2].id, None);
    assert_eq!(
        (
            r.progress.done,
            r.progress.failed,
            r.progress.total,
            r.progress.bytes
        ),
        (1, 4, 5, 123)
    );
}
