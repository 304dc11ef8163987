//! The rows of lead-form tokens: `form_tokens` (migration 0021 of each
//! backend).

use crate::DbId;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::forms::FormToken;
use sqlx::types::Json;

/// A `form_tokens` row without its hash ([`form_token_columns!`]).
#[derive(sqlx::FromRow)]
pub struct FormTokenRow {
    tenant_id: DbId,
    id: DbId,
    name: String,
    hint: String,
    origins: Json<Vec<String>>,
    redirect_url: Option<String>,
    honeypot: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<FormTokenRow> for FormToken {
    fn from(row: FormTokenRow) -> Self {
        FormToken {
            id: row.id.into_uuid(),
            tenant_id: TenantId::from_uuid(row.tenant_id.into_uuid()),
            name: row.name,
            hint: row.hint,
            origins: row.origins.0,
            redirect_url: row.redirect_url,
            honeypot: row.honeypot,
            created_by: row.created_by,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// The columns of [`FormTokenRow`].
#[macro_export]
macro_rules! form_token_columns {
    () => {
        "tenant_id, id, name, hint, origins, redirect_url, honeypot, created_by, created_at, revoked_at"
    };
}
