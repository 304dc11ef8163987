//! The audit log on SQLite: chains that verify, concurrent writers that
//! queue into one chain, and tampering by raw SQL that verification finds
//! at the right `seq`. Each test has its own database file.
//!
//! Tampering needs the append-only triggers out of the way: the tests drop
//! them on a connection of their own, as an attacker with file access could.

use chrono::{DateTime, Duration, TimeZone, Utc};
use revos_contracts::TenantId;
use revos_store::audit::revos_audit::{self, Problem, SigningKey, VerifyReport};
use revos_store::audit::{AuditEntry, AuditFilter, AuditStore, NewAuditEntry};
use revos_store::{NewTenant, Store, StoreError};
use revos_store_sqlite::SqliteStore;
use serde_json::json;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

struct Fixture {
    store: SqliteStore,
    tenant: TenantId,
    url: String,
    _dir: TempDir,
}

/// A migrated store on a new file with one tenant.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("revos.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let tenant = store
        .create_tenant(NewTenant {
            id: None,
            name: "Audited".into(),
        })
        .await
        .unwrap()
        .id;
    Fixture {
        store,
        tenant,
        url,
        _dir: dir,
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

fn event(i: u32) -> NewAuditEntry {
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

async fn append_n(store: &SqliteStore, tenant: TenantId, n: u32) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    for i in 1..=n {
        out.push(store.append_audit(tenant, event(i)).await.unwrap());
    }
    out
}

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// Verifies the stored chain and checkpoints.
async fn verify(store: &SqliteStore, tenant: TenantId) -> VerifyReport {
    let chain = store.audit_chain(tenant, 0, 1000).await.unwrap();
    let checkpoints = store.checkpoints(tenant).await.unwrap();
    revos_audit::verify(&chain, &checkpoints, &signing_key().verifying_key())
}

fn broken_at(report: VerifyReport) -> (u64, Problem) {
    match report {
        VerifyReport::Broken { seq, problem, .. } => (seq, problem),
        ok => panic!("tampering went unnoticed: {ok:?}"),
    }
}

/// Runs `statements` on a connection of its own, after dropping the
/// append-only triggers.
async fn tamper(url: &str, statements: &[&str]) {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    for sql in [
        "drop trigger audit_log_no_update",
        "drop trigger audit_log_no_delete",
    ]
    .iter()
    .chain(statements)
    {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

/// A tenant with 8 entries, tampered with by `statements`, verified.
async fn tampered(statements: &[&str]) -> (u64, Problem) {
    let f = fixture().await;
    append_n(&f.store, f.tenant, 8).await;
    assert!(verify(&f.store, f.tenant).await.is_ok());
    tamper(&f.url, statements).await;
    broken_at(verify(&f.store, f.tenant).await)
}

#[tokio::test]
async fn appends_form_a_gap_free_chain_that_verifies() {
    let f = fixture().await;
    let written = append_n(&f.store, f.tenant, 12).await;
    let read = f.store.audit_chain(f.tenant, 0, 1000).await.unwrap();
    assert_eq!(read, written, "entries read back equal those written");
    assert_eq!(
        read.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    assert_eq!(read[0].prev_hash, revos_audit::GENESIS_HASH);
    assert_eq!(
        verify(&f.store, f.tenant).await,
        VerifyReport::Ok {
            entries: 12,
            last_seq: 12,
            checkpoints_checked: 0
        }
    );
    // Paging through the chain.
    let page = f.store.audit_chain(f.tenant, 5, 3).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 7, 8]);
    assert_eq!(
        f.store.audit_head(f.tenant).await.unwrap(),
        read.last().cloned()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_produce_one_chain() {
    let f = fixture().await;
    let mut tasks = Vec::new();
    for writer in 0..8u32 {
        let store = f.store.clone();
        let tenant = f.tenant;
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                store
                    .append_audit(tenant, event(writer * 100 + i))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let chain = f.store.audit_chain(f.tenant, 0, 1000).await.unwrap();
    assert_eq!(
        chain.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    assert!(verify(&f.store, f.tenant).await.is_ok());
}

#[tokio::test]
async fn a_flipped_byte_in_details_is_found_at_its_seq() {
    let (seq, problem) = tampered(&[
        "update audit_log set details = replace(details, 'note-5', 'note-6') where seq = 5",
    ])
    .await;
    assert_eq!(seq, 5);
    assert!(
        matches!(problem, Problem::HashMismatch { .. }),
        "{problem:?}"
    );
}

#[tokio::test]
async fn a_deleted_row_is_found_at_its_seq() {
    let (seq, problem) = tampered(&["delete from audit_log where seq = 4"]).await;
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

#[tokio::test]
async fn swapped_rows_are_found_at_the_first() {
    let (seq, problem) = tampered(&[
        "update audit_log set seq = 1003 where seq = 3",
        "update audit_log set seq = 3 where seq = 4",
        "update audit_log set seq = 4 where seq = 1003",
    ])
    .await;
    assert_eq!(seq, 3);
    assert!(
        matches!(problem, Problem::PrevHashMismatch { .. }),
        "{problem:?}"
    );
}

#[tokio::test]
async fn an_altered_prev_hash_is_found_at_its_seq() {
    let (seq, problem) = tampered(&[
        "update audit_log set prev_hash = (select hash from audit_log where seq = 1) \
         where seq = 6",
    ])
    .await;
    assert_eq!(seq, 6);
    assert!(
        matches!(problem, Problem::PrevHashMismatch { .. }),
        "{problem:?}"
    );
}

#[tokio::test]
async fn update_and_delete_are_refused() {
    let f = fixture().await;
    append_n(&f.store, f.tenant, 3).await;
    let head = f.store.audit_head(f.tenant).await.unwrap().unwrap();
    let cp = revos_audit::sign_checkpoint(&signing_key(), &head, base_time());
    f.store.add_checkpoint(&cp).await.unwrap();
    let mut conn = SqliteConnection::connect(&f.url).await.unwrap();
    for sql in [
        "update audit_log set actor = 'user:mallory' where seq = 2",
        "delete from audit_log where seq = 3",
        "delete from audit_log",
        "update audit_checkpoints set seq = 2",
        "delete from audit_checkpoints",
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    conn.close().await.unwrap();
    assert!(verify(&f.store, f.tenant).await.is_ok());
}

#[tokio::test]
async fn truncation_after_a_checkpoint_is_found() {
    let f = fixture().await;
    append_n(&f.store, f.tenant, 10).await;
    let head = f.store.audit_head(f.tenant).await.unwrap().unwrap();
    let cp = revos_audit::sign_checkpoint(&signing_key(), &head, base_time());
    f.store.add_checkpoint(&cp).await.unwrap();
    for i in 11..=12 {
        f.store.append_audit(f.tenant, event(i)).await.unwrap();
    }
    assert_eq!(
        verify(&f.store, f.tenant).await,
        VerifyReport::Ok {
            entries: 12,
            last_seq: 12,
            checkpoints_checked: 1
        }
    );
    tamper(&f.url, &["delete from audit_log where seq > 7"]).await;
    assert_eq!(
        broken_at(verify(&f.store, f.tenant).await),
        (
            8,
            Problem::Truncated {
                checkpoint_seq: 10,
                last_seq: 7
            }
        )
    );
}

#[tokio::test]
async fn checkpoints_must_name_a_stored_entry_once() {
    let f = fixture().await;
    let entries = append_n(&f.store, f.tenant, 3).await;
    let cp = revos_audit::sign_checkpoint(&signing_key(), &entries[1], base_time());
    f.store.add_checkpoint(&cp).await.unwrap();
    assert!(matches!(
        f.store.add_checkpoint(&cp).await,
        Err(StoreError::Conflict { .. })
    ));
    let wrong_hash = revos_audit::Checkpoint {
        seq: 3,
        ..cp.clone()
    };
    assert!(matches!(
        f.store.add_checkpoint(&wrong_hash).await,
        Err(StoreError::Invalid(_))
    ));
    let beyond = revos_audit::Checkpoint {
        seq: 4,
        ..cp.clone()
    };
    assert!(matches!(
        f.store.add_checkpoint(&beyond).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(f.store.checkpoints(f.tenant).await.unwrap(), vec![cp]);
}

#[tokio::test]
async fn list_filters() {
    let f = fixture().await;
    append_n(&f.store, f.tenant, 9).await;
    let seqs = |entries: Vec<AuditEntry>| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
    let list = |filter: AuditFilter| {
        let store = f.store.clone();
        let tenant = f.tenant;
        async move { seqs(store.list_audit(tenant, &filter).await.unwrap()) }
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

#[tokio::test]
async fn tenants_have_separate_chains() {
    let f = fixture().await;
    let other = f
        .store
        .create_tenant(NewTenant {
            id: None,
            name: "Other".into(),
        })
        .await
        .unwrap()
        .id;
    let _quiet = f
        .store
        .create_tenant(NewTenant {
            id: None,
            name: "Quiet".into(),
        })
        .await
        .unwrap()
        .id;
    append_n(&f.store, f.tenant, 3).await;
    let first = f.store.append_audit(other, event(1)).await.unwrap();
    assert_eq!((first.seq, first.tenant_id), (1, other));
    assert!(verify(&f.store, f.tenant).await.is_ok());
    assert!(verify(&f.store, other).await.is_ok());
    let mut expected = vec![f.tenant, other];
    expected.sort();
    assert_eq!(f.store.audited_tenants().await.unwrap(), expected);
}

#[tokio::test]
async fn invalid_entries_are_refused() {
    let f = fixture().await;
    let mut bad = event(1);
    bad.details = json!(["not", "an", "object"]);
    assert!(matches!(
        f.store.append_audit(f.tenant, bad).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad = event(1);
    bad.actor = String::new();
    assert!(matches!(
        f.store.append_audit(f.tenant, bad).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(f.store.audit_head(f.tenant).await.unwrap(), None);
}

#[tokio::test]
async fn a_missing_tenant_is_refused() {
    let f = fixture().await;
    let missing = TenantId::new_random();
    let not_found = |r: Result<(), StoreError>| {
        assert!(
            matches!(r, Err(StoreError::TenantNotFound(t)) if t == missing),
            "{r:?}"
        );
    };
    not_found(f.store.append_audit(missing, event(1)).await.map(drop));
    not_found(
        f.store
            .list_audit(missing, &AuditFilter::default())
            .await
            .map(drop),
    );
    not_found(f.store.audit_chain(missing, 0, 10).await.map(drop));
    not_found(f.store.audit_head(missing).await.map(drop));
    not_found(f.store.checkpoints(missing).await.map(drop));
    let entry = f.store.append_audit(f.tenant, event(1)).await.unwrap();
    let mut cp = revos_audit::sign_checkpoint(&signing_key(), &entry, base_time());
    cp.tenant_id = missing;
    not_found(f.store.add_checkpoint(&cp).await);
}
