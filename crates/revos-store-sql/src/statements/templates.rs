//! The templates' statements: [`revos_store::templates::TemplateStore`],
//! written once for both backends.
//!
//! [`template_statements!`](crate::template_statements) expands in a
//! backend's `templates.rs` to the `TemplateStore` implementation. A new
//! version is `max(version) + 1` read and written in one write
//! transaction; the primary key `(tenant, key, version)` turns a race the
//! transaction does not serialise into a conflict, never a lost version.

/// Expands to the `TemplateStore` implementation for the store type
/// `$store` (see the [module](crate::statements::templates)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! template_statements {
    ($store:ty) => {
        /// The template statements both backends share, expanded from
        /// `revos_store_sql::template_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{
                doc, in_list, is_unique_violation, store_error, text_list, tid, ts,
            };
            use ::chrono::{DateTime, Utc};
            use ::revos_contracts::TenantId;
            use ::revos_store::StoreError;
            use ::revos_store::templates::{
                RenderRecord, Suppression, TemplateRecord, TemplateStore,
            };
            use $crate::DbInt;
            use $crate::templates::{RenderRow, SuppressionRow, TemplateRow};

            fn records(rows: Vec<TemplateRow>) -> Result<Vec<TemplateRecord>, StoreError> {
                rows.into_iter().map(TemplateRecord::try_from).collect()
            }

            #[::async_trait::async_trait]
            impl TemplateStore for $store {
                async fn insert_template(
                    &self,
                    tenant: TenantId,
                    template: &TemplateRecord,
                ) -> Result<TemplateRecord, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let (last,): (Option<DbInt>,) = ::sqlx::query_as(
                        "select max(version) from email_templates
                         where tenant_id = $1 and template_key = $2",
                    )
                    .bind(tid(tenant))
                    .bind(&template.key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let version = last.map_or(1, |v| v.0 + 1);
                    let throttle = i64::try_from(template.throttle_ms).map_err(|_| {
                        StoreError::Invalid(format!(
                            "throttle_ms {} is too large",
                            template.throttle_ms
                        ))
                    })?;
                    ::sqlx::query(
                        "insert into email_templates (tenant_id, template_key, version, category,
                             subject, text_body, html_body, compliance_flags, throttle_ms,
                             source_hash, created_by, created_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(tid(tenant))
                    .bind(&template.key)
                    .bind(version)
                    .bind(&template.category)
                    .bind(&template.subject)
                    .bind(&template.text)
                    .bind(&template.html)
                    .bind(doc(&template.compliance_flags)?)
                    .bind(throttle)
                    .bind(&template.source_hash)
                    .bind(&template.created_by)
                    .bind(ts(template.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Conflict {
                                entity: "template version",
                                id: format!("{} v{version}", template.key),
                            }
                        } else {
                            store_error(e)
                        }
                    })?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(TemplateRecord {
                        version: u32::try_from(version).map_err(|_| {
                            StoreError::Invalid(format!("version {version} is too large"))
                        })?,
                        ..template.clone()
                    })
                }

                async fn latest_templates(
                    &self,
                    tenant: TenantId,
                ) -> Result<Vec<TemplateRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<TemplateRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::template_columns!(),
                        " from email_templates t where tenant_id = $1
                          and version = (select max(version) from email_templates l
                                         where l.tenant_id = t.tenant_id
                                           and l.template_key = t.template_key)
                          order by template_key"
                    ))
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    records(rows)
                }

                async fn template_versions(
                    &self,
                    tenant: TenantId,
                    key: &str,
                ) -> Result<Vec<TemplateRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<TemplateRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::template_columns!(),
                        " from email_templates where tenant_id = $1 and template_key = $2
                          order by version desc"
                    ))
                    .bind(tid(tenant))
                    .bind(key)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    records(rows)
                }

                async fn template(
                    &self,
                    tenant: TenantId,
                    key: &str,
                    version: Option<u32>,
                ) -> Result<Option<TemplateRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<TemplateRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::template_columns!(),
                        " from email_templates where tenant_id = $1 and template_key = $2
                          and ($3 = 0 or version = $3)
                          order by version desc limit 1"
                    ))
                    .bind(tid(tenant))
                    .bind(key)
                    .bind(i64::from(version.unwrap_or(0)))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(TemplateRecord::try_from).transpose()
                }

                async fn record_render(
                    &self,
                    tenant: TenantId,
                    render: &RenderRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "insert into template_renders (tenant_id, render_hash, template_key,
                             template_version, data, created_at)
                         values ($1, $2, $3, $4, $5, $6)
                         on conflict (tenant_id, render_hash) do nothing",
                    )
                    .bind(tid(tenant))
                    .bind(&render.render_hash)
                    .bind(&render.template_key)
                    .bind(i64::from(render.template_version))
                    .bind(doc(&render.data)?)
                    .bind(ts(render.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn template_version_sent(
                    &self,
                    tenant: TenantId,
                    key: &str,
                    version: u32,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<(String,)> = ::sqlx::query_as(
                        "select render_hash from template_renders
                         where tenant_id = $1 and template_key = $2 and template_version = $3
                         limit 1",
                    )
                    .bind(tid(tenant))
                    .bind(key)
                    .bind(i64::from(version))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.is_some())
                }

                async fn render(
                    &self,
                    tenant: TenantId,
                    render_hash: &str,
                ) -> Result<Option<RenderRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<RenderRow> = ::sqlx::query_as(
                        "select render_hash, template_key, template_version, data, created_at
                         from template_renders where tenant_id = $1 and render_hash = $2",
                    )
                    .bind(tid(tenant))
                    .bind(render_hash)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(RenderRecord::try_from).transpose()
                }

                async fn add_suppression(
                    &self,
                    tenant: TenantId,
                    email: &str,
                    reason: &str,
                    now: DateTime<Utc>,
                ) -> Result<Suppression, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "insert into suppressions (tenant_id, email, reason, created_at)
                         values ($1, $2, $3, $4)
                         on conflict (tenant_id, email) do nothing",
                    )
                    .bind(tid(tenant))
                    .bind(email)
                    .bind(reason)
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let row: SuppressionRow = ::sqlx::query_as(
                        "select email, reason, created_at from suppressions
                         where tenant_id = $1 and email = $2",
                    )
                    .bind(tid(tenant))
                    .bind(email)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.into())
                }

                async fn remove_suppression(
                    &self,
                    tenant: TenantId,
                    email: &str,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let done = ::sqlx::query(
                        "delete from suppressions where tenant_id = $1 and email = $2",
                    )
                    .bind(tid(tenant))
                    .bind(email)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn suppressed(
                    &self,
                    tenant: TenantId,
                    emails: &[String],
                ) -> Result<Vec<String>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<(String,)> = ::sqlx::query_as(concat!(
                        "select email from suppressions where tenant_id = $1 and email ",
                        in_list!("$2"),
                        " order by email"
                    ))
                    .bind(tid(tenant))
                    .bind(text_list(emails)?)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(|(e,)| e).collect())
                }

                async fn list_suppressions(
                    &self,
                    tenant: TenantId,
                    limit: u32,
                ) -> Result<Vec<Suppression>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<SuppressionRow> = ::sqlx::query_as(
                        "select email, reason, created_at from suppressions where tenant_id = $1
                         order by created_at desc, email limit $2",
                    )
                    .bind(tid(tenant))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(Suppression::from).collect())
                }
            }
        }
    };
}
