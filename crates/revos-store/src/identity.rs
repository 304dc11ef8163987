//! Storage of principals: the API keys that services and AI agents use.
//!
//! A key's secret is never stored: only the SHA-256 of it, next to the
//! key's public id, which is how a presented key is found. Users and
//! memberships (JWT principals) join this module later.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::StoreError;

/// What a key may do. Each scope includes the ones before it:
/// `admin` ⊇ `write` ⊇ `read`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read a tenant's data.
    Read,
    /// Write a tenant's data (ingest, upserts).
    Write,
    /// Manage keys (and, for a platform key, tenants).
    Admin,
}

impl Scope {
    /// The spelling used in JSON and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Parses `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// An API key as it is listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// The public id (the part after `rvs_` and before the secret).
    pub id: String,
    /// A name to recognise it by.
    pub name: String,
    /// The tenant it acts for; absent for a platform key, which may act
    /// for every tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The AI agent it identifies, when it is an agent's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last presented (updated at most once a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key authenticates nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A stored key with the hash its secret is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    /// The key.
    pub key: ApiKey,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
}

/// Storage of API keys; part of [`crate::Store`].
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Stores a new key. [`StoreError::TenantNotFound`] if its tenant does
    /// not exist; [`StoreError::Conflict`] if the id is taken.
    async fn create_api_key(&self, key: &ApiKey, secret_hash: &str) -> Result<(), StoreError>;

    /// The key with this public id, revoked or not.
    async fn find_api_key(&self, id: &str) -> Result<Option<StoredApiKey>, StoreError>;

    /// Keys of one tenant, or of all tenants and the platform when `None`,
    /// oldest first.
    async fn list_api_keys(&self, tenant: Option<TenantId>) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes a key; `false` if there is no such active key.
    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Records that a key was used.
    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Whether an active platform key with the `admin` scope exists.
    async fn has_platform_admin_key(&self) -> Result<bool, StoreError>;
}
