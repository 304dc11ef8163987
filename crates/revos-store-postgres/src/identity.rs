//! [`revos_store::identity::IdentityStore`] on this backend.

use crate::PostgresStore;
use async_trait::async_trait;
use revos_store::identity::IdentityStore;

#[async_trait]
impl IdentityStore for PostgresStore {}
