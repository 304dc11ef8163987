//! The cycle's input as the kernel assembles it from a tenant's stored
//! data (`Kernel::assemble_input`): the window's metric snapshots and
//! revenue events, the campaigns that are not over, the open
//! opportunities, the measured results of the last 90 days (newest first),
//! and the tenant's targets, guardrails and config — here read off the
//! world's reported days instead of the database.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveTime};
use revos_contracts::kernel_io::{
    ActionResult, AnalysisWindow, CampaignInput, KernelInput, MetricValue, OpportunityInput,
    RevenueEventInput, Trigger, TriggerType,
};
use revos_contracts::metrics::REQUIRED_METRICS;
use revos_sim::SimOpportunity;
use revos_sim::world::World;

/// Days in the analysis window (the kernel's default).
pub const WINDOW_DAYS: i64 = 30;

/// What the tenant's stores would hold: the latest state of every
/// opportunity seen so far.
#[derive(Debug, Clone, Default)]
pub struct Book {
    opportunities: BTreeMap<String, SimOpportunity>,
    read_through: Option<NaiveDate>,
}

impl Book {
    /// Reads the days the world has simulated since the last read.
    pub fn read(&mut self, world: &World) {
        let from = self
            .read_through
            .map_or(NaiveDate::MIN, |d| d + Duration::days(1));
        let to = world.date() - Duration::days(1);
        if to < from {
            return;
        }
        for day in world.observed(from, to) {
            for o in day.opportunities {
                self.opportunities.insert(o.id.clone(), o);
            }
        }
        self.read_through = Some(to);
    }

    /// The cycle input on `today` (data through the day before).
    pub fn input(
        &self,
        world: &World,
        today: NaiveDate,
        results: Vec<ActionResult>,
    ) -> KernelInput {
        let start = today - Duration::days(WINDOW_DAYS - 1);
        let days = world.observed(start, today);
        let metrics = days
            .iter()
            .flat_map(|d| {
                d.metrics.iter().map(move |(id, value)| MetricValue {
                    metric_id: id.clone(),
                    value: *value,
                    date: d.date,
                    dimension: None,
                })
            })
            .collect::<Vec<MetricValue>>();
        // As the kernel does: a required metric with no value in the window
        // comes with its last value before it, so it reads as stale.
        let mut metrics = metrics;
        for id in REQUIRED_METRICS {
            if metrics.iter().any(|m| m.metric_id == id) {
                continue;
            }
            let before =
                world.reported_metric(id, start - Duration::days(365), start - Duration::days(1));
            if let Some((date, value)) = before.last() {
                metrics.push(MetricValue {
                    metric_id: id.to_owned(),
                    value: *value,
                    date: *date,
                    dimension: None,
                });
            }
        }
        let revenue_events = days
            .iter()
            .flat_map(|d| d.revenue_events.iter())
            .map(|e| RevenueEventInput {
                id: e.id.clone(),
                r#type: e.event_type.clone(),
                amount: e.amount,
                effective_date: e.effective_date,
                attributed_campaign_id: e.attributed_campaign_id.clone(),
                attributed_channel: e.attributed_channel.clone(),
            })
            .collect();
        let campaigns = days
            .last()
            .map(|d| {
                d.campaigns
                    .iter()
                    .filter(|c| c.end_date.is_none_or(|e| e >= start))
                    .filter(|c| !matches!(c.status.as_str(), "archived" | "completed" | "deleted"))
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
                    .collect()
            })
            .unwrap_or_default();
        let opportunities = self
            .opportunities
            .values()
            .filter(|o| o.status == "open")
            .map(|o| OpportunityInput {
                id: o.id.clone(),
                stage: o.stage.clone(),
                amount: o.amount,
                expected_close_date: o.expected_close_date,
                win_probability: o.win_probability,
            })
            .collect();
        KernelInput {
            tenant_id: world.tenant_id(),
            trigger: Trigger {
                r#type: TriggerType::Scheduled,
                source: "lab_evaluate".to_owned(),
                triggered_at: at_nine(today),
            },
            analysis_window: AnalysisWindow {
                start_date: start,
                end_date: today,
            },
            targets: world.targets().clone(),
            guardrails: world.guardrails().clone(),
            metrics,
            revenue_events,
            campaigns,
            opportunities,
            recent_action_results: (!results.is_empty()).then_some(results),
            config: Some(world.config().clone()),
        }
    }
}

/// The daily tenant-wide values of `metric` from `from` through the last
/// day simulated, as reported.
pub fn series(world: &World, metric: &str, from: NaiveDate) -> Vec<(NaiveDate, f64)> {
    world.reported_metric(metric, from, world.date() - Duration::days(1))
}

/// 09:00 UTC on `day`: when the evaluation's cycles run.
pub fn at_nine(day: NaiveDate) -> DateTime<FixedOffset> {
    day.and_time(NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN))
        .and_utc()
        .fixed_offset()
}
