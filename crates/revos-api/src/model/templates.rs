//! E-mail templates, renders and suppressions as the API shows them.
//!
//! `routes::templates` answers with these, converted from the store's
//! records and the kernel's renders.

use chrono::{DateTime, Utc};
use revos_store::templates as store;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One version of a template.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct Template {
    /// The key.
    pub(crate) template_key: String,
    /// The version: 1 for the first save of the key, then one more per save.
    pub(crate) template_version: u32,
    /// `transactional`, `marketing` or `notification`.
    pub(crate) category: String,
    /// The subject's template.
    pub(crate) subject: String,
    /// The plain-text body's template.
    pub(crate) text: String,
    /// The HTML body's template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) html: Option<String>,
    /// Compliance flags, sorted.
    pub(crate) compliance_flags: Vec<String>,
    /// Least time between two sends, in milliseconds.
    pub(crate) throttle_ms: u64,
    /// SHA-256 (hex) of subject, text and HTML.
    pub(crate) source_hash: String,
    /// Who saved it.
    pub(crate) created_by: String,
    /// When.
    pub(crate) created_at: DateTime<Utc>,
}

impl From<store::TemplateRecord> for Template {
    fn from(t: store::TemplateRecord) -> Self {
        Template {
            template_key: t.key,
            template_version: t.version,
            category: t.category,
            subject: t.subject,
            text: t.text,
            html: t.html,
            compliance_flags: t.compliance_flags,
            throttle_ms: t.throttle_ms,
            source_hash: t.source_hash,
            created_by: t.created_by,
            created_at: t.created_at,
        }
    }
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct RenderedEmail {
    /// The template rendered.
    pub(crate) template_key: String,
    /// Its version.
    pub(crate) template_version: u32,
    /// The subject.
    pub(crate) subject: String,
    /// The plain-text body.
    pub(crate) text: String,
    /// The HTML body, when the template has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) html: Option<String>,
    /// SHA-256 (hex) of the template's source and the canonical data: the
    /// same hash is the same e-mail.
    pub(crate) render_hash: String,
    /// The data it was rendered with (on a reproduced render).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<Value>,
    /// When it was first rendered for a send (on a reproduced render).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rendered_at: Option<DateTime<Utc>>,
}

/// An address on the suppression list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Suppression {
    /// The address, lower case.
    pub(crate) email: String,
    /// `unsubscribed`, `bounced`, `complained` or `manual`.
    pub(crate) reason: String,
    /// When it was added.
    pub(crate) created_at: DateTime<Utc>,
}

impl From<store::Suppression> for Suppression {
    fn from(s: store::Suppression) -> Self {
        Suppression {
            email: s.email,
            reason: s.reason,
            created_at: s.created_at,
        }
    }
}
