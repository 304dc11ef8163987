//! How this backend encodes what the shared statements bind.
//!
//! The statements both backends run are written once in
//! [`revos_store_sql::statements`], as macros expanded in this crate's
//! modules; they call the functions here by name (`crate::dialect::…`)
//! wherever SQLite and PostgreSQL store a value differently. On PostgreSQL
//! ids and times bind as themselves (`uuid`, `timestamptz`), a JSON
//! document as `jsonb`, a count as an `integer`, and a list as an array
//! that the statement reads with `= any(…)` ([`in_list!`]).

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use sqlx::types::Json;
use uuid::Uuid;

pub(crate) use crate::{corrupt, is_unique_violation, store_error};

/// The connection the shared statements run on.
pub(crate) type Conn = sqlx::PgConnection;

/// The stored form of a tenant id.
pub(crate) fn tid(tenant: TenantId) -> Uuid {
    *tenant.as_uuid()
}

/// The stored form of a timestamp: a `timestamptz` binds as it is.
pub(crate) fn ts(at: DateTime<Utc>) -> DateTime<Utc> {
    at
}

/// The stored form of a JSON document: `jsonb`.
pub(crate) fn doc<T: serde::Serialize + ?Sized>(value: &T) -> Result<Json<&T>, StoreError> {
    Ok(Json(value))
}

/// A count to store, [`StoreError::Invalid`] beyond an `integer`.
pub(crate) fn count(what: &str, n: u32) -> Result<i32, StoreError> {
    i32::try_from(n).map_err(|_| StoreError::Invalid(format!("{what} {n} is too large")))
}

/// Strings as an array, for [`in_list!`].
pub(crate) fn text_list<S>(items: &[S]) -> Result<&[S], StoreError> {
    Ok(items)
}

/// Ids as a `uuid[]`, for [`in_list!`].
pub(crate) fn id_list(ids: &[Uuid]) -> Result<&[Uuid], StoreError> {
    Ok(ids)
}

/// `= any` of the array bound at the placeholder, as a fragment for
/// `concat!`.
macro_rules! in_list {
    ($param:literal) => {
        concat!("= any(", $param, ")")
    };
}
pub(crate) use in_list;

/// Which backend this is.
pub(crate) const BACKEND: revos_store::Backend = revos_store::Backend::Postgres;

/// Records per batch statement ([`crate::CHUNK`]).
pub(crate) const BATCH: usize = crate::CHUNK;

/// The collation that orders text by its bytes, as SQLite's `binary` does
/// (whatever the database's locale), as a fragment for `concat!`.
macro_rules! bytewise {
    () => {
        "collate \"C\""
    };
}
pub(crate) use bytewise;

/// A boolean column that is set, as a fragment for `concat!`.
macro_rules! is_set {
    ($column:literal) => {
        $column
    };
}
pub(crate) use is_set;
