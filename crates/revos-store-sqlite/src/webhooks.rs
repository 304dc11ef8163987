//! [`revos_store::webhooks::WebhookStore`] on this backend: the
//! `webhook_secrets` table of migration 0004 and `events_raw` of 0001.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::webhook_statements!`].

revos_store_sql::webhook_statements!(crate::SqliteStore);
