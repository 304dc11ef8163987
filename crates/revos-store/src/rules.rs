//! The decisions every backend makes the same way, written once.
//!
//! A backend reads rows, asks one of these functions what they mean, and
//! writes (or refuses) accordingly: how many records a listing returns,
//! whether a stored idempotency record still answers for its key, whether a
//! cycle may be recorded, how campaigns are put together from their rows.
//! The functions are pure (no database, no clock: the time is passed in),
//! so the two SQL backends can differ in their SQL but never in what they
//! allow.

use crate::cycles::{Cycle, CycleStatus, MAX_CYCLE_LIST, OptimizationAction};
use crate::events::{DEFAULT_PAGE, MAX_EVENT_PAGE};
use crate::queue::JobState;
use crate::{Campaign, CampaignChannel, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use std::collections::HashMap;
use uuid::Uuid;

/// Jobs one listing returns when the filter names no limit.
pub const DEFAULT_JOB_PAGE: u32 = 100;

/// The most jobs one listing returns.
pub const MAX_JOB_PAGE: u32 = 1000;

/// The size of an event, decision, action, outbox or task listing:
/// [`DEFAULT_PAGE`] unless given, at most [`MAX_EVENT_PAGE`].
pub fn event_page_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).min(MAX_EVENT_PAGE)
}

/// The size of a job listing: [`DEFAULT_JOB_PAGE`] unless given, at most
/// [`MAX_JOB_PAGE`].
pub fn job_page_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_JOB_PAGE).min(MAX_JOB_PAGE)
}

/// The size of a cycle listing: [`MAX_CYCLE_LIST`] for 0 (no limit named),
/// at most that.
pub fn cycle_page_limit(limit: u32) -> u32 {
    if limit == 0 {
        MAX_CYCLE_LIST
    } else {
        limit.min(MAX_CYCLE_LIST)
    }
}

/// A step a person takes on one job, which only some states allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStep {
    /// Stop a job that has not run (or waits to run again).
    Cancel,
    /// Redrive a job that died, failed or was cancelled.
    Retry,
    /// Approve or reject a job that awaits approval.
    Decide,
}

impl JobStep {
    /// The states the step is allowed from.
    pub fn allowed(self) -> &'static [JobState] {
        match self {
            JobStep::Cancel => &JobState::CANCELLABLE,
            JobStep::Retry => &JobState::RETRYABLE,
            JobStep::Decide => &[JobState::AwaitingApproval],
        }
    }

    /// The step as the refusal names it ("cancelled").
    pub fn verb(self) -> &'static str {
        match self {
            JobStep::Cancel => "cancelled",
            JobStep::Retry => "retried",
            JobStep::Decide => "decided",
        }
    }
}

/// Allows `step` on job `id` in `state`, or refuses it with
/// [`StoreError::Invalid`] and the sentence of [`JobState::refusal`]: the
/// same variant and text on every backend.
pub fn check_job_step(step: JobStep, state: JobState, id: Uuid) -> Result<(), StoreError> {
    let allowed = step.allowed();
    if allowed.contains(&state) {
        Ok(())
    } else {
        Err(StoreError::Invalid(state.refusal(id, allowed, step.verb())))
    }
}

/// Refuses a record of another tenant than the transaction's (`what` names
/// the record: "an event", "a decision").
pub fn same_tenant(record: TenantId, tenant: TenantId, what: &str) -> Result<(), StoreError> {
    if record == tenant {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} of tenant {record} written in a transaction of tenant {tenant}"
        )))
    }
}

/// Whether a stored idempotency record still holds its key at `now`, so
/// that it answers a repeated request (or reports it in flight), rather
/// than being taken over by the new request.
///
/// A record lets its key go when its response has expired (`expires_at`
/// before `now`), or when it is still in flight (`finished` false) but
/// started more than `stale_after` ago: the request that began it was
/// abandoned.
pub fn idempotency_record_holds(
    finished: bool,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> bool {
    let expired = expires_at.is_some_and(|at| at < now);
    let abandoned = !finished
        && now
            .checked_sub_signed(stale_after)
            .is_some_and(|stale| created_at < stale);
    !(expired || abandoned)
}

/// Checks a cycle and its actions before anything is written: the notes
/// are a JSON object, a failed cycle has no actions, and every action
/// names the cycle and its tenant.
pub fn check_cycle(cycle: &Cycle, actions: &[OptimizationAction]) -> Result<(), StoreError> {
    if !cycle.notes.is_object() {
        return Err(StoreError::Invalid(format!(
            "the notes of cycle {} are not a JSON object",
            cycle.id
        )));
    }
    if cycle.status == CycleStatus::Failed && !actions.is_empty() {
        return Err(StoreError::Invalid(format!(
            "cycle {} failed: it has no actions",
            cycle.id
        )));
    }
    for a in actions {
        if a.tenant_id != cycle.tenant_id || a.cycle_id != cycle.id {
            return Err(StoreError::Invalid(format!(
                "action {} (tenant {}, cycle {}) does not belong to cycle {} of tenant {}",
                a.id, a.tenant_id, a.cycle_id, cycle.id, cycle.tenant_id
            )));
        }
    }
    Ok(())
}

/// Refuses a cycle created within `min_gap` of the tenant's last completed
/// one (`last`), with [`StoreError::Conflict`] naming that cycle.
pub fn check_cycle_gap(
    cycle: &Cycle,
    last: Option<&Cycle>,
    min_gap: Option<Duration>,
) -> Result<(), StoreError> {
    let (Some(gap), Some(last)) = (min_gap, last) else {
        return Ok(());
    };
    let since = cycle
        .created_at
        .checked_sub_signed(gap)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    if last.created_at > since {
        return Err(StoreError::Conflict {
            entity: "cycle",
            id: last.id.to_string(),
        });
    }
    Ok(())
}

/// Attaches channels (each with its campaign's id, in the order they are
/// to appear) to their campaigns; campaigns keep their order, and a
/// channel of no listed campaign is dropped.
pub fn assemble_campaigns(
    campaigns: Vec<Campaign>,
    channels: Vec<(String, CampaignChannel)>,
) -> Vec<Campaign> {
    let mut by_campaign: HashMap<String, Vec<CampaignChannel>> = HashMap::new();
    for (campaign_id, channel) in channels {
        by_campaign.entry(campaign_id).or_default().push(channel);
    }
    campaigns
        .into_iter()
        .map(|mut campaign| {
            campaign.channels = by_campaign.remove(&campaign.id).unwrap_or_default();
            campaign
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use serde_json::json;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn listing_limits_default_and_cap() {
        assert_eq!(event_page_limit(None), 100);
        assert_eq!(event_page_limit(Some(5)), 5);
        assert_eq!(event_page_limit(Some(0)), 0);
        assert_eq!(event_page_limit(Some(50_000)), MAX_EVENT_PAGE);
        assert_eq!(job_page_limit(None), 100);
        assert_eq!(job_page_limit(Some(5000)), 1000);
        assert_eq!(cycle_page_limit(0), MAX_CYCLE_LIST);
        assert_eq!(cycle_page_limit(3), 3);
        assert_eq!(cycle_page_limit(u32::MAX), MAX_CYCLE_LIST);
    }

    #[test]
    fn job_steps_are_allowed_from_their_states_only() {
        let id = Uuid::from_u128(5);
        assert!(check_job_step(JobStep::Cancel, JobState::Waiting, id).is_ok());
        assert!(check_job_step(JobStep::Retry, JobState::Dead, id).is_ok());
        assert!(check_job_step(JobStep::Decide, JobState::AwaitingApproval, id).is_ok());
        let refused = check_job_step(JobStep::Cancel, JobState::Active, id);
        let Err(StoreError::Invalid(text)) = refused else {
            panic!("expected Invalid, got {refused:?}");
        };
        assert_eq!(
            text,
            format!(
                "job {id} is active; only a job that is waiting, delayed, failed, \
                 awaiting_approval, dead can be cancelled"
            )
        );
        assert!(check_job_step(JobStep::Retry, JobState::Completed, id).is_err());
        assert!(check_job_step(JobStep::Decide, JobState::Waiting, id).is_err());
    }

    #[test]
    fn a_record_of_another_tenant_is_refused() {
        let a = TenantId::from_uuid(Uuid::from_u128(1));
        let b = TenantId::from_uuid(Uuid::from_u128(2));
        assert!(same_tenant(a, a, "an event").is_ok());
        let err = same_tenant(a, b, "an event").unwrap_err();
        assert!(matches!(err, StoreError::Invalid(ref m) if m.starts_with("an event of tenant")));
    }

    #[test]
    fn idempotency_records_hold_until_expired_or_abandoned() {
        let stale = Duration::minutes(10);
        // Finished, not expired: answers.
        assert!(idempotency_record_holds(
            true,
            at(1),
            Some(at(5)),
            at(2),
            stale
        ));
        // Finished and expired: taken over.
        assert!(!idempotency_record_holds(
            true,
            at(1),
            Some(at(2)),
            at(3),
            stale
        ));
        // In flight, recent: held (the caller reports it in flight).
        assert!(idempotency_record_holds(false, at(2), None, at(2), stale));
        // In flight for longer than `stale_after`: abandoned, taken over.
        assert!(!idempotency_record_holds(false, at(1), None, at(2), stale));
        // A finished record is never abandoned, however old.
        assert!(idempotency_record_holds(true, at(1), None, at(9), stale));
    }

    fn cycle(status: CycleStatus, created_at: DateTime<Utc>) -> Cycle {
        Cycle {
            tenant_id: TenantId::from_uuid(Uuid::from_u128(1)),
            id: Uuid::from_u128(10),
            trigger_type: "scheduled".into(),
            trigger_source: "test".into(),
            triggered_at: created_at,
            status,
            binding_constraint: None,
            priority_metric: None,
            input: json!({}),
            output: None,
            error: None,
            notes: json!({}),
            created_at,
            completed_at: None,
        }
    }

    #[test]
    fn cycles_are_checked_before_writing() {
        let mut c = cycle(CycleStatus::Completed, at(1));
        assert!(check_cycle(&c, &[]).is_ok());
        c.notes = json!([]);
        assert!(matches!(check_cycle(&c, &[]), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn a_cycle_within_the_gap_conflicts_with_the_last() {
        let last = cycle(CycleStatus::Completed, at(1));
        let next = cycle(CycleStatus::Completed, at(2));
        assert!(check_cycle_gap(&next, Some(&last), None).is_ok());
        assert!(check_cycle_gap(&next, None, Some(Duration::hours(5))).is_ok());
        assert!(check_cycle_gap(&next, Some(&last), Some(Duration::minutes(30))).is_ok());
        assert!(matches!(
            check_cycle_gap(&next, Some(&last), Some(Duration::hours(5))),
            Err(StoreError::Conflict {
                entity: "cycle",
                ..
            })
        ));
    }

    #[test]
    fn campaigns_get_their_own_channels_in_order() {
        let campaign = |id: &str| Campaign {
            id: id.into(),
            name: id.into(),
            status: "active".into(),
            objective: "pipeline".into(),
            budget_total: 1.0,
            budget_spent: 0.0,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            end_date: None,
            channels: Vec::new(),
        };
        let channel = |name: &str| CampaignChannel {
            channel: name.into(),
            status: "active".into(),
            budget_total: 1.0,
            budget_spent: 0.0,
        };
        let out = assemble_campaigns(
            vec![campaign("a"), campaign("b")],
            vec![
                ("a".into(), channel("email")),
                ("a".into(), channel("linkedin")),
                ("z".into(), channel("orphan")),
            ],
        );
        assert_eq!(out.len(), 2);
        let names: Vec<&str> = out[0].channels.iter().map(|c| c.channel.as_str()).collect();
        assert_eq!(names, ["email", "linkedin"]);
        assert!(out[1].channels.is_empty());
    }
}
