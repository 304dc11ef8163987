//! Storage of the publish pipeline: posts, from draft to published.
//!
//! The store keeps what the kernel decided as a document (`doc`: the text,
//! sources, claims, attached checks, submission, decision and the frozen
//! published record) beside the columns it filters and sorts on. The rules
//! (what may be edited, what a post needs before it is submitted) live in
//! `revos_policy::publish` and the kernel. A post changes only through
//! [`PostStore::update_post`], which writes only over the version the caller
//! read, so two writers at once cannot both win.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;

/// A post.
#[derive(Debug, Clone, PartialEq)]
pub struct PostRecord {
    /// Its id.
    pub id: Uuid,
    /// `draft`, `submitted`, `published`, `rejected`, `expired` or `failed`.
    pub status: String,
    /// Where it is published.
    pub channel: String,
    /// SHA-256 (hex) of its checked content.
    pub content_hash: String,
    /// Bumped by every update.
    pub version: i64,
    /// Everything else the kernel records (a JSON object).
    pub doc: Value,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Which posts to list; newest first, by creation time then id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostFilter {
    /// Only this status.
    pub status: Option<String>,
    /// Only those after this (created_at, id) in the order (a cursor).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many.
    pub limit: u32,
}

/// The publish pipeline's storage (migration 0018).
///
/// Tenant-scoped like the rest of the store: a missing tenant is
/// [`StoreError::TenantNotFound`], and no call reads another tenant's rows.
#[async_trait]
pub trait PostStore {
    /// Stores a new post. [`StoreError::Conflict`] when its id is taken.
    async fn insert_post(&self, tenant: TenantId, post: &PostRecord) -> Result<(), StoreError>;

    /// One post.
    async fn post(&self, tenant: TenantId, id: Uuid) -> Result<Option<PostRecord>, StoreError>;

    /// Posts matching the filter, newest first.
    async fn list_posts(
        &self,
        tenant: TenantId,
        filter: &PostFilter,
    ) -> Result<Vec<PostRecord>, StoreError>;

    /// Writes `post` (status, channel, content hash, document, update time;
    /// version + 1) only if the stored version is still `post.version`;
    /// `false` when someone else changed it first.
    async fn update_post(&self, tenant: TenantId, post: &PostRecord) -> Result<bool, StoreError>;
}
