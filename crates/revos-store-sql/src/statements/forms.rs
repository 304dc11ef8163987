//! The lead-form token statements: [`revos_store::forms::FormStore`] but its
//! look-up by hash, written once for both backends.
//!
//! [`form_statements!`](crate::form_statements) expands in a backend's
//! `forms.rs` to the tenant-scoped part of the `FormStore` implementation;
//! each backend writes `find_form_token` itself, because it runs before any
//! tenant is known (PostgreSQL reaches the row through a SECURITY DEFINER
//! function, SQLite reads the table).

/// Expands to the tenant-scoped `FormStore` statements for the store type
/// `$store`, as inherent methods the backend's `FormStore` calls (see the
/// [module](crate::statements::forms)).
#[macro_export]
#[allow(clippy::crate_in_macro_def)]
macro_rules! form_statements {
    ($store:ty) => {
        /// The form-token statements both backends share, expanded from
        /// `revos_store_sql::form_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{doc, is_unique_violation, store_error, tid, ts};
            use ::chrono::{DateTime, Utc};
            use ::revos_contracts::TenantId;
            use ::revos_store::forms::FormToken;
            use ::revos_store::{StoreError, support};
            use ::uuid::Uuid;
            use $crate::DbId;
            use $crate::forms::FormTokenRow;

            impl $store {
                pub(crate) async fn shared_insert_form_token(
                    &self,
                    tenant: TenantId,
                    form: &FormToken,
                    token_hash: &str,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "insert into form_tokens (tenant_id, id, token_hash, name, hint, origins,
                             redirect_url, honeypot, created_by, created_at, revoked_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(form.id))
                    .bind(token_hash)
                    .bind(&form.name)
                    .bind(&form.hint)
                    .bind(doc(&form.origins)?)
                    .bind(&form.redirect_url)
                    .bind(&form.honeypot)
                    .bind(&form.created_by)
                    .bind(ts(support::now_at(form.created_at)))
                    .bind(form.revoked_at.map(|at| ts(support::now_at(at))))
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| {
                        if is_unique_violation(&err) {
                            StoreError::Conflict {
                                entity: "form token",
                                id: form.id.to_string(),
                            }
                        } else {
                            store_error(err)
                        }
                    })?;
                    tx.commit().await.map_err(store_error)
                }

                pub(crate) async fn shared_list_form_tokens(
                    &self,
                    tenant: TenantId,
                ) -> Result<Vec<FormToken>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<FormTokenRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::form_token_columns!(),
                        " from form_tokens where tenant_id = $1
                          order by created_at desc, id desc"
                    ))
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(FormToken::from).collect())
                }

                pub(crate) async fn shared_revoke_form_token(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                    now: DateTime<Utc>,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let revoked = ::sqlx::query(
                        "update form_tokens set revoked_at = $3
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
            }
        }
    };
}
