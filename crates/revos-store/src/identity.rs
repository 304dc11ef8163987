//! Storage of principals: the API keys that services and AI agents use.
//!
//! A key's secret is never stored: only the SHA-256 of it, next to the
//! key's public id, which is how a presented key is found. Users and
//! memberships (JWT principals) join this module later.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What a key may do. Each scope includes the ones before it:
/// `admin` ⊇ `write` ⊇ `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The public id (the part after `rvs_` and before the secret).
    pub id: String,
    /// A name to recognise it by.
    pub name: String,
    /// The tenant it acts for; absent for a platform key, which may act
    /// for every tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// A user's role in a tenant. Roles map to scopes: `owner` and `admin` →
/// `admin`; `operator` and `approver` → `write`; `viewer` → `read`. An
/// `approver` will also decide approvals; only an `owner` may make or
/// remove owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Looks.
    Viewer,
    /// Decides approvals; writes.
    Approver,
    /// Runs the tenant day to day: writes.
    Operator,
    /// Manages keys, members (not owners) and settings.
    Admin,
    /// Everything, including other owners.
    Owner,
}

impl Role {
    /// The spelling used in JSON, SQL and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "approver" => Some(Role::Approver),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    /// The scope the role grants.
    pub const fn scope(self) -> Scope {
        match self {
            Role::Viewer => Scope::Read,
            Role::Approver | Role::Operator => Scope::Write,
            Role::Admin | Role::Owner => Scope::Admin,
        }
    }
}

/// A user's membership of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The user: the `sub` claim of their identity provider's tokens.
    pub subject: String,
    /// Their role.
    pub role: Role,
    /// When it was granted (or last changed).
    pub granted_at: DateTime<Utc>,
}

/// Storage of user memberships; part of [`crate::Store`].
#[async_trait]
pub trait MembershipStore: Send + Sync {
    /// Grants `subject` a role in `tenant`, replacing any role it had.
    /// [`StoreError::TenantNotFound`] if the tenant does not exist.
    async fn put_membership(
        &self,
        tenant: TenantId,
        subject: &str,
        role: Role,
        at: DateTime<Utc>,
    ) -> Result<Membership, StoreError>;

    /// Removes `subject` from `tenant`; `false` if it was not a member.
    async fn remove_membership(&self, tenant: TenantId, subject: &str) -> Result<bool, StoreError>;

    /// A tenant's members, ordered by subject.
    async fn list_memberships(&self, tenant: TenantId) -> Result<Vec<Membership>, StoreError>;

    /// Every tenant `subject` belongs to (used when a user authenticates,
    /// before any tenant is known), ordered by tenant id.
    async fn memberships_of(&self, subject: &str) -> Result<Vec<Membership>, StoreError>;
}
