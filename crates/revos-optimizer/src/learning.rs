//! Learning from `recent_action_results`, the feedback of earlier cycles.
//!
//! The contract's `ActionResult` carries only `action_id` and
//! `target_metric`. This crate writes action ids as
//! `act_{n}:{owner}:{type}:{field}:{entity}` (see [`action_id`]), so a result
//! of one of its own actions names the exact change (owner, field and
//! entity); results of other ids are matched on the metric alone.
//!
//! Rules, applied by [`crate::select`]:
//! - `failed` + same change: not proposed again, unless the evidence
//!   changed (the target metric moved more than [`EVIDENCE_SHIFT`] from the
//!   observed value); `failed` + same metric only: direct changes on the
//!   metric become experiments and go to the back of the queue;
//! - `successful` + same change: moved to the front, a budget increase grows
//!   by half within the guardrails; same metric only: moved forward;
//! - `inconclusive` + same change: re-run as an experiment with twice the
//!   sample.

use revos_contracts::kernel_io::{ActionResult, ActionType, OwnerSubsystem};

use crate::snapshot::{Snapshot, num};

/// A relative move of the target metric, since the result was observed,
/// larger than this counts as new evidence for re-trying a failed change.
pub const EVIDENCE_SHIFT: f64 = 0.2;

/// The identity of a change: who, what field, on which entity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ChangeKey {
    /// The owner subsystem, as on the wire.
    pub owner: String,
    /// The field changed.
    pub field: String,
    /// The entity changed, `-` when none.
    pub entity: String,
}

/// The wire name of an action type.
pub(crate) fn type_str(t: ActionType) -> &'static str {
    match t {
        ActionType::ConfigChange => "config_change",
        ActionType::Experiment => "experiment",
        ActionType::Pause => "pause",
        ActionType::Scale => "scale",
        ActionType::Revert => "revert",
    }
}

/// The action id of the `n`-th action: `act_{n}:{owner}:{type}:{field}:{entity}`.
pub(crate) fn action_id(
    n: usize,
    owner: OwnerSubsystem,
    kind: ActionType,
    key: &ChangeKey,
) -> String {
    format!(
        "act_{n}:{}:{}:{}:{}",
        owner.as_str(),
        type_str(kind),
        key.field,
        key.entity
    )
}

/// The change an action id written by [`action_id`] names.
pub(crate) fn parse_action_id(id: &str) -> Option<ChangeKey> {
    let mut parts = id.splitn(5, ':');
    let head = parts.next()?;
    if !head.starts_with("act_") {
        return None;
    }
    let owner = parts.next()?;
    let _kind = parts.next()?;
    let field = parts.next()?;
    let entity = parts.next()?;
    if owner.is_empty() || field.is_empty() || entity.is_empty() {
        return None;
    }
    Some(ChangeKey {
        owner: owner.to_owned(),
        field: field.to_owned(),
        entity: entity.to_owned(),
    })
}

/// One earlier result, with what the planner can tell about it.
#[derive(Debug, Clone)]
pub(crate) struct Past<'a> {
    /// The result.
    pub result: &'a ActionResult,
    /// The change, when the id names it.
    pub key: Option<ChangeKey>,
    /// Why the evidence changed since, when it did.
    pub new_evidence: Option<String>,
}

/// Reads `results` against the current snapshot.
pub(crate) fn read<'a>(results: &'a [ActionResult], snap: &Snapshot) -> Vec<Past<'a>> {
    results
        .iter()
        .map(|result| {
            let new_evidence = snap.get(&result.target_metric).and_then(|now| {
                let base = result.observed_value.abs().max(1e-9);
                ((now - result.observed_value).abs() / base > EVIDENCE_SHIFT).then(|| {
                    format!(
                        "{} has moved from {} to {} since {} was measured",
                        result.target_metric,
                        num(result.observed_value),
                        num(now),
                        result.action_id
                    )
                })
            });
            Past {
                result,
                key: parse_action_id(&result.action_id),
                new_evidence,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let key = ChangeKey {
            owner: "campaigns".into(),
            field: "budget_total".into(),
            entity: "cmp:odd".into(),
        };
        let id = action_id(3, OwnerSubsystem::Campaigns, ActionType::Scale, &key);
        assert_eq!(id, "act_3:campaigns:scale:budget_total:cmp:odd");
        assert_eq!(parse_action_id(&id), Some(key));
        assert_eq!(parse_action_id("act_prev_01"), None);
        assert_eq!(parse_action_id("x:campaigns:scale:f:e"), None);
    }
}
