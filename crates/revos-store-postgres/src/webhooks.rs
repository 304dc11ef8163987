//! [`revos_store::webhooks::WebhookStore`] on this backend.

use crate::PostgresStore;
use async_trait::async_trait;
use revos_store::webhooks::WebhookStore;

#[async_trait]
impl WebhookStore for PostgresStore {}
