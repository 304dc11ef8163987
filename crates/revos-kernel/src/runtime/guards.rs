//! Guard boundaries: a backend asks before a sensitive change (a deal
//! update, an invoice) and gets `ALLOW`, `ALLOW_WITH_OVERRIDE` or `BLOCK`
//! with reasons.
//!
//! The verdict comes from the tenant's Cedar rules for the guard (the
//! pure `revos_policy::guards`; defaults when the tenant has none). The
//! shell looks up the facts a guard needs (is the invoice's account known?
//! was the same invoice sent within the window?), evaluates, applies an
//! override when one is asked for by a role allowed to give it, emits the
//! verdict as a guard event and audits overrides. Anything that goes wrong
//! while evaluating blocks (fail closed).
//!
//! A guard's tenant settings are stored under `revenue_os.guard.<name>`:
//! `{"rules": "<Cedar>", "override_roles": ["owner", …],
//! "duplicate_window_hours": 24}`, every field optional.

use crate::identity::auth::Principal;
use crate::runtime::EventInput;
use crate::{Failure, Kernel};
use chrono::Utc;
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_contracts::runtime::EventSubject;
/// A guard's verdict: `ALLOW`, `ALLOW_WITH_OVERRIDE` or `BLOCK`.
pub use revos_policy::guards::Verdict;
use revos_policy::guards::{
    DEFAULT_OVERRIDE_ROLES, Guard, GuardPrincipal, accepted_fields, can_override, check_input,
    check_rules, evaluate,
};
use revos_store::Page;
use revos_store::events::{EventFilter, MAX_EVENT_PAGE};
use revos_store::identity::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

/// The settings id of a guard.
pub fn settings_id(guard: &dyn Guard) -> String {
    format!("revenue_os.guard.{}", guard.name())
}

/// The guard whose settings id is `id`.
pub(crate) fn guard_by_policy_id<'k>(kernel: &'k Kernel, id: &str) -> Option<&'k dyn Guard> {
    id.strip_prefix("revenue_os.guard.")
        .and_then(|name| kernel.guards().get(name))
}

/// A guard's tenant settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GuardSettings {
    /// The tenant's Cedar rules (default: the guard's built-in rules).
    rules: Option<String>,
    /// Roles that may override an `ALLOW_WITH_OVERRIDE`.
    override_roles: Option<Vec<String>>,
    /// How far back a duplicate counts, in hours (default 24).
    duplicate_window_hours: Option<u32>,
}

/// Checks a guard's settings: the Cedar rules parse and validate against
/// the guard's Cedar schema, the roles exist.
pub(crate) fn check_guard_settings(guard: &dyn Guard, settings: &Value) -> Result<(), Failure> {
    let invalid = |msg: String| Failure::of(ErrorKind::Validation, msg);
    let parsed: GuardSettings = serde_json::from_value(settings.clone())
        .map_err(|e| invalid(format!("{}: {e}", settings_id(guard))))?;
    if let Some(rules) = &parsed.rules {
        check_rules(guard, rules)
            .map_err(|e| invalid(format!("{}: rules: {e}", settings_id(guard))))?;
    }
    for role in parsed.override_roles.iter().flatten() {
        if revos_store::identity::Role::parse(role).is_none() {
            return Err(invalid(format!(
                "{}: override_roles: `{role}` is not a role (owner, admin, operator, approver, \
                 viewer)",
                settings_id(guard)
            )));
        }
    }
    if parsed.duplicate_window_hours == Some(0) {
        return Err(invalid(format!(
            "{}: duplicate_window_hours must be at least 1",
            settings_id(guard)
        )));
    }
    Ok(())
}

/// The fields of a guard request besides the guard's own input fields.
const REQUEST_FIELDS: [&str; 3] = ["tenant_id", "override_reason", "correlation_id"];

/// A guard check as a backend sends it: the guard's input fields, plus
/// the optional fields below. Any other field is refused (400), see
/// [`check_guard_input`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardRequest {
    /// The tenant (default: the credential's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    /// Why the caller overrides an `ALLOW_WITH_OVERRIDE` verdict; needs a
    /// role allowed to override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
    /// Ties the guard event to a flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    /// The guard's own fields (`deal_id`, `discount_pct`, …).
    #[serde(flatten)]
    input: serde_json::Map<String, Value>,
}

/// Checks a request's input against the guard's declared fields: an
/// unknown field, a field of the wrong type or a missing required field is
/// a 400 (`INVALID_INPUT`, `details.kind = "validation"`) whose
/// `violations` name each field by its JSON path and whose
/// `accepted_fields` list what the guard reads.
fn check_guard_input(
    guard: &dyn Guard,
    input: &serde_json::Map<String, Value>,
) -> Result<(), Failure> {
    check_input(guard, input, &REQUEST_FIELDS).map_err(|violations| {
        let message = format!(
            "guard `{}`: {}",
            guard.name(),
            violations
                .iter()
                .map(|v| v.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        let mut failure = Failure::invalid(message, &violations);
        failure.body = failure
            .body
            .with_detail("accepted_fields", accepted_fields(guard, &REQUEST_FIELDS));
        failure
    })
}

impl utoipa::PartialSchema for GuardRequest {
    /// One object per guard (`oneOf`), each with the guard's declared
    /// fields and the request's own, and no other property.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{Object, OneOfBuilder, Schema};
        let extra = [
            (
                "tenant_id",
                json!({"type": "string", "format": "uuid",
                       "description": "The tenant (default: the credential's)."}),
            ),
            (
                "override_reason",
                json!({"type": "string",
                       "description": "Why the caller overrides an ALLOW_WITH_OVERRIDE verdict; \
                                       needs a role allowed to override."}),
            ),
            (
                "correlation_id",
                json!({"type": "string", "description": "Ties the guard event to a flow."}),
            ),
        ];
        let registry = revos_policy::guards::GuardRegistry::builtin();
        let mut one_of = OneOfBuilder::new().description(Some(
            "The input of the guard named in the path: its own fields (see `GET /v1/guards` \
             and docs/POLICIES.md) and the request fields; any other field is refused (400).",
        ));
        for guard in registry.names().into_iter().filter_map(|n| registry.get(n)) {
            let shape = revos_policy::guards::request_json_schema(guard, &extra);
            // The shape is built from static declarations; a unit test
            // checks that it reads back.
            if let Ok(object) = serde_json::from_value::<Object>(shape) {
                one_of = one_of.item(Schema::Object(object));
            }
        }
        utoipa::openapi::RefOr::T(Schema::OneOf(one_of.build()))
    }
}

impl ToSchema for GuardRequest {}

/// A guard's verdict.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GuardResponse {
    /// The guard.
    pub guard: String,
    /// `ALLOW`, `ALLOW_WITH_OVERRIDE` or `BLOCK` (after any override).
    #[schema(value_type = String)]
    pub verdict: Verdict,
    /// The verdict before an override.
    #[schema(value_type = String)]
    rules_verdict: Verdict,
    /// Why, one sentence per rule.
    pub reasons: Vec<String>,
    /// The Cedar rules that decided.
    matched_rules: Vec<String>,
    /// Whether an override turned `ALLOW_WITH_OVERRIDE` into `ALLOW`.
    overridden: bool,
    /// The override's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    override_reason: Option<String>,
    /// The guard event recording the verdict.
    pub event_id: Uuid,
}

/// The role a caller acts in for a guard (Cedar's `principal.role`).
fn role_of(by: &Principal, tenant: TenantId) -> String {
    match by {
        Principal::User(user) => user
            .role_in(tenant)
            .map(|r| r.as_str().to_owned())
            .unwrap_or_else(|| "viewer".to_owned()),
        Principal::Key(key) if key.agent.is_some() => "agent".to_owned(),
        Principal::Key(_) => match by.scope_in(tenant) {
            Some(Scope::Admin) => "admin",
            Some(Scope::Write) => "operator",
            _ => "viewer",
        }
        .to_owned(),
        Principal::Service => "owner".to_owned(),
    }
}

impl Kernel {
    /// The facts a guard asks for, looked up in the tenant's data.
    async fn guard_facts(
        &self,
        tenant: TenantId,
        guard: &dyn Guard,
        input: &Value,
        settings: &GuardSettings,
    ) -> Result<Value, Failure> {
        let mut facts = serde_json::Map::new();
        for fact in guard.facts_needed() {
            let value = match *fact {
                "account_known" => {
                    let wanted = input.get("account_id").and_then(Value::as_str);
                    match wanted {
                        Some(id) => self.account_known(tenant, id).await?,
                        None => false,
                    }
                }
                "duplicate_within_window" => {
                    let hours = settings.duplicate_window_hours.unwrap_or(24);
                    self.duplicate_within(tenant, guard, input, hours).await?
                }
                other => {
                    return Err(Failure::internal(&format!(
                        "guard `{}` needs the fact `{other}`, which revos cannot look up",
                        guard.name()
                    )));
                }
            };
            facts.insert((*fact).to_owned(), Value::Bool(value));
        }
        Ok(Value::Object(facts))
    }

    /// Whether the tenant's spine has the account.
    async fn account_known(&self, tenant: TenantId, id: &str) -> Result<bool, Failure> {
        let mut offset = 0;
        loop {
            let page = Page::new(1000, offset);
            let accounts = self.store().list_accounts(tenant, page).await?;
            if accounts.iter().any(|a| a.id == id) {
                return Ok(true);
            }
            if accounts.len() < 1000 {
                return Ok(false);
            }
            offset += 1000;
        }
    }

    /// Whether the same invoice (account, amount, currency) passed the
    /// guard within the last `hours`.
    async fn duplicate_within(
        &self,
        tenant: TenantId,
        guard: &dyn Guard,
        input: &Value,
        hours: u32,
    ) -> Result<bool, Failure> {
        let same = |earlier: &Value| {
            ["account_id", "amount", "currency"]
                .iter()
                .all(|f| earlier.get(*f) == input.get(*f))
        };
        let mut after = None;
        loop {
            let filter = EventFilter {
                since: Some(Utc::now() - chrono::Duration::hours(i64::from(hours))),
                until: None,
                r#type: Some(guard.event_type().to_owned()),
                source: None,
                order: revos_store::listing::Order::OldestFirst,
                after,
                limit: Some(MAX_EVENT_PAGE),
                ..EventFilter::default()
            };
            let events = self.store().list_events(tenant, &filter).await?;
            for event in &events {
                let passed = event.payload.get("verdict").and_then(Value::as_str) == Some("ALLOW");
                if passed && event.payload.get("input").is_some_and(same) {
                    return Ok(true);
                }
            }
            if events.len() < MAX_EVENT_PAGE as usize {
                return Ok(false);
            }
            after = events.last().map(|e| (e.recorded_at, e.id));
        }
    }

    /// Runs a guard for the caller's tenant (see the module docs). Needs
    /// `write`. A 400 for input the guard cannot read; otherwise a
    /// verdict, recorded as a guard event.
    pub async fn guard(
        &self,
        by: &Principal,
        name: &str,
        request: &GuardRequest,
    ) -> Result<GuardResponse, Failure> {
        let guard = self.guards().get(name).ok_or_else(|| {
            Failure::of(
                ErrorKind::NotFound,
                format!(
                    "there is no guard `{name}`; guards: {}",
                    self.guards().names().join(", ")
                ),
            )
        })?;
        let tenant = self.event_tenant(by, request.tenant_id)?;
        self.tenant(tenant).await?;
        check_guard_input(guard, &request.input)?;
        let input = Value::Object(request.input.clone());
        let stored = self.store().policy_settings(tenant).await?;
        let settings: GuardSettings = match stored.get(&settings_id(guard)) {
            // Settings were checked when stored; if they no longer parse
            // the guard blocks rather than fall back to the defaults.
            Some(value) => serde_json::from_value(value.clone()).map_err(|e| {
                Failure::internal(&format!("stored settings of guard `{name}`: {e}"))
            })?,
            None => GuardSettings::default(),
        };
        let resource = guard
            .resource(&input)
            .map_err(|e| Failure::of(ErrorKind::Validation, format!("guard `{name}`: {e}")))?;
        let facts = self.guard_facts(tenant, guard, &input, &settings).await?;
        let actor = by.actor();
        let role = role_of(by, tenant);
        let principal = GuardPrincipal {
            id: &actor,
            role: &role,
        };
        let outcome = evaluate(guard, settings.rules.as_deref(), &principal, &input, &facts)
            .map_err(|e| Failure::of(ErrorKind::Validation, format!("guard `{name}`: {e}")))?;

        let mut verdict = outcome.verdict;
        let mut reasons = outcome.reasons.clone();
        let mut overridden = false;
        let override_reason = request
            .override_reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        if let Some(reason) = &override_reason {
            match outcome.verdict {
                Verdict::AllowWithOverride => {
                    let allowed: Vec<String> =
                        settings.override_roles.clone().unwrap_or_else(|| {
                            DEFAULT_OVERRIDE_ROLES
                                .iter()
                                .map(|r| (*r).to_owned())
                                .collect()
                        });
                    if !can_override(&role, &allowed) {
                        return Err(crate::identity::auth::forbidden(&format!(
                            "role `{role}` may not override guard `{name}`; roles that may: {}",
                            allowed.join(", ")
                        )));
                    }
                    verdict = Verdict::Allow;
                    overridden = true;
                    reasons.push(format!("overridden by {actor} ({role}): {reason}"));
                }
                Verdict::Block => {
                    reasons.push("a BLOCK cannot be overridden; the override was ignored".into())
                }
                Verdict::Allow => reasons.push("nothing to override".into()),
            }
        }

        let event = EventInput {
            id: None,
            tenant_id: Some(tenant),
            r#type: guard.event_type().to_owned(),
            source: "revos.guards".to_owned(),
            idempotency_key: Some(format!("guard/{name}/{}", Uuid::new_v4())),
            correlation_id: request.correlation_id.clone(),
            subject: Some(EventSubject {
                r#type: name.split('_').next_back().unwrap_or(name).to_owned(),
                id: resource.clone(),
            }),
            payload: json!({
                "guard": name,
                "input": input,
                "facts": facts,
                "verdict": verdict,
                "rules_verdict": outcome.verdict,
                "reasons": reasons,
                "matched_rules": outcome.matched_rules,
                "actor": actor,
                "role": role,
                "overridden": overridden,
                "override_reason": override_reason,
            }),
            occurred_at: None,
            recorded_at: None,
        };
        let receipt = self.emit(by, &event, None).await?;
        if overridden {
            self.audit(
                tenant,
                &actor,
                "guard.override",
                Some(("event", &receipt.event_id.to_string())),
                json!({
                    "guard": name,
                    "resource": resource,
                    "role": role,
                    "reason": override_reason,
                    "rules": outcome.matched_rules,
                }),
            )
            .await;
        }
        Ok(GuardResponse {
            guard: name.to_owned(),
            verdict,
            rules_verdict: outcome.verdict,
            reasons,
            matched_rules: outcome.matched_rules,
            overridden,
            override_reason,
            event_id: receipt.event_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn the_request_schema_has_one_object_per_guard() {
        let schema = serde_json::to_value(GuardRequest::schema()).unwrap();
        let items = schema["oneOf"].as_array().unwrap();
        let registry = revos_policy::guards::GuardRegistry::builtin();
        assert_eq!(items.len(), registry.names().len(), "{schema}");
        for (item, name) in items.iter().zip(registry.names()) {
            assert_eq!(item["title"], json!(name));
            assert_eq!(item["additionalProperties"], json!(false), "{item}");
            let guard = registry.get(name).unwrap();
            let expected = revos_policy::guards::request_json_schema(guard, &[]);
            for field in guard.input_fields() {
                assert_eq!(
                    item["properties"][field.name]["type"],
                    expected["properties"][field.name]["type"],
                    "{name}.{}",
                    field.name
                );
            }
            assert_eq!(item["required"], expected["required"]);
            assert!(item["properties"]["tenant_id"].is_object());
        }
    }
}
