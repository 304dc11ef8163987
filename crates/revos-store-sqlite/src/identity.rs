//! [`revos_store::identity::IdentityStore`] on this backend.

use crate::SqliteStore;
use async_trait::async_trait;
use revos_store::identity::IdentityStore;

#[async_trait]
impl IdentityStore for SqliteStore {}
