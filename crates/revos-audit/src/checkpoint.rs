//! Signed checkpoints: an Ed25519 signature over a chain's head, so that a
//! chain rewritten (or cut short) by someone with database access, but
//! without the key, no longer matches what was signed.
//!
//! The signed message is the text
//! `revos-audit-checkpoint:v1:{tenant}:{seq}:{hash}` (see
//! [`checkpoint_message`]); the key comes from configuration as 32 bytes
//! in hex or base64 ([`signing_key_from_text`]).

use crate::AuditEntry;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// A signed statement that `tenant_id`'s chain had the entry `seq` with
/// hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    /// The tenant whose chain was signed.
    pub tenant_id: TenantId,
    /// The `seq` of the head that was signed.
    pub seq: u64,
    /// The head's `hash`.
    pub hash: String,
    /// When it was signed (microsecond precision; not part of the signature).
    pub signed_at: DateTime<Utc>,
    /// The Ed25519 signature of [`checkpoint_message`], base64 (standard, padded).
    pub signature: String,
    /// The signing key's id ([`key_id`]).
    pub key_id: String,
}

/// Why a checkpoint's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The checkpoint names another key than the one verifying it.
    #[error("signed by key `{found}`, not by the configured key `{expected}`")]
    UnknownKey {
        /// The configured key's id.
        expected: String,
        /// The key id the checkpoint names.
        found: String,
    },
    /// The signature is not valid base64 of 64 bytes.
    #[error("the signature is not base64 of 64 bytes")]
    MalformedSignature,
    /// The signature does not match the message and key.
    #[error("the signature does not match")]
    BadSignature,
}

/// Why a configured key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an Ed25519 key must be 32 bytes written as 64 hex digits or in base64: {0}")]
pub struct KeyError(String);

/// The text a checkpoint signs: `revos-audit-checkpoint:v1:{tenant}:{seq}:{hash}`.
pub fn checkpoint_message(tenant: TenantId, seq: u64, hash: &str) -> String {
    format!("revos-audit-checkpoint:v1:{tenant}:{seq}:{hash}")
}

/// A short public id of a key: the first 16 hex digits of the SHA-256 of
/// its 32 public bytes. It names the key in a checkpoint without
/// disclosing anything a verifier does not already hold.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex::encode(&digest[..8])
}

/// A checkpoint over `head`, the current last entry of its tenant's chain.
pub fn sign_checkpoint(
    key: &SigningKey,
    head: &AuditEntry,
    signed_at: DateTime<Utc>,
) -> Checkpoint {
    let message = checkpoint_message(head.tenant_id, head.seq, &head.hash);
    let signature = key.sign(message.as_bytes());
    Checkpoint {
        tenant_id: head.tenant_id,
        seq: head.seq,
        hash: head.hash.clone(),
        signed_at: signed_at.trunc_subsecs(6),
        signature: STANDARD.encode(signature.to_bytes()),
        key_id: key_id(&key.verifying_key()),
    }
}

/// Checks that `checkpoint` was signed by `key` over its own tenant, seq
/// and hash. (Whether those match the chain is [`crate::verify`]'s job.)
pub fn verify_checkpoint(
    checkpoint: &Checkpoint,
    key: &VerifyingKey,
) -> Result<(), CheckpointError> {
    let expected = key_id(key);
    if checkpoint.key_id != expected {
        return Err(CheckpointError::UnknownKey {
            expected,
            found: checkpoint.key_id.clone(),
        });
    }
    let bytes = STANDARD
        .decode(checkpoint.signature.as_bytes())
        .map_err(|_| CheckpointError::MalformedSignature)?;
    let signature =
        Signature::from_slice(&bytes).map_err(|_| CheckpointError::MalformedSignature)?;
    let message = checkpoint_message(checkpoint.tenant_id, checkpoint.seq, &checkpoint.hash);
    key.verify_strict(message.as_bytes(), &signature)
        .map_err(|_| CheckpointError::BadSignature)
}

/// The signing key in a configuration value: the 32-byte secret seed as 64
/// hex digits or as base64 (padded or not). Surrounding whitespace is
/// ignored.
pub fn signing_key_from_text(text: &str) -> Result<SigningKey, KeyError> {
    Ok(SigningKey::from_bytes(&key_bytes(text)?))
}

/// The verifying (public) key in a configuration value, written like
/// [`signing_key_from_text`]'s.
pub fn verifying_key_from_text(text: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_bytes(&key_bytes(text)?)
        .map_err(|_| KeyError("not a valid Ed25519 public key".into()))
}

fn key_bytes(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|e| KeyError(e.to_string()))?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .map_err(|_| KeyError("neither hex nor base64".into()))?
    };
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| KeyError(format!("got {} bytes", bytes.len())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tests::build_chain;

    pub(crate) fn signing_key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    #[test]
    fn a_signed_checkpoint_verifies() {
        let head = build_chain(3).remove(2);
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let cp = sign_checkpoint(&signing_key(), &head, at);
        assert_eq!((cp.seq, cp.hash.as_str()), (3, head.hash.as_str()));
        assert_eq!(cp.signed_at.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(
            verify_checkpoint(&cp, &signing_key().verifying_key()),
            Ok(())
        );
    }

    #[test]
    fn changing_what_was_signed_breaks_the_signature() {
        let head = build_chain(2).remove(1);
        let cp = sign_checkpoint(&signing_key(), &head, DateTime::UNIX_EPOCH);
        let key = signing_key().verifying_key();
        let mut seq = cp.clone();
        seq.seq = 1;
        let mut hash = cp.clone();
        hash.hash = "0".repeat(64);
        let mut tenant = cp.clone();
        tenant.tenant_id = TenantId::new_random();
        for bad in [seq, hash, tenant] {
            assert_eq!(
                verify_checkpoint(&bad, &key),
                Err(CheckpointError::BadSignature)
            );
        }
        let mut garbled = cp.clone();
        garbled.signature = "not base64!".into();
        assert_eq!(
            verify_checkpoint(&garbled, &key),
            Err(CheckpointError::MalformedSignature)
        );
    }

    #[test]
    fn another_key_is_refused_by_id() {
        let head = build_chain(1).remove(0);
        let cp = sign_checkpoint(&signing_key(), &head, DateTime::UNIX_EPOCH);
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(matches!(
            verify_checkpoint(&cp, &other),
            Err(CheckpointError::UnknownKey { .. })
        ));
        // Naming the other key's id does not help: the signature is checked.
        let mut renamed = cp;
        renamed.key_id = key_id(&other);
        assert_eq!(
            verify_checkpoint(&renamed, &other),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn the_message_is_the_documented_text() {
        let tenant: TenantId = "3f1c8a52-0b7e-4d1a-9a55-5a1f0b6b9c01".parse().unwrap();
        assert_eq!(
            checkpoint_message(tenant, 42, "ab"),
            "revos-audit-checkpoint:v1:3f1c8a52-0b7e-4d1a-9a55-5a1f0b6b9c01:42:ab"
        );
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let seed = [7u8; 32];
        let hex_text = hex::encode(seed);
        let b64 = STANDARD.encode(seed);
        let b64_no_pad = STANDARD_NO_PAD.encode(seed);
        for text in [hex_text.as_str(), b64.as_str(), b64_no_pad.as_str()] {
            let key = signing_key_from_text(&format!(" {text}\n")).unwrap();
            assert_eq!(key.to_bytes(), seed);
        }
        let public = hex::encode(signing_key().verifying_key().as_bytes());
        assert_eq!(
            verifying_key_from_text(&public).unwrap(),
            signing_key().verifying_key()
        );
        assert!(signing_key_from_text("abcd").is_err());
        assert!(signing_key_from_text("").is_err());
        assert!(signing_key_from_text(&"zz".repeat(32)).is_err());
    }
}
