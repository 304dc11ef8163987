//! The event runtime (seed 000): events → decisions → actions.
//!
//! [`Kernel::ingest`] takes an event from a backend, routes it to the
//! active policy for its (type, source) in the registry of the pure
//! `revos-policy` crate, turns the policy's proposed actions into
//! [`KernelAction`]s and, in enforce mode, into the work of the adapters:
//!
//! | action           | adapter (in the ingest transaction)     | then                         |
//! |------------------|-----------------------------------------|------------------------------|
//! | `OUTBOUND_EMAIL` | a `channel_outbox` row + an `email` job | the worker sends it (SMTP)   |
//! | `TASK_CREATE`    | a `tasks` row                           | done                         |
//! | `WEBHOOK`        | a `webhook` job                         | the worker posts it (signed) |
//!
//! The event, its decisions, its actions, the outbox rows, tasks, jobs and
//! the audit entry commit in one transaction. In shadow mode only the
//! event, decisions and actions (status `shadowed`) are written. An event
//! no policy handles gets a `no_policy` decision; a policy that fails (or
//! proposes an action its adapter cannot carry out) gets an `error`
//! decision and no action: nothing runs that was not decided.
//!
//! The mode of a decision is, first found: the tenant's mode for that
//! policy, the tenant's mode, the global `kernel_mode`.
//!
//! [`Kernel::emit`] records an event without running policies: a fact to
//! keep (guard verdicts use it).

use crate::delivery::jobs::JobRequest;
use crate::delivery::{EMAIL_JOB, WEBHOOK_JOB};
use crate::identity::auth::Principal;
use crate::runtime::EventInput;
use crate::{Failure, Kernel};
use chrono::{DateTime, Utc};
use revos_contracts::runtime::{
    ActionKind, ActionStatus, DecisionOutcome, EventSubject, KernelAction, KernelDecision,
    KernelEvent, KernelMode, validate_event,
};
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_policy::{NO_POLICY_ID, Policy, PolicyContext, PolicyOutput, ProposedAction};
use revos_queue::{EnqueueOutcome, Job, JobState};
use revos_store::audit::NewAuditEntry;
use revos_store::audit::revos_audit::canonical_json;
use revos_store::events::{
    EventInsert, NewTask, OutboxEmail, OutboxStatus, StoredEvent, Task, WebhookEndpoint,
};
use revos_store::identity::Scope;
use revos_store::support;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// What ingesting (or emitting) an event did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestReceipt {
    /// The event's id (the first one's, for a duplicate).
    pub event_id: Uuid,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Its correlation id.
    correlation_id: String,
    /// `true` when the key had been ingested before with the same body:
    /// nothing was written, and this is the stored result.
    pub duplicate: bool,
    /// The decisions on it.
    pub decisions: Vec<KernelDecision>,
    /// Their actions, as they are now.
    pub actions: Vec<KernelAction>,
}

/// The effective modes of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuntimeModes {
    /// The global mode (`REVENUE_OS_KERNEL_MODE`).
    pub global: KernelMode,
    /// The tenant's own mode, if set.
    pub tenant: Option<KernelMode>,
    /// The tenant's per-policy modes.
    pub policies: BTreeMap<String, KernelMode>,
    /// The mode each registered policy runs in for this tenant.
    pub effective: BTreeMap<String, KernelMode>,
}

/// The mode a decision of `policy` runs under: the tenant's mode for the
/// policy, else the tenant's mode, else the global one.
fn effective_mode(
    global: KernelMode,
    tenant: Option<KernelMode>,
    policies: &BTreeMap<String, KernelMode>,
    policy: &str,
) -> KernelMode {
    policies.get(policy).copied().or(tenant).unwrap_or(global)
}

/// Hex SHA-256 of the event as the client sent it (canonical JSON, minus
/// the fields the kernel fills in itself): two sends of one key compare
/// equal exactly when they carry the same event.
pub fn body_hash(input: &EventInput) -> String {
    let mut value = serde_json::to_value(input).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("tenant_id");
        map.remove("recorded_at");
        map.remove("idempotency_key");
    }
    hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
}

/// An adapter's input, checked before anything is written.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    Email(EmailParams),
    Task(TaskParams),
    Webhook(WebhookParams),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailParams {
    to: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    reply_to: Option<String>,
    subject: String,
    text: String,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    template: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskParams {
    owner: String,
    subject: String,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    entity_type: Option<String>,
    #[serde(default)]
    entity_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookParams {
    endpoint: String,
    event_type: String,
    body: Value,
}

/// Checks a proposed action's parameters against its adapter.
fn prepare(action: &ProposedAction) -> Result<Prepared, String> {
    let what = format!("{} action `{}`", action.kind, action.key);
    let parsed = match action.kind {
        ActionKind::OutboundEmail => {
            let p: EmailParams = serde_json::from_value(action.params.clone())
                .map_err(|e| format!("{what}: {e}"))?;
            p.to.parse::<lettre::message::Mailbox>()
                .map_err(|e| format!("{what}: recipient `{}` is not an address: {e}", p.to))?;
            for (field, value) in [("from", &p.from), ("reply_to", &p.reply_to)] {
                if let Some(addr) = value {
                    addr.parse::<lettre::message::Mailbox>()
                        .map_err(|e| format!("{what}: {field} `{addr}` is not an address: {e}"))?;
                }
            }
            if p.subject.trim().is_empty() {
                return Err(format!("{what}: the subject is empty"));
            }
            Prepared::Email(p)
        }
        ActionKind::TaskCreate => {
            let p: TaskParams = serde_json::from_value(action.params.clone())
                .map_err(|e| format!("{what}: {e}"))?;
            if p.owner.trim().is_empty() || p.subject.trim().is_empty() {
                return Err(format!("{what}: a task needs an owner and a subject"));
            }
            Prepared::Task(p)
        }
        ActionKind::Webhook => {
            let p: WebhookParams = serde_json::from_value(action.params.clone())
                .map_err(|e| format!("{what}: {e}"))?;
            if !p.body.is_object() {
                return Err(format!("{what}: the body must be a JSON object"));
            }
            Prepared::Webhook(p)
        }
    };
    Ok(parsed)
}

/// The key of an action within its decision, from its idempotency key
/// (`<event id>/<policy id>@<version>/<key>`).
pub fn action_key(action: &KernelAction) -> &str {
    action
        .idempotency_key
        .rsplit('/')
        .next()
        .unwrap_or(&action.idempotency_key)
}

/// The `email` queue's priority class (seed 003: `welcome`, `confirmation`,
/// `notification`, `newsletter`) of the e-mails a policy sends: a booking
/// confirmation is a `confirmation`, the first reply to a new lead a
/// `welcome`; any other policy's e-mail a `notification`. Marketing sends
/// (`send_campaign`) queue as `newsletter`, the least urgent.
fn email_priority(policy_id: &str) -> &'static str {
    if policy_id.contains("booking_confirmation") {
        "confirmation"
    } else if policy_id.contains("lead_response") {
        "welcome"
    } else {
        "notification"
    }
}

/// One decision as the engine made it, with everything it writes.
struct Planned {
    decision: KernelDecision,
    actions: Vec<(KernelAction, Option<Prepared>, Option<DateTime<Utc>>)>,
}

/// Runs `policy` on `event`, turning a panic into an error (fail closed).
fn run_policy(
    policy: &dyn Policy,
    event: &KernelEvent,
    ctx: &PolicyContext<'_>,
) -> Result<PolicyOutput, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| policy.decide(event, ctx))) {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!(
            "policy {}@{} panicked; treated as an error",
            policy.id(),
            policy.version()
        )),
    }
}

/// What the engine makes of a policy's run on an event, before anything
/// is written: the outcome it records, the policy's reasons, and each
/// proposed action with its adapter's checked input.
pub(crate) struct Settled {
    pub(crate) outcome: DecisionOutcome,
    pub(crate) reasons: Vec<String>,
    pub(crate) actions: Vec<(ProposedAction, Prepared)>,
}

/// Runs `policy` on `event` and settles its output as a decision: `act`
/// only with actions, every action checked by its adapter. The error is
/// the reason of an `error` decision (the policy failed, or proposed an
/// action its adapter cannot carry out). Ingest and replay both decide
/// through here, so a replay judges as the runtime would.
pub(crate) fn settle(
    policy: &dyn Policy,
    event: &KernelEvent,
    ctx: &PolicyContext<'_>,
) -> Result<Settled, String> {
    let output = run_policy(policy, event, ctx)?;
    let mut actions = Vec::with_capacity(output.actions.len());
    for action in output.actions {
        match prepare(&action) {
            Ok(prepared) => actions.push((action, prepared)),
            Err(reason) => {
                return Err(format!(
                    "the policy proposed an action its adapter cannot carry out, so nothing \
                     was done: {reason}"
                ));
            }
        }
    }
    let outcome = match output.outcome {
        DecisionOutcome::Act if !actions.is_empty() => DecisionOutcome::Act,
        DecisionOutcome::Act | DecisionOutcome::NoAction => DecisionOutcome::NoAction,
        other => other,
    };
    Ok(Settled {
        outcome,
        reasons: output.reasons,
        actions,
    })
}

impl Kernel {
    /// The tenant an event belongs to: the credential's own (a tenant key),
    /// or the one the event names (users, platform keys, the service),
    /// which the caller must be allowed to write.
    pub fn event_tenant(
        &self,
        by: &Principal,
        named: Option<TenantId>,
    ) -> Result<TenantId, Failure> {
        let tenant = match (by.tenant(), named) {
            (Some(own), Some(named)) if own != named => {
                return Err(Failure::tenant_not_found(named));
            }
            (Some(own), _) => own,
            (None, Some(named)) => named,
            (None, None) => {
                return Err(Failure::of(
                    ErrorKind::Validation,
                    "this credential is not bound to one tenant: name it in `tenant_id`",
                ));
            }
        };
        by.authorize_tenant(tenant, Scope::Write)?;
        Ok(tenant)
    }

    /// Checks an event and completes it with the kernel's defaults.
    fn complete_event(
        &self,
        tenant: TenantId,
        input: &EventInput,
        header_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<KernelEvent, Failure> {
        let key = match (&input.idempotency_key, header_key) {
            (Some(key), _) => key.clone(),
            (None, Some(key)) => key.to_owned(),
            (None, None) => {
                return Err(Failure::of(
                    ErrorKind::Validation,
                    "the event has no `idempotency_key` (and the request no `Idempotency-Key` \
                     header): give one, so a retried send is not taken for a new event",
                ));
            }
        };
        let id = input.id.unwrap_or_else(Uuid::new_v4);
        let event = KernelEvent {
            id,
            tenant_id: tenant,
            r#type: input.r#type.clone(),
            source: input.source.clone(),
            idempotency_key: key,
            correlation_id: input
                .correlation_id
                .clone()
                .unwrap_or_else(|| id.to_string()),
            subject: input.subject.clone().unwrap_or_else(|| EventSubject {
                r#type: "event".to_owned(),
                id: id.to_string(),
            }),
            payload: input.payload.clone(),
            occurred_at: support::now_at(input.occurred_at.unwrap_or(now)),
            recorded_at: support::now_at(now),
        };
        let mut violations = validate_event(&event);
        if event.correlation_id.is_empty() || event.correlation_id.chars().count() > 255 {
            violations.push(revos_contracts::validation::Violation::new(
                "event.correlation_id",
                "$.correlation_id",
                "correlation_id must have 1 to 255 characters",
                ErrorCode::InvalidInput,
            ));
        }
        for (field, value) in [
            ("subject.type", &event.subject.r#type),
            ("subject.id", &event.subject.id),
        ] {
            if value.is_empty() || value.chars().count() > 255 {
                violations.push(revos_contracts::validation::Violation::new(
                    format!("event.{field}"),
                    format!("$.{field}"),
                    format!("{field} must have 1 to 255 characters"),
                    ErrorCode::InvalidInput,
                ));
            }
        }
        violations.extend(revos_optimizer::experiments::event_violations(&event));
        crate::validate::check(violations, "invalid event")?;
        Ok(event)
    }

    /// The receipt of an event already stored under the same key: its
    /// stored result when the body is the same, 422 when it is not.
    async fn stored_receipt(
        &self,
        stored: StoredEvent,
        hash: &str,
    ) -> Result<IngestReceipt, Failure> {
        if stored.body_hash != hash {
            return Err(Failure::of(
                ErrorKind::IdempotencyConflict,
                format!(
                    "idempotency key `{}` was used for a different event ({}); \
                     use a new key for a new event",
                    stored.event.idempotency_key, stored.event.id
                ),
            )
            .with_detail("event_id", stored.event.id.to_string()));
        }
        let tenant = stored.event.tenant_id;
        let ids = [stored.event.id];
        Ok(IngestReceipt {
            event_id: stored.event.id,
            idempotency_key: stored.event.idempotency_key.clone(),
            correlation_id: stored.event.correlation_id.clone(),
            duplicate: true,
            decisions: self.store().decisions_for_events(tenant, &ids).await?,
            actions: self.store().actions_for_events(tenant, &ids).await?,
        })
    }

    /// The tenant's modes, and every registered policy's effective one.
    pub async fn runtime_modes(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<RuntimeModes, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        let tenant_mode = self.store().tenant_mode(tenant).await?;
        let policies = self.store().policy_modes(tenant).await?;
        let global = self.config().kernel_mode;
        let effective = self
            .policies()
            .list()
            .into_iter()
            .filter(|p| p.active)
            .map(|p| {
                (
                    p.id.to_owned(),
                    effective_mode(global, tenant_mode, &policies, p.id),
                )
            })
            .collect();
        Ok(RuntimeModes {
            global,
            tenant: tenant_mode,
            policies,
            effective,
        })
    }

    /// Sets or clears the tenant's mode, or (with `policy`) its mode for
    /// one policy. Needs `admin`; audited.
    pub async fn set_runtime_mode(
        &self,
        by: &Principal,
        tenant: TenantId,
        policy: Option<&str>,
        mode: Option<KernelMode>,
    ) -> Result<RuntimeModes, Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        match policy {
            Some(id) => {
                if self.policies().active(id).is_none() {
                    return Err(Failure::of(
                        ErrorKind::NotFound,
                        format!(
                            "there is no policy `{id}`; policies: {}",
                            self.policy_ids().join(", ")
                        ),
                    ));
                }
                self.store()
                    .set_policy_mode(tenant, id, mode, Utc::now())
                    .await?;
            }
            None => self.store().set_tenant_mode(tenant, mode).await?,
        }
        self.audit(
            tenant,
            &by.actor(),
            "runtime.mode.set",
            policy.map(|id| ("policy", id)),
            json!({"policy": policy, "mode": mode}),
        )
        .await;
        self.runtime_modes(by, tenant).await
    }

    fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .policies()
            .list()
            .into_iter()
            .map(|p| p.id.to_owned())
            .collect();
        ids.dedup();
        ids
    }

    /// Runs the engine over `event`: one decision (of the routed policy, or
    /// `no_policy`), with its actions checked by their adapters.
    fn plan(
        &self,
        event: &KernelEvent,
        tenant_name: &str,
        settings: &BTreeMap<String, Value>,
        modes: (Option<KernelMode>, &BTreeMap<String, KernelMode>),
        endpoints: &[String],
        now: DateTime<Utc>,
    ) -> Planned {
        let global = self.config().kernel_mode;
        let decision = |policy_id: &str, version: u32, outcome, reasons, mode| KernelDecision {
            id: Uuid::new_v4(),
            tenant_id: event.tenant_id,
            event_id: event.id,
            policy_id: policy_id.to_owned(),
            policy_version: version,
            outcome,
            reasons,
            correlation_id: event.correlation_id.clone(),
            mode,
            decided_at: now,
        };
        let Some(policy) = self.policies().route(&event.r#type, &event.source) else {
            let mode = modes.0.unwrap_or(global);
            return Planned {
                decision: decision(
                    NO_POLICY_ID,
                    0,
                    DecisionOutcome::NoPolicy,
                    vec![format!(
                        "no policy handles `{}` events from `{}`; the event is recorded",
                        event.r#type, event.source
                    )],
                    mode,
                ),
                actions: Vec::new(),
            };
        };
        let mode = effective_mode(global, modes.0, modes.1, policy.id());
        let null = Value::Null;
        let ctx = PolicyContext {
            tenant_id: event.tenant_id,
            tenant_name,
            settings: settings.get(policy.id()).unwrap_or(&null),
            now,
            templates: self.config().templates.limits(),
        };
        let fail = |reason: String| Planned {
            decision: decision(
                policy.id(),
                policy.version(),
                DecisionOutcome::Error,
                vec![reason],
                mode,
            ),
            actions: Vec::new(),
        };
        let settled = match settle(policy, event, &ctx) {
            Ok(settled) => settled,
            Err(reason) => return fail(reason),
        };
        let outcome = settled.outcome;
        let mut reasons = settled.reasons;
        let planned_decision = decision(policy.id(), policy.version(), outcome, Vec::new(), mode);
        let mut actions = Vec::with_capacity(settled.actions.len());
        for (proposal, prepared) in settled.actions {
            let mut status = match mode {
                KernelMode::Shadow => ActionStatus::Shadowed,
                KernelMode::Enforce => match prepared {
                    Prepared::Task(_) => ActionStatus::Succeeded,
                    _ => ActionStatus::Queued,
                },
            };
            if let (KernelMode::Enforce, Prepared::Webhook(p)) = (mode, &prepared)
                && !endpoints.contains(&p.endpoint)
            {
                status = ActionStatus::Blocked;
                reasons.push(format!(
                    "webhook endpoint `{}` is not configured (or inactive): the {} action \
                     `{}` is blocked",
                    p.endpoint, proposal.kind, proposal.key
                ));
            }
            let action = KernelAction {
                id: Uuid::new_v4(),
                tenant_id: event.tenant_id,
                decision_id: planned_decision.id,
                event_id: event.id,
                r#type: proposal.kind,
                params: proposal.params.clone(),
                status,
                idempotency_key: format!(
                    "{}/{}@{}/{}",
                    event.id,
                    policy.id(),
                    policy.version(),
                    proposal.key
                ),
                correlation_id: event.correlation_id.clone(),
                mode,
                created_at: now,
                updated_at: now,
            };
            actions.push((action, Some(prepared), proposal.run_at));
        }
        let mut planned_decision = planned_decision;
        planned_decision.reasons = reasons;
        Planned {
            decision: planned_decision,
            actions,
        }
    }

    /// Ingests one event: validates it, records it with its decisions and
    /// actions and (in enforce mode) the adapters' work, in one
    /// transaction, and answers what was decided. A second ingest of the
    /// same idempotency key answers the stored result (same body) or 422
    /// (another body).
    pub async fn ingest(
        &self,
        by: &Principal,
        input: &EventInput,
        header_key: Option<&str>,
    ) -> Result<IngestReceipt, Failure> {
        self.take_event(by, input, header_key, true).await
    }

    /// Records an event without running policies: a fact to keep, such as
    /// a guard's verdict. Idempotent like [`Kernel::ingest`].
    pub async fn emit(
        &self,
        by: &Principal,
        input: &EventInput,
        header_key: Option<&str>,
    ) -> Result<IngestReceipt, Failure> {
        self.take_event(by, input, header_key, false).await
    }

    async fn take_event(
        &self,
        by: &Principal,
        input: &EventInput,
        header_key: Option<&str>,
        decide: bool,
    ) -> Result<IngestReceipt, Failure> {
        let tenant = self.event_tenant(by, input.tenant_id)?;
        let event = self.complete_event(tenant, input, header_key, Utc::now())?;
        self.record_event(by, event, &body_hash(input), decide)
            .await
    }

    /// Decides on an event as [`Kernel::ingest`] would, and writes nothing:
    /// the receipt says what would be decided and done (a key ingested
    /// before answers its stored result, `duplicate` set). For trying a
    /// policy or an import before it runs for real.
    pub async fn dry_run(
        &self,
        by: &Principal,
        input: &EventInput,
    ) -> Result<IngestReceipt, Failure> {
        let tenant = self.event_tenant(by, input.tenant_id)?;
        let event = self.complete_event(tenant, input, None, Utc::now())?;
        let hash = body_hash(input);
        let ctx = self
            .store()
            .ingest_context(tenant, &event.idempotency_key)
            .await?;
        if let Some(stored) = ctx.existing {
            return self.stored_receipt(stored, &hash).await;
        }
        let planned = self.plan(
            &event,
            &ctx.tenant_name,
            &ctx.settings,
            (ctx.tenant_mode, &ctx.policy_modes),
            &ctx.endpoints,
            event.recorded_at,
        );
        Ok(IngestReceipt {
            event_id: event.id,
            idempotency_key: event.idempotency_key,
            correlation_id: event.correlation_id,
            duplicate: false,
            decisions: vec![planned.decision],
            actions: planned.actions.into_iter().map(|(a, _, _)| a).collect(),
        })
    }

    /// Ingests each event on its own (one transaction each); one result per
    /// event, in order.
    pub async fn ingest_batch(
        &self,
        by: &Principal,
        inputs: &[EventInput],
    ) -> Vec<Result<IngestReceipt, Failure>> {
        let mut out = Vec::with_capacity(inputs.len());
        for input in inputs {
            out.push(self.ingest(by, input, None).await);
        }
        out
    }

    /// Writes the event (and, with `decide`, its decisions and actions).
    async fn record_event(
        &self,
        by: &Principal,
        event: KernelEvent,
        hash: &str,
        decide: bool,
    ) -> Result<IngestReceipt, Failure> {
        let tenant = event.tenant_id;
        let store = self.store();
        // One read gives everything the decision needs; the common
        // duplicate is answered from it without a write transaction.
        let ctx = store.ingest_context(tenant, &event.idempotency_key).await?;
        if let Some(stored) = ctx.existing {
            return self.stored_receipt(stored, hash).await;
        }
        let now = event.recorded_at;
        let planned = decide.then(|| {
            self.plan(
                &event,
                &ctx.tenant_name,
                &ctx.settings,
                (ctx.tenant_mode, &ctx.policy_modes),
                &ctx.endpoints,
                now,
            )
        });

        // Every read happens before the write transaction: on SQLite the
        // transaction holds the one write lock, and a read on another
        // pooled connection while holding it could wait for a connection
        // that other writers, queued behind the lock, are holding.
        let mut jobs: HashMap<Uuid, revos_queue::NewJob> = HashMap::new();
        if let Some(planned) = &planned {
            for (action, prepared, run_at) in &planned.actions {
                if action.status != ActionStatus::Queued {
                    continue;
                }
                let email_class = email_priority(&planned.decision.policy_id);
                let (queue, kind, payload) = match prepared {
                    Some(Prepared::Email(_)) => {
                        ("email", EMAIL_JOB, json!({"action_id": action.id}))
                    }
                    Some(Prepared::Webhook(p)) => (
                        "webhook",
                        WEBHOOK_JOB,
                        json!({
                            "action_id": action.id,
                            "endpoint": p.endpoint,
                            "event_type": p.event_type,
                            "body": p.body,
                        }),
                    ),
                    _ => continue,
                };
                let request = JobRequest {
                    queue: queue.to_owned(),
                    kind: kind.to_owned(),
                    payload,
                    priority: (queue == "email").then(|| email_class.to_owned()),
                    run_at: run_at.filter(|at| *at > now),
                    idempotency_key: Some(action.idempotency_key.clone()),
                    action_id: Some(action.id),
                };
                jobs.insert(
                    action.id,
                    self.job_with_overrides(&ctx.queue_overrides, &request)?,
                );
            }
        }

        let mut tx = store.begin(tenant).await?;
        if let EventInsert::Existing(stored) = tx.insert_event(&event, hash).await? {
            tx.rollback().await?;
            return self.stored_receipt(stored, hash).await;
        }
        let mut decisions = Vec::new();
        let mut actions = Vec::new();
        if let Some(planned) = planned {
            tx.insert_decisions(std::slice::from_ref(&planned.decision))
                .await?;
            let mut outbox = Vec::new();
            let mut tasks = Vec::new();
            for (mut action, prepared, _) in planned.actions {
                if let Some(job) = jobs.get(&action.id) {
                    if let Some(Prepared::Email(p)) = &prepared {
                        outbox.push(OutboxEmail {
                            tenant_id: tenant,
                            id: Uuid::new_v4(),
                            action_id: action.id,
                            to: p.to.clone(),
                            from: p
                                .from
                                .clone()
                                .unwrap_or_else(|| self.config().email.from.clone()),
                            reply_to: p.reply_to.clone(),
                            subject: p.subject.clone(),
                            text: p.text.clone(),
                            html: p.html.clone(),
                            message_id: crate::delivery::email::message_id_for(
                                action.id,
                                &self.config().email.message_id_domain,
                            ),
                            status: OutboxStatus::Pending,
                            attempts: 0,
                            last_error: None,
                            sent_at: None,
                            created_at: now,
                        });
                    }
                    if let EnqueueOutcome::Created { job } = tx.enqueue(job, now).await?
                        && job.state == JobState::AwaitingApproval
                    {
                        action.status = ActionStatus::AwaitingApproval;
                    }
                }
                if let (ActionStatus::Succeeded, Some(Prepared::Task(p))) =
                    (action.status, &prepared)
                {
                    tasks.push(NewTask {
                        id: Uuid::new_v4(),
                        action_id: Some(action.id),
                        owner: p.owner.clone(),
                        subject: p.subject.clone(),
                        details: p.details.clone(),
                        due_at: p.due_at.map(support::now_at),
                        entity_type: p.entity_type.clone(),
                        entity_id: p.entity_id.clone(),
                    });
                }
                actions.push(action);
            }
            tx.insert_actions(&actions).await?;
            for email in &outbox {
                tx.insert_outbox(email).await?;
            }
            for task in &tasks {
                tx.insert_task(task, now).await?;
            }
            decisions.push(planned.decision);
        }
        let summary = json!({
            "type": event.r#type,
            "source": event.source,
            "idempotency_key": event.idempotency_key,
            "correlation_id": event.correlation_id,
            "decisions": decisions.iter().map(|d| json!({
                "id": d.id,
                "policy": format!("{}@{}", d.policy_id, d.policy_version),
                "outcome": d.outcome,
                "mode": d.mode,
            })).collect::<Vec<_>>(),
            "actions": actions.iter().map(|a| json!({
                "id": a.id, "type": a.r#type, "status": a.status,
            })).collect::<Vec<_>>(),
        });
        tx.append_audit(NewAuditEntry {
            occurred_at: now,
            actor: by.actor(),
            action: if decide { "event.ingest" } else { "event.emit" }.to_owned(),
            resource_type: Some("event".to_owned()),
            resource_id: Some(event.id.to_string()),
            details: summary,
        })
        .await?;
        tx.commit().await?;
        let telemetry = self.telemetry();
        for d in &decisions {
            telemetry.decision(&d.policy_id, d.outcome.as_str(), d.mode.as_str());
        }
        for a in &actions {
            telemetry.action(a.r#type.as_str(), a.status.as_str());
        }
        Ok(IngestReceipt {
            event_id: event.id,
            idempotency_key: event.idempotency_key,
            correlation_id: event.correlation_id,
            duplicate: false,
            decisions,
            actions,
        })
    }

    /// A page of the tasks of a tenant, newest first unless the filter
    /// says otherwise.
    pub async fn tasks(
        &self,
        by: &Principal,
        tenant: TenantId,
        filter: &revos_store::events::TaskFilter,
    ) -> Result<revos_store::listing::Listed<Task>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store().page_tasks(tenant, filter).await?)
    }

    /// How many tasks [`Kernel::tasks`] would page through.
    pub async fn task_count(
        &self,
        by: &Principal,
        tenant: TenantId,
        filter: &revos_store::events::TaskFilter,
    ) -> Result<u64, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(self.store().count_tasks(tenant, filter).await?)
    }

    /// Marks a task done. Needs `write`; audited.
    pub async fn complete_task(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Task, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let task = self
            .store()
            .complete_task(tenant, id, Utc::now())
            .await?
            .ok_or_else(|| Failure::not_found("task", &id.to_string()))?;
        self.audit(
            tenant,
            &by.actor(),
            "task.complete",
            Some(("task", &id.to_string())),
            json!({"subject": task.subject}),
        )
        .await;
        Ok(task)
    }

    /// Moves the action a job carries, logging (not failing) a refusal: the
    /// job's own outcome is what counts.
    pub(crate) async fn move_action(&self, job: &Job, to: ActionStatus) {
        let Some(action) = job.action_id else {
            return;
        };
        let store = self.store();
        let now = Utc::now();
        let moved = match store
            .set_action_status(job.tenant_id, action, to, now)
            .await
        {
            Ok(revos_store::events::ActionTransition::Refused(current))
                if to == ActionStatus::Executing
                    && current.status == ActionStatus::AwaitingApproval =>
            {
                // Approved since: the job runs, so the action was queued.
                match store
                    .set_action_status(job.tenant_id, action, ActionStatus::Queued, now)
                    .await
                {
                    Ok(_) => {
                        store
                            .set_action_status(job.tenant_id, action, to, now)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match moved {
            Ok(revos_store::events::ActionTransition::Refused(current)) => tracing::debug!(
                %action, from = %current.status, to = %to, "action status left as it is"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(%action, error = %e, "could not update an action's status"),
        }
    }
}

impl Kernel {
    /// Adds an outbound webhook endpoint (the receiver's secret, or a new
    /// one). Needs `admin`; audited. The answer carries the secret, to be
    /// shown once. The URL must pass the outbound address policy
    /// ([`crate::outbound_http`]), its host name resolved: otherwise a 400
    /// naming `$.url` and the rule, and nothing is stored.
    pub async fn add_webhook_endpoint(
        &self,
        by: &Principal,
        tenant: TenantId,
        name: &str,
        url: &str,
        secret: Option<&str>,
    ) -> Result<WebhookEndpoint, Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        let invalid = |msg: String| Failure::of(ErrorKind::Validation, msg);
        if !revos_contracts::runtime::is_valid_event_name(name) {
            return Err(invalid(format!(
                "endpoint name `{name}` must start with a lower-case letter and contain only \
                 a-z, 0-9, `_` and `.`"
            )));
        }
        // The outbound policy, on the host's addresses as they resolve now;
        // the worker checks again on each delivery.
        self.outbound_policy().check_url(url).await.map_err(|e| {
            let shown = config_url(url.trim());
            let (rule, message) = match e {
                crate::outbound_http::TargetError::Invalid(why) => {
                    ("url", format!("url `{shown}`: {why}"))
                }
                crate::outbound_http::TargetError::Refused(refused) => {
                    ("outbound_policy", format!("url `{shown}` is {refused}"))
                }
            };
            Failure::invalid(
                message.clone(),
                &[revos_contracts::validation::Violation::new(
                    rule,
                    "$.url",
                    message,
                    ErrorCode::InvalidInput,
                )],
            )
        })?;
        let secret = match secret {
            Some(text) => {
                revos_webhooks::Secret::parse(text).map_err(|e| invalid(format!("secret: {e}")))?
            }
            None => revos_webhooks::Secret::generate()
                .map_err(|e| Failure::internal(&format!("generating a secret: {e}")))?,
        };
        let endpoint = WebhookEndpoint {
            tenant_id: tenant,
            id: Uuid::new_v4(),
            name: name.to_owned(),
            url: url.to_owned(),
            secret: Some(secret.to_whsec()),
            active: true,
            created_at: support::now_at(Utc::now()),
        };
        self.store().add_webhook_endpoint(&endpoint).await?;
        self.audit(
            tenant,
            &by.actor(),
            "webhook_endpoint.add",
            Some(("webhook_endpoint", &endpoint.id.to_string())),
            json!({"name": name, "url": config_url(url)}),
        )
        .await;
        Ok(endpoint)
    }

    /// The tenant's outbound webhook endpoints, secrets omitted.
    pub async fn webhook_endpoints(
        &self,
        by: &Principal,
        tenant: TenantId,
    ) -> Result<Vec<WebhookEndpoint>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        let mut all = self.store().list_webhook_endpoints(tenant).await?;
        for e in &mut all {
            e.secret = None;
        }
        Ok(all)
    }

    /// Deactivates an endpoint. Needs `admin`; audited.
    pub async fn deactivate_webhook_endpoint(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<(), Failure> {
        by.authorize_tenant(tenant, Scope::Admin)?;
        if !self.store().deactivate_webhook_endpoint(tenant, id).await? {
            return Err(Failure::not_found("webhook endpoint", &id.to_string()));
        }
        self.audit(
            tenant,
            &by.actor(),
            "webhook_endpoint.deactivate",
            Some(("webhook_endpoint", &id.to_string())),
            json!({}),
        )
        .await;
        Ok(())
    }
}

/// A URL as audited: without credentials.
fn config_url(url: &str) -> String {
    crate::outbound_http::redact_url(url)
}
