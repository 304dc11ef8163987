//! API keys, scopes, roles and memberships as the API shows them.
//!
//! The key routes (`routes::keys`), the member routes (`routes::tenants`)
//! and `GET /v1/me` answer with these; each converts from the store's
//! record or the kernel's result, and the requests convert into the
//! kernel's input.

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_kernel::identity::auth as kernel;
use revos_store::identity as store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a key may do. Each scope includes the ones before it:
/// `admin` ⊇ `write` ⊇ `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scope {
    /// Read a tenant's data.
    Read,
    /// Write a tenant's data (ingest, upserts).
    Write,
    /// Manage keys (and, for a platform key, tenants).
    Admin,
}

impl From<store::Scope> for Scope {
    fn from(scope: store::Scope) -> Self {
        match scope {
            store::Scope::Read => Scope::Read,
            store::Scope::Write => Scope::Write,
            store::Scope::Admin => Scope::Admin,
        }
    }
}

impl From<Scope> for store::Scope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Read => store::Scope::Read,
            Scope::Write => store::Scope::Write,
            Scope::Admin => store::Scope::Admin,
        }
    }
}

/// A user's role in a tenant. Roles map to scopes: `owner` and `admin` →
/// `admin`; `operator` and `approver` → `write`; `viewer` → `read`. An
/// `approver` will also decide approvals; only an `owner` may make or
/// remove owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
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

impl From<store::Role> for Role {
    fn from(role: store::Role) -> Self {
        match role {
            store::Role::Viewer => Role::Viewer,
            store::Role::Approver => Role::Approver,
            store::Role::Operator => Role::Operator,
            store::Role::Admin => Role::Admin,
            store::Role::Owner => Role::Owner,
        }
    }
}

impl From<Role> for store::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Viewer => store::Role::Viewer,
            Role::Approver => store::Role::Approver,
            Role::Operator => store::Role::Operator,
            Role::Admin => store::Role::Admin,
            Role::Owner => store::Role::Owner,
        }
    }
}

/// An API key as it is listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct ApiKey {
    /// The public id (the part after `rvs_` and before the secret).
    pub(crate) id: String,
    /// A name to recognise it by.
    pub(crate) name: String,
    /// The tenant it acts for; absent for a platform key, which may act
    /// for every tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// What it may do.
    pub(crate) scopes: Vec<Scope>,
    /// The AI agent it identifies, when it is an agent's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<String>,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// When it was last presented (updated at most once a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; a revoked key authenticates nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revoked_at: Option<DateTime<Utc>>,
}

impl From<store::ApiKey> for ApiKey {
    fn from(key: store::ApiKey) -> Self {
        let store::ApiKey {
            id,
            name,
            tenant_id,
            scopes,
            agent,
            created_at,
            last_used_at,
            revoked_at,
        } = key;
        ApiKey {
            id,
            name,
            tenant_id,
            scopes: scopes.into_iter().map(Scope::from).collect(),
            agent,
            created_at,
            last_used_at,
            revoked_at,
        }
    }
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiKey {
    /// A name to recognise it by (1–200 characters).
    pub(crate) name: String,
    /// The tenant it acts for; absent for a platform key (only a platform
    /// admin may create one). A tenant admin's keys default to its tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub(crate) tenant_id: Option<TenantId>,
    /// What it may do; never more than the creator holds.
    pub(crate) scopes: Vec<Scope>,
    /// The AI agent it identifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<String>,
}

impl From<NewApiKey> for kernel::NewApiKey {
    fn from(key: NewApiKey) -> Self {
        let NewApiKey {
            name,
            tenant_id,
            scopes,
            agent,
        } = key;
        kernel::NewApiKey {
            name,
            tenant_id,
            scopes: scopes.into_iter().map(store::Scope::from).collect(),
            agent,
        }
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct IssuedApiKey {
    /// The full key to present as `Authorization: Bearer …`. Store it now:
    /// it cannot be shown again.
    pub(crate) token: String,
    /// The key's record.
    pub(crate) key: ApiKey,
}

impl From<kernel::IssuedApiKey> for IssuedApiKey {
    fn from(issued: kernel::IssuedApiKey) -> Self {
        let kernel::IssuedApiKey { token, key } = issued;
        IssuedApiKey {
            token,
            key: key.into(),
        }
    }
}

/// A user's membership of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Membership {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The user: the `sub` claim of their identity provider's tokens.
    pub(crate) subject: String,
    /// Their role.
    pub(crate) role: Role,
    /// When it was granted (or last changed).
    pub(crate) granted_at: DateTime<Utc>,
}

impl From<store::Membership> for Membership {
    fn from(membership: store::Membership) -> Self {
        let store::Membership {
            tenant_id,
            subject,
            role,
            granted_at,
        } = membership;
        Membership {
            tenant_id,
            subject,
            role: role.into(),
            granted_at,
        }
    }
}
