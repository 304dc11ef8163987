//! Guards: may this person do this? Answered by Cedar rules, fail closed.
//!
//! A guard endpoint of the kernel shell (e.g. the deal-update guard) takes
//! an input from a backend, looks up the facts the guard needs, and calls
//! [`evaluate`] with the tenant's Cedar rules (or the guard's defaults). The
//! answer is a [`Verdict`]: `ALLOW`, `ALLOW_WITH_OVERRIDE` (a person whose
//! role may override, see [`can_override`], can let it through) or `BLOCK`.
//!
//! The Cedar request is built as:
//!
//! - principal `User::"<id>"` with the attribute `role`;
//! - action `Action::"<guard name>"`, e.g. `Action::"deal_update"`;
//! - resource of the guard's type, e.g. `Deal::"<deal id>"`;
//! - context from [`Guard::context`]: integers only (cents, basis points,
//!   days), since Cedar has no floating point.
//!
//! Each guard declares its input fields and its context (see
//! [`declaration`]): a request with an unknown field, a field of the wrong
//! type or a missing required field is refused before anything is
//! evaluated, and rules are validated against the Cedar schema derived from
//! the declaration.
//!
//! Rule conventions, enforced by [`check_rules`]: every rule has an
//! `@id("…")`; a `forbid` may carry `@overridable("true")` and a
//! `@reason("…")` shown to people; the rules validate against the guard's
//! Cedar schema (strict mode).
//!
//! Fail closed: any evaluation error (Cedar skips a rule that errors, for
//! instance one reading a context attribute that does not exist, which could
//! otherwise turn a forbid into an allow), invalid rules, or a request that
//! cannot be built gives `BLOCK`.

mod deal_update;
pub mod declaration;
mod numbers;
mod send_invoice;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicyId, PolicySet, Request, Response, RestrictedExpression,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use deal_update::DealUpdate;
pub use declaration::{
    CedarType, ContextAttribute, FieldType, InputField, accepted_fields, cedar_schema,
    cedar_schema_json, check_input, request_json_schema,
};
use send_invoice::SendInvoice;

/// The roles that may override an `ALLOW_WITH_OVERRIDE` verdict unless the
/// tenant configures others.
pub const DEFAULT_OVERRIDE_ROLES: [&str; 3] = ["owner", "admin", "approver"];

/// A guard's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Only with an override by a person in an override role.
    AllowWithOverride,
    /// Refused.
    Block,
}

impl Verdict {
    /// The verdict as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "ALLOW",
            Verdict::AllowWithOverride => "ALLOW_WITH_OVERRIDE",
            Verdict::Block => "BLOCK",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardOutcome {
    /// The answer.
    pub verdict: Verdict,
    /// Why, one sentence per entry: the `@reason` of each forbid that
    /// applied, "permitted by …", or the error that blocked.
    pub reasons: Vec<String>,
    /// The Cedar rule ids (`@id`) that determined the verdict, or that
    /// failed to evaluate.
    pub matched_rules: Vec<String>,
}

impl GuardOutcome {
    fn block(reasons: Vec<String>, matched_rules: Vec<String>) -> Self {
        GuardOutcome {
            verdict: Verdict::Block,
            reasons,
            matched_rules,
        }
    }
}

/// One guarded action: how to turn its input into a Cedar request, and the
/// rules used when the tenant has none.
pub trait Guard: Send + Sync {
    /// The guard's name, also the Cedar action id: "deal_update", "send_invoice".
    fn name(&self) -> &'static str;
    /// The type of the guard event the shell emits, e.g. "revenue_os.guard.deal_update".
    fn event_type(&self) -> &'static str;
    /// The Cedar entity type of the resource, e.g. `Deal`.
    fn resource_type(&self) -> &'static str;
    /// The Cedar rules used when the tenant has not set its own.
    fn default_rules(&self) -> &'static str;
    /// The facts the shell must look up and pass to [`Guard::context`],
    /// e.g. `["account_known", "duplicate_within_window"]`.
    fn facts_needed(&self) -> &'static [&'static str];
    /// The input fields a request may carry; any other field is refused.
    fn input_fields(&self) -> &'static [InputField];
    /// The attributes of the context [`Guard::context`] builds, exactly;
    /// the guard's Cedar schema is derived from them.
    fn context_attributes(&self) -> &'static [ContextAttribute];
    /// The Cedar context for an input; `Err` is a clear input error (400).
    fn context(&self, input: &Value, facts: &Value) -> Result<Value, String>;
    /// The resource id (deal id, invoice id); `Err` is a clear input error.
    fn resource(&self, input: &Value) -> Result<String, String>;
}

/// The guards the kernel knows.
pub struct GuardRegistry {
    guards: Vec<Box<dyn Guard>>,
}

impl fmt::Debug for GuardRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl GuardRegistry {
    /// The built-in guards: `deal_update` and `send_invoice`.
    pub fn builtin() -> Self {
        GuardRegistry {
            guards: vec![Box::new(DealUpdate), Box::new(SendInvoice)],
        }
    }

    /// The guard with this name.
    pub fn get(&self, name: &str) -> Option<&dyn Guard> {
        self.guards
            .iter()
            .find(|g| g.name() == name)
            .map(|g| g.as_ref())
    }

    /// The names of every guard.
    pub fn names(&self) -> Vec<&'static str> {
        self.guards.iter().map(|g| g.name()).collect()
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct GuardPrincipal<'a> {
    /// The user id (Cedar `User::"<id>"`).
    pub id: &'a str,
    /// The user's role, the principal's `role` attribute.
    pub role: &'a str,
}

/// Whether `role` may override an `ALLOW_WITH_OVERRIDE` verdict, given the
/// tenant's override roles (compared ignoring case and surrounding space).
pub fn can_override(role: &str, allowed: &[String]) -> bool {
    let role = role.trim();
    !role.is_empty() && allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(role))
}

/// One rule of a compiled rule set.
struct Rule {
    id: String,
    effect: Effect,
    overridable: bool,
    reason: Option<String>,
}

/// Rules ready to evaluate.
struct CompiledRules {
    /// Every rule, with ids from `@id`.
    all: PolicySet,
    /// Every rule except overridable forbids: what would decide after an
    /// override.
    without_overridable: PolicySet,
    /// In source order.
    rules: Vec<Rule>,
}

impl CompiledRules {
    fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The ids in `ids`, in source order.
    fn ordered<'a>(&self, ids: impl Iterator<Item = &'a PolicyId>) -> Vec<String> {
        let set: HashSet<&str> = ids.map(|id| -> &str { id.as_ref() }).collect();
        self.rules
            .iter()
            .filter(|r| set.contains(r.id.as_str()))
            .map(|r| r.id.clone())
            .collect()
    }
}

/// Parses Cedar text and applies the rule conventions.
fn compile(text: &str) -> Result<CompiledRules, String> {
    let parsed = PolicySet::from_str(text).map_err(|errs| {
        let all: Vec<String> = errs.iter().map(ToString::to_string).collect();
        format!("Cedar parse error: {}", all.join("; "))
    })?;
    if parsed.templates().next().is_some() {
        return Err(
            "rules must be plain policies; templates (with ?principal or ?resource) are not \
             supported"
                .to_owned(),
        );
    }
    // `from_str` names policies policy0, policy1, … in source order.
    let mut policies: Vec<(usize, &cedar_policy::Policy)> = parsed
        .policies()
        .map(|p| {
            let id: &str = p.id().as_ref();
            let n = id
                .strip_prefix("policy")
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            (n, p)
        })
        .collect();
    policies.sort_by_key(|(n, _)| *n);
    if policies.is_empty() {
        return Err("rules contain no policies; at least one permit is needed".to_owned());
    }

    let mut all = PolicySet::new();
    let mut without_overridable = PolicySet::new();
    let mut rules = Vec::new();
    let mut seen = HashMap::new();
    for (i, (_, p)) in policies.into_iter().enumerate() {
        let effect = p.effect();
        let kind = match effect {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
        };
        let id = match p.annotation("id").map(str::trim) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                return Err(format!(
                    "rule {} (a {kind}) has no @id(\"…\") annotation; every rule needs one",
                    i + 1
                ));
            }
        };
        if seen.insert(id.clone(), i).is_some() {
            return Err(format!("two rules have @id(\"{id}\"); ids must be unique"));
        }
        let overridable = match p.annotation("overridable") {
            None => false,
            Some(_) if effect == Effect::Permit => {
                return Err(format!(
                    "rule `{id}`: @overridable is only allowed on forbid rules"
                ));
            }
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(format!(
                    "rule `{id}`: @overridable must be \"true\" or \"false\", not \"{other}\""
                ));
            }
        };
        let reason = p
            .annotation("reason")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let renamed = p.new_id(PolicyId::new(&id));
        if !overridable {
            without_overridable
                .add(renamed.clone())
                .map_err(|e| format!("rule `{id}`: {e}"))?;
        }
        all.add(renamed).map_err(|e| format!("rule `{id}`: {e}"))?;
        rules.push(Rule {
            id,
            effect,
            overridable,
            reason,
        });
    }
    Ok(CompiledRules {
        all,
        without_overridable,
        rules,
    })
}

/// Parses the rules and validates them against the guard's schema.
fn compile_for(guard: &dyn Guard, text: &str) -> Result<CompiledRules, String> {
    let compiled = compile(text)?;
    declaration::validate(guard, &compiled.all)?;
    Ok(compiled)
}

/// Checks a tenant's Cedar rules for `guard`: they parse (Cedar's message
/// is passed through), every rule has a unique `@id`, `@overridable`
/// appears only on forbids with the value "true" or "false", no templates
/// are used, and they validate against the guard's Cedar schema (Cedar's
/// message is passed through, e.g. for an attribute the context lacks).
pub fn check_rules(guard: &dyn Guard, text: &str) -> Result<(), String> {
    compile_for(guard, text).map(|_| ())
}

/// Evaluates `guard` for `principal` on `input`, with the tenant's `rules`
/// (None = the guard's defaults) and the `facts` the shell looked up.
///
/// `Err` is an input error (an unknown field, a missing deal id, an amount
/// that is not a number): the caller answers 400. Everything else, including invalid rules
/// and evaluation errors, is an `Ok` outcome, `BLOCK` when in doubt.
pub fn evaluate(
    guard: &dyn Guard,
    rules: Option<&str>,
    principal: &GuardPrincipal<'_>,
    input: &Value,
    facts: &Value,
) -> Result<GuardOutcome, String> {
    if !input.is_object() {
        return Err(format!(
            "{} input must be a JSON object, not {}",
            guard.name(),
            crate::settings::kind(input)
        ));
    }
    if let Some(fields) = input.as_object() {
        check_input(guard, fields, &[]).map_err(|violations| {
            violations
                .iter()
                .map(|v| v.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    }
    let resource_id = guard.resource(input)?;
    let context = guard.context(input, facts)?;
    let compiled = match compile_for(guard, rules.unwrap_or(guard.default_rules())) {
        Ok(c) => c,
        Err(e) => {
            return Ok(GuardOutcome::block(
                vec![format!("the guard rules are invalid (fail closed): {e}")],
                Vec::new(),
            ));
        }
    };
    let (request, entities) = match build_request(guard, principal, &resource_id, context) {
        Ok(r) => r,
        Err(e) => {
            return Ok(GuardOutcome::block(
                vec![format!(
                    "the guard request could not be built (fail closed): {e}"
                )],
                Vec::new(),
            ));
        }
    };
    let authorizer = Authorizer::new();
    let response = authorizer.is_authorized(&request, &compiled.all, &entities);
    if let Some(blocked) = errors_outcome(&compiled, &response) {
        return Ok(blocked);
    }
    let determining = compiled.ordered(response.diagnostics().reason());
    if response.decision() == Decision::Allow {
        return Ok(GuardOutcome {
            verdict: Verdict::Allow,
            reasons: vec![format!("permitted by {}", determining.join(", "))],
            matched_rules: determining,
        });
    }
    if determining.is_empty() {
        return Ok(GuardOutcome::block(
            vec!["no rule permits this action (fail closed)".to_owned()],
            Vec::new(),
        ));
    }
    let forbids: Vec<&Rule> = determining
        .iter()
        .filter_map(|id| compiled.rule(id))
        .filter(|r| r.effect == Effect::Forbid)
        .collect();
    let mut reasons: Vec<String> = forbids
        .iter()
        .map(|r| r.reason.clone().unwrap_or_else(|| r.id.clone()))
        .collect();
    if !forbids.is_empty() && forbids.iter().all(|r| r.overridable) {
        // An override lifts the overridable forbids; something must still
        // permit the action once they are gone.
        let after = authorizer.is_authorized(&request, &compiled.without_overridable, &entities);
        if let Some(blocked) = errors_outcome(&compiled, &after) {
            return Ok(blocked);
        }
        if after.decision() == Decision::Allow {
            return Ok(GuardOutcome {
                verdict: Verdict::AllowWithOverride,
                reasons,
                matched_rules: determining,
            });
        }
        reasons.push("no rule permits this action (fail closed)".to_owned());
    }
    Ok(GuardOutcome::block(reasons, determining))
}

/// `BLOCK` naming every rule that failed to evaluate, if any did.
fn errors_outcome(compiled: &CompiledRules, response: &Response) -> Option<GuardOutcome> {
    let errors: Vec<_> = response.diagnostics().errors().collect();
    if errors.is_empty() {
        return None;
    }
    let mut reasons: Vec<String> = errors
        .iter()
        .map(|e| format!("rule evaluation failed (fail closed): {e}"))
        .collect();
    reasons.sort();
    let ids = compiled.ordered(errors.iter().map(|e| match e {
        cedar_policy::AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
    }));
    Some(GuardOutcome::block(reasons, ids))
}

fn build_request(
    guard: &dyn Guard,
    principal: &GuardPrincipal<'_>,
    resource_id: &str,
    context: Value,
) -> Result<(Request, Entities), String> {
    let uid = |ty: &str, id: &str| -> Result<EntityUid, String> {
        let ty = EntityTypeName::from_str(ty).map_err(|e| format!("entity type `{ty}`: {e}"))?;
        Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
    };
    let schema = cedar_schema(guard)?;
    let principal_uid = uid("User", principal.id)?;
    let action_uid = uid("Action", guard.name())?;
    let resource_uid = uid(guard.resource_type(), resource_id)?;
    let context = Context::from_json_value(context, Some((&schema, &action_uid)))
        .map_err(|e| format!("context: {e}"))?;
    let user = Entity::new(
        principal_uid.clone(),
        HashMap::from([(
            "role".to_owned(),
            RestrictedExpression::new_string(principal.role.to_owned()),
        )]),
        HashSet::new(),
    )
    .map_err(|e| format!("principal: {e}"))?;
    let resource = Entity::new_no_attrs(resource_uid.clone(), HashSet::new());
    let entities = Entities::from_entities([user, resource], Some(&schema))
        .map_err(|e| format!("entities: {e}"))?;
    let request = Request::new(
        principal_uid,
        action_uid,
        resource_uid,
        context,
        Some(&schema),
    )
    .map_err(|e| format!("request: {e}"))?;
    Ok((request, entities))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_pass_the_checks() {
        let reg = GuardRegistry::builtin();
        assert_eq!(reg.names(), ["deal_update", "send_invoice"]);
        for name in reg.names() {
            let g = reg.get(name).unwrap();
            check_rules(g, g.default_rules()).unwrap();
            assert_eq!(g.event_type(), format!("revenue_os.guard.{name}"));
        }
        assert!(reg.get("nope").is_none());
    }

    #[test]
    fn override_roles() {
        let allowed: Vec<String> = DEFAULT_OVERRIDE_ROLES
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(can_override("admin", &allowed));
        assert!(can_override(" Owner ", &allowed));
        assert!(!can_override("sales", &allowed));
        assert!(!can_override("", &allowed));
        assert!(!can_override("admin", &[]));
    }

    #[test]
    fn verdict_wire_names() {
        for v in [Verdict::Allow, Verdict::AllowWithOverride, Verdict::Block] {
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::json!(v.as_str())
            );
        }
    }
}
