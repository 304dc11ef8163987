//! The rows of templates, renders and suppressions (migration 0016 of
//! each backend).

use crate::DbInt;
use chrono::{DateTime, Utc};
use revos_store::StoreError;
use revos_store::templates::{RenderRecord, Suppression, TemplateRecord};
use serde_json::Value;
use sqlx::types::Json;

/// The columns of [`TemplateRow`], in its order.
#[macro_export]
macro_rules! template_columns {
    () => {
        "template_key, version, category, subject, text_body, html_body, compliance_flags, \
         throttle_ms, source_hash, created_by, created_at"
    };
}

/// An `email_templates` row.
#[derive(sqlx::FromRow)]
pub struct TemplateRow {
    template_key: String,
    version: DbInt,
    category: String,
    subject: String,
    text_body: String,
    html_body: Option<String>,
    compliance_flags: Json<Vec<String>>,
    throttle_ms: DbInt,
    source_hash: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<TemplateRow> for TemplateRecord {
    type Error = StoreError;

    fn try_from(row: TemplateRow) -> Result<Self, StoreError> {
        Ok(TemplateRecord {
            key: row.template_key,
            version: row.version.to_u32("email_templates.version")?,
            category: row.category,
            subject: row.subject,
            text: row.text_body,
            html: row.html_body,
            compliance_flags: row.compliance_flags.0,
            throttle_ms: u64::try_from(row.throttle_ms.0).map_err(|_| {
                crate::corrupt(
                    "email_templates.throttle_ms",
                    &row.throttle_ms.0.to_string(),
                )
            })?,
            source_hash: row.source_hash,
            created_by: row.created_by,
            created_at: row.created_at,
        })
    }
}

/// A `template_renders` row.
#[derive(sqlx::FromRow)]
pub struct RenderRow {
    render_hash: String,
    template_key: String,
    template_version: DbInt,
    data: Json<Value>,
    created_at: DateTime<Utc>,
}

impl TryFrom<RenderRow> for RenderRecord {
    type Error = StoreError;

    fn try_from(row: RenderRow) -> Result<Self, StoreError> {
        Ok(RenderRecord {
            render_hash: row.render_hash,
            template_key: row.template_key,
            template_version: row
                .template_version
                .to_u32("template_renders.template_version")?,
            data: row.data.0,
            created_at: row.created_at,
        })
    }
}

/// A `suppressions` row.
#[derive(sqlx::FromRow)]
pub struct SuppressionRow {
    email: String,
    reason: String,
    created_at: DateTime<Utc>,
}

impl From<SuppressionRow> for Suppression {
    fn from(row: SuppressionRow) -> Self {
        Suppression {
            email: row.email,
            reason: row.reason,
            created_at: row.created_at,
        }
    }
}
