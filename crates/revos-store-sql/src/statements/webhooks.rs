//! The inbound webhooks' statements: [`revos_store::webhooks::WebhookStore`],
//! written once for both backends.
//!
//! [`webhook_statements!`](crate::webhook_statements) expands in a backend's
//! `webhooks.rs` to the `WebhookStore` implementation; the look-up of a
//! tenant's secrets, made before the tenant is known to exist, runs in the
//! store's `begin_tenant_lookup` transaction.

/// Expands to the `WebhookStore` implementation for the store type
/// `$store` (see the [module](crate::statements::webhooks)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! webhook_statements {
    ($store:ty) => {
        /// The inbound webhook statements both backends share, expanded
        /// from `revos_store_sql::webhook_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{doc, store_error, tid, ts};
            use ::chrono::{DateTime, Utc};
            use ::revos_contracts::TenantId;
            use ::revos_store::webhooks::{
                NewRawEvent, RawEvent, RawEventReceipt, WebhookSecretInfo, WebhookStore,
                check_secret_text, secret_fingerprint,
            };
            use ::revos_store::{MAX_PAGE, StoreError, support};
            use ::uuid::Uuid;
            use $crate::DbId;
            use $crate::webhooks::{RawEventRow, SecretInfoRow};

            #[::async_trait::async_trait]
            impl WebhookStore for $store {
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
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "insert into webhook_secrets
                         (tenant_id, id, source, secret, fingerprint, created_at)
                     values ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(info.id))
                    .bind(&info.source)
                    .bind(secret)
                    .bind(&info.fingerprint)
                    .bind(ts(info.created_at))
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
                    let mut tx = self.begin_tenant_lookup(tenant).await?;
                    let secrets: Vec<String> = ::sqlx::query_scalar(
                        "select secret from webhook_secrets
                     where tenant_id = $1 and source = $2 and revoked_at is null
                     order by created_at desc, id",
                    )
                    .bind(tid(tenant))
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
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<SecretInfoRow> = ::sqlx::query_as(
                        "select id, source, fingerprint, created_at, revoked_at
                     from webhook_secrets where tenant_id = $1
                     order by source, created_at, id",
                    )
                    .bind(tid(tenant))
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
                    let mut tx = self.write_tenant(tenant).await?;
                    let revoked = ::sqlx::query(
                        "update webhook_secrets set revoked_at = $3
                     where tenant_id = $1 and id = $2 and revoked_at is null",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .bind(ts(support::now_at(now)))
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
                    let headers = doc(&event.headers)?;
                    let payload = doc(&event.payload)?;
                    // No other delivery of the same id can slip in between the insert
                    // and the look-up: on SQLite the write lock is held from the start;
                    // on PostgreSQL a concurrent delivery waits on the unique index
                    // until the first commits, and its look-up (a new snapshot under
                    // READ COMMITTED) then finds the committed row.
                    let mut tx = self.write_tenant(tenant).await?;
                    let inserted: Option<DbId> = ::sqlx::query_scalar(
                        "insert into events_raw
                         (tenant_id, id, source, webhook_id, received_at, headers, payload)
                     values ($1, $2, $3, $4, $5, $6, $7)
                     on conflict (tenant_id, source, webhook_id) do nothing
                     returning id",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(Uuid::new_v4()))
                    .bind(&event.source)
                    .bind(&event.webhook_id)
                    .bind(ts(support::now_at(event.received_at)))
                    .bind(headers)
                    .bind(payload)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let receipt = match inserted {
                        Some(id) => RawEventReceipt {
                            id: id.into_uuid(),
                            duplicate: false,
                        },
                        None => {
                            let id: DbId = ::sqlx::query_scalar(
                                "select id from events_raw
                             where tenant_id = $1 and source = $2 and webhook_id = $3",
                            )
                            .bind(tid(tenant))
                            .bind(&event.source)
                            .bind(&event.webhook_id)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_error)?;
                            RawEventReceipt {
                                id: id.into_uuid(),
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
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<RawEventRow> = ::sqlx::query_as(
                        "select id, source, webhook_id, received_at, headers, payload, processed_at,
                            mapping_outcome, mapping_version, mapping_detail
                     from events_raw
                     where tenant_id = $1 and ($2 is null or source = $2)
                     order by received_at desc, id limit $3",
                    )
                    .bind(tid(tenant))
                    .bind(source)
                    .bind(i64::from(limit.min(MAX_PAGE)))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter().map(RawEvent::try_from).collect()
                }

                async fn raw_event(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<Option<RawEvent>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<RawEventRow> = ::sqlx::query_as(
                        "select id, source, webhook_id, received_at, headers, payload, processed_at,
                                mapping_outcome, mapping_version, mapping_detail
                         from events_raw where tenant_id = $1 and id = $2",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(RawEvent::try_from).transpose()
                }
            }
        }
    };
}
