//! [`revos_store::tickets::TicketStore`] on this backend: the `tickets`
//! and `ticket_messages` tables of migration 0017.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::ticket_statements!`].

revos_store_sql::ticket_statements!(crate::SqliteStore);
