//! Column types that decode to the same Rust value on both databases.
//!
//! The two schemas store the same facts in different column types: a uuid
//! is hyphenated lower-case TEXT on SQLite and a native `uuid` on
//! PostgreSQL; a count is an INTEGER (64 bits) on SQLite and an `int2`,
//! `int4` or `int8` on PostgreSQL. [`DbId`] and [`DbInt`] read either form,
//! each by delegating to sqlx's own implementation for that database, so a
//! row struct that uses them serves both backends.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

/// A uuid column: hyphenated TEXT on SQLite, `uuid` on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DbId(pub Uuid);

impl DbId {
    /// The uuid.
    pub fn into_uuid(self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for DbId {
    fn from(id: Uuid) -> Self {
        DbId(id)
    }
}

impl From<DbId> for Uuid {
    fn from(id: DbId) -> Self {
        id.0
    }
}

impl Type<Sqlite> for DbId {
    fn type_info() -> SqliteTypeInfo {
        <Hyphenated as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <Hyphenated as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for DbId {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <Hyphenated as Decode<'r, Sqlite>>::decode(value).map(|id| DbId(id.into_uuid()))
    }
}

impl Encode<'_, Sqlite> for DbId {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <Hyphenated as Encode<'_, Sqlite>>::encode(self.0.hyphenated(), buf)
    }
}

impl Type<Postgres> for DbId {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Uuid as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for DbId {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <Uuid as Decode<'r, Postgres>>::decode(value).map(DbId)
    }
}

impl Encode<'_, Postgres> for DbId {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Uuid as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// An integer column, widened to `i64`: INTEGER on SQLite; `int2`, `int4`
/// or `int8` on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DbInt(pub i64);

impl DbInt {
    /// The value as `u32`, or a [`revos_store::StoreError::Backend`] naming
    /// `what` when it does not fit (a negative or oversized stored count).
    pub fn to_u32(self, what: &str) -> Result<u32, revos_store::StoreError> {
        u32::try_from(self.0).map_err(|_| crate::corrupt(what, &self.0.to_string()))
    }

    /// The value as `i32`, or a [`revos_store::StoreError::Backend`] naming
    /// `what` when it does not fit.
    pub fn to_i32(self, what: &str) -> Result<i32, revos_store::StoreError> {
        i32::try_from(self.0).map_err(|_| crate::corrupt(what, &self.0.to_string()))
    }

    /// The value as `u64`, or a [`revos_store::StoreError::Backend`] naming
    /// `what` when it is negative.
    pub fn to_u64(self, what: &str) -> Result<u64, revos_store::StoreError> {
        u64::try_from(self.0).map_err(|_| crate::corrupt(what, &self.0.to_string()))
    }
}

impl Type<Sqlite> for DbInt {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for DbInt {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<'r, Sqlite>>::decode(value).map(DbInt)
    }
}

impl Encode<'_, Sqlite> for DbInt {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'_, Sqlite>>::encode_by_ref(&self.0, buf)
    }
}

impl Type<Postgres> for DbInt {
    fn type_info() -> PgTypeInfo {
        <i64 as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <i64 as Type<Postgres>>::compatible(ty)
            || <i32 as Type<Postgres>>::compatible(ty)
            || <i16 as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for DbInt {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        // sqlx's integer decoder reads any width of big-endian integer (and
        // the text form), so the `int8` decoder serves `int2` and `int4`.
        <i64 as Decode<'r, Postgres>>::decode(value).map(DbInt)
    }
}

impl Encode<'_, Postgres> for DbInt {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_out_of_range_are_corrupt() {
        assert_eq!(DbInt(7).to_u32("attempts").ok(), Some(7));
        assert!(DbInt(-1).to_u32("attempts").is_err());
        assert!(DbInt(i64::from(u32::MAX) + 1).to_u32("attempts").is_err());
        assert!(DbInt(i64::from(i32::MAX) + 1).to_i32("priority").is_err());
        assert_eq!(DbInt(-3).to_i32("priority").ok(), Some(-3));
        assert!(DbInt(-1).to_u64("timeout").is_err());
    }

    #[test]
    fn postgres_integers_of_every_width_are_compatible() {
        for ty in [
            <i16 as Type<Postgres>>::type_info(),
            <i32 as Type<Postgres>>::type_info(),
            <i64 as Type<Postgres>>::type_info(),
        ] {
            assert!(<DbInt as Type<Postgres>>::compatible(&ty));
        }
        let text = <String as Type<Postgres>>::type_info();
        assert!(!<DbInt as Type<Postgres>>::compatible(&text));
    }

    #[tokio::test]
    async fn sqlite_reads_text_uuids_and_integers() -> Result<(), sqlx::Error> {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
        let id = Uuid::new_v4();
        let (back, n): (DbId, DbInt) = sqlx::query_as("select ?1, ?2")
            .bind(DbId(id))
            .bind(DbInt(42))
            .fetch_one(&mut conn)
            .await?;
        assert_eq!(back, DbId(id));
        assert_eq!(n, DbInt(42));
        let text: String = sqlx::query_scalar("select ?1")
            .bind(DbId(id))
            .fetch_one(&mut conn)
            .await?;
        assert_eq!(text, id.hyphenated().to_string());
        Ok(())
    }
}
