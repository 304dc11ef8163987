//! The layer both SQL backends of the revos store share: rows and statements.
//!
//! `revos-store-sqlite` and `revos-store-postgres` run mostly the same
//! statements, and what a query returns is the same record on both. This
//! crate holds, once, the row structs those queries decode into
//! (`#[derive(sqlx::FromRow)]` is generic over the database's row type, so
//! one struct serves both) and one conversion from each row to its
//! [`revos_store`] record. Where the schemas store a value in different
//! column types, the row uses [`DbId`] or [`DbInt`], which read either form;
//! where that is not enough, the backend's SQL casts the column.
//!
//! The column lists of the rows are exported as macros (`event_columns!()`
//! and the like) so each statement is built with `concat!` as one static
//! string, in the row's order. The statements themselves, where the
//! dialects agree, are written once in [`statements`] and expanded in each
//! backend over its encodings; what the dialects do differently
//! (`SKIP LOCKED`, `unnest`, `json_each`, advisory locks, notifications,
//! migrations) stays in the backend crates.
pub mod audit;
pub mod cycles;
pub mod events;
pub mod forms;
pub mod identity;
pub mod ops;
pub mod posts;
pub mod queue;
pub mod records;
pub mod statements;
pub mod templates;
pub mod tickets;
pub mod types;
pub mod webhooks;

pub use types::{DbId, DbInt};

use revos_store::StoreError;

/// The error for a stored value this code cannot read back (a status it
/// does not know, a count out of range): the data, not the caller, is at
/// fault.
pub fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Backend(format!("unexpected stored {what} `{value}`"))
}
