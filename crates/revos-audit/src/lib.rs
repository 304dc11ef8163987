//! The pure core of the revos audit log: hash-chained entries, signed
//! checkpoints and the verification of a tenant's chain.
//!
//! Each tenant has one append-only chain. Entry `seq` (1, 2, 3, … without
//! gaps) carries the hash of entry `seq - 1` as its `prev_hash` (64 zeros,
//! [`GENESIS_HASH`], for the first) and its own
//! `hash = hex(SHA-256(prev_hash || canonical JSON of the entry))`, so
//! changing, removing or reordering any entry breaks every link after it.
//! Because anyone with write access to the database could recompute the
//! whole chain, a [`Checkpoint`] signs the head's hash with an Ed25519 key
//! the database never sees: rewriting history before a checkpoint, or
//! cutting the chain off after one, is then detected by [`verify`].
//!
//! The storage backends call [`chain`] inside the write transaction that
//! holds the tenant's head; the kernel streams a chain through a
//! [`Verifier`] and signs checkpoints with [`sign_checkpoint`]. Nothing
//! here touches a database or a clock: times are passed in.

mod canonical;
mod checkpoint;
mod verify;

pub use canonical::canonical_json;
pub use checkpoint::{
    Checkpoint, CheckpointError, KeyError, checkpoint_message, key_id, sign_checkpoint,
    signing_key_from_text, verify_checkpoint, verifying_key_from_text,
};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use verify::{Problem, Verifier, VerifyReport, verify};

use chrono::{DateTime, SubsecRound, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// The `prev_hash` of a chain's first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The longest `actor`, in characters.
pub const MAX_ACTOR_CHARS: usize = 200;
/// The longest `action`, in characters.
pub const MAX_ACTION_CHARS: usize = 100;
/// The longest `resource_type` or `resource_id`, in characters.
pub const MAX_RESOURCE_CHARS: usize = 200;
/// The largest `details` object, in bytes of canonical JSON.
pub const MAX_DETAILS_BYTES: usize = 64 * 1024;

/// One entry of a tenant's audit chain, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// The tenant whose chain this entry belongs to.
    pub tenant_id: TenantId,
    /// Position in the chain: 1 for the first entry, then without gaps.
    pub seq: u64,
    /// When the audited event happened (microsecond precision).
    pub occurred_at: DateTime<Utc>,
    /// Who did it: `key:rvs_ab12…`, `user:…`, `service:worker`, `system`.
    pub actor: String,
    /// What was done, dotted: `key.create`, `auth.failure`, `webhook.receive`.
    pub action: String,
    /// The kind of record acted on, if any.
    pub resource_type: Option<String>,
    /// The id of the record acted on, if any.
    pub resource_id: Option<String>,
    /// Further facts about the event (a JSON object).
    #[schema(value_type = Object)]
    pub details: Value,
    /// The `hash` of the previous entry ([`GENESIS_HASH`] for `seq` 1).
    pub prev_hash: String,
    /// `hex(SHA-256(prev_hash || canonical JSON of the entry))`, see [`hash_entry`].
    pub hash: String,
}

/// An event to append to a tenant's chain: an [`AuditEntry`] without its
/// place in the chain, which [`chain`] gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewAuditEntry {
    /// When the event happened; kept to the microsecond.
    pub occurred_at: DateTime<Utc>,
    /// Who did it (see [`AuditEntry::actor`]).
    pub actor: String,
    /// What was done (see [`AuditEntry::action`]).
    pub action: String,
    /// The kind of record acted on, if any.
    pub resource_type: Option<String>,
    /// The id of the record acted on, if any.
    pub resource_id: Option<String>,
    /// Further facts about the event: a JSON object (`null` is stored as `{}`).
    #[schema(value_type = Object)]
    pub details: Value,
}

/// Why a [`NewAuditEntry`] cannot be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEntry {
    /// A text field is empty, too long or holds a NUL character.
    #[error("audit entry field `{field}` {problem}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// `details` is not a JSON object.
    #[error("audit entry `details` must be a JSON object")]
    DetailsNotObject,
    /// `details` is larger than [`MAX_DETAILS_BYTES`].
    #[error("audit entry `details` is {0} bytes long; the limit is {MAX_DETAILS_BYTES}")]
    DetailsTooLarge(usize),
}

impl NewAuditEntry {
    /// Checks the rules every backend enforces before appending: `actor`
    /// and `action` are non-empty, text fields are within their limits and
    /// hold no NUL (PostgreSQL's text cannot), `details` is an object (or
    /// `null`) of at most [`MAX_DETAILS_BYTES`].
    pub fn check(&self) -> Result<(), InvalidEntry> {
        text_field("actor", &self.actor, MAX_ACTOR_CHARS, false)?;
        text_field("action", &self.action, MAX_ACTION_CHARS, false)?;
        if let Some(value) = &self.resource_type {
            text_field("resource_type", value, MAX_RESOURCE_CHARS, true)?;
        }
        if let Some(value) = &self.resource_id {
            text_field("resource_id", value, MAX_RESOURCE_CHARS, true)?;
        }
        match &self.details {
            Value::Null => Ok(()),
            details @ Value::Object(_) => {
                let len = canonical_json(details).len();
                if len > MAX_DETAILS_BYTES {
                    Err(InvalidEntry::DetailsTooLarge(len))
                } else {
                    Ok(())
                }
            }
            _ => Err(InvalidEntry::DetailsNotObject),
        }
    }
}

fn text_field(
    field: &'static str,
    value: &str,
    max_chars: usize,
    may_be_empty: bool,
) -> Result<(), InvalidEntry> {
    let problem = if !may_be_empty && value.is_empty() {
        "must not be empty".to_owned()
    } else if value.contains('\0') {
        "must not contain NUL characters".to_owned()
    } else {
        let chars = value.chars().count();
        if chars <= max_chars {
            return Ok(());
        }
        format!("is {chars} characters long; the limit is {max_chars}")
    };
    Err(InvalidEntry::Field { field, problem })
}

/// The entry that follows `prev` (the tenant's current head, or `None` for
/// an empty chain) in `tenant`'s chain: the next `seq`, `prev`'s hash as
/// `prev_hash`, and its own hash.
///
/// `occurred_at` is truncated to microseconds and a `null` `details`
/// becomes `{}`, so that the entry equals what both databases give back
/// and its hash verifies after a round trip. The caller passes the head it
/// read under the tenant's write lock, and checks the entry first
/// ([`NewAuditEntry::check`]).
pub fn chain(prev: Option<&AuditEntry>, new: NewAuditEntry, tenant: TenantId) -> AuditEntry {
    let (seq, prev_hash) = match prev {
        Some(head) => (head.seq + 1, head.hash.clone()),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let details = match new.details {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other,
    };
    let mut entry = AuditEntry {
        tenant_id: tenant,
        seq,
        occurred_at: new.occurred_at.trunc_subsecs(6),
        actor: new.actor,
        action: new.action,
        resource_type: new.resource_type,
        resource_id: new.resource_id,
        details,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = hash_entry(&entry);
    entry
}

/// The hash `entry` should carry:
/// `hex(SHA-256(prev_hash || canonical JSON of the entry))`.
///
/// `prev_hash` enters as its 64 hexadecimal characters (ASCII), so a
/// malformed stored value still hashes (and fails to match) instead of
/// failing to decode. "The entry" is the object of every other field:
/// `action`, `actor`, `details`, `occurred_at` (RFC 3339 UTC with six
/// fractional digits and `Z`), `resource_id`, `resource_type` (`null` when
/// absent), `seq` and `tenant_id` (hyphenated lower case), in
/// [`canonical_json`] form. The entry's own `hash` field is ignored.
pub fn hash_entry(entry: &AuditEntry) -> String {
    let body = serde_json::json!({
        "action": entry.action,
        "actor": entry.actor,
        "details": entry.details,
        "occurred_at": entry.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "resource_id": entry.resource_id,
        "resource_type": entry.resource_type,
        "seq": entry.seq,
        "tenant_id": entry.tenant_id.to_string(),
    });
    let mut hasher = Sha256::new();
    hasher.update(entry.prev_hash.as_bytes());
    hasher.update(canonical_json(&body).as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    pub(crate) fn tenant() -> TenantId {
        "3f1c8a52-0b7e-4d1a-9a55-5a1f0b6b9c01".parse().unwrap()
    }

    pub(crate) fn new_entry(i: u32) -> NewAuditEntry {
        NewAuditEntry {
            occurred_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
                + chrono::Duration::nanoseconds(i64::from(i) * 1_000_001),
            actor: format!("key:rvs_{i:04}"),
            action: if i.is_multiple_of(2) {
                "key.create"
            } else {
                "auth.failure"
            }
            .into(),
            resource_type: Some("api_key".into()),
            resource_id: (!i.is_multiple_of(3)).then(|| format!("k{i}")),
            details: json!({"n": i, "ip": "10.0.0.1", "nested": {"b": [1, 2.5], "a": null}}),
        }
    }

    /// A chain of `n` entries for [`tenant`].
    pub(crate) fn build_chain(n: u32) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 1..=n {
            let next = chain(entries.last(), new_entry(i), tenant());
            entries.push(next);
        }
        entries
    }

    #[test]
    fn the_first_entry_starts_from_genesis() {
        let entries = build_chain(1);
        assert_eq!(entries[0].seq, 1);
        assert_eq!(entries[0].prev_hash, GENESIS_HASH);
        assert_eq!(entries[0].hash.len(), 64);
        assert_eq!(entries[0].hash, hash_entry(&entries[0]));
    }

    #[test]
    fn entries_link_to_their_predecessor() {
        let entries = build_chain(5);
        for pair in entries.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq + 1);
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
    }

    #[test]
    fn chain_truncates_time_and_fills_empty_details() {
        let mut new = new_entry(1);
        new.occurred_at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        new.details = Value::Null;
        let entry = chain(None, new, tenant());
        assert_eq!(entry.occurred_at.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(entry.details, json!({}));
    }

    #[test]
    fn the_hash_is_sha256_of_prev_hash_and_canonical_json() {
        let entry = chain(
            None,
            NewAuditEntry {
                occurred_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
                actor: "system".into(),
                action: "tenant.create".into(),
                resource_type: None,
                resource_id: None,
                details: json!({"z": 1, "a": "x"}),
            },
            tenant(),
        );
        let text = format!(
            "{GENESIS_HASH}{{\"action\":\"tenant.create\",\"actor\":\"system\",\
             \"details\":{{\"a\":\"x\",\"z\":1}},\"occurred_at\":\"2025-01-02T03:04:05.000000Z\",\
             \"resource_id\":null,\"resource_type\":null,\"seq\":1,\
             \"tenant_id\":\"3f1c8a52-0b7e-4d1a-9a55-5a1f0b6b9c01\"}}"
        );
        assert_eq!(entry.hash, hex::encode(Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = build_chain(1).remove(0);
        let changes: [fn(&mut AuditEntry); 9] = [
            |e| e.tenant_id = TenantId::new_random(),
            |e| e.seq = 2,
            |e| e.occurred_at += chrono::Duration::microseconds(1),
            |e| e.actor.push('x'),
            |e| e.action.push('x'),
            |e| e.resource_type = None,
            |e| e.resource_id = Some("other".into()),
            |e| e.details = json!({"n": 2}),
            |e| e.prev_hash = "1".repeat(64),
        ];
        for change in changes {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(hash_entry(&changed), base.hash, "{changed:?}");
        }
    }

    #[test]
    fn the_hash_survives_a_json_round_trip() {
        let entry = build_chain(3).remove(2);
        let text = serde_json::to_string(&entry).unwrap();
        let back: AuditEntry = serde_json::from_str(&text).unwrap();
        assert_eq!(hash_entry(&back), entry.hash);
    }

    #[test]
    fn new_entries_are_checked() {
        assert_eq!(new_entry(1).check(), Ok(()));
        let mut empty_actor = new_entry(1);
        empty_actor.actor.clear();
        assert!(matches!(
            empty_actor.check(),
            Err(InvalidEntry::Field { field: "actor", .. })
        ));
        let mut long_action = new_entry(1);
        long_action.action = "a".repeat(MAX_ACTION_CHARS + 1);
        assert!(matches!(
            long_action.check(),
            Err(InvalidEntry::Field {
                field: "action",
                ..
            })
        ));
        let mut nul = new_entry(1);
        nul.resource_id = Some("a\0b".into());
        assert!(matches!(
            nul.check(),
            Err(InvalidEntry::Field {
                field: "resource_id",
                ..
            })
        ));
        let mut array = new_entry(1);
        array.details = json!([1]);
        assert_eq!(array.check(), Err(InvalidEntry::DetailsNotObject));
        let mut null = new_entry(1);
        null.details = Value::Null;
        assert_eq!(null.check(), Ok(()));
        let mut huge = new_entry(1);
        huge.details = json!({"x": "y".repeat(MAX_DETAILS_BYTES)});
        assert!(matches!(
            huge.check(),
            Err(InvalidEntry::DetailsTooLarge(_))
        ));
    }
}
