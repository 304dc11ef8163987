//! Storage of the tamper-evident, per-tenant audit log.

use async_trait::async_trait;

/// Storage of the tamper-evident, per-tenant audit log; part of [`crate::Store`].
#[async_trait]
pub trait AuditStore: Send + Sync {}
