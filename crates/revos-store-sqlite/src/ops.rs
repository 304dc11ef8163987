//! [`revos_store::ops::OpsStore`] on this backend: the `tool_policies`,
//! `agent_actions` and `approvals` tables of migration 0015.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::ops_statements!`].

revos_store_sql::ops_statements!(crate::SqliteStore);
