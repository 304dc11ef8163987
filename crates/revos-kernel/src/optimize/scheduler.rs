//! Cycle triggers: what starts an optimization cycle without a person
//! asking. `revos serve` calls [`Kernel::run_triggers`] every five minutes
//! (unless `serve_scheduler = false`); tests call it directly with a clock.
//!
//! For every tenant whose optimizer config has targets and allowed levers:
//!
//! - **scheduled** (`cron_daily`): once the tenant's daily time (UTC) has
//!   passed today and no cycle completed today, and the scheduler has not
//!   already tried a scheduled cycle today (a failed one is not retried
//!   every five minutes);
//! - otherwise **lifecycle_event** (`campaign_launch`): when a campaign
//!   launched (a `campaign_launched` event, see [`crate::optimize::lifecycle`]) after
//!   the tenant's last completed cycle and after the last lifecycle attempt,
//!   so each launch is looked at once (a cycle that fails is not retried
//!   for the same launch; a launch seen while a cycle is too recent waits
//!   until 12 hours have passed, then runs);
//! - otherwise **metric_deviation** (`metric_alert`): when a required metric's
//!   latest tenant-wide snapshot is more than the threshold away from the
//!   mean of the 7 days before it, and no cycle completed — and no
//!   deviation cycle was tried — in the last 12 hours.
//!
//! The schedule lives in the tenant's policy settings under
//! [`SCHEDULE_SETTINGS_ID`] (`{"daily_at_utc": "06:00",
//! "deviation_threshold_pct": 20}`; both optional, those are the defaults),
//! not in the optimizer config, whose `config` object is the contract's
//! `KernelConfig` and admits no other field.
//!
//! `CYCLE_TOO_RECENT` is respected, never forced: the trigger is counted as
//! skipped. A tenant whose cycle fails is logged and reported; the others
//! go on.

use crate::identity::auth::Principal;
use crate::optimize::cycles::{CYCLE_MIN_GAP, CycleRequest};
use crate::optimize::lifecycle::CAMPAIGN_LAUNCHED;
use crate::{Failure, Kernel};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_contracts::kernel_io::TriggerType;
use revos_contracts::metrics::REQUIRED_METRICS;
use revos_store::cycles::{Cycle, CycleStatus};
use revos_store::events::EventFilter;
use revos_store::{DateRange, MetricQuery, Page, StoreError};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The policy-settings id holding a tenant's schedule.
pub const SCHEDULE_SETTINGS_ID: &str = "revenue_os.optimizer.schedule";

/// Days before the latest snapshot whose mean it is compared with.
const DEVIATION_BASELINE_DAYS: i64 = 7;

/// The fewest earlier values a deviation needs, so one odd day does not
/// make a baseline.
const DEVIATION_MIN_BASELINE: usize = 3;

const PAGE: u32 = 1000;

/// The most launches a trigger names in its reason.
const LAUNCHES_NAMED: u32 = 20;

/// A tenant's trigger settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    /// The time of day (UTC) after which the daily cycle runs.
    daily_at_utc: NaiveTime,
    /// How far (in percent of the baseline mean) a required metric may move
    /// before it triggers a cycle.
    deviation_threshold_pct: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            daily_at_utc: NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN),
            deviation_threshold_pct: 20.0,
        }
    }
}

impl Schedule {
    /// Reads the settings stored under [`SCHEDULE_SETTINGS_ID`]; absent
    /// fields take the defaults.
    pub(crate) fn from_settings(value: Option<&Value>) -> Result<Schedule, String> {
        let mut schedule = Schedule::default();
        let Some(value) = value else {
            return Ok(schedule);
        };
        let map = value
            .as_object()
            .ok_or_else(|| format!("{SCHEDULE_SETTINGS_ID} must be an object, got {value}"))?;
        if let Some(unknown) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "daily_at_utc" | "deviation_threshold_pct"))
        {
            return Err(format!(
                "unknown field `{unknown}`: the fields are daily_at_utc and deviation_threshold_pct"
            ));
        }
        if let Some(at) = map.get("daily_at_utc") {
            let text = at.as_str().unwrap_or_default();
            schedule.daily_at_utc = NaiveTime::parse_from_str(text, "%H:%M")
                .map_err(|_| format!("daily_at_utc must be HH:MM (UTC), got {at}"))?;
        }
        if let Some(pct) = map.get("deviation_threshold_pct") {
            schedule.deviation_threshold_pct = pct
                .as_f64()
                .filter(|p| p.is_finite() && *p > 0.0)
                .ok_or_else(|| {
                format!("deviation_threshold_pct must be a positive number, got {pct}")
            })?;
        }
        Ok(schedule)
    }
}

/// Whether the daily cycle is due: today's time has passed and neither a
/// completed cycle nor a scheduled attempt is recorded today.
fn schedule_due(schedule: &Schedule, now: DateTime<Utc>, recent: &[Cycle]) -> bool {
    let today = now.date_naive();
    now.time() >= schedule.daily_at_utc
        && !recent.iter().any(|c| {
            c.created_at.date_naive() == today
                && (c.status == CycleStatus::Completed || c.trigger_type == "scheduled")
        })
}

/// Whether a cycle completed less than 12 hours before `now`.
fn too_recent(now: DateTime<Utc>, recent: &[Cycle]) -> bool {
    recent
        .iter()
        .any(|c| c.status == CycleStatus::Completed && now - c.created_at < CYCLE_MIN_GAP)
}

/// A metric's move away from its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Deviation {
    /// The latest value's day.
    date: NaiveDate,
    /// The latest value.
    latest: f64,
    /// The mean of the values of the 7 days before it.
    baseline: f64,
    /// `(latest − baseline) / |baseline|`, in percent.
    change_pct: f64,
}

/// The deviation of the latest of `values` (tenant-wide daily values, any
/// order) from the mean of the [`DEVIATION_BASELINE_DAYS`] days before it,
/// when it is larger than `threshold_pct`. `None` when it is not, or when
/// there are fewer than [`DEVIATION_MIN_BASELINE`] earlier values or their
/// mean is 0.
fn deviation(values: &[(NaiveDate, f64)], threshold_pct: f64) -> Option<Deviation> {
    let &(date, latest) = values.iter().max_by_key(|(d, _)| *d)?;
    let earlier: Vec<f64> = values
        .iter()
        .filter(|(d, _)| *d < date && *d >= date - Duration::days(DEVIATION_BASELINE_DAYS))
        .map(|(_, v)| *v)
        .collect();
    if earlier.len() < DEVIATION_MIN_BASELINE {
        return None;
    }
    let baseline = earlier.iter().sum::<f64>() / earlier.len() as f64;
    if baseline == 0.0 || !baseline.is_finite() {
        return None;
    }
    let change_pct = (latest - baseline) / baseline.abs() * 100.0;
    (change_pct.abs() > threshold_pct).then_some(Deviation {
        date,
        latest,
        baseline,
        change_pct,
    })
}

/// Whether an optimizer config can drive a cycle: targets set and at least
/// one allowed lever.
fn configured(targets: &Value, guardrails: &Value) -> bool {
    let has_targets = targets.as_object().is_some_and(|m| !m.is_empty());
    let has_levers = guardrails
        .get("allowed_levers")
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    has_targets && has_levers
}

/// A cycle a trigger started.
#[derive(Debug, Clone, Serialize)]
pub struct TriggeredCycle {
    /// The tenant.
    pub tenant: TenantId,
    /// `scheduled`, `lifecycle_event` or `metric_deviation`.
    pub trigger: &'static str,
    /// What fired it, e.g. `pipeline_total moved -90.0% from its 7-day
    /// mean` or `campaign cmp_spring launched`.
    pub reason: String,
    /// The cycle.
    pub cycle_id: Uuid,
}

/// A tenant whose trigger fired but did not run, or failed.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerNote {
    /// The tenant.
    pub tenant: TenantId,
    /// Why.
    pub reason: String,
}

/// What [`Kernel::run_triggers`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TriggerReport {
    /// Tenants with an optimizer config that can drive a cycle.
    pub tenants_checked: u64,
    /// Cycles run.
    pub ran: Vec<TriggeredCycle>,
    /// Triggers that fired but were not run (`CYCLE_TOO_RECENT`).
    pub skipped: Vec<TriggerNote>,
    /// Tenants whose trigger check or cycle failed.
    pub failed: Vec<TriggerNote>,
}

enum Decision {
    Nothing,
    /// Run a cycle: the trigger, its source (`None`: the default), why.
    Run(TriggerType, Option<&'static str>, String),
    Skip(String),
}

impl Kernel {
    /// Checks every tenant's triggers at `now` and runs the cycles they
    /// call for (see the module docs).
    pub async fn run_triggers(&self, now: DateTime<Utc>) -> Result<TriggerReport, Failure> {
        let mut report = TriggerReport::default();
        let mut offset = 0;
        loop {
            let tenants = self.store().list_tenants(Page::new(PAGE, offset)).await?;
            let full = tenants.len() as u32 >= PAGE;
            // Simulated tenants (`revos validate`, `revos demo` in a named
            // database) are driven by those commands, never by the schedule.
            for tenant in tenants.into_iter().filter(|t| !t.simulation) {
                if let Err(e) = self.tenant_triggers(tenant.id, now, &mut report).await {
                    tracing::warn!(tenant = %tenant.id, error = %e.body, "cycle trigger failed");
                    report.failed.push(TriggerNote {
                        tenant: tenant.id,
                        reason: e.body.message.clone(),
                    });
                }
            }
            if !full {
                break;
            }
            offset += PAGE;
        }
        Ok(report)
    }

    async fn tenant_triggers(
        &self,
        tenant: TenantId,
        now: DateTime<Utc>,
        report: &mut TriggerReport,
    ) -> Result<(), Failure> {
        let config = self.store().get_optimizer_config(tenant).await?;
        if !configured(&config.targets, &config.guardrails) {
            return Ok(());
        }
        report.tenants_checked += 1;
        let (trigger, source, reason) = match self.decide(tenant, now).await? {
            Decision::Nothing => return Ok(()),
            Decision::Skip(reason) => {
                report.skipped.push(TriggerNote { tenant, reason });
                return Ok(());
            }
            Decision::Run(trigger, source, reason) => (trigger, source, reason),
        };
        let request = CycleRequest {
            trigger_type: Some(trigger),
            source: source.map(str::to_owned),
            ..CycleRequest::default()
        };
        let name = trigger.as_str();
        match self
            .run_tenant_cycle(&Principal::Service, tenant, &request)
            .await
        {
            Ok((output, _)) => {
                tracing::info!(%tenant, trigger = name, %reason, cycle = %output.cycle_id,
                    "ran a triggered cycle");
                report.ran.push(TriggeredCycle {
                    tenant,
                    trigger: name,
                    reason,
                    cycle_id: output.cycle_id,
                });
                Ok(())
            }
            Err(e) if e.status == 429 => {
                report.skipped.push(TriggerNote {
                    tenant,
                    reason: format!("{name}: {}", e.body.message),
                });
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn decide(&self, tenant: TenantId, now: DateTime<Utc>) -> Result<Decision, Failure> {
        let store = self.store();
        let settings = store.policy_settings(tenant).await?;
        let schedule = Schedule::from_settings(settings.get(SCHEDULE_SETTINGS_ID))
            .map_err(|m| Failure::of(ErrorKind::Validation, m))?;
        let recent = store.list_cycles(tenant, 50).await?;
        if schedule_due(&schedule, now, &recent) {
            return Ok(Decision::Run(
                TriggerType::Scheduled,
                None,
                format!("daily at {} UTC", schedule.daily_at_utc.format("%H:%M")),
            ));
        }
        if let Some(launched) = self.unseen_launches(tenant, &recent).await? {
            if too_recent(now, &recent) {
                return Ok(Decision::Skip(format!(
                    "lifecycle_event: {launched}, but a cycle ran less than 12 hours ago; the \
                     cycle runs once 12 hours have passed"
                )));
            }
            return Ok(Decision::Run(
                TriggerType::LifecycleEvent,
                Some("campaign_launch"),
                launched,
            ));
        }
        for metric in REQUIRED_METRICS {
            let Some(found) = self
                .metric_deviation(tenant, metric, now, &schedule)
                .await?
            else {
                continue;
            };
            let tried = recent.iter().any(|c| {
                c.trigger_type == "metric_deviation" && now - c.created_at < CYCLE_MIN_GAP
            });
            if too_recent(now, &recent) || tried {
                return Ok(Decision::Skip(format!(
                    "metric_deviation: {metric} moved {:.1}% from its 7-day mean, but a cycle \
                     ran less than 12 hours ago",
                    found.change_pct
                )));
            }
            return Ok(Decision::Run(
                TriggerType::MetricDeviation,
                None,
                format!(
                    "{metric} moved {:+.1}% from its 7-day mean ({} against {:.2})",
                    found.change_pct, found.latest, found.baseline
                ),
            ));
        }
        Ok(Decision::Nothing)
    }

    /// The campaign launches no cycle has looked at yet (see the module
    /// docs), described for the report: `None` when there are none.
    async fn unseen_launches(
        &self,
        tenant: TenantId,
        recent: &[Cycle],
    ) -> Result<Option<String>, StoreError> {
        let since = recent
            .iter()
            .filter(|c| {
                c.status == CycleStatus::Completed
                    || c.trigger_type == TriggerType::LifecycleEvent.as_str()
            })
            .map(|c| c.created_at)
            .max();
        let launches = self
            .store()
            .list_events(
                tenant,
                &EventFilter {
                    since,
                    r#type: Some(CAMPAIGN_LAUNCHED.to_owned()),
                    order: revos_store::listing::Order::OldestFirst,
                    limit: Some(LAUNCHES_NAMED),
                    ..EventFilter::default()
                },
            )
            .await?;
        let mut campaigns: Vec<&str> = Vec::new();
        for event in &launches {
            if !campaigns.contains(&event.subject.id.as_str()) {
                campaigns.push(&event.subject.id);
            }
        }
        Ok(match campaigns.as_slice() {
            [] => None,
            [one] => Some(format!("campaign {one} launched")),
            many => Some(format!("campaigns {} launched", many.join(", "))),
        })
    }

    async fn metric_deviation(
        &self,
        tenant: TenantId,
        metric: &str,
        now: DateTime<Utc>,
        schedule: &Schedule,
    ) -> Result<Option<Deviation>, StoreError> {
        let today = now.date_naive();
        let snapshots = self
            .store()
            .list_metric_snapshots(
                tenant,
                &MetricQuery {
                    metric_id: Some(metric.to_owned()),
                    range: DateRange {
                        from: Some(today - Duration::days(2 * DEVIATION_BASELINE_DAYS)),
                        to: Some(today),
                    },
                    source: None,
                    page: Page::new(PAGE, 0),
                },
            )
            .await?;
        let values: Vec<(NaiveDate, f64)> = snapshots
            .into_iter()
            .filter(|s| s.dimension.is_empty())
            .map(|s| (s.date, s.value))
            .collect();
        Ok(deviation(&values, schedule.deviation_threshold_pct))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 10, h, m, 0).unwrap()
    }

    fn cycle(created: DateTime<Utc>, trigger: &str, status: CycleStatus) -> Cycle {
        Cycle {
            tenant_id: TenantId::from_uuid(Uuid::nil()),
            id: Uuid::nil(),
            trigger_type: trigger.into(),
            trigger_source: "test".into(),
            triggered_at: created,
            status,
            binding_constraint: None,
            priority_metric: None,
            input: json!({}),
            output: None,
            error: None,
            notes: json!({}),
            created_at: created,
            completed_at: None,
        }
    }

    #[test]
    fn settings_default_and_parse() {
        assert_eq!(Schedule::from_settings(None).unwrap(), Schedule::default());
        let s = Schedule::from_settings(Some(
            &json!({"daily_at_utc": "07:30", "deviation_threshold_pct": 10}),
        ))
        .unwrap();
        assert_eq!(s.daily_at_utc, NaiveTime::from_hms_opt(7, 30, 0).unwrap());
        assert_eq!(s.deviation_threshold_pct, 10.0);
        assert!(Schedule::from_settings(Some(&json!({"daily_at_utc": "7am"}))).is_err());
        assert!(Schedule::from_settings(Some(&json!({"deviation_threshold_pct": -1}))).is_err());
    }

    #[test]
    fn the_daily_cycle_is_due_after_its_time_once_a_day() {
        let s = Schedule::default();
        assert!(!schedule_due(&s, at(5, 59), &[]));
        assert!(schedule_due(&s, at(6, 0), &[]));
        // A cycle completed yesterday does not count; one today does.
        let yesterday = at(7, 0) - Duration::days(1);
        assert!(schedule_due(
            &s,
            at(7, 0),
            &[cycle(yesterday, "scheduled", CycleStatus::Completed)]
        ));
        assert!(!schedule_due(
            &s,
            at(9, 0),
            &[cycle(at(2, 0), "manual", CycleStatus::Completed)]
        ));
        // A failed scheduled attempt today is not retried; a failed manual one is no reason to wait.
        assert!(!schedule_due(
            &s,
            at(9, 0),
            &[cycle(at(6, 5), "scheduled", CycleStatus::Failed)]
        ));
        assert!(schedule_due(
            &s,
            at(9, 0),
            &[cycle(at(6, 5), "manual", CycleStatus::Failed)]
        ));
    }

    #[test]
    fn a_cycle_within_twelve_hours_is_too_recent() {
        let done = cycle(at(1, 0), "manual", CycleStatus::Completed);
        assert!(too_recent(at(12, 59), std::slice::from_ref(&done)));
        assert!(!too_recent(at(13, 0), &[done]));
        assert!(!too_recent(
            at(2, 0),
            &[cycle(at(1, 0), "manual", CycleStatus::Failed)]
        ));
    }

    fn series(latest: f64) -> Vec<(NaiveDate, f64)> {
        let day = at(0, 0).date_naive();
        let mut v: Vec<(NaiveDate, f64)> = (1..=7)
            .map(|i| {
                (
                    day - Duration::days(i),
                    100.0 + if i % 2 == 0 { 2.0 } else { -2.0 },
                )
            })
            .collect();
        v.push((day, latest));
        v
    }

    #[test]
    fn deviation_above_the_threshold_fires_and_below_does_not() {
        // Baseline mean: (4 × 98 + 3 × 102) / 7.
        let mean = (4.0 * 98.0 + 3.0 * 102.0) / 7.0;
        let d = deviation(&series(70.0), 20.0).unwrap();
        assert!((d.baseline - mean).abs() < 1e-9);
        assert!(d.change_pct < -20.0);
        assert!(deviation(&series(130.0), 20.0).is_some());
        assert!(deviation(&series(115.0), 20.0).is_none());
        assert!(deviation(&series(85.0), 20.0).is_none());
        assert!(deviation(&series(115.0), 10.0).is_some());
    }

    #[test]
    fn deviation_needs_a_baseline() {
        let day = at(0, 0).date_naive();
        let short = [(day - Duration::days(1), 100.0), (day, 10.0)];
        assert!(deviation(&short, 20.0).is_none());
        let zero: Vec<_> = (0..5).map(|i| (day - Duration::days(i), 0.0)).collect();
        assert!(deviation(&zero, 20.0).is_none());
        assert!(deviation(&[], 20.0).is_none());
    }

    #[test]
    fn only_configured_tenants_are_triggered() {
        let levers = json!({"allowed_levers": ["campaigns"]});
        assert!(configured(&json!({"pipeline_total": 1}), &levers));
        assert!(!configured(&json!({}), &levers));
        assert!(!configured(
            &json!({"pipeline_total": 1}),
            &json!({"allowed_levers": []})
        ));
    }
}

/// What one upkeep pass did (see [`Kernel::upkeep`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpkeepReport {
    /// Tenants with an optimizer config.
    pub tenants: u64,
    /// Metric values the analytics job wrote.
    pub metrics_written: u64,
    /// Actions judged (results recorded, or aborted).
    pub measured: u64,
    /// Actions moved from pending to executing.
    pub executed: u64,
    /// Tenants whose upkeep failed, with why.
    pub failed: Vec<TriggerNote>,
}

impl Kernel {
    /// The daily work around cycles, for every tenant with an optimizer
    /// config: the analytics job over yesterday and today, the abort checks
    /// and results of executing actions whose window ended, and the
    /// execution of pending actions (applied in enforce mode, recorded only
    /// in shadow mode). `revos serve` runs it after the triggers on every
    /// tick; each step is idempotent, so running it often is safe.
    pub async fn upkeep(&self, now: DateTime<Utc>) -> Result<UpkeepReport, Failure> {
        let mut report = UpkeepReport::default();
        let today = now.date_naive();
        let by = Principal::Service;
        let mut offset = 0;
        loop {
            let tenants = self.store().list_tenants(Page::new(PAGE, offset)).await?;
            let full = tenants.len() as u32 >= PAGE;
            for tenant in tenants.into_iter().filter(|t| !t.simulation) {
                let config = self.store().get_optimizer_config(tenant.id).await?;
                if !configured(&config.targets, &config.guardrails) {
                    continue;
                }
                report.tenants += 1;
                let step = async {
                    let computed = self
                        .compute_metrics(&by, tenant.id, today - Duration::days(1), today)
                        .await?;
                    let measured = self.measure_actions(&by, tenant.id, today, false).await?;
                    let executed = self.execute_pending(&by, tenant.id, today).await?;
                    Ok::<_, Failure>((
                        computed.written,
                        measured.measured.len() as u64,
                        executed.executed.len() as u64,
                    ))
                };
                match step.await {
                    Ok((written, measured, executed)) => {
                        report.metrics_written += written;
                        report.measured += measured;
                        report.executed += executed;
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %tenant.id, error = %e.body, "upkeep failed");
                        report.failed.push(TriggerNote {
                            tenant: tenant.id,
                            reason: e.body.message.clone(),
                        });
                    }
                }
            }
            if !full {
                break;
            }
            offset += PAGE;
        }
        Ok(report)
    }
}
