//! [`revos_store::forms::FormStore`] on this backend: the `form_tokens`
//! table of migration 0021.
//!
//! The tenant-scoped statements are written once, in
//! [`revos_store_sql::form_statements!`]; the look-up by hash, made before
//! any tenant is known, is this backend's own.

use crate::SqliteStore;
use crate::dialect::store_error;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::forms::{FormStore, FormToken};
use revos_store_sql::forms::FormTokenRow;
use uuid::Uuid;

revos_store_sql::form_statements!(crate::SqliteStore);

#[async_trait]
impl FormStore for SqliteStore {
    async fn insert_form_token(
        &self,
        tenant: TenantId,
        form: &FormToken,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        self.shared_insert_form_token(tenant, form, token_hash)
            .await
    }

    async fn find_form_token(&self, token_hash: &str) -> Result<Option<FormToken>, StoreError> {
        let row: Option<FormTokenRow> = sqlx::query_as(concat!(
            "select ",
            revos_store_sql::form_token_columns!(),
            " from form_tokens where token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(row.map(FormToken::from))
    }

    async fn list_form_tokens(&self, tenant: TenantId) -> Result<Vec<FormToken>, StoreError> {
        self.shared_list_form_tokens(tenant).await
    }

    async fn revoke_form_token(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.shared_revoke_form_token(tenant, id, now).await
    }
}
