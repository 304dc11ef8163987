//! `revos kernel example`: a valid `KernelInput` to start from, so that
//! `revos kernel example > input.json && revos kernel plan --input input.json`
//! works on a fresh machine.
//!
//! The sample is not a canned file: it is test tenant B of the simulator
//! (`revos-sim`, the tenant that misses its targets), simulated for the 30
//! days before the trigger, and shaped the way `revos kernel run` assembles
//! a stored tenant's input — its optimizer config's targets, guardrails and
//! settings, the latest value of each metric, the revenue events of the
//! window, the campaigns still running and the open opportunities. The
//! trigger is the given time, so the input passes the contract's 24-hour
//! rule when it is planned soon after.

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use revos_contracts::kernel_io::{
    AnalysisWindow, CampaignInput, Guardrails, KernelConfig, KernelInput, MetricValue,
    OpportunityInput, RevenueEventInput, Targets, Trigger, TriggerType,
};
use revos_kernel::Failure;
use revos_sim::{Profile, Sim, SimOpportunity};
use std::collections::BTreeMap;

/// Days of simulated history, the analysis window of a stored cycle.
const WINDOW_DAYS: u32 = 30;

/// The sample input for a cycle triggered at `now` by the daily schedule.
pub(crate) fn input(now: DateTime<Utc>) -> Result<KernelInput, Failure> {
    // Whole seconds: the file is read by people too.
    let now = now.trunc_subsecs(0);
    let profile = Profile::tenant_b();
    // The window ends with the last complete day before the trigger.
    let end = now.date_naive() - Duration::days(1);
    let start = end - Duration::days(i64::from(WINDOW_DAYS) - 1);
    let days = Sim::new(&profile, start).run(WINDOW_DAYS);
    let last = days
        .last()
        .ok_or_else(|| Failure::internal(&"the simulator produced no days"))?;

    let config = profile.optimizer_config();
    let part = |name: &str| config.get(name).cloned().unwrap_or_default();
    let targets: Targets =
        serde_json::from_value(part("targets")).map_err(|e| Failure::internal(&e))?;
    let guardrails: Guardrails =
        serde_json::from_value(part("guardrails")).map_err(|e| Failure::internal(&e))?;
    let settings: KernelConfig =
        serde_json::from_value(part("config")).map_err(|e| Failure::internal(&e))?;

    let metrics = last
        .metrics
        .iter()
        .map(|(id, value)| MetricValue {
            metric_id: id.clone(),
            value: *value,
            date: last.date,
            dimension: None,
        })
        .collect();
    let revenue_events = days
        .iter()
        .flat_map(|d| &d.revenue_events)
        .map(|e| RevenueEventInput {
            id: e.id.clone(),
            r#type: e.event_type.clone(),
            amount: e.amount,
            effective_date: e.effective_date,
            attributed_campaign_id: e.attributed_campaign_id.clone(),
            attributed_channel: e.attributed_channel.clone(),
        })
        .collect();
    let campaigns = last
        .campaigns
        .iter()
        .filter(|c| c.status != "completed" && c.end_date.is_none_or(|d| d >= start))
        .map(|c| CampaignInput {
            id: c.id.clone(),
            name: c.name.clone(),
            status: c.status.clone(),
            objective: c.objective.clone(),
            budget_total: c.budget_total,
            budget_spent: c.budget_spent,
            start_date: c.start_date,
            end_date: c.end_date,
        })
        .collect();
    // A day lists the opportunities created or changed that day: the last
    // state of each is the one that counts.
    let mut latest: BTreeMap<&str, &SimOpportunity> = BTreeMap::new();
    for o in days.iter().flat_map(|d| &d.opportunities) {
        latest.insert(o.id.as_str(), o);
    }
    let opportunities = latest
        .into_values()
        .filter(|o| o.status == "open")
        .map(|o| OpportunityInput {
            id: o.id.clone(),
            stage: o.stage.clone(),
            amount: o.amount,
            expected_close_date: o.expected_close_date,
            win_probability: o.win_probability,
        })
        .collect();

    Ok(KernelInput {
        tenant_id: profile.tenant_id,
        trigger: Trigger {
            r#type: TriggerType::Scheduled,
            source: "cron_daily".to_owned(),
            triggered_at: now.fixed_offset(),
        },
        analysis_window: AnalysisWindow {
            start_date: start,
            end_date: end,
        },
        targets,
        guardrails,
        metrics,
        revenue_events,
        campaigns,
        opportunities,
        recent_action_results: None,
        config: Some(settings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw).unwrap().to_utc()
    }

    #[test]
    fn the_example_plans_as_it_is_printed() {
        let now = at("2026-11-23T07:00:00Z");
        let input = input(now).unwrap();
        assert_eq!(input.analysis_window.end_date.to_string(), "2026-11-22");
        assert_eq!(input.analysis_window.start_date.to_string(), "2026-10-24");
        assert!(!input.opportunities.is_empty());
        assert!(!input.campaigns.is_empty());
        // What `kernel example` prints is what `kernel plan` reads.
        let text = serde_json::to_vec_pretty(&input).unwrap();
        let plan = revos_kernel::optimize::cycles::plan_offline(&text, now).unwrap();
        assert!(!plan.output.actions.is_empty());
        // The same clock gives the same sample.
        assert_eq!(
            serde_json::to_vec_pretty(&super::input(now).unwrap()).unwrap(),
            text
        );
        // A day later, the trigger is too old for the contract.
        let stale = revos_kernel::optimize::cycles::plan_offline(&text, now + Duration::hours(25));
        assert!(stale.is_err());
    }
}
