//! Storage of inbound webhook secrets and the raw events they deliver.

use async_trait::async_trait;

/// Storage of inbound webhook secrets and the raw events they deliver; part of [`crate::Store`].
#[async_trait]
pub trait WebhookStore: Send + Sync {}
