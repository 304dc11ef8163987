//! [`revos_store::events::EventStore`] on PostgreSQL: `kernel_events`,
//! `kernel_decisions` and `kernel_actions` of migration 0001, and the
//! `channel_outbox`, `tasks`, `policy_modes`, `policy_settings`,
//! `webhook_endpoints` and `idempotency_keys` tables of migration 0010,
//! all tenant tables bound by the `tenant_isolation` policy.
//!
//! The writes of an ingest (event, decisions, actions, outbox e-mails,
//! tasks) are functions over a connection, called by the tenant
//! transaction of `queue.rs` ([`revos_store::queue::TenantTx`]). An event
//! is inserted with `on conflict (tenant_id, idempotency_key) do nothing`:
//! a concurrent transaction inserting the same key makes the insert wait
//! on the unique index until it ends; if it committed, nothing is inserted
//! and the event it wrote is read back (a new statement, so under READ
//! COMMITTED it sees that commit).
//!
//! The conditional writes are single statements or row locks:
//! [`EventStore::set_action_status`] is one `update … where status =
//! any(…)`, and [`EventStore::idempotency_begin`] inserts with `on
//! conflict do nothing`, then locks the existing row (`for update`) before
//! it decides whether to take it over, so of two concurrent begins exactly
//! one starts. The purge of expired idempotency keys spans tenants, which
//! the pool's role cannot see: it goes through migration 0010's SECURITY
//! DEFINER function `revos_purge_idempotency`.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::event_statements!`]; this file keeps what only
//! PostgreSQL does: the idempotency begin with its row lock, and the purge
//! through a SECURITY DEFINER function.

use crate::{PostgresStore, corrupt, store_error};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::events::IdempotencyBegin;
use revos_store::{StoreError, support};
use revos_store_sql::events::IdempotencyRow;

revos_store_sql::event_statements!(crate::PostgresStore);

/// How often [`PostgresStore::begin_idempotency_key`] tries again when the
/// row it found is deleted before it could lock it (an abandon or a purge
/// in between). Each round either inserts, or finds and locks a row.
const BEGIN_ROUNDS: usize = 3;

impl PostgresStore {
    /// [`revos_store::events::EventStore::idempotency_begin`].
    async fn begin_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = support::now_at(now);
        let mut tx = self.begin_tenant(tenant).await?;
        for _ in 0..BEGIN_ROUNDS {
            // A concurrent begin of the same key makes this insert wait
            // until it ends; then the key is taken and nothing is inserted.
            let inserted = sqlx::query(
                "insert into idempotency_keys
                     (tenant_id, key, request_hash, status_code, response, created_at, expires_at)
                 values ($1, $2, $3, null, null, $4, null)
                 on conflict (tenant_id, key) do nothing",
            )
            .bind(tenant.as_uuid())
            .bind(key)
            .bind(request_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            if inserted.rows_affected() == 1 {
                tx.commit().await.map_err(store_error)?;
                return Ok(IdempotencyBegin::Started);
            }
            // The row, locked: a concurrent takeover waits here, then sees
            // the row as the first one left it.
            let row: Option<IdempotencyRow> = sqlx::query_as(
                "select request_hash, status_code, response, created_at, expires_at
                 from idempotency_keys where tenant_id = $1 and key = $2
                 for update",
            )
            .bind(tenant.as_uuid())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
            let Some(row) = row else {
                // Deleted in between (abandoned or purged): insert again.
                continue;
            };
            if let Some(record) = row.into_holding(now, stale_after)? {
                tx.commit().await.map_err(store_error)?;
                return Ok(IdempotencyBegin::Existing(record));
            }
            sqlx::query(
                "update idempotency_keys set
                     request_hash = $3, status_code = null, response = null, created_at = $4,
                     expires_at = null
                 where tenant_id = $1 and key = $2",
            )
            .bind(tenant.as_uuid())
            .bind(key)
            .bind(request_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
            return Ok(IdempotencyBegin::Started);
        }
        Err(StoreError::Unavailable(format!(
            "idempotency key `{key}` keeps changing; try again"
        )))
    }

    /// [`revos_store::events::EventStore::purge_idempotency`].
    async fn purge_expired_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Across tenants, so through migration 0010's SECURITY DEFINER
        // function: the pool's role sees no row without a tenant.
        let purged: i64 = sqlx::query_scalar("select revos_purge_idempotency($1)")
            .bind(support::now_at(now))
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        u64::try_from(purged).map_err(|_| corrupt("purge count", &purged.to_string()))
    }
}
