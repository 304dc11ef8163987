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
        let filled;
        let settings = match (settings, self.policies().active(id)) {
            (Some(value), Some(policy)) => {
                filled = self.fill_templates(tenant, id, policy, value).await?;
                Some(&filled)
            }
            (other, _) => other,
        };
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

    /// Copies the stored templates a policy's settings name (`templates`:
    /// `{slot: {key, version?}}`) into the slot's subject, text and HTML
    /// fields, pinning the version (the latest now, when none is named).
    /// A marketing template cannot fill a policy's e-mail; an unknown
    /// slot, key or version is refused, naming it.
    async fn fill_templates(
        &self,
        tenant: TenantId,
        id: &str,
        policy: &dyn revos_policy::Policy,
        settings: &Value,
    ) -> Result<Value, Failure> {
        let Some(refs) = settings.get("templates").filter(|t| !t.is_null()) else {
            return Ok(settings.clone());
        };
        let invalid =
            |message: String| Failure::of(ErrorKind::Validation, format!("{id}: {message}"));
        let refs: BTreeMap<String, revos_policy::TemplateRef> =
            serde_json::from_value(refs.clone()).map_err(|e| {
                invalid(format!(
                    "settings.templates must map an e-mail to {{\"key\", \"version\"?}}: {e}"
                ))
            })?;
        revos_policy::check_template_slots(&refs, policy.email_slots()).map_err(invalid)?;
        let mut out = settings.clone();
        let mut pinned = serde_json::Map::new();
        for (slot_name, r) in refs {
            let Some(slot) = policy.email_slots().iter().find(|s| s.name == slot_name) else {
                continue;
            };
            let t = self
                .store()
                .template(tenant, &r.key, r.version)
                .await?
                .ok_or_else(|| {
                    invalid(format!(
                        "settings.templates.{slot_name}: the tenant has no template `{}`{}",
                        r.key,
                        r.version
                            .map(|v| format!(" version {v}"))
                            .unwrap_or_default()
                    ))
                })?;
            if t.category == "marketing" {
                return Err(invalid(format!(
                    "settings.templates.{slot_name}: `{}` is a marketing template; a policy's \
                     e-mail needs a transactional or notification one",
                    t.key
                )));
            }
            out[slot.subject] = json!(t.subject);
            out[slot.text] = json!(t.text);
            out[slot.html] = json!(t.html);
            pinned.insert(slot_name, json!({"key": t.key, "version": t.version}));
        }
        out["templates"] = Value::Object(pinned);
        Ok(out)
    }
}
