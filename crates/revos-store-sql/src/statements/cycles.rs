//! The optimization cycles' statements: [`revos_store::cycles::CycleStore`],
//! written once for both backends.
//!
//! [`cycle_statements!`](crate::cycle_statements) expands in a backend's
//! `cycles.rs` to the `CycleStore` implementation. What differs stays in the
//! backend: `super::lock_cycles`, which makes the `min_gap` check and the
//! insert of a cycle one step (a no-op on SQLite, whose write transaction
//! already holds the database's one write lock; an advisory lock on
//! PostgreSQL).

/// Expands to the `CycleStore` implementation for the store type `$store`
/// (see the [module](crate::statements::cycles)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! cycle_statements {
    ($store:ty) => {
        /// The cycle statements both backends share, expanded from
        /// `revos_store_sql::cycle_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use super::lock_cycles;
            use crate::dialect::{Conn, count, doc, store_error, tid, ts};
            use $crate::DbId;
            use $crate::cycles::{ActionRow, CycleRow, ResultRow, actions, cycles};
            use $crate::{
                cycle_columns, optimization_action_columns as action_columns, result_columns,
            };
            use ::chrono::{DateTime, Utc};
            use ::revos_contracts::TenantId;
            use ::revos_store::audit::NewAuditEntry;
            use ::revos_store::cycles::{
                ActionResultRecord, Cycle, CycleFilter, CycleStore, OptimizationAction,
                OptimizationActionStatus,
            };
            use ::revos_store::listing::{keyset_cmp, sql_direction};
            use ::revos_store::{StoreError, rules, support};
            use ::uuid::Uuid;

        // ---- reads on a connection -----------------------------------------------------

        /// The tenant's most recent completed cycle.
        async fn last_completed(
            conn: &mut Conn,
            tenant: TenantId,
        ) -> Result<Option<Cycle>, StoreError> {
            let row: Option<CycleRow> = ::sqlx::query_as(concat!(
                "select ",
                cycle_columns!(),
                " from optimization_cycles where tenant_id = $1 and status = 'completed' \
                 order by created_at desc, id desc limit 1"
            ))
            .bind(tid(tenant))
            .fetch_optional(&mut *conn)
            .await
            .map_err(store_error)?;
            row.map(|row| row.into_cycle(tenant)).transpose()
        }

        // ---- the store -----------------------------------------------------------------

        #[::async_trait::async_trait]
        impl CycleStore for $store {
            async fn record_cycle(
                &self,
                cycle: &Cycle,
                actions: &[OptimizationAction],
                audit: Option<NewAuditEntry>,
                min_gap: Option<chrono::Duration>,
            ) -> Result<(), StoreError> {
                let tenant = cycle.tenant_id;
                rules::check_cycle(cycle, actions)?;
                let mut tx = self.write_tenant(tenant).await?;
                // No other cycle of the tenant is written between the check below
                // and this commit (SQLite's write lock; PostgreSQL's advisory lock).
                lock_cycles(&mut tx, tenant).await?;
                if min_gap.is_some() {
                    let last = last_completed(&mut tx, tenant).await?;
                    if let Err(refused) = rules::check_cycle_gap(cycle, last.as_ref(), min_gap) {
                        tx.rollback().await.map_err(store_error)?;
                        return Err(refused);
                    }
                }
                ::sqlx::query(
                    "insert into optimization_cycles
                         (tenant_id, id, trigger_type, trigger_source, triggered_at, status,
                          binding_constraint, priority_metric, input, output, error, notes, created_at,
                          completed_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(tid(tenant))
                .bind(DbId(cycle.id))
                .bind(&cycle.trigger_type)
                .bind(&cycle.trigger_source)
                .bind(ts(cycle.triggered_at))
                .bind(cycle.status.as_str())
                .bind(&cycle.binding_constraint)
                .bind(&cycle.priority_metric)
                .bind(doc(&cycle.input)?)
                .bind(cycle.output.as_ref().map(doc).transpose()?)
                .bind(cycle.error.as_ref().map(doc).transpose()?)
                .bind(doc(&cycle.notes)?)
                .bind(ts(cycle.created_at))
                .bind(cycle.completed_at.map(ts))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                for a in actions {
                    ::sqlx::query(
                        "insert into optimization_actions
                             (tenant_id, id, cycle_id, action_id, priority, owner_subsystem, action_type,
                              target_metric, target_entity_type, target_entity_id, proposed_change, spec,
                              status, created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(a.id))
                    .bind(DbId(cycle.id))
                    .bind(&a.action_id)
                    .bind(count("action priority", a.priority)?)
                    .bind(&a.owner_subsystem)
                    .bind(&a.action_type)
                    .bind(&a.target_metric)
                    .bind(&a.target_entity_type)
                    .bind(&a.target_entity_id)
                    .bind(doc(&a.proposed_change)?)
                    .bind(doc(&a.spec)?)
                    .bind(OptimizationActionStatus::Pending.as_str())
                    .bind(ts(a.created_at))
                    .bind(ts(a.updated_at))
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
                let mut tx = self.read_tenant(tenant).await?;
                let cycle = last_completed(&mut tx, tenant).await?;
                tx.commit().await.map_err(store_error)?;
                Ok(cycle)
            }

            async fn cycles_matching(
                &self,
                tenant: TenantId,
                filter: &CycleFilter,
            ) -> Result<Vec<Cycle>, StoreError> {
                let mut tx = self.read_tenant(tenant).await?;
                let dir = sql_direction(filter.order);
                let sql = format!(
                    "select {} from optimization_cycles where tenant_id = $1 \
                     and ($3 is null or (created_at, id) {} ($3, $4)) \
                     order by created_at {dir}, id {dir} limit $2",
                    cycle_columns!(),
                    keyset_cmp(filter.order),
                );
                let rows: Vec<CycleRow> = ::sqlx::query_as(
                    // Built from fixed fragments: the order picks `<`/`>` and `asc`/`desc`.
                    ::sqlx::AssertSqlSafe(sql),
                )
                .bind(tid(tenant))
                .bind(i64::from(rules::cycle_page_limit(
                    filter.limit.unwrap_or(100),
                )))
                .bind(filter.after.map(|(at, _)| ts(at)))
                .bind(filter.after.map(|(_, id)| DbId(id)))
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                cycles(rows, tenant)
            }

            async fn count_cycles(&self, tenant: TenantId) -> Result<u64, StoreError> {
                let mut tx = self.read_tenant(tenant).await?;
                let (n,): (i64,) =
                    ::sqlx::query_as("select count(*) from optimization_cycles where tenant_id = $1")
                        .bind(tid(tenant))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                Ok(u64::try_from(n).unwrap_or_default())
            }

            async fn get_cycle(&self, tenant: TenantId, id: Uuid) -> Result<Option<Cycle>, StoreError> {
                let mut tx = self.read_tenant(tenant).await?;
                let row: Option<CycleRow> = ::sqlx::query_as(concat!(
                    "select ",
                    cycle_columns!(),
                    " from optimization_cycles where tenant_id = $1 and id = $2"
                ))
                .bind(tid(tenant))
                .bind(DbId(id))
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
                let mut tx = self.read_tenant(tenant).await?;
                let rows: Vec<ActionRow> = ::sqlx::query_as(concat!(
                    "select ",
                    action_columns!(),
                    " from optimization_actions where tenant_id = $1 and cycle_id = $2 \
                     order by priority, action_id, id"
                ))
                .bind(tid(tenant))
                .bind(DbId(cycle))
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
                let mut tx = self.read_tenant(tenant).await?;
                let rows: Vec<ActionRow> = ::sqlx::query_as(concat!(
                    "select ",
                    action_columns!(),
                    " from optimization_actions where tenant_id = $1 and status = $2 \
                     order by created_at, id limit $3"
                ))
                .bind(tid(tenant))
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
                let mut tx = self.write_tenant(tenant).await?;
                let moved = ::sqlx::query(
                    "update optimization_actions set status = $4, updated_at = $5
                     where tenant_id = $1 and id = $2 and status = $3",
                )
                .bind(tid(tenant))
                .bind(DbId(id))
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(ts(support::now_at(now)))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected();
                tx.commit().await.map_err(store_error)?;
                Ok(moved == 1)
            }

            async fn put_action_result(&self, result: &ActionResultRecord) -> Result<(), StoreError> {
                let tenant = result.tenant_id;
                let mut tx = self.write_tenant(tenant).await?;
                let cycle: Option<DbId> = ::sqlx::query_scalar(
                    "select cycle_id from optimization_actions where tenant_id = $1 and id = $2",
                )
                .bind(tid(tenant))
                .bind(DbId(result.action_id))
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
                match cycle.map(DbId::into_uuid) {
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
                ::sqlx::query(
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
                .bind(tid(tenant))
                .bind(DbId(result.id))
                .bind(DbId(result.action_id))
                .bind(DbId(result.cycle_id))
                .bind(&result.target_metric)
                .bind(result.baseline_value)
                .bind(result.observed_value)
                .bind(result.delta)
                .bind(result.confidence)
                .bind(&result.outcome)
                .bind(ts(result.baseline_recorded_at))
                .bind(result.measured_at.map(ts))
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
                let mut tx = self.read_tenant(tenant).await?;
                let rows: Vec<ResultRow> = ::sqlx::query_as(concat!(
                    "select ",
                    result_columns!(),
                    " from optimization_action_results \
                     where tenant_id = $1 and ($2 is null or measured_at >= $2) \
                     order by baseline_recorded_at desc, id desc limit $3"
                ))
                .bind(tid(tenant))
                .bind(measured_since.map(ts))
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
                let mut tx = self.read_tenant(tenant).await?;
                let rows: Vec<ResultRow> = ::sqlx::query_as(concat!(
                    "select ",
                    result_columns!(),
                    " from optimization_action_results \
                     where tenant_id = $1 and cycle_id = $2 \
                     order by baseline_recorded_at, id"
                ))
                .bind(tid(tenant))
                .bind(DbId(cycle))
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
        }
    };
}
