//! URL handling shared by every target: redaction and item locators.
//!
//! A presigned URL's query string is a credential. Everything clipsearch shows, logs, stores or
//! exports about a URL goes through [`redact_url`] (scheme, host and path only) or [`locator`]
//! (the stable item id: `s3://bucket/key` for S3 URLs).

use crate::{Error, Result};
use url::Url;

/// Returns the URL with its query string, fragment and user info removed: scheme, host, port and
/// path only. Input that does not parse as a URL is reduced to the part before any `?` or `#`.
///
/// # Example
/// ```
/// use clipsearch::fetch::redact_url;
/// let u = "https://b.s3.amazonaws.com/cats/1.jpg?X-Amz-Signature=abc&X-Amz-Credential=k";
/// assert_eq!(redact_url(u), "https://b.s3.amazonaws.com/cats/1.jpg");
/// ```
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.has_host() => {
            u.set_query(None);
            u.set_fragment(None);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => {
            let cut = url.find(['?', '#']).unwrap_or(url.len());
            url[..cut].to_string()
        }
    }
}

/// The stable locator (default item id) of a URL: `s3://bucket/key` for S3 URLs in virtual-hosted
/// style (`bucket.s3.region.amazonaws.com/key`) or path style (`s3.region.amazonaws.com/bucket/key`),
/// otherwise the redacted URL. Percent-encoding in the key is decoded.
///
/// # Errors
/// [`Error::InvalidUrl`] when the input is not an absolute http(s) URL (the message is redacted).
///
/// # Example
/// ```
/// use clipsearch::fetch::locator;
/// let v = "https://photos.s3.eu-west-1.amazonaws.com/2024/surf%20a.jpg?X-Amz-Signature=s";
/// assert_eq!(locator(v).unwrap(), "s3://photos/2024/surf a.jpg");
/// let p = "https://s3.us-east-2.amazonaws.com/photos/a.jpg?X-Amz-Expires=60";
/// assert_eq!(locator(p).unwrap(), "s3://photos/a.jpg");
/// ```
pub fn locator(url: &str) -> Result<String> {
    let u = Url::parse(url).map_err(|_| Error::InvalidUrl(redact_url(url)))?;
    if !matches!(u.scheme(), "http" | "https") || !u.has_host() {
        return Err(Error::InvalidUrl(redact_url(url)));
    }
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    let path = percent_decode(u.path());
    if let Some(bucket) = s3_virtual_host_bucket(&host) {
        let key = path.trim_start_matches('/');
        if !key.is_empty() {
            return Ok(format!("s3://{bucket}/{key}"));
        }
    } else if is_s3_service_host(&host) {
        let rest = path.trim_start_matches('/');
        if let Some((bucket, key)) = rest.split_once('/') {
            if !bucket.is_empty() && !key.is_empty() {
                return Ok(format!("s3://{bucket}/{key}"));
            }
        }
    }
    Ok(redact_url(url))
}

/// `s3.amazonaws.com`, `s3.<region>.amazonaws.com`, `s3-<region>.amazonaws.com`,
/// `s3.dualstack.<region>.amazonaws.com`.
fn is_s3_service_host(host: &str) -> bool {
    let Some(stem) = host.strip_suffix(".amazonaws.com") else {
        return false;
    };
    stem == "s3" || stem.starts_with("s3.") || stem.starts_with("s3-")
}

/// For `bucket.s3[.region].amazonaws.com` returns `bucket` (buckets may contain dots).
fn s3_virtual_host_bucket(host: &str) -> Option<&str> {
    let stem = host.strip_suffix(".amazonaws.com")?;
    for marker in [".s3.", ".s3-"] {
        if let Some(i) = stem.find(marker) {
            return Some(&stem[..i]);
        }
    }
    stem.strip_suffix(".s3")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_query_fragment_and_userinfo() {
        assert_eq!(
            redact_url("https://user:pw@h.example:9000/a/b.png?sig=1#frag"),
            "https://h.example:9000/a/b.png"
        );
        assert_eq!(redact_url("not a url?secret=1"), "not a url");
    }

    #[test]
    fn locators_of_s3_and_other_urls() {
        assert_eq!(
            locator("https://my.bucket.s3.amazonaws.com/k/x.jpg?X-Amz-Signature=1").unwrap(),
            "s3://my.bucket/k/x.jpg"
        );
        assert_eq!(
            locator("https://b.s3-us-west-2.amazonaws.com/x.jpg?a=b").unwrap(),
            "s3://b/x.jpg"
        );
        assert_eq!(
            locator("http://127.0.0.1:9000/bucket/x.jpg?X-Amz-Signature=1").unwrap(),
            "http://127.0.0.1:9000/bucket/x.jpg"
        );
        let err = locator("ftp://x/y?secret=1").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert_eq!(percent_decode("a%2Fb%zz%2"), "a/b%zz%2");
    }
}
