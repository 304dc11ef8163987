//! Stripe's webhook signatures (`Stripe-Signature`).
//!
//! Stripe signs each delivery with the endpoint's secret (`whsec_…`, used as
//! the HMAC key exactly as written, prefix included) and sends
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>,v1=<hex>,…`. Each `v1` entry
//! is the hex HMAC-SHA256 of `{t}.{raw body}`; several appear while the
//! endpoint's secret is rolled, and `v0` entries (Stripe's test-mode scheme)
//! are ignored. [`verify`] checks a delivery on its raw bytes: the header is
//! well formed, `t` lies within [`TOLERANCE_SECS`] of `now` either way, and
//! some `v1` entry matches some active secret, compared in constant time.
//! [`sign`] is the sender's side, for tests and tools that replay
//! deliveries.
//!
//! Pure: the caller passes the current time in.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the timestamp and signatures.
pub const HEADER: &str = "stripe-signature";

/// How far, in seconds, `t` may lie from `now` (Stripe's libraries default
/// to 300 s in the past; the bound also applies forward to absorb clock skew).
pub const TOLERANCE_SECS: i64 = 300;

/// The length in bytes of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why a Stripe delivery is refused. The messages say what is wrong with
/// the request, never what the signature should have been.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// `Stripe-Signature` is absent or blank.
    #[error("the `Stripe-Signature` header is missing")]
    MissingHeader,
    /// The header has no `t=` entry, or it is not whole seconds.
    #[error("`Stripe-Signature` has no `t=` timestamp in whole seconds")]
    InvalidTimestamp,
    /// `t` is more than [`TOLERANCE_SECS`] in the past.
    #[error("the `Stripe-Signature` timestamp is more than 300 s in the past")]
    TimestampTooOld,
    /// `t` is more than [`TOLERANCE_SECS`] in the future.
    #[error("the `Stripe-Signature` timestamp is more than 300 s in the future")]
    TimestampInFuture,
    /// The header holds no well-formed `v1=<64 hex digits>` entry.
    #[error("`Stripe-Signature` holds no well-formed `v1=<hex>` signature")]
    MalformedSignature,
    /// Well-formed `v1` entries were sent, but none matches a secret.
    #[error("no `v1` signature in `Stripe-Signature` matches a secret of this endpoint")]
    NoValidSignature,
}

impl VerifyError {
    /// A stable, machine-readable name of the reason, as
    /// [`crate::VerifyError::reason`] gives for Standard Webhooks.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader => "missing_header",
            VerifyError::InvalidTimestamp => "invalid_timestamp",
            VerifyError::TimestampTooOld => "timestamp_too_old",
            VerifyError::TimestampInFuture => "timestamp_in_future",
            VerifyError::MalformedSignature => "malformed_signature",
            VerifyError::NoValidSignature => "no_valid_signature",
        }
    }
}

/// The HMAC-SHA256 of `{timestamp}.{body}` under `secret`'s bytes.
fn tag(secret: &str, timestamp: i64, body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `Stripe-Signature` value Stripe would send for `body` signed at
/// `timestamp` with `secret`: `t=<timestamp>,v1=<hex>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(tag(secret, timestamp, body))
    )
}

/// Checks a delivery's `Stripe-Signature` header against the endpoint's
/// active secrets, on the raw body bytes, at `now` (seconds since the epoch).
///
/// Entries other than `t` and `v1` (such as `v0`) are ignored; a malformed
/// `v1` entry does not spoil a valid one beside it.
pub fn verify(
    secrets: &[&str],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let header = match header.map(str::trim) {
        Some(h) if !h.is_empty() => h,
        _ => return Err(VerifyError::MissingHeader),
    };
    let mut timestamp = None;
    let mut tags: Vec<[u8; TAG_LEN]> = Vec::new();
    let mut malformed = false;
    for entry in header.split(',') {
        let Some((key, value)) = entry.trim().split_once('=') else {
            malformed = true;
            continue;
        };
        match key {
            "t" => timestamp = Some(parse_timestamp(value)?),
            "v1" => match hex::decode(value) {
                Ok(bytes) if bytes.len() == TAG_LEN => {
                    let mut tag = [0u8; TAG_LEN];
                    tag.copy_from_slice(&bytes);
                    tags.push(tag);
                }
                _ => malformed = true,
            },
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::InvalidTimestamp)?;
    if now.saturating_sub(timestamp) > TOLERANCE_SECS {
        return Err(VerifyError::TimestampTooOld);
    }
    if timestamp.saturating_sub(now) > TOLERANCE_SECS {
        return Err(VerifyError::TimestampInFuture);
    }
    if tags.is_empty() {
        return Err(if malformed {
            VerifyError::MalformedSignature
        } else {
            VerifyError::NoValidSignature
        });
    }
    let expected: Vec<[u8; TAG_LEN]> = secrets
        .iter()
        .map(|secret| tag(secret, timestamp, body))
        .collect();
    // Compare every pair without stopping early, so the time taken does not
    // tell which secret (if any) matched.
    let matched = tags.iter().fold(subtle::Choice::from(0), |acc, sent| {
        expected
            .iter()
            .fold(acc, |acc, want| acc | want.ct_eq(sent))
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::NoValidSignature)
    }
}

/// Whole seconds since the epoch: ASCII digits only.
fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    text.parse().map_err(|_| VerifyError::InvalidTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_endpoint_secret_one";
    const OTHER: &str = "whsec_test_endpoint_secret_two";
    const TS: i64 = 1_767_225_600;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn a_signed_delivery_verifies_at_the_edges_of_the_window() {
        let header = sign(SECRET, TS, BODY);
        assert!(header.starts_with(&format!("t={TS},v1=")));
        for now in [TS, TS + 300, TS - 300] {
            assert_eq!(verify(&[SECRET], Some(&header), BODY, now), Ok(()));
        }
    }

    #[test]
    fn the_signed_payload_is_timestamp_dot_body_keyed_by_the_secret_text() {
        // Independent computation of the documented scheme.
        let mut mac = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{TS}.").as_bytes());
        mac.update(BODY);
        let want = hex::encode(mac.finalize().into_bytes());
        assert_eq!(sign(SECRET, TS, BODY), format!("t={TS},v1={want}"));
    }

    #[test]
    fn a_wrong_secret_is_rejected() {
        let header = sign(OTHER, TS, BODY);
        assert_eq!(
            verify(&[SECRET], Some(&header), BODY, TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn a_stale_or_future_timestamp_is_rejected() {
        let header = sign(SECRET, TS, BODY);
        assert_eq!(
            verify(&[SECRET], Some(&header), BODY, TS + 301),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            verify(&[SECRET], Some(&header), BODY, TS - 301),
            Err(VerifyError::TimestampInFuture)
        );
    }

    #[test]
    fn rotation_accepts_any_active_secret_and_any_v1_entry() {
        let old = sign(OTHER, TS, BODY);
        let new = sign(SECRET, TS, BODY);
        let new_v1 = new.split_once(",v1=").unwrap().1;
        // Two v1 entries (old and new secret) plus a v0 entry to ignore.
        let both = format!("{old},v1={new_v1},v0=deadbeef");
        assert_eq!(verify(&[SECRET], Some(&both), BODY, TS), Ok(()));
        assert_eq!(verify(&[OTHER], Some(&both), BODY, TS), Ok(()));
        // Several active secrets on our side.
        assert_eq!(verify(&[OTHER, SECRET], Some(&new), BODY, TS), Ok(()));
        assert_eq!(
            verify(&[], Some(&new), BODY, TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn malformed_headers_are_named() {
        let cases = [
            ("", VerifyError::MissingHeader),
            ("v1=00", VerifyError::InvalidTimestamp),
            ("t=abc,v1=00", VerifyError::InvalidTimestamp),
            ("t=-5,v1=00", VerifyError::InvalidTimestamp),
            (&format!("t={TS},v1=zz"), VerifyError::MalformedSignature),
            (&format!("t={TS},v1=abcd"), VerifyError::MalformedSignature),
            (&format!("t={TS},garbage"), VerifyError::MalformedSignature),
            (&format!("t={TS},v0=abcd"), VerifyError::NoValidSignature),
        ];
        for (header, want) in cases {
            assert_eq!(
                verify(&[SECRET], Some(header), BODY, TS),
                Err(want.clone()),
                "{header}"
            );
        }
        assert_eq!(
            verify(&[SECRET], None, BODY, TS),
            Err(VerifyError::MissingHeader)
        );
        assert_eq!(VerifyError::MissingHeader.reason(), "missing_header");
    }

    #[test]
    fn a_malformed_v1_beside_a_valid_one_is_accepted() {
        let valid = sign(SECRET, TS, BODY);
        let header = format!("{valid},v1=nothex");
        assert_eq!(verify(&[SECRET], Some(&header), BODY, TS), Ok(()));
    }

    #[test]
    fn a_tampered_body_or_timestamp_is_rejected() {
        let header = sign(SECRET, TS, BODY);
        assert_eq!(
            verify(&[SECRET], Some(&header), br#"{"id":"evt_2"}"#, TS),
            Err(VerifyError::NoValidSignature)
        );
        let moved = header.replacen(&format!("t={TS}"), &format!("t={}", TS + 1), 1);
        assert_eq!(
            verify(&[SECRET], Some(&moved), BODY, TS),
            Err(VerifyError::NoValidSignature)
        );
    }
}
