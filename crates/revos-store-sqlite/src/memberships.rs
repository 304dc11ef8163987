//! [`revos_store::identity::MembershipStore`] on SQLite: the `memberships`
//! table of migration 0007.
//!
//! Grants, removals and listings run in a transaction that first checks the
//! tenant exists, like every tenant call of this backend. The look-up of a
//! subject's tenants, made when a user authenticates and before any tenant
//! is known, is a plain query on the `(subject, tenant_id)` index.

use crate::{SqliteStore, store_error, tid, ts};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::identity::{Membership, MembershipStore, Role};
use revos_store::support;
use revos_store_sql::identity::MembershipRow;

#[async_trait]
impl MembershipStore for SqliteStore {
    async fn put_membership(
        &self,
        tenant: TenantId,
        subject: &str,
        role: Role,
        at: DateTime<Utc>,
    ) -> Result<Membership, StoreError> {
        support::check_subject(subject)?;
        let mut tx = self.write_tenant(tenant).await?;
        let row: MembershipRow = sqlx::query_as(
            "insert into memberships (tenant_id, subject, role, granted_at)
             values (?1, ?2, ?3, ?4)
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

    async fn remove_membership(&self, tenant: TenantId, subject: &str) -> Result<bool, StoreError> {
        support::check_subject(subject)?;
        let mut tx = self.write_tenant(tenant).await?;
        let done = sqlx::query("delete from memberships where tenant_id = ?1 and subject = ?2")
            .bind(tid(tenant))
            .bind(subject)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_memberships(&self, tenant: TenantId) -> Result<Vec<Membership>, StoreError> {
        let mut tx = self.read_tenant(tenant).await?;
        let rows: Vec<MembershipRow> = sqlx::query_as(
            "select tenant_id, subject, role, granted_at
             from memberships where tenant_id = ?1 order by subject",
        )
        .bind(tid(tenant))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        rows.into_iter().map(Membership::try_from).collect()
    }

    async fn memberships_of(&self, subject: &str) -> Result<Vec<Membership>, StoreError> {
        support::check_subject(subject)?;
        let rows: Vec<MembershipRow> = sqlx::query_as(
            "select tenant_id, subject, role, granted_at
             from memberships where subject = ?1 order by tenant_id",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter().map(Membership::try_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_bounded_trimmed_and_printable() {
        for good in ["a", "auth0|5f7c8ec7c33c6c004bbafe82", "ü", &"é".repeat(200)] {
            assert!(support::check_subject(good).is_ok(), "{good:?}");
        }
        for bad in ["", " a", "a ", "a\nb", "a\u{7}", &"x".repeat(201)] {
            assert!(
                matches!(support::check_subject(bad), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
