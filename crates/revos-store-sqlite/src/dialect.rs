//! How this backend encodes what the shared statements bind.
//!
//! The statements both backends run are written once in
//! [`revos_store_sql::statements`], as macros expanded in this crate's
//! modules; they call the functions here by name (`crate::dialect::…`)
//! wherever SQLite and PostgreSQL store a value differently. On SQLite a
//! tenant id is hyphenated TEXT, a time fixed-width RFC 3339 TEXT, a JSON
//! document TEXT, a count an INTEGER, and a list one JSON array that the
//! statement reads with `json_each` ([`in_list!`]).

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

pub(crate) use crate::{corrupt, is_unique_violation, store_error};

/// The connection the shared statements run on.
pub(crate) type Conn = sqlx::SqliteConnection;

/// The stored form of a tenant id.
pub(crate) fn tid(tenant: TenantId) -> Hyphenated {
    tenant.as_uuid().hyphenated()
}

/// The stored form of a timestamp: fixed-width RFC 3339 in UTC with
/// microseconds, so that comparing the text compares the times.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The stored form of a JSON document: its text.
pub(crate) fn doc<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    revos_store::support::json_text(value)
}

/// The stored form of a count: an INTEGER holds every `u32`.
pub(crate) fn count(_what: &str, n: u32) -> Result<i64, StoreError> {
    Ok(i64::from(n))
}

/// Strings as one JSON array, for a TEXT column or [`in_list!`].
pub(crate) fn text_list<S: AsRef<str>>(items: &[S]) -> Result<String, StoreError> {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    revos_store::support::json_text(&items)
}

/// Ids as one JSON array of hyphenated text, for [`in_list!`].
pub(crate) fn id_list(ids: &[Uuid]) -> Result<String, StoreError> {
    let ids: Vec<String> = ids.iter().map(|id| id.hyphenated().to_string()).collect();
    text_list(&ids)
}

/// `in` the list bound at the placeholder (a [`text_list`] or an
/// [`id_list`]), as a fragment for `concat!`.
macro_rules! in_list {
    ($param:literal) => {
        concat!("in (select value from json_each(", $param, "))")
    };
}
pub(crate) use in_list;

/// Which backend this is.
pub(crate) const BACKEND: revos_store::Backend = revos_store::Backend::Sqlite;

/// Records per batch: all of them. SQLite writes row by row in its one
/// transaction; a statement costs no round trip, so there is nothing to
/// gain by chunks.
pub(crate) const BATCH: usize = usize::MAX;

/// The collation that orders text by its bytes (SQLite's default, named),
/// as a fragment for `concat!`.
macro_rules! bytewise {
    () => {
        "collate binary"
    };
}
pub(crate) use bytewise;

/// A boolean column that is set, as a fragment for `concat!`: `= 1`, the
/// form the partial indexes name (SQLite uses such an index only for the
/// very term of its `where`).
macro_rules! is_set {
    ($column:literal) => {
        concat!($column, " = 1")
    };
}
pub(crate) use is_set;
