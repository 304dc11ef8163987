//! [`revos_store::identity::IdentityStore`] on PostgreSQL.
//!
//! A presented key is looked up before any tenant is known, and platform
//! keys belong to no tenant, so the store's role has no privilege on
//! `api_keys` (whose row-level security is forced like every tenant
//! table's): every call goes through one of the SECURITY DEFINER functions
//! `revos_*_api_key*` of migration 0005, which do exactly one thing each.

use crate::{PostgresStore, store_error};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::identity::{ApiKey, IdentityStore, StoredApiKey};
use revos_store_sql::identity::KeyRow;
use revos_store_sql::key_columns;
use sqlx::types::Json;

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn create_api_key(&self, key: &ApiKey, secret_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        if let Some(tenant) = key.tenant_id {
            let found: Option<i32> = sqlx::query_scalar("select 1 from tenants where id = $1")
                .bind(tenant.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
            if found.is_none() {
                return Err(StoreError::TenantNotFound(tenant));
            }
        }
        let inserted: bool =
            sqlx::query_scalar("select revos_create_api_key($1, $2, $3, $4, $5, $6, $7)")
                .bind(&key.id)
                .bind(key.tenant_id.map(|t| *t.as_uuid()))
                .bind(&key.name)
                .bind(secret_hash)
                .bind(Json(&key.scopes))
                .bind(&key.agent)
                .bind(key.created_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        if !inserted {
            return Err(StoreError::Conflict {
                entity: "api key",
                id: key.id.clone(),
            });
        }
        tx.commit().await.map_err(store_error)
    }

    async fn find_api_key(&self, id: &str) -> Result<Option<StoredApiKey>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(concat!(
            "select ",
            key_columns!(),
            " from revos_find_api_key($1)"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(row.map(StoredApiKey::from))
    }

    async fn list_api_keys(&self, tenant: Option<TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            "select ",
            key_columns!(),
            " from revos_list_api_keys($1) order by created_at, id"
        ))
        .bind(tenant.map(|t| *t.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredApiKey::from(r).key)
            .collect())
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        sqlx::query_scalar("select revos_revoke_api_key($1, $2)")
            .bind(id)
            .bind(at)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("select revos_touch_api_key($1, $2)")
            .bind(id)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn has_platform_admin_key(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("select revos_has_platform_admin_key()")
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }
}
