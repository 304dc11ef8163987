//! Replay: re-run recorded events through a policy version, in shadow,
//! and compare with what was recorded.
//!
//! The events are those the policy is routed for, recorded in the window.
//! Each is decided again by the chosen version with the tenant's current
//! settings and the event's own `recorded_at` as the clock (so a policy
//! that looks at the time sees what it saw then). Nothing is written. The
//! report counts, and lists per event, the differences: a changed outcome,
//! actions added or removed (matched by their key within the decision,
//! e.g. `response_email`), and actions whose parameters changed, field by
//! field.

use crate::auth::Principal;
use crate::runtime::{action_key, run_policy};
use crate::{Failure, Kernel};
use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_contracts::runtime::{ActionKind, DecisionOutcome, KernelEvent};
use revos_policy::PolicyContext;
use revos_store::events::{EventFilter, MAX_EVENT_PAGE};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// What to replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The policy version, `ID@VERSION` (or `ID` for the active version).
    pub policy: String,
    /// Events recorded at or after this time.
    pub since: DateTime<Utc>,
    /// … and before this time (default: now).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// At most this many events (default 10,000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// An action as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActionSummary {
    /// Its key within the decision.
    pub key: String,
    /// Its type.
    pub r#type: ActionKind,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub params: Value,
}

/// A decision as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DecisionSummary {
    /// The policy.
    pub policy_id: String,
    /// Its version.
    pub policy_version: u32,
    /// The outcome.
    pub outcome: DecisionOutcome,
    /// Its reasons.
    pub reasons: Vec<String>,
    /// Its actions.
    pub actions: Vec<ActionSummary>,
}

/// One parameter that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    /// The parameter.
    pub field: String,
    /// Recorded value (absent: not there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Value>,
    /// Replayed value (absent: not there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<Value>,
}

/// One difference between the recorded and the replayed decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Another outcome.
    Outcome {
        /// Recorded.
        recorded: DecisionOutcome,
        /// Replayed.
        replayed: DecisionOutcome,
    },
    /// An action only the replay proposes.
    ActionAdded {
        /// Its key.
        key: String,
        /// Its type.
        r#type: ActionKind,
    },
    /// An action only the recording has.
    ActionRemoved {
        /// Its key.
        key: String,
        /// Its type.
        r#type: ActionKind,
    },
    /// An action both have, with other parameters.
    ActionChanged {
        /// Its key.
        key: String,
        /// Its type.
        r#type: ActionKind,
        /// The parameters that differ.
        fields: Vec<FieldChange>,
    },
}

/// One event whose replay differs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayItem {
    /// The event.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The recorded decision (of any version of the policy; else the one
    /// recorded, e.g. `no_policy`).
    pub recorded: Option<DecisionSummary>,
    /// The replayed decision.
    pub replayed: DecisionSummary,
    /// The differences.
    pub changes: Vec<Change>,
}

/// Counts of a replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReplayCounts {
    /// Events replayed.
    pub events: u64,
    /// … whose replay matches the recording.
    pub unchanged: u64,
    /// … whose replay differs.
    pub changed: u64,
    /// Decisions whose outcome differs.
    pub outcomes_changed: u64,
    /// Actions only the replay proposes.
    pub actions_added: u64,
    /// Actions only the recording has.
    pub actions_removed: u64,
    /// Actions with other parameters.
    pub actions_changed: u64,
}

/// The result of a replay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayReport {
    /// The tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: TenantId,
    /// The policy replayed.
    pub policy_id: String,
    /// Its version.
    pub policy_version: u32,
    /// The window.
    pub since: DateTime<Utc>,
    /// The window's end.
    pub until: DateTime<Utc>,
    /// The counts.
    pub counts: ReplayCounts,
    /// The events whose replay differs.
    pub items: Vec<ReplayItem>,
}

fn diff_params(recorded: &Value, replayed: &Value) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let a = recorded.as_object().unwrap_or(&empty);
    let b = replayed.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            recorded: a.get(k).cloned(),
            replayed: b.get(k).cloned(),
        })
        .collect()
}

/// The differences between a recorded and a replayed decision.
pub fn compare(recorded: Option<&DecisionSummary>, replayed: &DecisionSummary) -> Vec<Change> {
    let mut changes = Vec::new();
    let (outcome, actions): (Option<DecisionOutcome>, &[ActionSummary]) = match recorded {
        Some(r) => (Some(r.outcome), &r.actions),
        None => (None, &[]),
    };
    if let Some(outcome) = outcome
        && outcome != replayed.outcome
    {
        changes.push(Change::Outcome {
            recorded: outcome,
            replayed: replayed.outcome,
        });
    }
    let old: BTreeMap<&str, &ActionSummary> = actions.iter().map(|a| (a.key.as_str(), a)).collect();
    let new: BTreeMap<&str, &ActionSummary> = replayed
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

impl Kernel {
    /// Replays the tenant's recorded events through a policy version (see
    /// the module docs). Needs `read`; writes nothing.
    pub async fn replay(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
        request: &ReplayRequest,
    ) -> Result<ReplayReport, Failure> {
        let tenant = self.read_tenant(by, tenant)?;
        let policy = self
            .policies()
            .resolve(&request.policy)
            .map_err(|e| Failure::input(400, "validation", e))?;
        let until = request.until.unwrap_or_else(Utc::now);
        if until <= request.since {
            return Err(Failure::input(
                400,
                "validation",
                format!(
                    "the window is empty: since {} is not before until {until}",
                    request.since
                ),
            ));
        }
        let limit = request.limit.unwrap_or(10_000) as usize;
        let tenant_row = self.tenant(tenant).await?;
        let settings = self.store().policy_settings(tenant).await?;
        let null = Value::Null;
        let policy_settings = settings.get(policy.id()).unwrap_or(&null);

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

        let mut counts = ReplayCounts::default();
        let mut items = Vec::new();
        for chunk in events.chunks(200) {
            let ids: Vec<Uuid> = chunk.iter().map(|e| e.id).collect();
            let decisions = self.store().decisions_for_events(tenant, &ids).await?;
            let actions = self.store().actions_for_events(tenant, &ids).await?;
            for event in chunk {
                let of_event: Vec<_> = decisions
                    .iter()
                    .filter(|d| d.event_id == event.id)
                    .collect();
                let recorded = of_event
                    .iter()
                    .find(|d| d.policy_id == policy.id())
                    .or_else(|| of_event.first())
                    .map(|d| DecisionSummary {
                        policy_id: d.policy_id.clone(),
                        policy_version: d.policy_version,
                        outcome: d.outcome,
                        reasons: d.reasons.clone(),
                        actions: actions
                            .iter()
                            .filter(|a| a.decision_id == d.id)
                            .map(|a| ActionSummary {
                                key: action_key(a).to_owned(),
                                r#type: a.r#type,
                                params: a.params.clone(),
                            })
                            .collect(),
                    });
                let ctx = PolicyContext {
                    tenant_id: tenant,
                    tenant_name: &tenant_row.name,
                    settings: policy_settings,
                    now: event.recorded_at,
                    templates: self.config().templates.limits(),
                };
                let replayed = match run_policy(policy, event, &ctx) {
                    Ok(output) => DecisionSummary {
                        policy_id: policy.id().to_owned(),
                        policy_version: policy.version(),
                        outcome: if output.actions.is_empty() {
                            DecisionOutcome::NoAction
                        } else {
                            output.outcome
                        },
                        reasons: output.reasons,
                        actions: output
                            .actions
                            .into_iter()
                            .map(|a| ActionSummary {
                                key: a.key,
                                r#type: a.kind,
                                params: a.params,
                            })
                            .collect(),
                    },
                    Err(reason) => DecisionSummary {
                        policy_id: policy.id().to_owned(),
                        policy_version: policy.version(),
                        outcome: DecisionOutcome::Error,
                        reasons: vec![reason],
                        actions: Vec::new(),
                    },
                };
                let changes = compare(recorded.as_ref(), &replayed);
                counts.events += 1;
                if changes.is_empty() {
                    counts.unchanged += 1;
                    continue;
                }
                counts.changed += 1;
                for change in &changes {
                    match change {
                        Change::Outcome { .. } => counts.outcomes_changed += 1,
                        Change::ActionAdded { .. } => counts.actions_added += 1,
                        Change::ActionRemoved { .. } => counts.actions_removed += 1,
                        Change::ActionChanged { .. } => counts.actions_changed += 1,
                    }
                }
                items.push(ReplayItem {
                    event_id: event.id,
                    event_type: event.r#type.clone(),
                    recorded_at: event.recorded_at,
                    recorded,
                    replayed,
                    changes,
                });
            }
        }
        Ok(ReplayReport {
            tenant_id: tenant,
            policy_id: policy.id().to_owned(),
            policy_version: policy.version(),
            since: request.since,
            until,
            counts,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn compare_finds_added_removed_and_changed_actions() {
        let recorded = summary(
            DecisionOutcome::Act,
            vec![("a", json!({"x": 1, "y": 2})), ("b", json!({}))],
        );
        let replayed = summary(
            DecisionOutcome::Act,
            vec![("a", json!({"x": 1, "y": 3, "z": 0})), ("c", json!({}))],
        );
        let changes = compare(Some(&recorded), &replayed);
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
        assert_eq!(fields[1].recorded, None);
        assert!(compare(Some(&recorded), &recorded).is_empty());
        let other = summary(DecisionOutcome::NoAction, vec![]);
        assert!(matches!(
            compare(Some(&recorded), &other)[0],
            Change::Outcome { .. }
        ));
    }
}
