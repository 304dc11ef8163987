//! Storage of principals: API keys, users and memberships.

use async_trait::async_trait;

/// Storage of principals: API keys, users and memberships; part of [`crate::Store`].
#[async_trait]
pub trait IdentityStore: Send + Sync {}
