//! The rows of identity: `api_keys` and `memberships`.

use crate::{DbId, corrupt};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::identity::{ApiKey, Membership, Role, Scope, StoredApiKey};
use sqlx::types::Json;

/// An `api_keys` row ([`key_columns!`]).
#[derive(sqlx::FromRow)]
pub struct KeyRow {
    id: String,
    tenant_id: Option<DbId>,
    name: String,
    secret_hash: String,
    scopes: Json<Vec<Scope>>,
    agent: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyRow> for StoredApiKey {
    fn from(row: KeyRow) -> Self {
        StoredApiKey {
            key: ApiKey {
                id: row.id,
                name: row.name,
                tenant_id: row.tenant_id.map(|t| TenantId::from_uuid(t.into_uuid())),
                scopes: row.scopes.0,
                agent: row.agent,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                revoked_at: row.revoked_at,
            },
            secret_hash: row.secret_hash,
        }
    }
}

/// The columns of [`KeyRow`], as a macro so queries stay `&'static str`.
#[macro_export]
macro_rules! key_columns {
    () => {
        "id, tenant_id, name, secret_hash, scopes, agent, created_at, last_used_at, revoked_at"
    };
}

/// A `memberships` row (`tenant_id, subject, role, granted_at`).
#[derive(sqlx::FromRow)]
pub struct MembershipRow {
    tenant_id: DbId,
    subject: String,
    role: String,
    granted_at: DateTime<Utc>,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;

    fn try_from(row: MembershipRow) -> Result<Self, StoreError> {
        Ok(Membership {
            role: Role::parse(&row.role).ok_or_else(|| corrupt("membership role", &row.role))?,
            tenant_id: TenantId::from_uuid(row.tenant_id.into_uuid()),
            subject: row.subject,
            granted_at: row.granted_at,
        })
    }
}
