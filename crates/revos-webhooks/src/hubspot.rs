//! HubSpot's v3 request signatures (`X-HubSpot-Signature-v3`).
//!
//! HubSpot signs each request with the app's client secret: the
//! `X-HubSpot-Signature-v3` header is the base64 of the HMAC-SHA256, keyed by
//! the client secret, of `method + uri + body + timestamp`, where `timestamp`
//! is the `X-HubSpot-Request-Timestamp` header (milliseconds since the
//! epoch) as sent, `method` is the HTTP method in capitals and `uri` the full
//! URL HubSpot called (`https://host/path?query`).
//!
//! HubSpot's published rule for the URI: before signing, the URL-encoded
//! forms of these twelve characters are decoded, and no others —
//! `%3A` `:`, `%2F` `/`, `%3F` `?`, `%40` `@`, `%21` `!`, `%24` `$`,
//! `%27` `'`, `%28` `(`, `%29` `)`, `%2A` `*`, `%2C` `,`, `%3B` `;`
//! (either case of the hex digits). [`canonical_uri`] applies it; [`verify`]
//! and [`sign`] call it, so callers pass the URI as received.
//!
//! Requests whose timestamp is more than [`TOLERANCE_MS`] old are refused
//! (HubSpot's rule), and, for clock skew, as far in the future. Several
//! client secrets may be active while one is rotated out.
//!
//! Pure: the caller passes the current time in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const HEADER_SIGNATURE: &str = "x-hubspot-signature-v3";
/// The header carrying the request time in milliseconds since the epoch.
pub const HEADER_TIMESTAMP: &str = "x-hubspot-request-timestamp";

/// How far, in milliseconds, the request timestamp may lie from `now`:
/// five minutes.
pub const TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// The length in bytes of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// The escapes HubSpot decodes in the URI before signing.
const DECODED: [(&str, char); 12] = [
    ("3A", ':'),
    ("2F", '/'),
    ("3F", '?'),
    ("40", '@'),
    ("21", '!'),
    ("24", '$'),
    ("27", '\''),
    ("28", '('),
    ("29", ')'),
    ("2A", '*'),
    ("2C", ','),
    ("3B", ';'),
];

type HmacSha256 = Hmac<Sha256>;

/// One HubSpot request, as received.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method (`POST`).
    pub method: &'a str,
    /// The full URL HubSpot called, scheme and host included.
    pub uri: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// `X-HubSpot-Request-Timestamp`, if present.
    pub timestamp: Option<&'a str>,
    /// `X-HubSpot-Signature-v3`, if present.
    pub signature: Option<&'a str>,
}

/// Why a HubSpot request is refused. The messages say what is wrong with
/// the request, never what the signature should have been.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent or blank; the value is its name.
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    /// The timestamp is not whole milliseconds since the epoch.
    #[error("`X-HubSpot-Request-Timestamp` is not a whole number of milliseconds since the epoch")]
    InvalidTimestamp,
    /// The request was signed more than five minutes ago.
    #[error("`X-HubSpot-Request-Timestamp` is more than 5 minutes in the past")]
    TimestampTooOld,
    /// The request claims to be signed more than five minutes from now.
    #[error("`X-HubSpot-Request-Timestamp` is more than 5 minutes in the future")]
    TimestampInFuture,
    /// The signature is not the base64 of a 32-byte HMAC-SHA256.
    #[error("`X-HubSpot-Signature-v3` is not the base64 of an HMAC-SHA256")]
    MalformedSignature,
    /// The signature matches no client secret of this source.
    #[error("`X-HubSpot-Signature-v3` matches no client secret of this source")]
    NoValidSignature,
}

impl VerifyError {
    /// A stable, machine-readable name of the reason, as
    /// [`crate::VerifyError::reason`] gives for Standard Webhooks.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::InvalidTimestamp => "invalid_timestamp",
            VerifyError::TimestampTooOld => "timestamp_too_old",
            VerifyError::TimestampInFuture => "timestamp_in_future",
            VerifyError::MalformedSignature => "malformed_signature",
            VerifyError::NoValidSignature => "no_valid_signature",
        }
    }
}

/// The URI as HubSpot signs it: the twelve escapes listed in the module
/// documentation decoded, everything else (other escapes included) kept.
pub fn canonical_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at + 1..at + 3);
        let decoded = escape.and_then(|hex| {
            DECODED
                .iter()
                .find(|(code, _)| code.eq_ignore_ascii_case(hex))
                .map(|(_, c)| *c)
        });
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The HMAC-SHA256 of `method + canonical uri + body + timestamp`.
fn tag(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> [u8; TAG_LEN] {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(method.as_bytes());
    mac.update(canonical_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The `X-HubSpot-Signature-v3` value HubSpot would send for this request
/// signed at `timestamp_ms` with `client_secret`.
pub fn sign(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    BASE64.encode(tag(
        client_secret,
        method,
        uri,
        body,
        &timestamp_ms.to_string(),
    ))
}

/// Checks a request against the source's active client secrets at `now_ms`
/// (milliseconds since the epoch). Tags are compared in constant time.
pub fn verify(secrets: &[&str], request: &Request<'_>, now_ms: i64) -> Result<(), VerifyError> {
    let timestamp = required(request.timestamp, HEADER_TIMESTAMP)?;
    let signature = required(request.signature, HEADER_SIGNATURE)?;
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    let millis: i64 = timestamp
        .parse()
        .map_err(|_| VerifyError::InvalidTimestamp)?;
    if now_ms.saturating_sub(millis) > TOLERANCE_MS {
        return Err(VerifyError::TimestampTooOld);
    }
    if millis.saturating_sub(now_ms) > TOLERANCE_MS {
        return Err(VerifyError::TimestampInFuture);
    }
    let sent = match BASE64.decode(signature) {
        Ok(bytes) if bytes.len() == TAG_LEN => bytes,
        _ => return Err(VerifyError::MalformedSignature),
    };
    let matched = secrets.iter().fold(subtle::Choice::from(0), |acc, secret| {
        let want = tag(secret, request.method, request.uri, request.body, timestamp);
        acc | want.ct_eq(&sent)
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::NoValidSignature)
    }
}

/// The header's value, unless it is absent or blank.
fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, VerifyError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(VerifyError::MissingHeader(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "7c0e5a2b-client-secret-one";
    const OTHER: &str = "93d1f4aa-client-secret-two";
    const URI: &str = "https://revos.example.com/v1/webhooks/acme/hubspot";
    const BODY: &[u8] = br#"[{"eventId":1,"subscriptionType":"contact.creation","objectId":51}]"#;
    const TS: i64 = 1_767_225_600_000;

    fn request<'a>(signature: &'a str, timestamp: &'a str) -> Request<'a> {
        Request {
            method: "POST",
            uri: URI,
            body: BODY,
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    #[test]
    fn a_signed_request_verifies_within_five_minutes() {
        let sig = sign(SECRET, "POST", URI, BODY, TS);
        let ts = TS.to_string();
        for now in [TS, TS + TOLERANCE_MS, TS - TOLERANCE_MS] {
            assert_eq!(verify(&[SECRET], &request(&sig, &ts), now), Ok(()));
        }
    }

    #[test]
    fn the_source_string_is_method_uri_body_timestamp() {
        let mut mac = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("POST{URI}").as_bytes());
        mac.update(BODY);
        mac.update(TS.to_string().as_bytes());
        let want = BASE64.encode(mac.finalize().into_bytes());
        assert_eq!(sign(SECRET, "POST", URI, BODY, TS), want);
    }

    #[test]
    fn the_uri_decodes_exactly_the_published_escapes() {
        assert_eq!(
            canonical_uri("https://x.io/a%3Ab%2fc?q=%40me%21%24%27%28%29%2A%2C%3B%3F"),
            "https://x.io/a:b/c?q=@me!$'()*,;?"
        );
        // Other escapes (space, `&`, `=`, `%` itself) stay encoded, and a
        // stray `%` is kept.
        assert_eq!(
            canonical_uri("https://x.io/?n=a%20b%26c%3Dd%25&p=100%"),
            "https://x.io/?n=a%20b%26c%3Dd%25&p=100%"
        );
        // Signing with an encoded URI equals signing with the decoded one.
        assert_eq!(
            sign(SECRET, "POST", "https://x.io/h%3Fa%40b", BODY, TS),
            sign(SECRET, "POST", "https://x.io/h?a@b", BODY, TS)
        );
    }

    #[test]
    fn a_wrong_secret_is_rejected() {
        let sig = sign(OTHER, "POST", URI, BODY, TS);
        let ts = TS.to_string();
        assert_eq!(
            verify(&[SECRET], &request(&sig, &ts), TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn a_stale_or_future_request_is_rejected() {
        let sig = sign(SECRET, "POST", URI, BODY, TS);
        let ts = TS.to_string();
        assert_eq!(
            verify(&[SECRET], &request(&sig, &ts), TS + TOLERANCE_MS + 1),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            verify(&[SECRET], &request(&sig, &ts), TS - TOLERANCE_MS - 1),
            Err(VerifyError::TimestampInFuture)
        );
    }

    #[test]
    fn any_active_secret_may_match_during_rotation() {
        let sig = sign(OTHER, "POST", URI, BODY, TS);
        let ts = TS.to_string();
        assert_eq!(verify(&[SECRET, OTHER], &request(&sig, &ts), TS), Ok(()));
        assert_eq!(
            verify(&[], &request(&sig, &ts), TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        let sig = sign(SECRET, "POST", URI, BODY, TS);
        let ts = TS.to_string();
        let missing_ts = Request {
            timestamp: None,
            ..request(&sig, &ts)
        };
        assert_eq!(
            verify(&[SECRET], &missing_ts, TS),
            Err(VerifyError::MissingHeader(HEADER_TIMESTAMP))
        );
        let missing_sig = Request {
            signature: Some(" "),
            ..request(&sig, &ts)
        };
        assert_eq!(
            verify(&[SECRET], &missing_sig, TS),
            Err(VerifyError::MissingHeader(HEADER_SIGNATURE))
        );
        for bad_ts in ["1767225600.5", "-1", "soon"] {
            assert_eq!(
                verify(&[SECRET], &request(&sig, bad_ts), TS),
                Err(VerifyError::InvalidTimestamp),
                "{bad_ts}"
            );
        }
        for bad_sig in ["not base64!", "AAAA"] {
            assert_eq!(
                verify(&[SECRET], &request(bad_sig, &ts), TS),
                Err(VerifyError::MalformedSignature),
                "{bad_sig}"
            );
        }
        assert_eq!(
            VerifyError::MalformedSignature.reason(),
            "malformed_signature"
        );
    }

    #[test]
    fn a_tampered_body_method_uri_or_timestamp_is_rejected() {
        let sig = sign(SECRET, "POST", URI, BODY, TS);
        let ts = TS.to_string();
        let cases = [
            Request {
                body: br#"[{"eventId":2}]"#,
                ..request(&sig, &ts)
            },
            Request {
                method: "PUT",
                ..request(&sig, &ts)
            },
            Request {
                uri: "https://revos.example.com/v1/webhooks/other/hubspot",
                ..request(&sig, &ts)
            },
        ];
        for case in cases {
            assert_eq!(
                verify(&[SECRET], &case, TS),
                Err(VerifyError::NoValidSignature)
            );
        }
        let later = (TS + 1).to_string();
        assert_eq!(
            verify(&[SECRET], &request(&sig, &later), TS),
            Err(VerifyError::NoValidSignature)
        );
    }
}
