//! Verification of a tenant's chain against its signed checkpoints.
//!
//! A [`Verifier`] takes the entries in `seq` order, one at a time (so the
//! kernel can stream a long chain page by page), and stops at the first
//! entry that is wrong; [`verify`] runs one over a whole iterator. The
//! checks, in the order they are made for each entry:
//!
//! 1. `seq` is the next one (1, 2, 3, …): a deleted row is a [`Problem::Gap`];
//! 2. the entry belongs to the chain's tenant;
//! 3. `prev_hash` is the previous entry's `hash` (rows swapped or
//!    re-linked: [`Problem::PrevHashMismatch`]);
//! 4. `hash` is [`crate::hash_entry`] of the entry (contents changed:
//!    [`Problem::HashMismatch`]);
//! 5. a checkpoint at this `seq` is signed by the key and names this hash
//!    (history rewritten and re-hashed: [`Problem::CheckpointMismatch`]).
//!
//! At the end, a checkpoint beyond the last entry means the chain was cut
//! short after it: [`Problem::Truncated`].

use crate::checkpoint::{CheckpointError, verify_checkpoint};
use crate::{AuditEntry, Checkpoint, GENESIS_HASH, hash_entry};
use ed25519_dalek::VerifyingKey;
use revos_contracts::TenantId;
use serde::Serialize;
use std::collections::VecDeque;
use utoipa::ToSchema;

/// The outcome of verifying a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum VerifyReport {
    /// Every entry and checkpoint holds.
    Ok {
        /// Entries checked.
        entries: u64,
        /// The `seq` of the last entry (0 for an empty chain).
        last_seq: u64,
        /// Checkpoints whose signature and hash were checked.
        checkpoints_checked: u64,
    },
    /// The chain is broken; `seq` is the first entry that is wrong.
    Broken {
        /// The first bad `seq` (for a gap or a truncation: the first
        /// missing one).
        seq: u64,
        /// What is wrong there.
        problem: Problem,
        /// The same, in a sentence for a person.
        message: String,
    },
}

impl VerifyReport {
    /// True for [`VerifyReport::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, VerifyReport::Ok { .. })
    }
}

/// What is wrong at the first bad entry of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// Entries are missing (or out of order): `found` came where
    /// `expected` should have.
    Gap {
        /// The `seq` that should come next.
        expected: u64,
        /// The `seq` that came.
        found: u64,
    },
    /// The entry belongs to another tenant's chain.
    WrongTenant {
        /// The chain's tenant.
        expected: TenantId,
        /// The entry's tenant.
        found: TenantId,
    },
    /// `prev_hash` is not the previous entry's hash.
    PrevHashMismatch {
        /// The previous entry's hash.
        expected: String,
        /// The entry's `prev_hash`.
        found: String,
    },
    /// The stored `hash` is not the hash of the entry's contents.
    HashMismatch {
        /// The hash stored with the entry.
        stored: String,
        /// The hash of its contents.
        computed: String,
    },
    /// A checkpoint at this `seq` names another hash or tenant than the
    /// entry's (or there is no entry for it).
    CheckpointMismatch {
        /// The hash the checkpoint signed.
        checkpoint_hash: String,
        /// The entry's hash, if there is an entry.
        entry_hash: Option<String>,
    },
    /// The checkpoint's signature does not match.
    BadCheckpointSignature {
        /// The checkpoint's `seq`.
        seq: u64,
    },
    /// The checkpoint was signed by another key than the configured one.
    UnknownCheckpointKey {
        /// The checkpoint's `seq`.
        seq: u64,
        /// The key id it names.
        key_id: String,
    },
    /// The chain ends before a signed checkpoint: entries were removed.
    Truncated {
        /// The `seq` the checkpoint signed.
        checkpoint_seq: u64,
        /// The chain's last `seq`.
        last_seq: u64,
    },
}

/// Checks a chain one entry at a time; see the module documentation.
#[derive(Debug)]
pub struct Verifier<'k> {
    key: Option<&'k VerifyingKey>,
    checkpoints: VecDeque<Checkpoint>,
    tenant: Option<TenantId>,
    next_seq: u64,
    prev_hash: String,
    checkpoints_checked: u64,
    broken: Option<VerifyReport>,
}

impl<'k> Verifier<'k> {
    /// A verifier that also checks `checkpoints` (in any order) against
    /// `key`.
    pub fn new(checkpoints: &[Checkpoint], key: &'k VerifyingKey) -> Self {
        let mut sorted = checkpoints.to_vec();
        sorted.sort_by_key(|cp| cp.seq);
        Verifier {
            key: Some(key),
            checkpoints: sorted.into(),
            ..Verifier::chain_only()
        }
    }

    /// A verifier of the hash chain alone, without checkpoints: it detects
    /// any change that was not followed by re-hashing the rest of the
    /// chain, but not a re-hashed rewrite or a cut-off tail.
    pub fn chain_only() -> Self {
        Verifier {
            key: None,
            checkpoints: VecDeque::new(),
            tenant: None,
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            checkpoints_checked: 0,
            broken: None,
        }
    }

    /// Requires every entry and checkpoint to belong to `tenant` (otherwise
    /// the first entry's tenant is the chain's).
    pub fn expect_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Checks the next entry. Returns false once the chain is broken
    /// (further entries are then ignored).
    pub fn push(&mut self, entry: &AuditEntry) -> bool {
        if self.broken.is_none()
            && let Err(report) = self.check(entry)
        {
            self.broken = Some(report);
        }
        self.broken.is_none()
    }

    /// True once a problem was found.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The report, after the last entry.
    pub fn finish(mut self) -> VerifyReport {
        if let Some(report) = self.broken.take() {
            return report;
        }
        let last_seq = self.next_seq - 1;
        if let Some(cp) = self.checkpoints.pop_front() {
            if let Err(report) = self.check_checkpoint_signature(&cp) {
                return report;
            }
            if let Some(tenant) = self.tenant
                && cp.tenant_id != tenant
            {
                return mismatch(&cp, None);
            }
            return broken(
                last_seq + 1,
                Problem::Truncated {
                    checkpoint_seq: cp.seq,
                    last_seq,
                },
                format!(
                    "the chain ends at entry {last_seq}, but checkpoint {} was signed: \
                     entries after {last_seq} were removed",
                    cp.seq
                ),
            );
        }
        VerifyReport::Ok {
            entries: last_seq,
            last_seq,
            checkpoints_checked: self.checkpoints_checked,
        }
    }

    fn check(&mut self, entry: &AuditEntry) -> Result<(), VerifyReport> {
        let seq = self.next_seq;
        if entry.seq != seq {
            let message = if entry.seq > seq {
                format!(
                    "entry {seq} is missing: the chain goes from {} to {}",
                    seq - 1,
                    entry.seq
                )
            } else {
                format!("entry {} comes again where {seq} should", entry.seq)
            };
            return Err(broken(
                seq,
                Problem::Gap {
                    expected: seq,
                    found: entry.seq,
                },
                message,
            ));
        }
        let tenant = *self.tenant.get_or_insert(entry.tenant_id);
        if entry.tenant_id != tenant {
            return Err(broken(
                seq,
                Problem::WrongTenant {
                    expected: tenant,
                    found: entry.tenant_id,
                },
                format!(
                    "entry {seq} belongs to tenant {}, not {tenant}",
                    entry.tenant_id
                ),
            ));
        }
        if entry.prev_hash != self.prev_hash {
            return Err(broken(
                seq,
                Problem::PrevHashMismatch {
                    expected: self.prev_hash.clone(),
                    found: entry.prev_hash.clone(),
                },
                format!(
                    "entry {seq}'s prev_hash is not the hash of {}: rows were swapped, \
                     removed or re-linked",
                    if seq == 1 {
                        "the genesis".to_owned()
                    } else {
                        format!("entry {}", seq - 1)
                    }
                ),
            ));
        }
        let computed = hash_entry(entry);
        if entry.hash != computed {
            return Err(broken(
                seq,
                Problem::HashMismatch {
                    stored: entry.hash.clone(),
                    computed,
                },
                format!("entry {seq}'s contents do not match its hash: it was changed"),
            ));
        }
        while self.checkpoints.front().is_some_and(|cp| cp.seq <= seq) {
            let Some(cp) = self.checkpoints.pop_front() else {
                break;
            };
            self.check_checkpoint_signature(&cp)?;
            if cp.seq < seq {
                // Only a checkpoint at seq 0 can be left behind.
                return Err(mismatch(&cp, None));
            }
            if cp.tenant_id != tenant || cp.hash != entry.hash {
                return Err(mismatch(&cp, Some(&entry.hash)));
            }
            self.checkpoints_checked += 1;
        }
        self.prev_hash.clone_from(&entry.hash);
        self.next_seq += 1;
        Ok(())
    }

    fn check_checkpoint_signature(&self, cp: &Checkpoint) -> Result<(), VerifyReport> {
        let Some(key) = self.key else {
            return Ok(());
        };
        match verify_checkpoint(cp, key) {
            Ok(()) => Ok(()),
            Err(CheckpointError::UnknownKey { expected, found }) => Err(broken(
                cp.seq,
                Problem::UnknownCheckpointKey {
                    seq: cp.seq,
                    key_id: found.clone(),
                },
                format!(
                    "checkpoint {} was signed by key `{found}`, not by the configured key \
                     `{expected}`",
                    cp.seq
                ),
            )),
            Err(err) => Err(broken(
                cp.seq,
                Problem::BadCheckpointSignature { seq: cp.seq },
                format!("checkpoint {}'s signature is invalid: {err}", cp.seq),
            )),
        }
    }
}

fn broken(seq: u64, problem: Problem, message: String) -> VerifyReport {
    VerifyReport::Broken {
        seq,
        problem,
        message,
    }
}

fn mismatch(cp: &Checkpoint, entry_hash: Option<&str>) -> VerifyReport {
    broken(
        cp.seq,
        Problem::CheckpointMismatch {
            checkpoint_hash: cp.hash.clone(),
            entry_hash: entry_hash.map(str::to_owned),
        },
        format!(
            "checkpoint {} (tenant {}) does not match entry {}: the chain was rewritten",
            cp.seq, cp.tenant_id, cp.seq
        ),
    )
}

/// Verifies a whole chain (entries in `seq` order) against its
/// checkpoints, signed with `key`.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    checkpoints: &[Checkpoint],
    key: &VerifyingKey,
) -> VerifyReport {
    let mut verifier = Verifier::new(checkpoints, key);
    for entry in entries {
        if !verifier.push(entry) {
            break;
        }
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::signing_key;
    use crate::tests::{build_chain, new_entry, tenant};
    use crate::{chain, sign_checkpoint};
    use chrono::DateTime;
    use ed25519_dalek::SigningKey;

    fn key() -> VerifyingKey {
        signing_key().verifying_key()
    }

    fn checkpoint_at(entries: &[AuditEntry], seq: u64) -> Checkpoint {
        let head = &entries[usize::try_from(seq - 1).unwrap()];
        sign_checkpoint(&signing_key(), head, DateTime::UNIX_EPOCH)
    }

    /// The bad seq and problem of a report, or a panic if it is OK.
    fn failure(report: VerifyReport) -> (u64, Problem) {
        match report {
            VerifyReport::Broken { seq, problem, .. } => (seq, problem),
            ok => panic!("expected a broken chain, got {ok:?}"),
        }
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let entries = build_chain(10);
        let cps = [checkpoint_at(&entries, 4), checkpoint_at(&entries, 10)];
        assert_eq!(
            verify(&entries, &cps, &key()),
            VerifyReport::Ok {
                entries: 10,
                last_seq: 10,
                checkpoints_checked: 2
            }
        );
    }

    #[test]
    fn an_empty_chain_verifies() {
        assert_eq!(
            verify(&[], &[], &key()),
            VerifyReport::Ok {
                entries: 0,
                last_seq: 0,
                checkpoints_checked: 0
            }
        );
    }

    #[test]
    fn a_flipped_byte_is_a_hash_mismatch_at_its_seq() {
        let mut entries = build_chain(8);
        entries[4].details["ip"] = "10.0.0.2".into();
        let (seq, problem) = failure(verify(&entries, &[], &key()));
        assert_eq!(seq, 5);
        assert!(
            matches!(problem, Problem::HashMismatch { .. }),
            "{problem:?}"
        );

        let mut entries = build_chain(8);
        entries[2].actor = entries[2].actor.replace('0', "1");
        assert_eq!(failure(verify(&entries, &[], &key())).0, 3);
    }

    #[test]
    fn a_deleted_row_is_a_gap_at_the_missing_seq() {
        let mut entries = build_chain(8);
        entries.remove(5);
        let (seq, problem) = failure(verify(&entries, &[], &key()));
        assert_eq!(seq, 6);
        assert_eq!(
            problem,
            Problem::Gap {
                expected: 6,
                found: 7
            }
        );
        let mut first_gone = build_chain(3);
        first_gone.remove(0);
        assert_eq!(failure(verify(&first_gone, &[], &key())).0, 1);
    }

    #[test]
    fn swapped_rows_are_detected_at_the_first_of_them() {
        // Contents swapped, seqs kept in place (the rows' order by seq).
        let mut entries = build_chain(8);
        let (a, b) = (entries[2].clone(), entries[3].clone());
        entries[2] = AuditEntry { seq: 3, ..b };
        entries[3] = AuditEntry { seq: 4, ..a };
        let (seq, problem) = failure(verify(&entries, &[], &key()));
        assert_eq!(seq, 3);
        assert!(
            matches!(problem, Problem::PrevHashMismatch { .. }),
            "{problem:?}"
        );
        // Rows handed over out of order.
        let mut entries = build_chain(8);
        entries.swap(2, 3);
        assert_eq!(
            failure(verify(&entries, &[], &key())),
            (
                3,
                Problem::Gap {
                    expected: 3,
                    found: 4
                }
            )
        );
    }

    #[test]
    fn an_altered_prev_hash_is_detected_at_its_seq() {
        let mut entries = build_chain(8);
        entries[6].prev_hash = "f".repeat(64);
        let (seq, problem) = failure(verify(&entries, &[], &key()));
        assert_eq!(seq, 7);
        assert!(
            matches!(problem, Problem::PrevHashMismatch { .. }),
            "{problem:?}"
        );
    }

    #[test]
    fn a_rehashed_rewrite_is_caught_by_the_checkpoint() {
        let entries = build_chain(8);
        let cps = [checkpoint_at(&entries, 6)];
        // Rewrite entry 3 and re-hash everything after it, as someone with
        // database access but without the key could.
        let mut forged: Vec<AuditEntry> = entries[..2].to_vec();
        for i in 3..=8 {
            let mut new = new_entry(i);
            if i == 3 {
                new.actor = "user:mallory".into();
            }
            let next = chain(forged.last(), new, tenant());
            forged.push(next);
        }
        assert!(verify(&forged, &[], &key()).is_ok());
        let (seq, problem) = failure(verify(&forged, &cps, &key()));
        assert_eq!(seq, 6);
        assert!(
            matches!(problem, Problem::CheckpointMismatch { .. }),
            "{problem:?}"
        );
    }

    #[test]
    fn truncation_after_a_checkpoint_is_detected() {
        let entries = build_chain(10);
        let cps = [checkpoint_at(&entries, 3), checkpoint_at(&entries, 8)];
        let (seq, problem) = failure(verify(&entries[..6], &cps, &key()));
        assert_eq!(seq, 7);
        assert_eq!(
            problem,
            Problem::Truncated {
                checkpoint_seq: 8,
                last_seq: 6
            }
        );
        // Cutting after the last checkpoint is not detectable, by design.
        assert!(verify(&entries[..8], &cps, &key()).is_ok());
        // Everything gone.
        assert_eq!(
            failure(verify(&[], &cps, &key())).1,
            Problem::Truncated {
                checkpoint_seq: 3,
                last_seq: 0
            }
        );
    }

    #[test]
    fn forged_checkpoints_are_refused() {
        let entries = build_chain(5);
        let mut cp = checkpoint_at(&entries, 4);
        cp.signature = checkpoint_at(&entries, 5).signature;
        assert_eq!(
            failure(verify(&entries, &[cp], &key())),
            (4, Problem::BadCheckpointSignature { seq: 4 })
        );
        // Signed by another key.
        let other = SigningKey::from_bytes(&[9; 32]);
        let foreign = sign_checkpoint(&other, &entries[1], DateTime::UNIX_EPOCH);
        let (seq, problem) = failure(verify(&entries, &[foreign], &key()));
        assert_eq!(seq, 2);
        assert!(
            matches!(problem, Problem::UnknownCheckpointKey { seq: 2, .. }),
            "{problem:?}"
        );
        // A forged checkpoint beyond the end is not taken as truncation.
        let beyond = Checkpoint {
            seq: 9,
            ..checkpoint_at(&entries, 5)
        };
        assert_eq!(
            failure(verify(&entries, &[beyond], &key())),
            (9, Problem::BadCheckpointSignature { seq: 9 })
        );
    }

    #[test]
    fn entries_of_another_tenant_are_refused() {
        let mut entries = build_chain(3);
        let other = TenantId::new_random();
        let mut verifier = Verifier::chain_only().expect_tenant(other);
        assert!(!verifier.push(&entries[0]));
        assert!(verifier.is_broken());
        assert!(matches!(
            failure(verifier.finish()).1,
            Problem::WrongTenant { .. }
        ));
        entries[1].tenant_id = other;
        assert!(matches!(
            failure(verify(&entries, &[], &key())),
            (2, Problem::WrongTenant { .. })
        ));
    }

    #[test]
    fn the_verifier_streams_and_stops_at_the_first_problem() {
        let mut entries = build_chain(6);
        entries[1].details["n"] = 99.into();
        entries[4].details["n"] = 99.into();
        let mut verifier = Verifier::chain_only();
        let results: Vec<bool> = entries.iter().map(|e| verifier.push(e)).collect();
        assert_eq!(results, [true, false, false, false, false, false]);
        assert_eq!(failure(verifier.finish()).0, 2);
    }

    #[test]
    fn reports_serialize_with_their_kind() {
        let entries = build_chain(3);
        let report = verify(&entries[..1], &[checkpoint_at(&entries, 3)], &key());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "broken");
        assert_eq!(json["seq"], 2);
        assert_eq!(json["problem"]["kind"], "truncated");
        assert_eq!(json["problem"]["checkpoint_seq"], 3);
        let ok = serde_json::to_value(verify(&entries, &[], &key())).unwrap();
        assert_eq!(ok["status"], "ok");
        assert_eq!(ok["last_seq"], 3);
    }
}
