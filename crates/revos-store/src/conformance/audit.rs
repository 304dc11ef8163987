//! The audit log: chains that verify, concurrent writers that queue into
//! one chain, pending entries that a sequencer integrates (and that vanish
//! with a rollback), checkpoints, listing filters, tenant isolation, invalid
//! entries and missing tenants.
//!
//! Also the backend-independent halves of the tamper-detection tests: each
//! `*_is_found` function builds a chain, checks that it verifies, lets the
//! backend tamper with it by raw SQL behind the store's back (the `tamper`
//! argument, which must do what its documentation says), and checks that
//! verification finds the damage at the right `seq`. The backends call them
//! from their `tests/audit.rs`.

use super::{ok, tenant};
use crate::audit::revos_audit::{self, Problem, SigningKey, VerifyReport};
use crate::audit::{AuditEntry, AuditFilter, NewAuditEntry};
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use revos_contracts::TenantId;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

fn base_time() -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).single() {
        Some(t) => t,
        None => panic!("bad test time"),
    }
}

pub(super) fn event(i: u32) -> NewAuditEntry {
    NewAuditEntry {
        occurred_at: base_time() + Duration::minutes(i64::from(i)),
        actor: format!("user:u{}", i % 3),
        action: if i.is_multiple_of(2) {
            "key.create"
        } else {
            "auth.failure"
        }
        .into(),
        resource_type: Some("api_key".into()),
        resource_id: Some(format!("k{i}")),
        details: json!({"i": i, "note": format!("note-{i}"), "x": 1.5}),
    }
}

async fn append_n(store: &dyn Store, tenant: TenantId, n: u32) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    for i in 1..=n {
        out.push(ok(
            store.append_audit(tenant, event(i)).await,
            "append_audit",
        ));
    }
    out
}

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// Verifies the stored chain and checkpoints.
pub(super) async fn verify(store: &dyn Store, tenant: TenantId) -> VerifyReport {
    let chain = ok(store.audit_chain(tenant, 0, 1000).await, "audit_chain");
    let checkpoints = ok(store.checkpoints(tenant).await, "checkpoints");
    revos_audit::verify(&chain, &checkpoints, &signing_key().verifying_key())
}

fn broken_at(report: VerifyReport) -> (u64, Problem) {
    match report {
        VerifyReport::Broken { seq, problem, .. } => (seq, problem),
        ok => panic!("tampering went unnoticed: {ok:?}"),
    }
}

/// Signs a checkpoint at the tenant's head and stores it.
async fn checkpoint_head(store: &dyn Store, tenant: TenantId) {
    let head = match ok(store.audit_head(tenant).await, "audit_head") {
        Some(head) => head,
        None => panic!("no audit head to checkpoint"),
    };
    let cp = revos_audit::sign_checkpoint(&signing_key(), &head, base_time());
    ok(store.add_checkpoint(&cp).await, "add_checkpoint");
}

/// Polls all `futures` concurrently on the calling task until each is done.
async fn join_all<F: Future<Output = ()>>(futures: Vec<F>) {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|future| future.as_mut().poll(cx).is_pending());
        if pending.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

// ---- cases -------------------------------------------------------------------

/// Appends form a gap-free chain from seq 1 that reads back equal, pages,
/// has the last entry as its head, and verifies.
pub async fn appends_form_a_gap_free_chain_that_verifies(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    let written = append_n(store, tenant, 12).await;
    let read = store.audit_chain(tenant, 0, 1000).await.unwrap();
    assert_eq!(read, written, "entries read back equal those written");
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert_eq!(read[0].prev_hash, revos_audit::GENESIS_HASH);
    assert_eq!(
        verify(store, tenant).await,
        VerifyReport::Ok {
            entries: 12,
            last_seq: 12,
            checkpoints_checked: 0
        }
    );
    // Paging through the chain.
    let page = store.audit_chain(tenant, 5, 3).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 7, 8]);
    assert_eq!(
        store.audit_head(tenant).await.unwrap(),
        read.last().cloned()
    );
}

/// Eight writers appending at once queue into one gap-free chain that
/// verifies.
pub async fn concurrent_writers_produce_one_chain(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    let writers = (0..8u32).map(|writer| async move {
        for i in 0..25 {
            store
                .append_audit(tenant, event(writer * 100 + i))
                .await
                .unwrap();
        }
    });
    join_all(writers.collect()).await;
    let chain = store.audit_chain(tenant, 0, 1000).await.unwrap();
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    assert!(verify(store, tenant).await.is_ok());
}

/// Entries recorded in a tenant transaction wait unsequenced until a
/// sequencer (or a read of the chain) integrates them; those of a
/// transaction rolled back or dropped never appear, not even as backlog.
pub async fn pending_entries_of_a_rolled_back_transaction_never_appear(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    let mut tx = ok(store.begin(tenant).await, "begin");
    ok(tx.append_audit(event(1)).await, "append_audit");
    ok(tx.rollback().await, "rollback");
    {
        let mut tx = ok(store.begin(tenant).await, "begin");
        ok(tx.append_audit(event(2)).await, "append_audit");
        // Dropped without a commit.
    }
    assert_eq!(ok(store.audit_backlog(tenant).await, "audit_backlog"), 0);
    assert_eq!(ok(store.sequence_audit(tenant, 10).await, "sequence"), 0);
    assert_eq!(ok(store.audit_head(tenant).await, "audit_head"), None);

    for i in 3..=7 {
        let mut tx = ok(store.begin(tenant).await, "begin");
        ok(tx.append_audit(event(i)).await, "append_audit");
        ok(tx.commit().await, "commit");
    }
    let mut tx = ok(store.begin(tenant).await, "begin");
    ok(tx.append_audit(event(8)).await, "append_audit");
    ok(tx.rollback().await, "rollback");
    assert_eq!(ok(store.audit_backlog(tenant).await, "audit_backlog"), 5);
    assert_eq!(
        ok(store.pending_audit_tenants().await, "pending tenants"),
        [tenant]
    );
    // In batches, oldest first.
    assert_eq!(ok(store.sequence_audit(tenant, 2).await, "sequence"), 2);
    assert_eq!(ok(store.audit_backlog(tenant).await, "audit_backlog"), 3);
    // A read sequences the rest first.
    let chain = ok(store.audit_chain(tenant, 0, 100).await, "audit_chain");
    assert_eq!(ok(store.audit_backlog(tenant).await, "audit_backlog"), 0);
    assert!(
        ok(store.pending_audit_tenants().await, "pending tenants").is_empty(),
        "no pending tenant left"
    );
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        chain
            .iter()
            .map(|e| e.resource_id.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["k3", "k4", "k5", "k6", "k7"],
        "in the order they were committed, none of the rolled-back ones"
    );
    // Details round-trip the wait exactly.
    assert_eq!(chain[0].details, event(3).details);
    assert_eq!(chain[0].occurred_at, event(3).occurred_at);
    assert_eq!(ok(store.sequence_audit(tenant, 10).await, "sequence"), 0);
    assert!(verify(store, tenant).await.is_ok());
    // An append outside a transaction still answers its sequenced entry.
    let next = ok(store.append_audit(tenant, event(9)).await, "append_audit");
    assert_eq!(next.seq, 6);
    assert_eq!(next.prev_hash, chain[4].hash);
}

/// Eight writers recording entries in their own transactions while three
/// sequencers integrate them make one gap-free chain that verifies, holding
/// every committed entry once and each writer's in its order.
pub async fn concurrent_writers_and_sequencers_produce_one_chain(store: &dyn Store) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const WRITERS: u32 = 8;
    const PER_WRITER: u32 = 25;
    let tenant = tenant(store, "Audited").await;
    let writing = AtomicUsize::new(WRITERS as usize);
    let writing = &writing;
    let tasks = (0..WRITERS + 3).map(|role| async move {
        if role < WRITERS {
            for i in 0..PER_WRITER {
                let mut tx = ok(store.begin(tenant).await, "begin");
                ok(tx.append_audit(event(role * 100 + i)).await, "append_audit");
                ok(tx.commit().await, "commit");
            }
            writing.fetch_sub(1, Ordering::SeqCst);
        } else {
            while writing.load(Ordering::SeqCst) > 0 {
                ok(store.sequence_audit(tenant, 7).await, "sequence_audit");
            }
        }
    });
    join_all(tasks.collect()).await;
    ok(
        store.sequence_audit_backlog(tenant).await,
        "sequence backlog",
    );
    let total = u64::from(WRITERS * PER_WRITER);
    let chain = ok(store.audit_chain(tenant, 0, 1000).await, "audit_chain");
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    let mut seen = std::collections::BTreeMap::<u64, Vec<u64>>::new();
    for entry in &chain {
        let i = entry.details["i"].as_u64().unwrap_or(u64::MAX);
        seen.entry(i / 100).or_default().push(i % 100);
    }
    for writer in 0..u64::from(WRITERS) {
        assert_eq!(
            seen.get(&writer).cloned().unwrap_or_default(),
            (0..u64::from(PER_WRITER)).collect::<Vec<_>>(),
            "writer {writer}'s entries, once each, in order"
        );
    }
    assert_eq!(ok(store.audit_backlog(tenant).await, "audit_backlog"), 0);
    assert_eq!(
        verify(store, tenant).await,
        VerifyReport::Ok {
            entries: total,
            last_seq: total,
            checkpoints_checked: 0
        }
    );
}

/// A checkpoint is stored once, and only for a stored entry with its hash.
pub async fn checkpoints_must_name_a_stored_entry_once(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    let entries = append_n(store, tenant, 3).await;
    let cp = revos_audit::sign_checkpoint(&signing_key(), &entries[1], base_time());
    store.add_checkpoint(&cp).await.unwrap();
    assert!(matches!(
        store.add_checkpoint(&cp).await,
        Err(StoreError::Conflict { .. })
    ));
    let wrong_hash = revos_audit::Checkpoint {
        seq: 3,
        ..cp.clone()
    };
    assert!(matches!(
        store.add_checkpoint(&wrong_hash).await,
        Err(StoreError::Invalid(_))
    ));
    let beyond = revos_audit::Checkpoint {
        seq: 4,
        ..cp.clone()
    };
    assert!(matches!(
        store.add_checkpoint(&beyond).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.checkpoints(tenant).await.unwrap(), vec![cp]);
}

/// Listing filters by actor, action, resource, time range and seq, and
/// honours the limit (read oldest first here; the order has cases of its
/// own in `listing`).
pub async fn list_filters(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    append_n(store, tenant, 9).await;
    let seqs = |entries: Vec<AuditEntry>| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
    let newest = seqs(
        store
            .list_audit(tenant, &AuditFilter::default())
            .await
            .unwrap(),
    );
    assert_eq!(newest, (1..=9).rev().collect::<Vec<_>>());
    let list = |filter: AuditFilter| async move {
        let filter = AuditFilter {
            order: crate::listing::Order::OldestFirst,
            ..filter
        };
        seqs(store.list_audit(tenant, &filter).await.unwrap())
    };
    assert_eq!(
        list(AuditFilter::default()).await,
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(
        list(AuditFilter {
            actor: Some("user:u1".into()),
            ..AuditFilter::default()
        })
        .await,
        [1, 4, 7]
    );
    assert_eq!(
        list(AuditFilter {
            action: Some("key.create".into()),
            ..AuditFilter::default()
        })
        .await,
        [2, 4, 6, 8]
    );
    assert_eq!(
        list(AuditFilter {
            resource_type: Some("api_key".into()),
            resource_id: Some("k5".into()),
            ..AuditFilter::default()
        })
        .await,
        [5]
    );
    assert_eq!(
        list(AuditFilter {
            from: Some(base_time() + Duration::minutes(3)),
            to: Some(base_time() + Duration::minutes(6)),
            ..AuditFilter::default()
        })
        .await,
        [3, 4, 5]
    );
    assert_eq!(
        list(AuditFilter {
            action: Some("auth.failure".into()),
            after_seq: Some(3),
            limit: 2,
            ..AuditFilter::default()
        })
        .await,
        [5, 7]
    );
    assert!(
        list(AuditFilter {
            actor: Some("user:nobody".into()),
            ..AuditFilter::default()
        })
        .await
        .is_empty()
    );
}

/// Each tenant has a chain of its own from seq 1; only tenants with
/// entries are listed as audited.
pub async fn tenants_have_separate_chains(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    let other = super::tenant(store, "Other").await;
    let _quiet = super::tenant(store, "Quiet").await;
    append_n(store, tenant, 3).await;
    let first = store.append_audit(other, event(1)).await.unwrap();
    assert_eq!((first.seq, first.tenant_id), (1, other));
    assert!(verify(store, tenant).await.is_ok());
    assert!(verify(store, other).await.is_ok());
    let mut expected = vec![tenant, other];
    expected.sort();
    assert_eq!(store.audited_tenants().await.unwrap(), expected);
}

/// Entries with non-object details or an empty actor are refused and
/// write nothing.
pub async fn invalid_entries_are_refused(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    let mut bad = event(1);
    bad.details = json!(["not", "an", "object"]);
    assert!(matches!(
        store.append_audit(tenant, bad).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad = event(1);
    bad.actor = String::new();
    assert!(matches!(
        store.append_audit(tenant, bad).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.audit_head(tenant).await.unwrap(), None);
}

/// Every audit call on a missing tenant answers `TenantNotFound`.
pub async fn a_missing_tenant_is_refused(store: &dyn Store) {
    let tenant = tenant(store, "Audited").await;
    let missing = TenantId::new_random();
    let not_found = |r: Result<(), StoreError>| {
        assert!(
            matches!(r, Err(StoreError::TenantNotFound(t)) if t == missing),
            "{r:?}"
        );
    };
    not_found(store.append_audit(missing, event(1)).await.map(drop));
    not_found(
        store
            .list_audit(missing, &AuditFilter::default())
            .await
            .map(drop),
    );
    not_found(store.audit_chain(missing, 0, 10).await.map(drop));
    not_found(store.audit_head(missing).await.map(drop));
    not_found(store.checkpoints(missing).await.map(drop));
    not_found(store.sequence_audit(missing, 10).await.map(drop));
    not_found(store.audit_backlog(missing).await.map(drop));
    let entry = store.append_audit(tenant, event(1)).await.unwrap();
    let mut cp = revos_audit::sign_checkpoint(&signing_key(), &entry, base_time());
    cp.tenant_id = missing;
    not_found(store.add_checkpoint(&cp).await);
}

// ---- tamper detection (the backend supplies the raw SQL) ---------------------

/// A new tenant with 8 entries (the only audited tenant of the database),
/// tampered with by `tamper`, verified.
async fn tampered<F: Future<Output = ()>>(
    store: &dyn Store,
    tamper: impl FnOnce() -> F,
) -> (u64, Problem) {
    let tenant = tenant(store, "Audited").await;
    append_n(store, tenant, 8).await;
    assert!(verify(store, tenant).await.is_ok());
    tamper().await;
    broken_at(verify(store, tenant).await)
}

/// `tamper` must change `note-5` into `note-6` in the details of the entry
/// with seq 5: a hash mismatch at seq 5.
pub async fn a_flipped_byte_is_found_at_its_seq<F: Future<Output = ()>>(
    store: &dyn Store,
    tamper: impl FnOnce() -> F,
) {
    let (seq, problem) = tampered(store, tamper).await;
    assert_eq!(seq, 5);
    assert!(
        matches!(problem, Problem::HashMismatch { .. }),
        "{problem:?}"
    );
}

/// `tamper` must delete the entry with seq 4: a gap at seq 4.
pub async fn a_deleted_row_is_found_at_its_seq<F: Future<Output = ()>>(
    store: &dyn Store,
    tamper: impl FnOnce() -> F,
) {
    let (seq, problem) = tampered(store, tamper).await;
    assert_eq!(
        (seq, problem),
        (
            4,
            Problem::Gap {
                expected: 4,
                found: 5
            }
        )
    );
}

/// `tamper` must swap the seqs of the entries 3 and 4: a prev-hash
/// mismatch at seq 3.
pub async fn swapped_rows_are_found_at_the_first<F: Future<Output = ()>>(
    store: &dyn Store,
    tamper: impl FnOnce() -> F,
) {
    let (seq, problem) = tampered(store, tamper).await;
    assert_eq!(seq, 3);
    assert!(
        matches!(problem, Problem::PrevHashMismatch { .. }),
        "{problem:?}"
    );
}

/// `tamper` must set the prev_hash of the entry with seq 6 to the hash of
/// the entry with seq 1: a prev-hash mismatch at seq 6.
pub async fn an_altered_prev_hash_is_found_at_its_seq<F: Future<Output = ()>>(
    store: &dyn Store,
    tamper: impl FnOnce() -> F,
) {
    let (seq, problem) = tampered(store, tamper).await;
    assert_eq!(seq, 6);
    assert!(
        matches!(problem, Problem::PrevHashMismatch { .. }),
        "{problem:?}"
    );
}

/// A chain of 12 entries with a checkpoint at seq 10; `tamper` must delete
/// every entry after seq 7: a truncation found at seq 8.
pub async fn truncation_after_a_checkpoint_is_found<F: Future<Output = ()>>(
    store: &dyn Store,
    tamper: impl FnOnce() -> F,
) {
    let tenant = tenant(store, "Audited").await;
    append_n(store, tenant, 10).await;
    checkpoint_head(store, tenant).await;
    for i in 11..=12 {
        ok(store.append_audit(tenant, event(i)).await, "append_audit");
    }
    assert_eq!(
        verify(store, tenant).await,
        VerifyReport::Ok {
            entries: 12,
            last_seq: 12,
            checkpoints_checked: 1
        }
    );
    tamper().await;
    assert_eq!(
        broken_at(verify(store, tenant).await),
        (
            8,
            Problem::Truncated {
                checkpoint_seq: 10,
                last_seq: 7
            }
        )
    );
}

/// A chain of 3 entries with a checkpoint at its head; `refuse` must try
/// the raw changes the database has to refuse (and check that it does);
/// the chain still verifies afterwards.
pub async fn raw_changes_are_refused<F: Future<Output = ()>>(
    store: &dyn Store,
    refuse: impl FnOnce() -> F,
) {
    let tenant = tenant(store, "Audited").await;
    append_n(store, tenant, 3).await;
    checkpoint_head(store, tenant).await;
    refuse().await;
    assert!(verify(store, tenant).await.is_ok());
}
