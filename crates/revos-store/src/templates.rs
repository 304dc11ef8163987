//! Versioned e-mail templates, the renders that were sent from them, and
//! the suppression list: what the safe-send gate reads.
//!
//! A template key has versions 1, 2, …: each save of a key stores its next
//! version and never changes an earlier one, so a render names exactly what
//! produced it. A render is kept under its `render_hash` (SHA-256 of the
//! template's source and the canonical data), so any e-mail can be rendered
//! again and checked. The suppression list holds the addresses a tenant may
//! no longer send marketing mail to (unsubscribed, bounced, complained).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde_json::Value;

use crate::StoreError;

/// One version of a template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRecord {
    /// The key, e.g. `welcome_investor`.
    pub key: String,
    /// 1 for the first save of the key, then one more per save.
    pub version: u32,
    /// `transactional`, `marketing` or `notification`.
    pub category: String,
    /// The subject's template.
    pub subject: String,
    /// The plain-text body's template.
    pub text: String,
    /// The HTML body's template, if any.
    pub html: Option<String>,
    /// Compliance flags, e.g. `can_spam`, `gdpr`.
    pub compliance_flags: Vec<String>,
    /// Least time between two sends from this template, in milliseconds.
    pub throttle_ms: u64,
    /// SHA-256 (hex) of the source: subject, text and HTML.
    pub source_hash: String,
    /// Who saved it (a principal's description).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A render kept for reproduction.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderRecord {
    /// SHA-256 (hex) of the template's source and the canonical data.
    pub render_hash: String,
    /// The template rendered.
    pub template_key: String,
    /// Its version.
    pub template_version: u32,
    /// The data it was rendered with.
    pub data: Value,
    /// When it was first rendered.
    pub created_at: DateTime<Utc>,
}

/// An address on the suppression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The address, lower case.
    pub email: String,
    /// `unsubscribed`, `bounced`, `complained` or `manual`.
    pub reason: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// Storage of templates, renders and suppressions (migration 0016).
///
/// Tenant-scoped like the rest of the store: a missing tenant is
/// [`StoreError::TenantNotFound`], and no call reads another tenant's rows.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Stores `template` as the next version of its key (its `version` is
    /// ignored) and returns the stored record. Two saves of one key at once
    /// get two versions, or one of them [`StoreError::Conflict`].
    async fn insert_template(
        &self,
        tenant: TenantId,
        template: &TemplateRecord,
    ) -> Result<TemplateRecord, StoreError>;

    /// The latest version of every key, by key.
    async fn latest_templates(&self, tenant: TenantId) -> Result<Vec<TemplateRecord>, StoreError>;

    /// Every version of `key`, newest first; empty when the key is unknown.
    async fn template_versions(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Vec<TemplateRecord>, StoreError>;

    /// Version `version` of `key` (the latest when `None`).
    async fn template(
        &self,
        tenant: TenantId,
        key: &str,
        version: Option<u32>,
    ) -> Result<Option<TemplateRecord>, StoreError>;

    /// Keeps a render (a render already kept under its hash stays as it
    /// was: the same hash is the same e-mail).
    async fn record_render(
        &self,
        tenant: TenantId,
        render: &RenderRecord,
    ) -> Result<(), StoreError>;

    /// Whether any render of version `version` of `key` was kept (that is,
    /// the version was sent before).
    async fn template_version_sent(
        &self,
        tenant: TenantId,
        key: &str,
        version: u32,
    ) -> Result<bool, StoreError>;

    /// The render kept under `render_hash`.
    async fn render(
        &self,
        tenant: TenantId,
        render_hash: &str,
    ) -> Result<Option<RenderRecord>, StoreError>;

    /// Adds `email` (lower case) to the suppression list, or keeps the entry
    /// it already has; returns the entry.
    async fn add_suppression(
        &self,
        tenant: TenantId,
        email: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Suppression, StoreError>;

    /// Removes `email` from the suppression list; whether it was there.
    async fn remove_suppression(&self, tenant: TenantId, email: &str) -> Result<bool, StoreError>;

    /// Which of `emails` (lower case) are suppressed.
    async fn suppressed(
        &self,
        tenant: TenantId,
        emails: &[String],
    ) -> Result<Vec<String>, StoreError>;

    /// The suppression list, newest first, at most `limit` entries.
    async fn list_suppressions(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<Suppression>, StoreError>;
}
