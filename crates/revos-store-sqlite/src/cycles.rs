//! [`revos_store::cycles::CycleStore`] on this backend: the
//! `optimization_cycles`, `optimization_actions` and
//! `optimization_action_results` tables of migration 0001, with the
//! `notes` column and the `(tenant_id, status, created_at)` index of
//! migration 0011.
//!
//! [`CycleStore::record_cycle`] writes the cycle, its actions and its audit
//! entry (through `audit::append_entry`, the append of the tenant
//! transaction) in one `BEGIN IMMEDIATE` transaction. That transaction
//! holds the database's one write lock from its first statement, so the
//! `min_gap` check (read the tenant's last completed cycle, then write)
//! cannot interleave with another cycle's: two cycles recorded at the same
//! moment run one after the other, and the second sees the first.
//!
//! The rules the tables do not enforce are kept here, identically on both
//! backends: a cycle's `status` is `completed` or `failed` (the column is
//! free text), its `notes` are a JSON object, every action names the cycle
//! and its tenant, a failed cycle has no actions, and an action result
//! names a stored action of its cycle. Every write runs in a `BEGIN
//! IMMEDIATE` transaction, which is what makes
//! [`CycleStore::set_optimization_action_status`] a compare-and-set.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::cycle_statements!`].

use revos_contracts::TenantId;
use revos_store::StoreError;
use sqlx::sqlite::SqliteConnection;

revos_store_sql::cycle_statements!(crate::SqliteStore);

/// Makes the `min_gap` check and the insert of a cycle one step: nothing
/// to take, since the write transaction holds the database's one write
/// lock from its first statement.
async fn lock_cycles(_conn: &mut SqliteConnection, _tenant: TenantId) -> Result<(), StoreError> {
    Ok(())
}
