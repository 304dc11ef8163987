//! The tenant's settings of policies, guards and the optimizer's schedule:
//! one use case over every room whose behaviour a tenant may tune, so it
//! sits at the composition root rather than in any one of them.

use crate::identity::auth::Principal;
use crate::optimize::scheduler::{SCHEDULE_SETTINGS_ID, Schedule};
use crate::runtime::guards;
use crate::{Failure, Kernel};
use chrono::Utc;
use revos_contracts::{ErrorKind, TenantId};
use revos_store::identity::Scope;
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl Kernel {
    /// The tenant's settings of policies and guards.
    pub async fn policy_settings(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<BTreeMap<String, Value>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store().policy_settings(tenant).await?)
    }

    /// Sets (or with `None` removes) the tenant's settings of one policy
    /// or guard, after the policy (or guard) has checked them. Needs
    /// `admin`; audited.
    pub async fn set_policy_settings(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: &str,
        settings: Option<&Value>,
    ) -> Result<(), Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        if let Some(settings) = settings {
            if let Some(policy) = self.policies().active(id) {
                policy
                    .check_settings(settings, &self.config().templates.limits())
                    .map_err(|e| Failure::of(ErrorKind::Validation, format!("{id}: {e}")))?;
            } else if let Some(guard) = guards::guard_by_policy_id(self, id) {
                guards::check_guard_settings(guard, settings)?;
            } else if id == SCHEDULE_SETTINGS_ID {
                Schedule::from_settings(Some(settings))
                    .map_err(|e| Failure::of(ErrorKind::Validation, format!("{id}: {e}")))?;
            } else {
                return Err(Failure::of(
                    ErrorKind::NotFound,
                    format!("there is no policy or guard `{id}`"),
                ));
            }
        }
        self.store()
            .put_policy_settings(tenant, id, settings, Utc::now())
            .await?;
        self.audit(
            tenant,
            &by.actor(),
            "policy.settings.set",
            Some(("policy", id)),
            json!({"settings": settings}),
        )
        .await;
        Ok(())
    }
}
