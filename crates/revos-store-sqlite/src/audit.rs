//! [`revos_store::audit::AuditStore`] on this backend.

use crate::SqliteStore;
use async_trait::async_trait;
use revos_store::audit::AuditStore;

#[async_trait]
impl AuditStore for SqliteStore {}
