//! Upgrading a database an earlier version made. Migration 0013 rebuilds
//! `kernel_decisions`, `kernel_actions` and `channel_outbox` (SQLite cannot
//! change a check constraint in place) with foreign keys off: the rows
//! must all survive, and the cascades must still work afterwards.

use revos_contracts::TenantId;
use revos_contracts::runtime::ActionStatus;
use revos_store::Store;
use revos_store::events::{EventStore, OutboxStatus};
use revos_store_sqlite::SqliteStore;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::path::PathBuf;
use std::str::FromStr;

const TENANT: &str = "11111111-1111-4111-8111-111111111111";
const ACTION: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const AT: &str = "2026-01-01T00:00:00.000000Z";

#[tokio::test]
async fn rows_and_cascades_survive_the_0013_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    // The migrations before 0013, as an earlier version shipped them.
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    let all = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&all)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files.iter().filter(|f| {
        f.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n < "0013")
    }) {
        std::fs::copy(file, old.join(file.file_name().unwrap())).unwrap();
    }
    let url = format!("sqlite://{}", dir.path().join("revos.db").display());
    let options = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    // An event, its decision, an e-mail action and its given-up e-mail.
    for (sql, binds) in [
        (
            "insert into tenants (id, name, created_at) values (?1, 'Old', ?2)",
            vec![TENANT, AT],
        ),
        (
            "insert into kernel_events (tenant_id, id, type, source, idempotency_key,
                 correlation_id, subject_type, subject_id, payload, occurred_at, created_at,
                 body_hash)
             values (?1, 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee', 'lead_captured', 'cmo_campaigns', 'k', 'c', 'lead', '1', '{}',
                 ?2, ?2, 'h')",
            vec![TENANT, AT],
        ),
        (
            "insert into kernel_decisions (tenant_id, id, event_id, policy_id, policy_version,
                 outcome, reasons, correlation_id, mode, created_at)
             values (?1, 'dddddddd-dddd-4ddd-8ddd-dddddddddddd', 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee', 'p', 1, 'act', '[]', 'c', 'enforce', ?2)",
            vec![TENANT, AT],
        ),
        (
            "insert into kernel_actions (tenant_id, id, decision_id, event_id, type, params,
                 status, idempotency_key, correlation_id, mode, created_at, updated_at)
             values (?1, ?3, 'dddddddd-dddd-4ddd-8ddd-dddddddddddd', 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee', 'OUTBOUND_EMAIL', '{}', 'failed', 'k1', 'c',
                 'enforce', ?2, ?2)",
            vec![TENANT, AT, ACTION],
        ),
        (
            "insert into channel_outbox (tenant_id, id, action_id, to_addr, from_addr, subject,
                 text_body, message_id, status, created_at, updated_at)
             values (?1, '00000000-0000-4000-8000-0000000000a1', ?3, 'ana@client.example', 'hello@acme.example', 'Hi', 'Hello',
                 'm1', 'failed', ?2, ?2)",
            vec![TENANT, AT, ACTION],
        ),
    ] {
        let mut query = sqlx::query(sql);
        for b in binds {
            query = query.bind(b);
        }
        query.execute(&pool).await.unwrap();
    }
    pool.close().await;

    // This version opens it and migrates.
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let tenant: TenantId = TENANT.parse().unwrap();
    let action = ACTION.parse().unwrap();
    let kept = store.get_action(tenant, action).await.unwrap().unwrap();
    assert_eq!(kept.status, ActionStatus::Failed);
    let email = store
        .outbox_for_action(tenant, action)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(email.status, OutboxStatus::Failed);
    // The new statuses are accepted …
    let email = store
        .move_outbox(tenant, action, OutboxStatus::Cancelled, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(email.status, OutboxStatus::Cancelled);
    // … and deleting the tenant still cascades through the rebuilt tables.
    drop(store);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::from_str(&url)
                .unwrap()
                .foreign_keys(true),
        )
        .await
        .unwrap();
    sqlx::query("delete from kernel_decisions where id = 'dddddddd-dddd-4ddd-8ddd-dddddddddddd'")
        .execute(&pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from kernel_actions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "a decision's actions go with it");
    let checked: Vec<(String,)> = sqlx::query_as("select \"table\" from pragma_foreign_key_check")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    assert!(checked.is_empty(), "{checked:?}");
}
