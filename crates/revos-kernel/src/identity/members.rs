//! Tenant memberships: which users belong to a tenant, in which role.
//!
//! This is the `user_belongs_to_tenant` check of the original system: a
//! user's token says who they are, and their membership here says whether
//! they may see a tenant at all and with which scope (see
//! [`crate::identity::auth::Principal::authorize_tenant`]). Only an owner (or a
//! platform key, or the operator's CLI) may make or remove owners, and the
//! last owner of a tenant cannot be removed or demoted.

use crate::identity::auth::Principal;
use crate::{Failure, Kernel};
use chrono::{DateTime, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_store::identity::{Membership, Role, Scope};

/// Whether `by` may hand out or take away the owner role in `tenant`.
fn may_manage_owners(by: &Principal, tenant: TenantId) -> bool {
    match by {
        Principal::User(user) => user.role_in(tenant) == Some(Role::Owner),
        Principal::Key(key) => key.tenant_id.is_none(),
        Principal::Service => true,
    }
}

impl Kernel {
    /// The tenant's members. Needs `read`.
    pub async fn members(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<Vec<Membership>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store.list_memberships(tenant).await?)
    }

    /// Adds a member, or changes their role. Needs `admin`; owners are
    /// managed by owners only.
    pub async fn put_member(
        &self,
        by: &Principal,
        tenant: TenantId,
        subject: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<Membership, Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        let subject = subject.trim();
        let current = self.store.list_memberships(tenant).await?;
        let previous = current
            .iter()
            .find(|m| m.subject == subject)
            .map(|m| m.role);
        let touches_owner = role == Role::Owner || previous == Some(Role::Owner);
        if touches_owner && !may_manage_owners(by, tenant) {
            return Err(crate::identity::auth::forbidden(
                "only an owner may make or change an owner",
            ));
        }
        if previous == Some(Role::Owner) && role != Role::Owner && owners(&current) == 1 {
            return Err(last_owner());
        }
        let membership = self
            .store
            .put_membership(tenant, subject, role, now)
            .await?;
        self.audit(
            tenant,
            &by.actor(),
            "member.put",
            Some(("member", subject)),
            serde_json::json!({
                "role": role,
                "previous_role": previous,
            }),
        )
        .await;
        Ok(membership)
    }

    /// Removes a member. Needs `admin`; owners are removed by owners only,
    /// and never the last one.
    pub async fn remove_member(
        &self,
        by: &Principal,
        tenant: TenantId,
        subject: &str,
    ) -> Result<(), Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        let subject = subject.trim();
        let current = self.store.list_memberships(tenant).await?;
        let Some(previous) = current
            .iter()
            .find(|m| m.subject == subject)
            .map(|m| m.role)
        else {
            return Err(Failure::not_found("member", subject));
        };
        if previous == Role::Owner {
            if !may_manage_owners(by, tenant) {
                return Err(crate::identity::auth::forbidden(
                    "only an owner may remove an owner",
                ));
            }
            if owners(&current) == 1 {
                return Err(last_owner());
            }
        }
        self.store.remove_membership(tenant, subject).await?;
        self.audit(
            tenant,
            &by.actor(),
            "member.remove",
            Some(("member", subject)),
            serde_json::json!({"previous_role": previous}),
        )
        .await;
        Ok(())
    }
}

fn owners(members: &[Membership]) -> usize {
    members.iter().filter(|m| m.role == Role::Owner).count()
}

fn last_owner() -> Failure {
    Failure::of(
        ErrorKind::Conflict,
        "a tenant keeps at least one owner: make someone else owner first",
    )
}
