//! [`revos_store::webhooks::WebhookStore`] on this backend: the
//! `webhook_secrets` table of migration 0004 and `events_raw` of 0001.

use crate::{PostgresStore, set_tenant, store_error};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::webhooks::{
    NewRawEvent, RawEvent, RawEventReceipt, WebhookSecretInfo, WebhookStore, check_secret_text,
    secret_fingerprint,
};
use revos_store::{MAX_PAGE, StoreError, support};
use revos_store_sql::webhooks::{RawEventRow, SecretInfoRow};
use sqlx::types::Json;
use uuid::Uuid;

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn add_webhook_secret(
        &self,
        tenant: TenantId,
        source: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<WebhookSecretInfo, StoreError> {
        check_secret_text(secret)?;
        let info = WebhookSecretInfo {
            id: Uuid::new_v4(),
            source: source.to_owned(),
            fingerprint: secret_fingerprint(secret),
            created_at: support::now_at(now),
            revoked_at: None,
        };
        let mut tx = self.begin_tenant(tenant).await?;
        sqlx::query(
            "insert into webhook_secrets
                 (tenant_id, id, source, secret, fingerprint, created_at)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.as_uuid())
        .bind(info.id)
        .bind(&info.source)
        .bind(secret)
        .bind(&info.fingerprint)
        .bind(info.created_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(info)
    }

    async fn webhook_secrets(
        &self,
        tenant: TenantId,
        source: &str,
    ) -> Result<Vec<String>, StoreError> {
        // No tenant check: an unknown tenant has no secrets, and answering
        // it by the same path costs the same time (no existence oracle).
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        set_tenant(&mut tx, tenant).await?;
        let secrets: Vec<String> = sqlx::query_scalar(
            "select secret from webhook_secrets
             where tenant_id = $1 and source = $2 and revoked_at is null
             order by created_at desc, id",
        )
        .bind(tenant.as_uuid())
        .bind(source)
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(secrets)
    }

    async fn list_webhook_secrets(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<WebhookSecretInfo>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<SecretInfoRow> = sqlx::query_as(
            "select id, source, fingerprint, created_at, revoked_at
             from webhook_secrets where tenant_id = $1
             order by source, created_at, id",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows.into_iter().map(WebhookSecretInfo::from).collect())
    }

    async fn revoke_webhook_secret(
        &self,
        tenant: TenantId,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let revoked = sqlx::query(
            "update webhook_secrets set revoked_at = $3
             where tenant_id = $1 and id = $2 and revoked_at is null",
        )
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(support::now_at(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(revoked.rows_affected() > 0)
    }

    async fn record_raw_event(
        &self,
        tenant: TenantId,
        event: &NewRawEvent,
    ) -> Result<RawEventReceipt, StoreError> {
        // A concurrent delivery of the same id waits on the unique index
        // until the first commits; its look-up (a new snapshot under read
        // committed) then finds the committed row.
        let mut tx = self.begin_tenant(tenant).await?;
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "insert into events_raw
                 (tenant_id, id, source, webhook_id, received_at, headers, payload)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (tenant_id, source, webhook_id) do nothing
             returning id",
        )
        .bind(tenant.as_uuid())
        .bind(Uuid::new_v4())
        .bind(&event.source)
        .bind(&event.webhook_id)
        .bind(support::now_at(event.received_at))
        .bind(Json(&event.headers))
        .bind(Json(&event.payload))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let receipt = match inserted {
            Some(id) => RawEventReceipt {
                id,
                duplicate: false,
            },
            None => {
                let id: Uuid = sqlx::query_scalar(
                    "select id from events_raw
                     where tenant_id = $1 and source = $2 and webhook_id = $3",
                )
                .bind(tenant.as_uuid())
                .bind(&event.source)
                .bind(&event.webhook_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
                RawEventReceipt {
                    id,
                    duplicate: true,
                }
            }
        };
        tx.commit().await.map_err(store_error)?;
        Ok(receipt)
    }

    async fn list_raw_events(
        &self,
        tenant: TenantId,
        source: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let mut tx = self.begin_tenant(tenant).await?;
        let rows: Vec<RawEventRow> = sqlx::query_as(
            "select id, source, webhook_id, received_at, headers, payload, processed_at
             from events_raw
             where tenant_id = $1 and ($2::text is null or source = $2)
             order by received_at desc, id limit $3",
        )
        .bind(tenant.as_uuid())
        .bind(source)
        .bind(i64::from(limit.min(MAX_PAGE)))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows.into_iter().map(RawEvent::from).collect())
    }
}
