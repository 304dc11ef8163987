//! [`revos_store::cycles::CycleStore`] on PostgreSQL: the
//! `optimization_cycles`, `optimization_actions` and
//! `optimization_action_results` tables of migration 0001 (tenant tables
//! bound by the `tenant_isolation` policy of 0005), with the `notes` column
//! and the `(tenant_id, status, created_at)` index of migration 0011.
//!
//! [`CycleStore::record_cycle`] writes the cycle, its actions and its audit
//! entry (through `audit::append_entry`, the unsequenced append of the
//! tenant transaction) in one tenant transaction. Every recording first takes a
//! transaction-scoped advisory lock on the tenant (`pg_advisory_xact_lock`,
//! keyed by [`CYCLE_LOCK_CLASS`] and the tenant id's hash, as the audit log
//! does with its own class), and the `min_gap` check runs under it: of two
//! cycles recorded at the same moment, the second waits for the first to end,
//! then reads the last completed cycle with a new statement (READ
//! COMMITTED), so it sees the first's. The audit entry takes no lock
//! here: the audit sequencer chains it after the commit.
//!
//! The rules the tables do not enforce are kept here, identically on both
//! backends: a cycle's `status` is `completed` or `failed` (the column is
//! free text), its `notes` are a JSON object, every action names the cycle
//! and its tenant, a failed cycle has no actions, and an action result
//! names a stored action of its cycle.
//! [`CycleStore::set_optimization_action_status`] is one `update … where
//! status = $from`: of two concurrent moves from the same status, the
//! second waits for the first's row lock, then finds the row moved.

use crate::{PostgresStore, store_error};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::audit::NewAuditEntry;
use revos_store::cycles::{
    ActionResultRecord, Cycle, CycleFilter, CycleStore, OptimizationAction,
    OptimizationActionStatus,
};
use revos_store::listing::{keyset_cmp, sql_direction};
use revos_store::{StoreError, rules, support};
use revos_store_sql::cycles::{ActionRow, CycleRow, ResultRow, actions, cycles};
use revos_store_sql::{
    cycle_columns, optimization_action_columns as action_columns, result_columns,
};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

/// The first key of the cycles' advisory locks ("CYCL"), so they never
/// collide with the audit log's or other advisory locks.
const CYCLE_LOCK_CLASS: i32 = 0x4359_434C;

// ---- encoding ----------------------------------------------------------------

/// A priority to store, [`StoreError::Invalid`] beyond an `integer`.
fn priority_db(n: u32) -> Result<i32, StoreError> {
    i32::try_from(n).map_err(|_| StoreError::Invalid(format!("action priority {n} is too large")))
}

// ---- reads on a connection -----------------------------------------------------

/// The tenant's most recent completed cycle.
async fn last_completed(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Option<Cycle>, StoreError> {
    let row: Option<CycleRow> = sqlx::query_as(concat!(
        "select ",
        cycle_columns!(),
        " from optimization_cycles where tenant_id = $1 and status = 'completed' \
         order by created_at desc, id desc limit 1"
    ))
    .bind(tenant.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?;
    row.map(|row| row.into_cycle(tenant)).transpose()
}

// ---- the store -----------------------------------------------------------------

#[async_trait]
impl CycleStore for PostgresStore {
    async fn record_cycle(
        &self,
        cycle: &Cycle,
        actions: &[OptimizationAction],
        audit: Option<NewAuditEntry>,
        min_gap: Option<chrono::Duration>,
    ) -> Result<(), StoreError> {
        let tenant = cycle.tenant_id;
        rules::check_cycle(cycle, actions)?;
        let mut tx = self.begin_tenant(tenant).await?;
        // Held until the transaction ends, and taken by every recording (with
        // or without `min_gap`): no other cycle of the
        // tenant is written between the check below and this commit.
        sqlx::query("select pg_advisory_xact_lock($1, hashtext($2))")
            .bind(CYCLE_LOCK_CLASS)
            .bind(tenant.to_string())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        if min_gap.is_some() {
            let last = last_completed(&mut tx, tenant).await?;
            if let Err(refused) = rules::check_cycle_gap(cycle, last.as_ref(), min_gap) {
                tx.rollback().await.map_err(store_error)?;
                return Err(refused);
            }
        }
        sqlx::query(
            "insert into optimization_cycles
                 (tenant_id, id, trigger_type, trigger_source, triggered_at, status,
                  binding_constraint, priority_metric, input, output, error, notes, created_at,
                  completed_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(tenant.as_uuid())
        .bind(cycle.id)
        .bind(&cycle.trigger_type)
        .bind(&cycle.trigger_source)
        .bind(cycle.triggered_at)
        .bind(cycle.status.as_str())
        .bind(&cycle.binding_constraint)
        .bind(&cycle.priority_metric)
        .bind(Json(&cycle.input))
        .bind(cycle.output.as_ref().map(Json))
        .bind(cycle.error.as_ref().map(Json))
        .bind(Json(&cycle.notes))
        .bind(cycle.created_at)
        .bind(cycle.completed_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        for a in actions {
            sqlx::query(
                "insert into optimization_actions
                     (tenant_id, id, cycle_id, action_id, priority, owner_subsystem, action_type,
                      target_metric, target_entity_type, target_entity_id, proposed_change, spec,
                      status, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(tenant.as_uuid())
            .bind(a.id)
            .bind(cycle.id)
            .bind(&a.action_id)
            .bind(priority_db(a.priority)?)
            .bind(&a.owner_subsystem)
            .bind(&a.action_type)
            .bind(&a.target_metric)
            .bind(&a.target_entity_type)
            .bind(&a.target_entity_id)
            .bind(Json(&a.proposed_change))
            .bind(Json(&a.spec))
            .bind(OptimizationActionStatus::Pending.as_str())
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        if let Some(entry) = audit {
            crate::audit::append_entry(&mut tx, tenant, entry).await?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn last_completed_cycle(&self, tenant: TenantId) -> Result<Option<Cycle>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let cycle = last_completed(&mut tx, tenant).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(cycle)
    }

    async fn cycles_matching(
        &self,
        tenant: TenantId,
        filter: &CycleFilter,
    ) -> Result<Vec<Cycle>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let dir = sql_direction(filter.order);
        let sql = format!(
            "select {} from optimization_cycles where tenant_id = $1 \
             and ($3::timestamptz is null or (created_at, id) {} ($3::timestamptz, $4::uuid)) \
             order by created_at {dir}, id {dir} limit $2",
            cycle_columns!(),
            keyset_cmp(filter.order),
        );
        let rows: Vec<CycleRow> = sqlx::query_as(
            // Built from fixed fragments: the order picks `<`/`>` and `asc`/`desc`.
            sqlx::AssertSqlSafe(sql),
        )
        .bind(tenant.as_uuid())
        .bind(i64::from(rules::cycle_page_limit(
            filter.limit.unwrap_or(100),
        )))
        .bind(filter.after.map(|(at, _)| at))
        .bind(filter.after.map(|(_, id)| id))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        cycles(rows, tenant)
    }

    async fn count_cycles(&self, tenant: TenantId) -> Result<u64, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let (n,): (i64,) =
            sqlx::query_as("select count(*) from optimization_cycles where tenant_id = $1")
                .bind(tenant.as_uuid())
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn get_cycle(&self, tenant: TenantId, id: Uuid) -> Result<Option<Cycle>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let row: Option<CycleRow> = sqlx::query_as(concat!(
            "select ",
            cycle_columns!(),
            " from optimization_cycles where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        row.map(|row| row.into_cycle(tenant)).transpose()
    }

    async fn cycle_actions(
        &self,
        tenant: TenantId,
        cycle: Uuid,
    ) -> Result<Vec<OptimizationAction>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<ActionRow> = sqlx::query_as(concat!(
            "select ",
            action_columns!(),
            " from optimization_actions where tenant_id = $1 and cycle_id = $2 \
             order by priority, action_id, id"
        ))
        .bind(tenant.as_uuid())
        .bind(cycle)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        actions(rows, tenant)
    }

    async fn actions_in_status(
        &self,
        tenant: TenantId,
        status: OptimizationActionStatus,
        limit: u32,
    ) -> Result<Vec<OptimizationAction>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<ActionRow> = sqlx::query_as(concat!(
            "select ",
            action_columns!(),
            " from optimization_actions where tenant_id = $1 and status = $2 \
             order by created_at, id limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(status.as_str())
        .bind(i64::from(rules::cycle_page_limit(limit)))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        actions(rows, tenant)
    }

    async fn set_optimization_action_status(
        &self,
        tenant: TenantId,
        id: Uuid,
        from: OptimizationActionStatus,
        to: OptimizationActionStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let moved = sqlx::query(
            "update optimization_actions set status = $4, updated_at = $5
             where tenant_id = $1 and id = $2 and status = $3",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(support::now_at(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(moved == 1)
    }

    async fn put_action_result(&self, result: &ActionResultRecord) -> Result<(), StoreError> {
        let tenant = result.tenant_id;
        let mut tx = self.begin_tenant(tenant).await?;
        let cycle: Option<Uuid> = sqlx::query_scalar(
            "select cycle_id from optimization_actions where tenant_id = $1 and id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(result.action_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        match cycle {
            None => {
                return Err(StoreError::Invalid(format!(
                    "reference to a record that does not exist: optimization action {}",
                    result.action_id
                )));
            }
            Some(cycle) if cycle != result.cycle_id => {
                return Err(StoreError::Invalid(format!(
                    "optimization action {} belongs to cycle {cycle}, not {}",
                    result.action_id, result.cycle_id
                )));
            }
            Some(_) => {}
        }
        sqlx::query(
            "insert into optimization_action_results
                 (tenant_id, id, action_id, cycle_id, target_metric, baseline_value,
                  observed_value, delta, confidence, outcome, baseline_recorded_at, measured_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             on conflict (tenant_id, id) do update set
                 action_id = excluded.action_id,
                 cycle_id = excluded.cycle_id,
                 target_metric = excluded.target_metric,
                 baseline_value = excluded.baseline_value,
                 observed_value = excluded.observed_value,
                 delta = excluded.delta,
                 confidence = excluded.confidence,
                 outcome = excluded.outcome,
                 baseline_recorded_at = excluded.baseline_recorded_at,
                 measured_at = excluded.measured_at",
        )
        .bind(tenant.as_uuid())
        .bind(result.id)
        .bind(result.action_id)
        .bind(result.cycle_id)
        .bind(&result.target_metric)
        .bind(result.baseline_value)
        .bind(result.observed_value)
        .bind(result.delta)
        .bind(result.confidence)
        .bind(&result.outcome)
        .bind(result.baseline_recorded_at)
        .bind(result.measured_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn action_results(
        &self,
        tenant: TenantId,
        measured_since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<ActionResultRecord>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<ResultRow> = sqlx::query_as(concat!(
            "select ",
            result_columns!(),
            " from optimization_action_results \
             where tenant_id = $1 and ($2::timestamptz is null or measured_at >= $2) \
             order by baseline_recorded_at desc, id desc limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(measured_since)
        .bind(i64::from(rules::cycle_page_limit(limit)))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_result(tenant))
            .collect())
    }

    async fn cycle_results(
        &self,
        tenant: TenantId,
        cycle: Uuid,
    ) -> Result<Vec<ActionResultRecord>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<ResultRow> = sqlx::query_as(concat!(
            "select ",
            result_columns!(),
            " from optimization_action_results \
             where tenant_id = $1 and cycle_id = $2 \
             order by baseline_recorded_at, id"
        ))
        .bind(tenant.as_uuid())
        .bind(cycle)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_result(tenant))
            .collect())
    }
}
