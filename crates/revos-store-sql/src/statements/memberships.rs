//! The memberships' statements: [`revos_store::identity::MembershipStore`],
//! written once for both backends.
//!
//! [`membership_statements!`](crate::membership_statements) expands in a
//! backend's `memberships.rs` to the `MembershipStore` implementation. The
//! look-up of a subject's tenants, made before any tenant is known, reads
//! the rows that `subject_memberships!()` names in the backend's module (the
//! table on SQLite; a SECURITY DEFINER function on PostgreSQL, whose role
//! sees no row without a tenant).

/// Expands to the `MembershipStore` implementation for the store type
/// `$store` (see the [module](crate::statements::memberships)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! membership_statements {
    ($store:ty) => {
        /// The membership statements both backends share, expanded from
        /// `revos_store_sql::membership_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{store_error, tid, ts};
            use ::chrono::{DateTime, Utc};
            use ::revos_contracts::TenantId;
            use ::revos_store::StoreError;
            use ::revos_store::identity::{Membership, MembershipStore, Role};
            use ::revos_store::support;
            use $crate::identity::MembershipRow;

            #[::async_trait::async_trait]
            impl MembershipStore for $store {
                async fn put_membership(
                    &self,
                    tenant: TenantId,
                    subject: &str,
                    role: Role,
                    at: DateTime<Utc>,
                ) -> Result<Membership, StoreError> {
                    support::check_subject(subject)?;
                    let mut tx = self.write_tenant(tenant).await?;
                    let row: MembershipRow = ::sqlx::query_as(
                        "insert into memberships (tenant_id, subject, role, granted_at)
                     values ($1, $2, $3, $4)
                     on conflict (tenant_id, subject) do update set
                         role = excluded.role,
                         granted_at = excluded.granted_at
                     returning tenant_id, subject, role, granted_at",
                    )
                    .bind(tid(tenant))
                    .bind(subject)
                    .bind(role.as_str())
                    .bind(ts(support::now_at(at)))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Membership::try_from(row)
                }

                async fn remove_membership(
                    &self,
                    tenant: TenantId,
                    subject: &str,
                ) -> Result<bool, StoreError> {
                    support::check_subject(subject)?;
                    let mut tx = self.write_tenant(tenant).await?;
                    let done = ::sqlx::query(
                        "delete from memberships where tenant_id = $1 and subject = $2",
                    )
                    .bind(tid(tenant))
                    .bind(subject)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn list_memberships(
                    &self,
                    tenant: TenantId,
                ) -> Result<Vec<Membership>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<MembershipRow> = ::sqlx::query_as(
                        "select tenant_id, subject, role, granted_at
                     from memberships where tenant_id = $1 order by subject",
                    )
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter().map(Membership::try_from).collect()
                }

                async fn memberships_of(
                    &self,
                    subject: &str,
                ) -> Result<Vec<Membership>, StoreError> {
                    support::check_subject(subject)?;
                    let rows: Vec<MembershipRow> = ::sqlx::query_as(concat!(
                        "select tenant_id, subject, role, granted_at from ",
                        subject_memberships!(),
                        " order by tenant_id"
                    ))
                    .bind(subject)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    rows.into_iter().map(Membership::try_from).collect()
                }
            }
        }
    };
}
