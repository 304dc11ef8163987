//! The audit log on SQLite, as far as it needs raw SQL: tampering behind
//! the store's back that verification finds at the right `seq`, and the
//! append-only triggers that refuse UPDATE and DELETE. The rest of the
//! audit log's behaviour, and the backend-independent half of each test
//! here, is in `revos_store::conformance::audit`. Each test has its own
//! database file.
//!
//! Tampering needs the append-only triggers out of the way: the tests drop
//! them on a connection of their own, as an attacker with file access could.

use revos_store::Store;
use revos_store::conformance::audit;
use revos_store_sqlite::SqliteStore;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

/// A migrated store on a new file, its URL, and the directory to keep.
async fn fixture() -> (SqliteStore, String, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("revos.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, url, dir)
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

#[tokio::test]
async fn a_flipped_byte_in_details_is_found_at_its_seq() {
    let (store, url, _dir) = fixture().await;
    audit::a_flipped_byte_is_found_at_its_seq(&store, || {
        tamper(
            &url,
            &["update audit_log set details = replace(details, 'note-5', 'note-6') where seq = 5"],
        )
    })
    .await;
}

#[tokio::test]
async fn a_deleted_row_is_found_at_its_seq() {
    let (store, url, _dir) = fixture().await;
    audit::a_deleted_row_is_found_at_its_seq(&store, || {
        tamper(&url, &["delete from audit_log where seq = 4"])
    })
    .await;
}

#[tokio::test]
async fn swapped_rows_are_found_at_the_first() {
    let (store, url, _dir) = fixture().await;
    audit::swapped_rows_are_found_at_the_first(&store, || {
        tamper(
            &url,
            &[
                "update audit_log set seq = 1003 where seq = 3",
                "update audit_log set seq = 3 where seq = 4",
                "update audit_log set seq = 4 where seq = 1003",
            ],
        )
    })
    .await;
}

#[tokio::test]
async fn an_altered_prev_hash_is_found_at_its_seq() {
    let (store, url, _dir) = fixture().await;
    audit::an_altered_prev_hash_is_found_at_its_seq(&store, || {
        tamper(
            &url,
            &[
                "update audit_log set prev_hash = (select hash from audit_log where seq = 1) \
               where seq = 6",
            ],
        )
    })
    .await;
}

#[tokio::test]
async fn update_and_delete_are_refused() {
    let (store, url, _dir) = fixture().await;
    audit::raw_changes_are_refused(&store, || async {
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
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
    })
    .await;
}

#[tokio::test]
async fn truncation_after_a_checkpoint_is_found() {
    let (store, url, _dir) = fixture().await;
    audit::truncation_after_a_checkpoint_is_found(&store, || {
        tamper(&url, &["delete from audit_log where seq > 7"])
    })
    .await;
}
