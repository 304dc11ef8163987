//! Replay: what a policy version would decide differently, re-run over
//! the tenant's recorded events, in memory.
//!
//! The events are those the policy is routed for, recorded in the window.
//! For each, two decisions are made now, by the same rules the runtime
//! decides with ([`crate::runtime`]), and compared:
//!
//! - the *baseline*: the version that made the recorded decision, re-run;
//! - the *candidate*: the version asked for.
//!
//! Both run with the tenant's current settings and the same clock, the
//! recorded decision's time, so an event is judged as at the time it was
//! decided (a policy's `max_event_age` counts from then, a due date is
//! set from then). What differs between them is what the candidate
//! version changes, and nothing else: not settings changed since, not the
//! passing of time. Replaying a version against itself finds no change.
//!
//! An event recorded without a policy decision (`no_policy`, or emitted as
//! a fact) has no baseline and is only counted; so is an event whose
//! recorded version is no longer registered, and the report names those
//! versions. Nothing is written: no decision, action, job or audit entry.

use crate::identity::auth::Principal;
use crate::runtime::ingest::settle;
use crate::{Failure, Kernel};
use chrono::{DateTime, Utc};
use revos_contracts::ErrorCode;
use revos_contracts::TenantId;
use revos_contracts::runtime::{ActionKind, DecisionOutcome, KernelDecision, KernelEvent};
use revos_contracts::validation::Violation;
use revos_policy::{NO_POLICY_ID, Policy, PolicyContext, Registry, TemplateLimits};
use revos_store::events::{EventFilter, MAX_EVENT_PAGE};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// How many events a replay takes when the request names no limit.
const DEFAULT_LIMIT: u32 = 10_000;
/// The most events one replay takes.
const MAX_LIMIT: u32 = 100_000;

/// What to replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The candidate policy version, `ID@VERSION` (or `ID` for the active
    /// version).
    pub policy: String,
    /// Events recorded at or after this time.
    pub since: DateTime<Utc>,
    /// … and before this time (default: now).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many events, the earliest first (default 10,000, at
    /// most 100,000).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100_000)]
    pub limit: Option<u32>,
}

/// An action as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
struct ActionSummary {
    /// Its key within the decision.
    key: String,
    /// Its type.
    r#type: ActionKind,
    /// Its parameters.
    #[schema(value_type = Object)]
    params: Value,
}

/// A decision as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
struct DecisionSummary {
    /// The policy.
    policy_id: String,
    /// Its version.
    policy_version: u32,
    /// The outcome.
    outcome: DecisionOutcome,
    /// Its reasons.
    reasons: Vec<String>,
    /// Its actions.
    actions: Vec<ActionSummary>,
}

/// One parameter that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    /// The parameter.
    field: String,
    /// The baseline's value (absent: not there).
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<Value>,
    /// The candidate's value (absent: not there).
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate: Option<Value>,
}

/// One difference between the baseline and the candidate decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Another outcome.
    Outcome {
        /// The baseline's.
        baseline: DecisionOutcome,
        /// The candidate's.
        candidate: DecisionOutcome,
    },
    /// An action only the candidate proposes.
    ActionAdded {
        /// Its key.
        key: String,
        /// Its type.
        r#type: ActionKind,
    },
    /// An action only the baseline proposes.
    ActionRemoved {
        /// Its key.
        key: String,
        /// Its type.
        r#type: ActionKind,
    },
    /// An action both propose, with other parameters.
    ActionChanged {
        /// Its key.
        key: String,
        /// Its type (the candidate's).
        r#type: ActionKind,
        /// The parameters that differ.
        fields: Vec<FieldChange>,
    },
}

impl std::fmt::Display for Change {
    /// One short phrase: `outcome act → skipped`, `action response_email
    /// removed`, `params of follow_up_task changed: due_at`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Outcome {
                baseline,
                candidate,
            } => write!(f, "outcome {} → {}", baseline.as_str(), candidate.as_str()),
            Change::ActionAdded { key, r#type } => write!(f, "action {key} ({type}) added"),
            Change::ActionRemoved { key, r#type } => write!(f, "action {key} ({type}) removed"),
            Change::ActionChanged { key, fields, .. } if fields.is_empty() => {
                write!(f, "type of {key} changed")
            }
            Change::ActionChanged { key, fields, .. } => {
                let names: Vec<&str> = fields.iter().map(|c| c.field.as_str()).collect();
                write!(f, "params of {key} changed: {}", names.join(", "))
            }
        }
    }
}

/// One event whose candidate decision differs from its baseline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayItem {
    /// The event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// When it was recorded.
    recorded_at: DateTime<Utc>,
    /// When its recorded decision was made: the clock both runs used.
    decided_at: DateTime<Utc>,
    /// The recorded decision's version, re-run.
    baseline: DecisionSummary,
    /// The candidate version's decision.
    candidate: DecisionSummary,
    /// The differences.
    pub changes: Vec<Change>,
}

/// A recorded policy version that could not be re-run, and how many
/// events it decided in the window; those events are not compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnavailableBaseline {
    /// The policy that made the recorded decisions.
    pub policy_id: String,
    /// Its version.
    pub policy_version: u32,
    /// The events it decided.
    pub events: u64,
    /// Why it cannot be re-run.
    pub reason: String,
}

/// Counts of a replay: `events` = `unchanged` + `changed` + `no_policy` +
/// `baseline_unavailable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReplayCounts {
    /// Events the policy is routed for, in the window.
    pub events: u64,
    /// … where the candidate decides as the baseline.
    pub unchanged: u64,
    /// … where it decides otherwise.
    pub changed: u64,
    /// … recorded without a policy decision (`no_policy`, or emitted as a
    /// fact): nothing to compare with.
    pub no_policy: u64,
    /// … whose recorded version could not be re-run (see `unavailable`).
    pub baseline_unavailable: u64,
    /// Changed events whose outcome differs.
    pub outcomes_changed: u64,
    /// Actions only the candidate proposes.
    pub actions_added: u64,
    /// Actions only the baseline proposes.
    pub actions_removed: u64,
    /// Actions both propose, with other parameters.
    pub actions_changed: u64,
}

/// The result of a replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayReport {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: TenantId,
    /// The candidate policy.
    pub policy_id: String,
    /// Its version.
    pub policy_version: u32,
    /// The window.
    pub since: DateTime<Utc>,
    /// The window's end.
    pub until: DateTime<Utc>,
    /// The counts.
    pub counts: ReplayCounts,
    /// The recorded versions that could not be re-run.
    pub unavailable: Vec<UnavailableBaseline>,
    /// The events whose candidate decision differs, in recorded order.
    pub items: Vec<ReplayItem>,
}

/// A bad request: `INVALID_INPUT` naming the field.
fn invalid(field: &str, message: String) -> Failure {
    Failure::invalid(
        format!("replay `{field}`: {message}"),
        &[Violation::new(
            "replay",
            format!("$.{field}"),
            message,
            ErrorCode::InvalidInput,
        )],
    )
}

fn diff_params(baseline: &Value, candidate: &Value) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let a = baseline.as_object().unwrap_or(&empty);
    let b = candidate.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            baseline: a.get(k).cloned(),
            candidate: b.get(k).cloned(),
        })
        .collect()
}

/// The differences between the baseline and the candidate decision:
/// the outcome, then actions (matched by key) removed, changed and added.
/// Reasons are prose and not compared.
fn compare(baseline: &DecisionSummary, candidate: &DecisionSummary) -> Vec<Change> {
    let mut changes = Vec::new();
    if baseline.outcome != candidate.outcome {
        changes.push(Change::Outcome {
            baseline: baseline.outcome,
            candidate: candidate.outcome,
        });
    }
    let old: BTreeMap<&str, &ActionSummary> = baseline
        .actions
        .iter()
        .map(|a| (a.key.as_str(), a))
        .collect();
    let new: BTreeMap<&str, &ActionSummary> = candidate
        .actions
        .iter()
        .map(|a| (a.key.as_str(), a))
        .collect();
    for (key, a) in &old {
        match new.get(key) {
            None => changes.push(Change::ActionRemoved {
                key: (*key).to_owned(),
                r#type: a.r#type,
            }),
            Some(b) => {
                let fields = diff_params(&a.params, &b.params);
                if !fields.is_empty() || a.r#type != b.r#type {
                    changes.push(Change::ActionChanged {
                        key: (*key).to_owned(),
                        r#type: b.r#type,
                        fields,
                    });
                }
            }
        }
    }
    for (key, b) in &new {
        if !old.contains_key(key) {
            changes.push(Change::ActionAdded {
                key: (*key).to_owned(),
                r#type: b.r#type,
            });
        }
    }
    changes
}

/// What both runs know of the tenant: the same for every event.
struct TenantView<'a> {
    id: TenantId,
    name: &'a str,
    /// The tenant's current settings, by policy id.
    settings: &'a BTreeMap<String, Value>,
    templates: TemplateLimits,
}

/// What became of one event.
#[derive(Debug)]
enum Verdict {
    /// Recorded without a policy decision: no baseline.
    NoPolicy,
    /// Decided by a version that is not registered.
    Unavailable {
        policy_id: String,
        policy_version: u32,
    },
    /// Both ran; `changes` is empty when they agree.
    Compared {
        decided_at: DateTime<Utc>,
        baseline: DecisionSummary,
        candidate: DecisionSummary,
        changes: Vec<Change>,
    },
}

/// The recorded decision the baseline re-runs: the candidate policy's,
/// else another policy's; none when only `no_policy` was recorded.
fn recorded_decision<'a>(
    candidate: &dyn Policy,
    decisions: &[&'a KernelDecision],
) -> Option<&'a KernelDecision> {
    decisions
        .iter()
        .find(|d| d.policy_id == candidate.id())
        .or_else(|| decisions.iter().find(|d| d.policy_id != NO_POLICY_ID))
        .copied()
}

/// `policy`'s decision on `event` at `now`, as the runtime would make it.
fn decide(
    policy: &dyn Policy,
    event: &KernelEvent,
    tenant: &TenantView<'_>,
    now: DateTime<Utc>,
) -> DecisionSummary {
    let null = Value::Null;
    let ctx = PolicyContext {
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        settings: tenant.settings.get(policy.id()).unwrap_or(&null),
        now,
        templates: tenant.templates,
    };
    let (outcome, reasons, actions) = match settle(policy, event, &ctx) {
        Ok(settled) => (
            settled.outcome,
            settled.reasons,
            settled
                .actions
                .into_iter()
                .map(|(a, _)| ActionSummary {
                    key: a.key,
                    r#type: a.kind,
                    params: a.params,
                })
                .collect(),
        ),
        Err(reason) => (DecisionOutcome::Error, vec![reason], Vec::new()),
    };
    DecisionSummary {
        policy_id: policy.id().to_owned(),
        policy_version: policy.version(),
        outcome,
        reasons,
        actions,
    }
}

/// Re-runs the recorded version (the baseline) and the candidate on one
/// event, at the recorded decision's time, and compares them.
fn judge(
    registry: &Registry,
    candidate: &dyn Policy,
    event: &KernelEvent,
    recorded: Option<&KernelDecision>,
    tenant: &TenantView<'_>,
) -> Verdict {
    let Some(recorded) = recorded else {
        return Verdict::NoPolicy;
    };
    let Some(baseline_policy) = registry.get(&recorded.policy_id, recorded.policy_version) else {
        return Verdict::Unavailable {
            policy_id: recorded.policy_id.clone(),
            policy_version: recorded.policy_version,
        };
    };
    let now = recorded.decided_at;
    let baseline = decide(baseline_policy, event, tenant, now);
    let candidate = decide(candidate, event, tenant, now);
    let changes = compare(&baseline, &candidate);
    Verdict::Compared {
        decided_at: now,
        baseline,
        candidate,
        changes,
    }
}

/// Why a recorded version cannot be re-run, in words.
fn unavailable_reason(registry: &Registry, policy_id: &str, version: u32) -> String {
    let versions: Vec<String> = registry
        .list()
        .into_iter()
        .filter(|p| p.id == policy_id)
        .map(|p| p.version.to_string())
        .collect();
    if versions.is_empty() {
        format!("policy {policy_id} is not registered, so its decisions cannot be re-run")
    } else {
        format!(
            "version {version} of {policy_id} is not registered (registered: {}), so its \
             decisions cannot be re-run",
            versions.join(", ")
        )
    }
}

/// Adds up verdicts into a report's counts, changed items and
/// unavailable versions.
#[derive(Default)]
struct Tally {
    counts: ReplayCounts,
    unavailable: BTreeMap<(String, u32), u64>,
    items: Vec<ReplayItem>,
}

impl Tally {
    fn add(&mut self, event: &KernelEvent, verdict: Verdict) {
        self.counts.events += 1;
        match verdict {
            Verdict::NoPolicy => self.counts.no_policy += 1,
            Verdict::Unavailable {
                policy_id,
                policy_version,
            } => {
                self.counts.baseline_unavailable += 1;
                *self
                    .unavailable
                    .entry((policy_id, policy_version))
                    .or_default() += 1;
            }
            Verdict::Compared { changes, .. } if changes.is_empty() => {
                self.counts.unchanged += 1;
            }
            Verdict::Compared {
                decided_at,
                baseline,
                candidate,
                changes,
            } => {
                self.counts.changed += 1;
                for change in &changes {
                    match change {
                        Change::Outcome { .. } => self.counts.outcomes_changed += 1,
                        Change::ActionAdded { .. } => self.counts.actions_added += 1,
                        Change::ActionRemoved { .. } => self.counts.actions_removed += 1,
                        Change::ActionChanged { .. } => self.counts.actions_changed += 1,
                    }
                }
                self.items.push(ReplayItem {
                    event_id: event.id,
                    event_type: event.r#type.clone(),
                    recorded_at: event.recorded_at,
                    decided_at,
                    baseline,
                    candidate,
                    changes,
                });
            }
        }
    }
}

impl Kernel {
    /// Replays the tenant's recorded events through a candidate policy
    /// version and reports where it decides otherwise than the recorded
    /// versions would today (see the module docs). Needs `read`; writes
    /// nothing.
    pub async fn replay(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        request: &ReplayRequest,
    ) -> Result<ReplayReport, Failure> {
        let tenant = self.read_tenant(by, tenant)?;
        let registry = self.policies();
        let policy = registry
            .resolve(&request.policy)
            .map_err(|e| invalid("policy", e))?;
        let until = request.until.unwrap_or_else(Utc::now);
        if until <= request.since {
            return Err(invalid(
                "until",
                format!(
                    "the window is empty: since {} is not before until {until}",
                    request.since
                ),
            ));
        }
        let limit = request.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}; it is {limit}"),
            ));
        }
        let limit = limit as usize;
        let tenant_row = self.tenant(tenant).await?;
        let settings = self.store().policy_settings(tenant).await?;
        let view = TenantView {
            id: tenant,
            name: &tenant_row.name,
            settings: &settings,
            templates: self.config().templates.limits(),
        };

        let mut events: Vec<KernelEvent> = Vec::new();
        for (event_type, source) in policy.routes() {
            let mut after = None;
            loop {
                let filter = EventFilter {
                    since: Some(request.since),
                    until: Some(until),
                    r#type: Some((*event_type).to_owned()),
                    source: Some((*source).to_owned()),
                    order: revos_store::listing::Order::OldestFirst,
                    after,
                    limit: Some(MAX_EVENT_PAGE),
                    ..EventFilter::default()
                };
                let page = self.store().list_events(tenant, &filter).await?;
                let full = page.len() >= MAX_EVENT_PAGE as usize;
                after = page.last().map(|e| (e.recorded_at, e.id));
                events.extend(page);
                if !full || events.len() >= limit {
                    break;
                }
            }
        }
        events.sort_by_key(|e| (e.recorded_at, e.id));
        events.truncate(limit);

        let mut tally = Tally::default();
        for chunk in events.chunks(200) {
            let ids: Vec<Uuid> = chunk.iter().map(|e| e.id).collect();
            let decisions = self.store().decisions_for_events(tenant, &ids).await?;
            for event in chunk {
                let of_event: Vec<&KernelDecision> = decisions
                    .iter()
                    .filter(|d| d.event_id == event.id)
                    .collect();
                let recorded = recorded_decision(policy, &of_event);
                tally.add(event, judge(registry, policy, event, recorded, &view));
            }
        }
        let unavailable = tally
            .unavailable
            .into_iter()
            .map(
                |((policy_id, policy_version), events)| UnavailableBaseline {
                    reason: unavailable_reason(registry, &policy_id, policy_version),
                    policy_id,
                    policy_version,
                    events,
                },
            )
            .collect();
        Ok(ReplayReport {
            tenant_id: tenant,
            policy_id: policy.id().to_owned(),
            policy_version: policy.version(),
            since: request.since,
            until,
            counts: tally.counts,
            unavailable,
            items: tally.items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use revos_contracts::runtime::{EventSubject, KernelMode};
    use serde_json::json;

    const LEAD: &str = "revenue_os.growth.lead_response_v1";

    fn summary(outcome: DecisionOutcome, actions: Vec<(&str, Value)>) -> DecisionSummary {
        DecisionSummary {
            policy_id: "p".into(),
            policy_version: 1,
            outcome,
            reasons: vec![],
            actions: actions
                .into_iter()
                .map(|(key, params)| ActionSummary {
                    key: key.into(),
                    r#type: ActionKind::TaskCreate,
                    params,
                })
                .collect(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A lead that occurred at `occurred` and was recorded at `recorded`.
    fn lead(email: &str, company: Option<&str>, occurred: &str, recorded: &str) -> KernelEvent {
        let mut payload = json!({"email": email, "name": "Ana Lima"});
        if let Some(company) = company {
            payload["company"] = json!(company);
        }
        KernelEvent {
            id: Uuid::new_v4(),
            tenant_id: TenantId::from_uuid(Uuid::from_u128(7)),
            r#type: "lead_captured".into(),
            source: "cmo_campaigns".into(),
            idempotency_key: email.into(),
            correlation_id: format!("lead/{email}"),
            subject: EventSubject {
                r#type: "lead".into(),
                id: email.into(),
            },
            payload,
            occurred_at: at(occurred),
            recorded_at: at(recorded),
        }
    }

    /// The decision recorded on `event` by `policy_id@version`, made when
    /// the event was recorded (as the runtime does).
    fn recorded(event: &KernelEvent, policy_id: &str, version: u32) -> KernelDecision {
        KernelDecision {
            id: Uuid::new_v4(),
            tenant_id: event.tenant_id,
            event_id: event.id,
            policy_id: policy_id.into(),
            policy_version: version,
            outcome: DecisionOutcome::Act,
            reasons: vec![],
            correlation_id: event.correlation_id.clone(),
            mode: KernelMode::Shadow,
            decided_at: event.recorded_at,
        }
    }

    fn view(settings: &BTreeMap<String, Value>) -> TenantView<'_> {
        TenantView {
            id: TenantId::from_uuid(Uuid::from_u128(7)),
            name: "Acme",
            settings,
            templates: TemplateLimits::default(),
        }
    }

    fn run(candidate: &str, event: &KernelEvent, version: u32, settings: Value) -> Verdict {
        let registry = Registry::builtin();
        let policy = registry.resolve(candidate).unwrap();
        let settings = BTreeMap::from([(LEAD.to_owned(), settings)]);
        let decision = recorded(event, LEAD, version);
        judge(&registry, policy, event, Some(&decision), &view(&settings))
    }

    fn changes(verdict: Verdict) -> Vec<Change> {
        match verdict {
            Verdict::Compared { changes, .. } => changes,
            other => panic!("not compared: {other:?}"),
        }
    }

    #[test]
    fn compare_finds_added_removed_and_changed_actions() {
        let baseline = summary(
            DecisionOutcome::Act,
            vec![("a", json!({"x": 1, "y": 2})), ("b", json!({}))],
        );
        let candidate = summary(
            DecisionOutcome::Act,
            vec![("a", json!({"x": 1, "y": 3, "z": 0})), ("c", json!({}))],
        );
        let changes = compare(&baseline, &candidate);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes.contains(&Change::ActionRemoved {
            key: "b".into(),
            r#type: ActionKind::TaskCreate
        }));
        assert!(changes.contains(&Change::ActionAdded {
            key: "c".into(),
            r#type: ActionKind::TaskCreate
        }));
        let Some(Change::ActionChanged { fields, .. }) = changes
            .iter()
            .find(|c| matches!(c, Change::ActionChanged { .. }))
        else {
            panic!("no changed action in {changes:?}");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["y", "z"]);
        assert_eq!(fields[1].baseline, None);
        assert!(compare(&baseline, &baseline).is_empty());
        let other = summary(DecisionOutcome::NoAction, vec![]);
        assert!(matches!(
            compare(&baseline, &other)[0],
            Change::Outcome { .. }
        ));
    }

    #[test]
    fn changes_read_as_short_phrases() {
        let said: Vec<String> = [
            Change::Outcome {
                baseline: DecisionOutcome::Act,
                candidate: DecisionOutcome::Skipped,
            },
            Change::ActionRemoved {
                key: "response_email".into(),
                r#type: ActionKind::OutboundEmail,
            },
            Change::ActionChanged {
                key: "follow_up_task".into(),
                r#type: ActionKind::TaskCreate,
                fields: vec![FieldChange {
                    field: "due_at".into(),
                    baseline: Some(json!("a")),
                    candidate: Some(json!("b")),
                }],
            },
        ]
        .iter()
        .map(Change::to_string)
        .collect();
        assert_eq!(
            said,
            [
                "outcome act → skipped",
                "action response_email (OUTBOUND_EMAIL) removed",
                "params of follow_up_task changed: due_at",
            ]
        );
    }

    /// Settings changed since the events were recorded move the baseline
    /// and the candidate alike: a version replayed against itself finds
    /// nothing, whatever the settings now.
    #[test]
    fn a_version_replayed_against_itself_changes_nothing() {
        let settings = json!({
            "response_sla_minutes": 240, "owner": "bo", "notify_webhook": "crm",
            "skip_email_domains": ["client.example"], "subject_template": "Hello {{ tenant.name }}",
        });
        for event in [
            lead(
                "ana@client.example",
                None,
                "2026-11-02T10:00:00Z",
                "2026-11-02T10:00:01Z",
            ),
            lead(
                "info@other.example",
                Some("Co"),
                "2026-11-02T10:00:00Z",
                "2026-11-02T10:00:01Z",
            ),
            // A backfill: recorded long after it occurred.
            lead(
                "bo@other.example",
                None,
                "2026-10-01T10:00:00Z",
                "2026-11-02T10:00:01Z",
            ),
        ] {
            for version in [1, 2] {
                let spec = format!("{LEAD}@{version}");
                assert_eq!(changes(run(&spec, &event, version, settings.clone())), []);
                assert_eq!(changes(run(&spec, &event, version, Value::Null)), []);
            }
        }
    }

    /// Version 2 against version 1's decisions: the role address loses its
    /// auto-response, the lead naming a company gets half the SLA, counted
    /// from the recorded decision's time; nothing else differs.
    #[test]
    fn version_2_differs_from_version_1_only_where_it_changed() {
        let decided = "2026-11-02T10:00:01Z";
        let plain = lead("ana@client.example", None, "2026-11-02T10:00:00Z", decided);
        let role = lead("info@client.example", None, "2026-11-02T10:00:00Z", decided);
        let company = lead(
            "cto@bigco.example",
            Some("BigCo"),
            "2026-11-02T10:00:00Z",
            decided,
        );
        let v2 = format!("{LEAD}@2");
        assert_eq!(changes(run(&v2, &plain, 1, Value::Null)), []);
        assert_eq!(
            changes(run(&v2, &role, 1, Value::Null)),
            [Change::ActionRemoved {
                key: "response_email".into(),
                r#type: ActionKind::OutboundEmail,
            }]
        );
        let sla = json!({"response_sla_minutes": 60});
        let found = changes(run(&v2, &company, 1, sla));
        let [
            Change::ActionChanged {
                key: task, fields, ..
            },
            Change::ActionChanged {
                key: email,
                fields: email_fields,
                ..
            },
        ] = found.as_slice()
        else {
            panic!("two changed actions expected: {found:?}");
        };
        // The task is due sooner, and the auto-response says so.
        assert_eq!(task, "follow_up_task");
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert_eq!(fields[0].field, "due_at");
        assert_eq!(email, "response_email");
        assert_eq!(email_fields.len(), 1, "{email_fields:?}");
        assert_eq!(email_fields[0].field, "text");
        // Due from the recorded decision, not from today: 60 and 30 minutes.
        assert_eq!(fields[0].baseline, Some(json!("2026-11-02T11:00:01Z")));
        assert_eq!(fields[0].candidate, Some(json!("2026-11-02T10:30:01Z")));
    }

    /// The clock is the recorded decision's time: a lead acted on when it
    /// came in is still judged fresh today (so version 2's change shows),
    /// and a backfilled lead that was skipped then is skipped by both.
    #[test]
    fn events_are_judged_at_their_recorded_decision_time() {
        let v2 = format!("{LEAD}@2");
        let long_ago = (Utc::now() - Duration::days(30)).to_rfc3339();
        let role = lead("info@client.example", None, &long_ago, &long_ago);
        let found = changes(run(&v2, &role, 1, Value::Null));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(matches!(found[0], Change::ActionRemoved { .. }));

        let backfill = lead(
            "info@client.example",
            None,
            "2026-10-01T10:00:00Z",
            "2026-11-02T10:00:00Z",
        );
        let Verdict::Compared {
            decided_at,
            baseline,
            candidate,
            changes,
        } = run(&v2, &backfill, 1, Value::Null)
        else {
            panic!("not compared");
        };
        assert_eq!(decided_at, backfill.recorded_at);
        assert_eq!(baseline.outcome, DecisionOutcome::Skipped);
        assert_eq!(candidate.outcome, DecisionOutcome::Skipped);
        assert_eq!(changes, []);
    }

    #[test]
    fn events_without_a_rerunnable_baseline_are_set_apart() {
        let registry = Registry::builtin();
        let v2 = registry.resolve(&format!("{LEAD}@2")).unwrap();
        let settings = BTreeMap::new();
        let event = lead(
            "ana@client.example",
            None,
            "2026-11-02T10:00:00Z",
            "2026-11-02T10:00:01Z",
        );
        let tenant = view(&settings);
        assert!(matches!(
            judge(&registry, v2, &event, None, &tenant),
            Verdict::NoPolicy
        ));
        let no_policy = recorded(&event, NO_POLICY_ID, 0);
        assert_eq!(recorded_decision(v2, &[&no_policy]), None);
        let retired = recorded(&event, LEAD, 7);
        let Verdict::Unavailable {
            policy_id,
            policy_version,
        } = judge(&registry, v2, &event, Some(&retired), &tenant)
        else {
            panic!("a retired version cannot be re-run");
        };
        assert_eq!((policy_id.as_str(), policy_version), (LEAD, 7));
        assert_eq!(
            unavailable_reason(&registry, LEAD, 7),
            format!(
                "version 7 of {LEAD} is not registered (registered: 1, 2), so its decisions \
                 cannot be re-run"
            )
        );
        // The candidate's own policy is preferred over another recorded one.
        let own = recorded(&event, LEAD, 1);
        assert_eq!(recorded_decision(v2, &[&no_policy, &own]), Some(&own));

        let mut tally = Tally::default();
        tally.add(&event, Verdict::NoPolicy);
        tally.add(
            &event,
            Verdict::Unavailable {
                policy_id: LEAD.into(),
                policy_version: 7,
            },
        );
        tally.add(&event, judge(&registry, v2, &event, Some(&own), &tenant));
        assert_eq!(
            tally.counts,
            ReplayCounts {
                events: 3,
                unchanged: 1,
                no_policy: 1,
                baseline_unavailable: 1,
                ..ReplayCounts::default()
            }
        );
        assert_eq!(tally.unavailable[&(LEAD.to_owned(), 7)], 1);
        assert!(tally.items.is_empty());
    }
}
