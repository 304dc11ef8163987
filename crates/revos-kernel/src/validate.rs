//! Checks of the data clients send before it reaches the store.
//!
//! Each check walks a whole batch and returns every [`Violation`] with the
//! JSON path of the offending field (`$[3].win_probability`), so a client
//! fixes all of its mistakes in one round trip. Nothing is written when any
//! check fails.

use crate::Failure;
use revos_contracts::ErrorCode;
use revos_contracts::metrics::MetricId;
use revos_contracts::validation::Violation;
use revos_store::{
    Account, Campaign, CrmActivity, MetricPoint, NewTenant, Opportunity, RevenueEvent,
};
use std::collections::HashSet;

/// The longest id a client may give a spine record.
const MAX_ID_LEN: usize = 200;

/// Collects violations under a JSON path prefix.
#[derive(Default)]
struct Checker {
    violations: Vec<Violation>,
}

impl Checker {
    fn push(&mut self, path: String, message: String) {
        self.violations.push(Violation {
            rule: "data".to_owned(),
            path,
            message,
            code: ErrorCode::InvalidInput,
        });
    }

    fn text(&mut self, path: String, value: &str, max: usize) {
        if let Some(violation) = revos_contracts::text::nul_violation(&path, value) {
            self.violations.push(violation);
        } else if value.trim().is_empty() {
            self.push(path, "must not be empty".to_owned());
        } else if value.chars().count() > max {
            self.push(path, format!("must be at most {max} characters"));
        }
    }

    fn opt_text(&mut self, path: String, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            self.text(path, v, max);
        }
    }

    fn finite(&mut self, path: String, value: f64) {
        if !value.is_finite() {
            self.push(path, "must be a finite number".to_owned());
        }
    }

    fn non_negative(&mut self, path: String, value: f64) {
        if !value.is_finite() || value < 0.0 {
            self.push(path, format!("must be a number ≥ 0, got {value}"));
        }
    }

    fn unique_ids<'a>(&mut self, ids: impl Iterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for (i, id) in ids.enumerate() {
            if !seen.insert(id) {
                self.push(
                    format!("$[{i}].id"),
                    format!("id `{id}` appears more than once in the batch"),
                );
            }
        }
    }

    fn finish(self) -> Vec<Violation> {
        self.violations
    }
}

/// A tenant to create: a name of 1 to 200 characters.
pub(crate) fn new_tenant(tenant: &NewTenant) -> Vec<Violation> {
    let mut c = Checker::default();
    c.text("$.name".to_owned(), &tenant.name, 200);
    c.finish()
}

/// Metric values: known metric ids, values within the range of the
/// metric's unit in the dictionary (rates in 0..=1, counts, money and
/// durations not negative, unless the metric allows it, as `nrr` above 1
/// or a negative `gross_margin`), non-empty dimension keys.
pub fn metric_points(points: &[MetricPoint]) -> Vec<Violation> {
    let mut c = Checker::default();
    for (i, p) in points.iter().enumerate() {
        match MetricId::parse(&p.metric_id) {
            Err(e) => {
                c.push(format!("$[{i}].metric_id"), e.to_string());
                c.finite(format!("$[{i}].value"), p.value);
            }
            Ok(id) => {
                if let Err(e) = id.definition().check_value(p.value) {
                    c.push(format!("$[{i}].value"), e);
                }
            }
        }
        for (k, v) in &p.dimension {
            c.text(format!("$[{i}].dimension"), k, 100);
            c.text(format!("$[{i}].dimension.{k}"), v, 200);
        }
    }
    c.finish()
}

/// Campaigns and their channels.
pub(crate) fn campaigns(items: &[Campaign]) -> Vec<Violation> {
    let mut c = Checker::default();
    c.unique_ids(items.iter().map(|x| x.id.as_str()));
    for (i, x) in items.iter().enumerate() {
        c.text(format!("$[{i}].id"), &x.id, MAX_ID_LEN);
        c.text(format!("$[{i}].name"), &x.name, 500);
        c.text(format!("$[{i}].status"), &x.status, 50);
        c.text(format!("$[{i}].objective"), &x.objective, 200);
        c.non_negative(format!("$[{i}].budget_total"), x.budget_total);
        c.non_negative(format!("$[{i}].budget_spent"), x.budget_spent);
        if let Some(end) = x.end_date
            && end < x.start_date
        {
            c.push(
                format!("$[{i}].end_date"),
                format!("must not be before start_date {}", x.start_date),
            );
        }
        let mut channels = HashSet::new();
        for (j, ch) in x.channels.iter().enumerate() {
            let at = format!("$[{i}].channels[{j}]");
            c.text(format!("{at}.channel"), &ch.channel, 100);
            c.text(format!("{at}.status"), &ch.status, 50);
            c.non_negative(format!("{at}.budget_total"), ch.budget_total);
            c.non_negative(format!("{at}.budget_spent"), ch.budget_spent);
            if !channels.insert(ch.channel.as_str()) {
                c.push(
                    format!("{at}.channel"),
                    format!("channel `{}` appears twice in this campaign", ch.channel),
                );
            }
        }
    }
    c.finish()
}

/// Opportunities.
pub(crate) fn opportunities(items: &[Opportunity]) -> Vec<Violation> {
    let mut c = Checker::default();
    c.unique_ids(items.iter().map(|x| x.id.as_str()));
    for (i, x) in items.iter().enumerate() {
        c.text(format!("$[{i}].id"), &x.id, MAX_ID_LEN);
        c.text(format!("$[{i}].stage"), &x.stage, 100);
        c.opt_text(
            format!("$[{i}].account_id"),
            x.account_id.as_deref(),
            MAX_ID_LEN,
        );
        c.non_negative(format!("$[{i}].amount"), x.amount);
        if !(0.0..=1.0).contains(&x.win_probability) {
            c.push(
                format!("$[{i}].win_probability"),
                format!("must be between 0 and 1, got {}", x.win_probability),
            );
        }
    }
    c.finish()
}

/// Accounts.
pub(crate) fn accounts(items: &[Account]) -> Vec<Violation> {
    let mut c = Checker::default();
    c.unique_ids(items.iter().map(|x| x.id.as_str()));
    for (i, x) in items.iter().enumerate() {
        c.text(format!("$[{i}].id"), &x.id, MAX_ID_LEN);
        c.text(format!("$[{i}].name"), &x.name, 500);
        if let Some(arr) = x.arr {
            c.non_negative(format!("$[{i}].arr"), arr);
        }
    }
    c.finish()
}

/// Revenue events. Amounts may be negative (churn, refunds).
pub(crate) fn revenue_events(items: &[RevenueEvent]) -> Vec<Violation> {
    let mut c = Checker::default();
    c.unique_ids(items.iter().map(|x| x.id.as_str()));
    for (i, x) in items.iter().enumerate() {
        c.text(format!("$[{i}].id"), &x.id, MAX_ID_LEN);
        c.text(format!("$[{i}].type"), &x.event_type, 100);
        if !revos_store::REVENUE_EVENT_TYPES.contains(&x.event_type.as_str()) {
            c.push(
                format!("$[{i}].type"),
                format!(
                    "`{}` is not a revenue event type: one of {}",
                    x.event_type,
                    revos_store::REVENUE_EVENT_TYPES.join(", ")
                ),
            );
        }
        c.finite(format!("$[{i}].amount"), x.amount);
    }
    c.finish()
}

/// CRM activities.
pub(crate) fn crm_activities(items: &[CrmActivity]) -> Vec<Violation> {
    let mut c = Checker::default();
    c.unique_ids(items.iter().map(|x| x.id.as_str()));
    for (i, x) in items.iter().enumerate() {
        c.text(format!("$[{i}].id"), &x.id, MAX_ID_LEN);
        c.text(format!("$[{i}].type"), &x.activity_type, 100);
    }
    c.finish()
}

/// One part of an optimizer configuration: a JSON object that, unless
/// empty, reads as the contract type `T`. Returns the part when it reads.
pub(crate) fn config_part<T: serde::de::DeserializeOwned>(
    name: &str,
    value: &serde_json::Value,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    let Some(object) = value.as_object() else {
        violations.push(Violation::new(
            "data",
            format!("$.{name}"),
            "must be a JSON object",
            ErrorCode::InvalidInput,
        ));
        return None;
    };
    if object.is_empty() {
        return None;
    }
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    match revos_contracts::validation::parse_json::<T>(&bytes) {
        Ok(part) => Some(part),
        Err(mut v) => {
            v.path = format!("$.{name}{}", v.path.trim_start_matches('$'));
            v.message = v.message.replacen("$", &format!("$.{name}"), 1);
            violations.push(v);
            None
        }
    }
}

/// `Ok` when there are no violations, else `INVALID_INPUT` listing them all
/// under `what`, with nothing written.
pub(crate) fn check(
    violations: Vec<revos_contracts::validation::Violation>,
    what: &str,
) -> Result<(), Failure> {
    if violations.is_empty() {
        Ok(())
    } else {
        let n = violations.len();
        Err(Failure::invalid(
            format!(
                "{what}: {n} problem{} found, nothing was written",
                if n == 1 { "" } else { "s" }
            ),
            &violations,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn text_with_nul_is_refused_with_its_path() {
        let tenant = NewTenant {
            id: None,
            name: "Acme\u{0}".to_owned(),
        };
        let v = new_tenant(&tenant);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(
            (v[0].rule.as_str(), v[0].path.as_str()),
            (revos_contracts::text::NUL_RULE, "$.name")
        );
    }

    #[test]
    fn unknown_metric_is_named_with_its_path() {
        let points = vec![
            MetricPoint {
                metric_id: "pipeline_total".into(),
                date: day("2026-11-01"),
                value: 10.0,
                dimension: Default::default(),
            },
            MetricPoint {
                metric_id: "pipline_total".into(),
                date: day("2026-11-01"),
                value: f64::NAN,
                dimension: Default::default(),
            },
        ];
        let v = metric_points(&points);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[0].path, "$[1].metric_id");
        assert!(v[0].message.contains("pipline_total"));
        assert_eq!(v[1].path, "$[1].value");
    }

    #[test]
    fn values_outside_their_units_range_are_refused() {
        let point = |metric: &str, value: f64| MetricPoint {
            metric_id: metric.into(),
            date: day("2026-11-01"),
            value,
            dimension: Default::default(),
        };
        let points = vec![
            point("win_rate", 1.7),
            point("spend_total", -5.0),
            point("leads_new", -1.0),
            point("win_rate", 0.3),
            point("nrr", 1.2),
            point("gross_margin", -0.1),
            point("spend_total", 0.0),
        ];
        let v = metric_points(&points);
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["$[0].value", "$[1].value", "$[2].value"], "{v:?}");
        assert!(v[0].message.contains("win_rate must be at most 1"), "{v:?}");
        assert!(
            v[1].message.contains("spend_total must be at least 0"),
            "{v:?}"
        );
    }

    #[test]
    fn campaign_checks_collect_everything() {
        let c = Campaign {
            id: " ".into(),
            name: "Q4".into(),
            status: "active".into(),
            objective: "demand_gen".into(),
            budget_total: -1.0,
            budget_spent: 0.0,
            start_date: day("2026-11-10"),
            end_date: Some(day("2026-11-01")),
            channels: vec![],
        };
        let v = campaigns(&[c]);
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, vec!["$[0].id", "$[0].budget_total", "$[0].end_date"]);
    }

    #[test]
    fn win_probability_must_be_a_probability() {
        let o = Opportunity {
            id: "o1".into(),
            account_id: None,
            name: None,
            stage: "proposal".into(),
            status: revos_store::OpportunityStatus::Open,
            amount: 100.0,
            expected_close_date: day("2026-12-01"),
            win_probability: 1.5,
            source_campaign_id: None,
            owner: None,
            created_date: None,
            closed_date: None,
        };
        let v = opportunities(&[o.clone(), o]);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v.iter().any(|x| x.message.contains("more than once")));
    }
}
