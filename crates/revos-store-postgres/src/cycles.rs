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
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::cycle_statements!`].

use crate::store_error;
use revos_contracts::TenantId;
use revos_store::StoreError;
use sqlx::PgConnection;

revos_store_sql::cycle_statements!(crate::PostgresStore);

/// The first key of the cycles' advisory locks ("CYCL"), so they never
/// collide with the audit log's or other advisory locks.
const CYCLE_LOCK_CLASS: i32 = 0x4359_434C;

/// Makes the `min_gap` check and the insert of a cycle one step: a
/// transaction-scoped advisory lock on the tenant, held until the
/// transaction ends and taken by every recording (with or without
/// `min_gap`), so no other cycle of the tenant is written between the
/// check and the commit.
async fn lock_cycles(conn: &mut PgConnection, tenant: TenantId) -> Result<(), StoreError> {
    sqlx::query("select pg_advisory_xact_lock($1, hashtext($2))")
        .bind(CYCLE_LOCK_CLASS)
        .bind(tenant.to_string())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(())
}
