//! The audit log on PostgreSQL, as far as it needs raw SQL: tampering
//! behind the store's back that verification finds at the right `seq`, and
//! the append-only triggers that refuse UPDATE, DELETE and TRUNCATE. The
//! rest of the audit log's behaviour, and the backend-independent half of
//! each test here, is in `revos_store::conformance::audit`. Each test has a
//! throw-away database of its own (needs a running server: see
//! `revos_store_postgres::testing`).
//!
//! Tampering needs the append-only triggers out of the way: the tests
//! disable them on a superuser connection of their own, as an attacker
//! holding the database's superuser could.

use revos_store::conformance::audit;
use revos_store_postgres::PostgresStore;
use revos_store_postgres::testing::TestDatabase;
use sqlx::{Connection, PgConnection};

/// A migrated store on a new database, its superuser URL, and the database
/// to keep.
async fn fixture() -> (PostgresStore, String, TestDatabase) {
    let db = TestDatabase::create().await;
    let url = db.url().to_owned();
    let store = db.store().await;
    (store, url, db)
}

/// Runs `statements` on a superuser connection of its own, with the
/// append-only triggers disabled.
async fn tamper(url: &str, statements: &[&str]) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    for sql in ["alter table audit_log disable trigger all"]
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
    let (store, url, _db) = fixture().await;
    audit::a_flipped_byte_is_found_at_its_seq(&store, || {
        tamper(
            &url,
            &[
                "update audit_log set details = replace(details::text, 'note-5', 'note-6')::json \
               where seq = 5",
            ],
        )
    })
    .await;
}

#[tokio::test]
async fn a_deleted_row_is_found_at_its_seq() {
    let (store, url, _db) = fixture().await;
    audit::a_deleted_row_is_found_at_its_seq(&store, || {
        tamper(&url, &["delete from audit_log where seq = 4"])
    })
    .await;
}

#[tokio::test]
async fn swapped_rows_are_found_at_the_first() {
    let (store, url, _db) = fixture().await;
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
    let (store, url, _db) = fixture().await;
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
    let (store, url, _db) = fixture().await;
    audit::raw_changes_are_refused(&store, || async {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        for sql in [
            "update audit_log set actor = 'user:mallory' where seq = 2",
            "delete from audit_log where seq = 3",
            "delete from audit_log",
            "truncate audit_log cascade",
            "update audit_checkpoints set seq = 2",
            "delete from audit_checkpoints",
            "truncate audit_checkpoints",
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
    let (store, url, _db) = fixture().await;
    audit::truncation_after_a_checkpoint_is_found(&store, || {
        tamper(&url, &["delete from audit_log where seq > 7"])
    })
    .await;
}
