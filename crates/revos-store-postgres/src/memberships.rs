//! [`revos_store::identity::MembershipStore`] on PostgreSQL: the
//! `memberships` table of migration 0007.
//!
//! Grants, removals and listings run in a tenant transaction
//! ([`crate::PostgresStore::begin_tenant`]), so the table's `tenant_isolation`
//! policy confines them to that tenant. The look-up of a subject's tenants,
//! made when a user authenticates and before any tenant is known, cannot
//! name one: it goes through the SECURITY DEFINER function
//! `revos_memberships_of` of migration 0007, which reads nothing else.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::membership_statements!`].

/// The rows the look-up of a subject's tenants reads: the SECURITY
/// DEFINER function of migration 0007 (the pool's role sees no row
/// without a tenant). It orders its rows too, but the order of a
/// set-returning function's rows is only a promise once the query says it.
macro_rules! subject_memberships {
    () => {
        "revos_memberships_of($1)"
    };
}

revos_store_sql::membership_statements!(crate::PostgresStore);
