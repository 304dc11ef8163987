//! [`revos_store::identity::MembershipStore`] on SQLite: the `memberships`
//! table of migration 0007.
//!
//! Grants, removals and listings run in a transaction that first checks the
//! tenant exists, like every tenant call of this backend. The look-up of a
//! subject's tenants, made when a user authenticates and before any tenant
//! is known, is a plain query on the `(subject, tenant_id)` index.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::membership_statements!`].

/// The rows the look-up of a subject's tenants reads: the table, through
/// its `(subject, tenant_id)` index.
macro_rules! subject_memberships {
    () => {
        "memberships where subject = $1"
    };
}

revos_store_sql::membership_statements!(crate::SqliteStore);
