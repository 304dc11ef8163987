//! Storage of publishable lead-form tokens (migration 0021).
//!
//! A form token lets a web page post a lead form to revos without an API
//! key: it sits in the page's HTML, so it is public by design and may do
//! one thing only, submit a lead to its tenant. The store keeps the
//! SHA-256 of the token (so a copy of the database cannot be replayed as a
//! form), the origins allowed to post with it, an optional redirect after a
//! plain HTML post and an optional honeypot field. The kernel's forms use
//! case (`revos_kernel::forms`) validates what is stored and drives this.

use crate::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A form token as stored and shown: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormToken {
    /// Its id (to revoke it).
    pub id: Uuid,
    /// The tenant its leads go to.
    pub tenant_id: TenantId,
    /// A name to tell forms apart (`Contact page`).
    pub name: String,
    /// A short, non-secret tag of the token: `rvf_…` and its last four
    /// characters.
    pub hint: String,
    /// The origins (`scheme://host[:port]`) allowed to post with it; at
    /// least one.
    pub origins: Vec<String>,
    /// Where a plain HTML form post is sent after it was taken (303).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// A field real visitors leave empty; a submission that fills it is
    /// answered as taken and recorded nowhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honeypot: Option<String>,
    /// Who created it (`key:<id>`, `user:<sub>`, `service`).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; `None` while it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Publishable lead-form tokens; part of [`crate::Store`].
///
/// Tenant-scoped like the rest of the store, except
/// [`FormStore::find_form_token`], which is how a submission learns its
/// tenant.
#[async_trait]
pub trait FormStore: Send + Sync {
    /// Stores a new token under the SHA-256 (hex) of its text.
    /// [`StoreError::Conflict`] when the id or the hash is taken.
    async fn insert_form_token(
        &self,
        tenant: TenantId,
        form: &FormToken,
        token_hash: &str,
    ) -> Result<(), StoreError>;

    /// The token whose text hashes to `token_hash`, revoked or not, in any
    /// tenant; `None` when there is none.
    async fn find_form_token(&self, token_hash: &str) -> Result<Option<FormToken>, StoreError>;

    /// The tenant's tokens, revoked ones included, newest first (by
    /// creation time, then id).
    async fn list_form_tokens(&self, tenant: TenantId) -> Result<Vec<FormToken>, StoreError>;

    /// Revokes a token. `true` if an active token was revoked; `false` if
    /// the tenant has no such token or it was revoked already.
    async fn revoke_form_token(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
