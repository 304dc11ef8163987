//! Identifier newtypes shared by every layer.
//!
//! A [`TenantId`] can only hold a UUID, so a handler, a storage call or a
//! policy that receives one never has to check it again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;
use uuid::Uuid;

/// The id of a tenant: a UUID, written in its hyphenated lower-case form.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct TenantId(Uuid);

impl TenantId {
    /// The platform itself (the nil UUID): the owner of platform-wide
    /// records such as the audit chain of platform keys. It is not a
    /// customer tenant and never appears in tenant lists.
    pub const PLATFORM: TenantId = TenantId(Uuid::nil());

    /// Whether this is [`TenantId::PLATFORM`].
    pub fn is_platform(&self) -> bool {
        self.0.is_nil()
    }

    /// Wraps a UUID.
    pub const fn from_uuid(id: Uuid) -> Self {
        TenantId(id)
    }

    /// A new random tenant id.
    pub fn new_random() -> Self {
        TenantId(Uuid::new_v4())
    }

    /// The UUID inside.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a tenant id: expected a UUID such as aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa")]
pub struct InvalidTenantId(pub String);

impl FromStr for TenantId {
    type Err = InvalidTenantId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(TenantId)
            .map_err(|_| InvalidTenantId(s.to_owned()))
    }
}

impl From<Uuid> for TenantId {
    fn from(id: Uuid) -> Self {
        TenantId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_hyphenated() {
        let id: TenantId = "AAAAAAAA-aaaa-aaaa-aaaa-aaaaaaaaaaaa".parse().unwrap();
        assert_eq!(id.to_string(), "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
    }

    #[test]
    fn rejects_non_uuids() {
        assert!("tenant-a".parse::<TenantId>().is_err());
        assert!("".parse::<TenantId>().is_err());
        let err = serde_json::from_str::<TenantId>("\"nope\"");
        assert!(err.is_err());
    }
}
