//! The one error type of the storage layer.
//!
//! Backends translate their driver errors into these variants so that the
//! layers above can answer a client correctly (a missing tenant is a 404, a
//! taken id a conflict) without knowing which database is underneath.

use revos_contracts::TenantId;

/// What a storage call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The tenant does not exist.
    #[error("tenant {0} not found")]
    TenantNotFound(TenantId),
    /// A record with this identity already exists.
    #[error("{entity} `{id}` already exists")]
    Conflict {
        /// The kind of record (`tenant`, …).
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The data breaks a rule the database enforces (a reference to a
    /// record that does not exist, a value out of range).
    #[error("invalid data: {0}")]
    Invalid(String),
    /// The database cannot be reached or refused the connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other failure of the database or driver.
    #[error("database error: {0}")]
    Backend(String),
}
