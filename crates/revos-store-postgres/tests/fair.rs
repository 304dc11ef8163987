//! Start tags on PostgreSQL: one tenant's concurrent enqueues do not wait
//! for each other's commit. The transaction that holds the tenant's
//! `queue_fair` row advances it; one that finds the row taken shares the
//! last committed round instead of queueing behind the lock. Enqueues one
//! after another still get consecutive tags. Needs a running server (see
//! `revos_store_postgres::testing`).

use chrono::Utc;
use revos_queue::Backoff;
use revos_store::queue::{NewJob, QueueStore};
use revos_store::{NewTenant, Store};
use revos_store_postgres::testing::TestDatabase;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use std::time::Duration;

fn new_job(key: &str) -> NewJob {
    NewJob {
        queue: "email".into(),
        kind: "email.send".into(),
        payload: json!({ "to": key }),
        priority: 0,
        run_at: None,
        idempotency_key: Some(key.into()),
        max_attempts: 3,
        backoff: Backoff::NONE,
        timeout_ms: None,
        remove_on_complete: false,
        awaiting_approval: false,
        action_id: None,
    }
}

#[tokio::test]
async fn a_tenants_concurrent_enqueues_share_a_round_instead_of_waiting() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let tenant = store
        .create_tenant(NewTenant {
            id: None,
            name: "t".into(),
        })
        .await
        .unwrap()
        .id;
    let now = Utc::now();
    let mut first = store.begin(tenant).await.unwrap();
    first.enqueue(&new_job("a"), now).await.unwrap();
    first.commit().await.unwrap();

    // `holder` takes the tenant's row and keeps it until it commits.
    let mut holder = store.begin(tenant).await.unwrap();
    holder.enqueue(&new_job("b"), now).await.unwrap();
    // Another enqueue of the same tenant answers at once.
    let mut other = store.begin(tenant).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), other.enqueue(&new_job("c"), now))
        .await
        .expect("an enqueue of the same tenant must not wait for another's commit")
        .unwrap();
    other.commit().await.unwrap();
    holder.commit().await.unwrap();

    let mut next = store.begin(tenant).await.unwrap();
    next.enqueue(&new_job("d"), now).await.unwrap();
    next.commit().await.unwrap();

    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let tags: Vec<(String, i64)> =
        sqlx::query_as("select idempotency_key, fair_seq from jobs order by idempotency_key")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let tags: Vec<(&str, i64)> = tags.iter().map(|(k, t)| (k.as_str(), *t)).collect();
    assert_eq!(tags, [("a", 1), ("b", 2), ("c", 2), ("d", 3)]);
}
