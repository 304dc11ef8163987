//! Signatures of inbound webhooks, after the [Standard Webhooks] scheme.
//!
//! A sender signs each delivery with a secret it shares with revos: the
//! `webhook-signature` header holds `v1,<base64>` entries, each the
//! HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the key
//! that follows `whsec_` in the secret. [`verify`] checks such a delivery on
//! its raw bytes, before anything parses them: the headers are present, the
//! timestamp is within [`TOLERANCE_SECS`] of `now` either way, and at least
//! one signature matches at least one of the given secrets (several secrets
//! are active while one is rotated out). [`sign`] is the sender's side, used
//! by tests and by tools that replay deliveries.
//!
//! This crate is pure: no database, HTTP or clock. The kernel's webhook use
//! case (`revos_kernel::webhooks`) loads the tenant's secrets, passes the
//! current time in and stores what verifies.
//!
//! Senders with a scheme of their own have a module each: [`stripe`]
//! (`Stripe-Signature`) and [`hubspot`] (HubSpot's v3 request signature).
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

pub mod hubspot;
pub mod stripe;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the delivery's unique id (the replay key).
pub const HEADER_ID: &str = "webhook-id";
/// The header carrying the signing time, in whole seconds since the epoch.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying the space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// How far, in seconds, a delivery's timestamp may lie before or after
/// `now`. Older deliveries are refused so that a captured request cannot be
/// replayed later; the bound also applies forward to absorb clock skew.
pub const TOLERANCE_SECS: i64 = 300;

/// The text every secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// The size in bytes of the keys [`Secret::generate`] makes.
pub const GENERATED_KEY_LEN: usize = 32;

/// The smallest key [`Secret::parse`] accepts (the spec's lower bound).
pub const MIN_KEY_LEN: usize = 24;

/// The largest key [`Secret::parse`] accepts (the spec's upper bound).
pub const MAX_KEY_LEN: usize = 64;

/// The only signature version this crate signs and accepts.
const VERSION: &str = "v1";

/// The length in bytes of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// A signing key shared with one webhook sender.
///
/// Written as `whsec_` followed by the base64 of the key. `Debug` never
/// shows the key, so a secret cannot leak into a log by accident;
/// [`Secret::to_whsec`] is the one way to get its text back.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

/// Why a text is not a usable secret, or a new one could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The text does not start with `whsec_`.
    #[error("a webhook secret starts with `whsec_`")]
    MissingPrefix,
    /// What follows `whsec_` is not standard base64.
    #[error("the part after `whsec_` is not valid base64")]
    InvalidBase64,
    /// The key is shorter or longer than the spec allows.
    #[error("the key is {0} bytes long; it must be 24 to 64 bytes")]
    InvalidLength(usize),
    /// The operating system's random source failed.
    #[error("no randomness available to make a secret: {0}")]
    Random(String),
}

impl Secret {
    /// Parses `whsec_<base64 key>`; the key must be 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = BASE64
            .decode(encoded)
            .map_err(|_| SecretError::InvalidBase64)?;
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
            return Err(SecretError::InvalidLength(key.len()));
        }
        Ok(Secret { key })
    }

    /// A secret with the given key bytes: how a caller with its own random
    /// source (or a test with fixed bytes) makes one.
    pub fn from_key(key: [u8; GENERATED_KEY_LEN]) -> Secret {
        Secret { key: key.to_vec() }
    }

    /// A new secret of [`GENERATED_KEY_LEN`] random bytes from the
    /// operating system.
    pub fn generate() -> Result<Secret, SecretError> {
        let mut key = [0u8; GENERATED_KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(Secret::from_key(key))
    }

    /// The secret's text, `whsec_<base64 key>`: to show once to whoever
    /// configures the sender, or to store.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.key))
    }

    /// The HMAC-SHA256 of `{msg_id}.{timestamp}.{body}` under this key.
    fn tag(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; TAG_LEN] {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

/// The three Standard Webhooks headers of one delivery, as received.
///
/// A header that is absent (or empty) is `None`; [`verify`] names it in
/// [`VerifyError::MissingHeader`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `webhook-id`: the delivery's unique id, the same on every retry.
    pub id: Option<String>,
    /// `webhook-timestamp`: seconds since the epoch, as text.
    pub timestamp: Option<String>,
    /// `webhook-signature`: space-separated `v1,<base64>` entries.
    pub signature: Option<String>,
}

impl WebhookHeaders {
    /// Reads the three headers through `get`, which looks a header up by
    /// its lower-case name (an HTTP header map, for instance).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> WebhookHeaders {
        WebhookHeaders {
            id: get(HEADER_ID),
            timestamp: get(HEADER_TIMESTAMP),
            signature: get(HEADER_SIGNATURE),
        }
    }
}

/// Why a delivery is refused. The messages say what is wrong with the
/// request, never what the signature should have been.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent or empty; the value is its name.
    #[error("the `{0}` header is missing")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a whole number of seconds.
    #[error("`webhook-timestamp` is not a whole number of seconds since the epoch")]
    InvalidTimestamp,
    /// The delivery was signed more than [`TOLERANCE_SECS`] ago.
    #[error("`webhook-timestamp` is more than 300 s in the past")]
    TimestampTooOld,
    /// The delivery claims to be signed more than [`TOLERANCE_SECS`] from now.
    #[error("`webhook-timestamp` is more than 300 s in the future")]
    TimestampInFuture,
    /// Well-formed `v1` signatures were sent, but none matches a secret
    /// (or the header holds no `v1` signature at all).
    #[error("no signature in `webhook-signature` matches a secret of this source")]
    NoValidSignature,
    /// No entry of `webhook-signature` is a well-formed `v1,<base64>` of a
    /// 32-byte HMAC-SHA256 (empty, truncated or not base64).
    #[error("`webhook-signature` holds no well-formed `v1,<base64>` signature")]
    MalformedSignature,
}

impl VerifyError {
    /// A stable, machine-readable name of the reason (`missing_header`,
    /// `timestamp_too_old`, …), for error details and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::InvalidTimestamp => "invalid_timestamp",
            VerifyError::TimestampTooOld => "timestamp_too_old",
            VerifyError::TimestampInFuture => "timestamp_in_future",
            VerifyError::NoValidSignature => "no_valid_signature",
            VerifyError::MalformedSignature => "malformed_signature",
        }
    }
}

/// The `webhook-signature` value for a delivery: `v1,<base64 HMAC>`.
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "{VERSION},{}",
        BASE64.encode(secret.tag(msg_id, timestamp, body))
    )
}

/// Checks a delivery against the active secrets of its source, on the raw
/// body bytes, at time `now` (seconds since the epoch).
///
/// Accepted when every header is present, the timestamp lies within
/// [`TOLERANCE_SECS`] of `now` either way, and some `v1` entry of the
/// signature header equals the HMAC under some secret. Entries of other
/// versions are ignored; a malformed entry does not spoil a valid one
/// beside it. Tags are compared in constant time.
pub fn verify(
    secrets: &[Secret],
    headers: &WebhookHeaders,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let id = required(&headers.id, HEADER_ID)?;
    let timestamp = required(&headers.timestamp, HEADER_TIMESTAMP)?;
    let signature = required(&headers.signature, HEADER_SIGNATURE)?;

    let timestamp = parse_timestamp(timestamp)?;
    if now.saturating_sub(timestamp) > TOLERANCE_SECS {
        return Err(VerifyError::TimestampTooOld);
    }
    if timestamp.saturating_sub(now) > TOLERANCE_SECS {
        return Err(VerifyError::TimestampInFuture);
    }

    // One HMAC per secret, however many entries the header lists.
    let expected: Vec<[u8; TAG_LEN]> = secrets
        .iter()
        .map(|secret| secret.tag(id, timestamp, body))
        .collect();

    let mut well_formed = false;
    let mut malformed = false;
    for entry in signature.split_whitespace() {
        let Some((version, encoded)) = entry.split_once(',') else {
            malformed = true;
            continue;
        };
        if version != VERSION {
            continue;
        }
        let tag = match BASE64.decode(encoded) {
            Ok(tag) if tag.len() == TAG_LEN => tag,
            _ => {
                malformed = true;
                continue;
            }
        };
        well_formed = true;
        // Compare against every secret without stopping early, so the time
        // taken does not tell which secret (if any) matched.
        let matched = expected
            .iter()
            .fold(subtle::Choice::from(0), |acc, want| acc | want.ct_eq(&tag));
        if bool::from(matched) {
            return Ok(());
        }
    }
    if malformed && !well_formed {
        Err(VerifyError::MalformedSignature)
    } else {
        Err(VerifyError::NoValidSignature)
    }
}

/// The header's value, unless it is absent or blank.
fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, VerifyError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(VerifyError::MissingHeader(name)),
    }
}

/// Whole seconds since the epoch: ASCII digits only (no sign, no fraction).
fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    text.parse().map_err(|_| VerifyError::InvalidTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_secret() -> Secret {
        Secret::parse(SPEC_SECRET).unwrap()
    }

    fn headers(id: &str, ts: i64, signature: &str) -> WebhookHeaders {
        WebhookHeaders {
            id: Some(id.into()),
            timestamp: Some(ts.to_string()),
            signature: Some(signature.into()),
        }
    }

    fn spec_headers() -> WebhookHeaders {
        headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE)
    }

    #[test]
    fn spec_vector_signs_to_the_published_signature() {
        assert_eq!(
            sign(&spec_secret(), SPEC_ID, SPEC_TS, SPEC_BODY),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn spec_vector_verifies() {
        assert_eq!(
            verify(&[spec_secret()], &spec_headers(), SPEC_BODY, SPEC_TS),
            Ok(())
        );
    }

    #[test]
    fn timestamps_at_the_tolerance_are_accepted() {
        let secrets = [spec_secret()];
        assert_eq!(
            verify(&secrets, &spec_headers(), SPEC_BODY, SPEC_TS + 300),
            Ok(())
        );
        assert_eq!(
            verify(&secrets, &spec_headers(), SPEC_BODY, SPEC_TS - 300),
            Ok(())
        );
    }

    #[test]
    fn a_timestamp_301_s_old_is_rejected() {
        assert_eq!(
            verify(&[spec_secret()], &spec_headers(), SPEC_BODY, SPEC_TS + 301),
            Err(VerifyError::TimestampTooOld)
        );
    }

    #[test]
    fn a_timestamp_301_s_ahead_is_rejected() {
        assert_eq!(
            verify(&[spec_secret()], &spec_headers(), SPEC_BODY, SPEC_TS - 301),
            Err(VerifyError::TimestampInFuture)
        );
    }

    #[test]
    fn a_tampered_body_is_rejected() {
        assert_eq!(
            verify(
                &[spec_secret()],
                &spec_headers(),
                br#"{"test": 2432232315}"#,
                SPEC_TS
            ),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn a_tampered_id_or_timestamp_is_rejected() {
        let secrets = [spec_secret()];
        let other_id = headers("msg_other", SPEC_TS, SPEC_SIGNATURE);
        assert_eq!(
            verify(&secrets, &other_id, SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoValidSignature)
        );
        let other_ts = headers(SPEC_ID, SPEC_TS + 1, SPEC_SIGNATURE);
        assert_eq!(
            verify(&secrets, &other_ts, SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn a_wrong_secret_is_rejected() {
        let wrong = Secret::from_key([7; GENERATED_KEY_LEN]);
        assert_eq!(
            verify(&[wrong], &spec_headers(), SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn no_secret_verifies_nothing() {
        assert_eq!(
            verify(&[], &spec_headers(), SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        let secrets = [spec_secret()];
        let cases = [
            (
                WebhookHeaders {
                    id: None,
                    ..spec_headers()
                },
                HEADER_ID,
            ),
            (
                WebhookHeaders {
                    timestamp: None,
                    ..spec_headers()
                },
                HEADER_TIMESTAMP,
            ),
            (
                WebhookHeaders {
                    signature: None,
                    ..spec_headers()
                },
                HEADER_SIGNATURE,
            ),
            (
                WebhookHeaders {
                    signature: Some("  ".into()),
                    ..spec_headers()
                },
                HEADER_SIGNATURE,
            ),
        ];
        for (headers, name) in cases {
            assert_eq!(
                verify(&secrets, &headers, SPEC_BODY, SPEC_TS),
                Err(VerifyError::MissingHeader(name))
            );
        }
        assert_eq!(
            verify(&secrets, &WebhookHeaders::default(), SPEC_BODY, SPEC_TS),
            Err(VerifyError::MissingHeader(HEADER_ID))
        );
    }

    #[test]
    fn a_timestamp_that_is_not_whole_seconds_is_rejected() {
        let secrets = [spec_secret()];
        for ts in [
            "abc",
            "1614265330.5",
            "-1614265330",
            "+1614265330",
            "99999999999999999999",
        ] {
            let headers = WebhookHeaders {
                timestamp: Some(ts.into()),
                ..spec_headers()
            };
            assert_eq!(
                verify(&secrets, &headers, SPEC_BODY, SPEC_TS),
                Err(VerifyError::InvalidTimestamp),
                "{ts}"
            );
        }
    }

    #[test]
    fn an_empty_v1_signature_is_rejected() {
        let headers = headers(SPEC_ID, SPEC_TS, "v1,");
        assert_eq!(
            verify(&[spec_secret()], &headers, SPEC_BODY, SPEC_TS),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn a_truncated_v1_signature_is_rejected() {
        let secrets = [spec_secret()];
        // Cut at a base64 boundary (valid base64, too short) and mid-group.
        for truncated in [
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJE",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
            "v1,g0hM9SsE",
            "v1",
        ] {
            let headers = headers(SPEC_ID, SPEC_TS, truncated);
            assert_eq!(
                verify(&secrets, &headers, SPEC_BODY, SPEC_TS),
                Err(VerifyError::MalformedSignature),
                "{truncated}"
            );
        }
    }

    #[test]
    fn other_versions_are_ignored() {
        let secrets = [spec_secret()];
        let only_other = headers(
            SPEC_ID,
            SPEC_TS,
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        assert_eq!(
            verify(&secrets, &only_other, SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoValidSignature)
        );
        let mixed = headers(SPEC_ID, SPEC_TS, &format!("v2,abc {SPEC_SIGNATURE}"));
        assert_eq!(verify(&secrets, &mixed, SPEC_BODY, SPEC_TS), Ok(()));
    }

    #[test]
    fn three_signatures_with_one_valid_are_accepted() {
        let other_a = Secret::from_key([1; GENERATED_KEY_LEN]);
        let other_b = Secret::from_key([2; GENERATED_KEY_LEN]);
        let list = format!(
            "{} {} {}",
            sign(&other_a, SPEC_ID, SPEC_TS, SPEC_BODY),
            SPEC_SIGNATURE,
            sign(&other_b, SPEC_ID, SPEC_TS, SPEC_BODY),
        );
        let headers = headers(SPEC_ID, SPEC_TS, &list);
        assert_eq!(
            verify(&[spec_secret()], &headers, SPEC_BODY, SPEC_TS),
            Ok(())
        );
    }

    #[test]
    fn a_malformed_entry_beside_a_valid_one_is_accepted() {
        let list = format!("v1, v1,abc {SPEC_SIGNATURE}");
        let headers = headers(SPEC_ID, SPEC_TS, &list);
        assert_eq!(
            verify(&[spec_secret()], &headers, SPEC_BODY, SPEC_TS),
            Ok(())
        );
    }

    #[test]
    fn a_malformed_entry_beside_a_wrong_one_is_no_valid_signature() {
        let wrong = sign(&Secret::from_key([9; 32]), SPEC_ID, SPEC_TS, SPEC_BODY);
        let headers = headers(SPEC_ID, SPEC_TS, &format!("v1, {wrong}"));
        assert_eq!(
            verify(&[spec_secret()], &headers, SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn any_of_several_secrets_may_match_during_rotation() {
        let old = spec_secret();
        let new = Secret::from_key([3; GENERATED_KEY_LEN]);
        let signed_with_new = headers(SPEC_ID, SPEC_TS, &sign(&new, SPEC_ID, SPEC_TS, SPEC_BODY));
        let both = [old.clone(), new.clone()];
        assert_eq!(verify(&both, &spec_headers(), SPEC_BODY, SPEC_TS), Ok(()));
        assert_eq!(verify(&both, &signed_with_new, SPEC_BODY, SPEC_TS), Ok(()));
        assert_eq!(
            verify(&[old], &signed_with_new, SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoValidSignature)
        );
    }

    #[test]
    fn errors_never_show_the_expected_signature() {
        let expected = SPEC_SIGNATURE.trim_start_matches("v1,");
        let wrong = headers(
            SPEC_ID,
            SPEC_TS,
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        );
        let err = verify(&[spec_secret()], &wrong, SPEC_BODY, SPEC_TS).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(expected), "{shown}");
        assert_eq!(err.reason(), "no_valid_signature");
    }

    #[test]
    fn secrets_parse_and_round_trip() {
        assert_eq!(spec_secret().to_whsec(), SPEC_SECRET);
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::MissingPrefix)
        );
        assert_eq!(
            Secret::parse("whsec_not base64!"),
            Err(SecretError::InvalidBase64)
        );
        assert_eq!(
            Secret::parse("whsec_AAAA"),
            Err(SecretError::InvalidLength(3))
        );
    }

    #[test]
    fn generated_secrets_are_32_random_bytes_and_parse_back() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a, b);
        let text = a.to_whsec();
        assert!(text.starts_with(SECRET_PREFIX));
        let back = Secret::parse(&text).unwrap();
        assert_eq!(back.key.len(), GENERATED_KEY_LEN);
        assert_eq!(back, a);
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", spec_secret()), "Secret(whsec_…)");
    }
}
