//! [`revos_store::identity::IdentityStore`] on SQLite.

use crate::{SqliteStore, require_tenant, store_error, tid, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::identity::{ApiKey, IdentityStore, StoredApiKey};
use revos_store_sql::identity::KeyRow;
use revos_store_sql::key_columns;
use sqlx::types::Json;

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn create_api_key(&self, key: &ApiKey, secret_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(tenant) = key.tenant_id {
            require_tenant(&mut tx, tenant).await?;
        }
        let inserted = sqlx::query(
            "insert into api_keys (id, tenant_id, name, secret_hash, scopes, agent, created_at)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7) on conflict (id) do nothing",
        )
        .bind(&key.id)
        .bind(key.tenant_id.map(tid))
        .bind(&key.name)
        .bind(secret_hash)
        .bind(Json(&key.scopes))
        .bind(&key.agent)
        .bind(ts(key.created_at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if inserted.rows_affected() == 0 {
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
            " from api_keys where id = ?1"
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
            " from api_keys where ?1 is null or tenant_id = ?1 order by created_at, id"
        ))
        .bind(tenant.map(tid))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| StoredApiKey::from(r).key)
            .collect())
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("update api_keys set revoked_at = ?2 where id = ?1 and revoked_at is null")
                .bind(id)
                .bind(ts(at))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("update api_keys set last_used_at = ?2 where id = ?1")
            .bind(id)
            .bind(ts(at))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn has_platform_admin_key(&self) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "select 1 from api_keys, json_each(api_keys.scopes) scope
             where tenant_id is null and revoked_at is null and scope.value = 'admin' limit 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(found.is_some())
    }
}
