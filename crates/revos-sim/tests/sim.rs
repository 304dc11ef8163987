//! The simulator through its public API: determinism, the two tenants'
//! standing against their targets, metric validity, and responses to changes.

use chrono::NaiveDate;
use revos_contracts::kernel_io::{Guardrails, KernelConfig, Lever, RiskTolerance, Targets};
use revos_contracts::metrics::{self, MetricId, REQUIRED_METRICS};
use revos_sim::{Change, Day, Profile, Sim, TENANT_A, TENANT_B};

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 3).expect("valid date")
}

fn targets(profile: &Profile) -> Targets {
    serde_json::from_value(profile.optimizer_config()["targets"].clone()).expect("targets")
}

fn value(day: &Day, id: &str) -> f64 {
    day.metric(id)
        .unwrap_or_else(|| panic!("{id} missing on {}", day.date))
}

fn mean(days: &[Day], id: &str) -> f64 {
    days.iter().map(|d| value(d, id)).sum::<f64>() / days.len() as f64
}

#[test]
fn same_seed_and_start_give_identical_days() {
    for profile in [Profile::tenant_a(), Profile::tenant_b()] {
        let a = Sim::new(&profile, start()).run(60);
        let b = Sim::new(&profile, start()).run(60);
        assert_eq!(a, b);
        assert_eq!(a[0].date, start());
        assert_eq!(
            a[59].date,
            NaiveDate::from_ymd_opt(2025, 5, 1).expect("date")
        );
    }
    let a = Sim::new(&Profile::tenant_a(), start()).run(5);
    let mut other = Profile::tenant_a();
    other.seed ^= 1;
    let b = Sim::new(&other, start()).run(5);
    assert_ne!(a, b, "another seed gives other data");
}

#[test]
fn a_stored_sim_resumes_identically() {
    let mut sim = Sim::new(&Profile::tenant_b(), start());
    sim.run(20);
    sim.apply(&Change::Rate {
        metric_id: "win_rate".into(),
        relative: 0.2,
    })
    .expect("apply");
    let stored = serde_json::to_string(&sim).expect("serialize");
    let mut resumed: Sim = serde_json::from_str(&stored).expect("deserialize");
    assert_eq!(resumed.date(), sim.date());
    assert_eq!(resumed.run(40), sim.run(40));
    // And through a JSON value, as a database column would hold it.
    let value = serde_json::to_value(&sim).expect("to value");
    let mut again: Sim = serde_json::from_value(value).expect("from value");
    assert_eq!(again.step(), sim.step());
}

#[test]
fn tenants_have_their_ids_and_configs_fit_the_contract() {
    assert_eq!(Profile::tenant_a().tenant_id.to_string(), TENANT_A);
    assert_eq!(Profile::tenant_b().tenant_id.to_string(), TENANT_B);
    for profile in [Profile::tenant_a(), Profile::tenant_b()] {
        let config = profile.optimizer_config();
        let t: Targets = serde_json::from_value(config["targets"].clone()).expect("targets");
        assert!(t.any_set());
        let g: Guardrails =
            serde_json::from_value(config["guardrails"].clone()).expect("guardrails");
        assert_eq!(
            g.allowed_levers,
            vec![Lever::Campaigns, Lever::Channels, Lever::Sequences]
        );
        assert!(g.max_daily_spend.is_some() && g.max_experiment_exposure_pct.is_some());
        let k: KernelConfig = serde_json::from_value(config["config"].clone()).expect("config");
        assert_eq!(k.risk_tolerance, Some(RiskTolerance::Medium));
        assert_eq!(config.as_object().map(|o| o.len()), Some(3));
        // The guardrail leaves room above today's spend.
        let day = Sim::new(&profile, start()).step();
        let daily = value(&day, "spend_total") / 30.0;
        assert!(g.max_daily_spend.unwrap_or(0.0) > daily * 1.2);
    }
}

#[test]
fn tenant_a_meets_its_targets_over_30_days() {
    let profile = Profile::tenant_a();
    let t = targets(&profile);
    let days = Sim::new(&profile, start()).run(30);
    let last = &days[29];
    assert!(value(last, "pipeline_total") >= t.pipeline_total.unwrap_or(f64::MAX));
    assert!(value(last, "bookings_new") >= t.bookings_new.unwrap_or(f64::MAX));
    assert!(value(last, "arr") >= t.arr_target.unwrap_or(f64::MAX));
    assert!(value(last, "cac_blended") <= t.cac_max.unwrap_or(0.0));
    assert!(value(last, "payback_months") <= t.payback_max_months.unwrap_or(0.0));
    assert!(value(last, "gross_margin") >= t.gross_margin_min.unwrap_or(1.0));
    // Not only on the last day: on every day of the month.
    for d in &days {
        assert!(value(d, "pipeline_total") >= t.pipeline_total.unwrap_or(f64::MAX));
        assert!(value(d, "bookings_new") >= t.bookings_new.unwrap_or(f64::MAX));
        assert!(value(d, "cac_blended") <= t.cac_max.unwrap_or(0.0));
    }
    // A healthy funnel: the optimizer's benchmarks are met on average.
    assert!(mean(&days, "win_rate") > 0.2);
    assert!(mean(&days, "mql_to_sql_rate") > 0.3);
    assert!(mean(&days, "sql_to_opp_rate") > 0.4);
    assert!(mean(&days, "lead_to_mql_rate") > 0.2);
    assert!(mean(&days, "visit_to_lead_rate") > 0.02);
}

#[test]
fn tenant_b_misses_pipeline_bookings_and_cac() {
    let profile = Profile::tenant_b();
    let t = targets(&profile);
    let days = Sim::new(&profile, start()).run(30);
    for d in [&days[0], &days[29]] {
        assert!(value(d, "pipeline_total") < t.pipeline_total.unwrap_or(0.0));
        assert!(value(d, "bookings_new") < t.bookings_new.unwrap_or(0.0));
        assert!(value(d, "cac_blended") > t.cac_max.unwrap_or(f64::MAX));
        assert!(value(d, "payback_months") > t.payback_max_months.unwrap_or(f64::MAX));
        assert!(value(d, "arr") < t.arr_target.unwrap_or(0.0));
    }
    assert!(mean(&days, "pipeline_total") < 0.8 * t.pipeline_total.unwrap_or(0.0));
    assert!(mean(&days, "bookings_new") < 0.6 * t.bookings_new.unwrap_or(0.0));
    assert!(mean(&days, "cac_blended") > 1.3 * t.cac_max.unwrap_or(f64::MAX));
    // A weak win rate and MQL → SQL rate, below the optimizer's benchmarks.
    assert!(mean(&days, "win_rate") < 0.2);
    assert!(mean(&days, "mql_to_sql_rate") < 0.3);
    // Its gross margin is fine: not everything is broken.
    assert!(value(&days[29], "gross_margin") >= t.gross_margin_min.unwrap_or(1.0));
}

#[test]
fn every_metric_is_known_and_in_range_for_90_days() {
    for profile in [Profile::tenant_a(), Profile::tenant_b()] {
        let mut sim = Sim::new(&profile, start());
        let days = sim.run(90);
        let mut prev_spent: Option<Vec<f64>> = None;
        for day in &days {
            for (id, v) in &day.metrics {
                let metric = MetricId::parse(id).unwrap_or_else(|e| panic!("{e}"));
                let def = metrics::lookup(metric.as_str()).expect("defined");
                def.check_value(*v)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", profile.name, day.date));
            }
            let mut ids: Vec<&str> = day.metrics.iter().map(|(id, _)| id.as_str()).collect();
            for required in REQUIRED_METRICS.iter().chain(&[
                "leads_new",
                "win_rate",
                "spend_total",
                "spend_paid",
                "payback_months",
                "gross_margin",
                "lead_to_mql_rate",
                "mql_to_sql_rate",
                "sql_to_opp_rate",
            ]) {
                assert!(ids.contains(required), "{required} missing on {}", day.date);
            }
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n, "duplicate metric ids");

            let spent: Vec<f64> = day.campaigns.iter().map(|c| c.budget_spent).collect();
            for c in &day.campaigns {
                assert!(c.budget_spent <= c.budget_total + 1e-6);
                assert!(c.start_date <= day.date);
                assert_eq!(c.status, "active");
            }
            if let Some(prev) = &prev_spent {
                for (now, before) in spent.iter().zip(prev) {
                    assert!(now >= before, "spend is cumulative");
                }
            }
            prev_spent = Some(spent);
            for o in &day.opportunities {
                assert!((0.0..=1.0).contains(&o.win_probability));
                assert!(o.amount > 0.0);
                assert!(o.created_date <= day.date);
                assert!(["open", "won", "lost"].contains(&o.status.as_str()));
                if o.status == "open" {
                    assert!(o.expected_close_date > day.date || o.created_date == day.date);
                }
            }
            for e in &day.revenue_events {
                assert!(e.amount > 0.0);
                assert_eq!(e.effective_date, day.date);
                assert!(["new_business", "expansion"].contains(&e.event_type.as_str()));
                assert!(e.attributed_channel.is_some(), "every event is attributed");
                assert_eq!(e.event_type == "new_business", e.opportunity_id.is_some());
            }
        }
        // Weekends spend less than weekdays.
        let spent = |d: &Day| d.campaigns.iter().map(|c| c.budget_spent).sum::<f64>();
        let (mut weekend, mut weekday) = (Vec::new(), Vec::new());
        for pair in days.windows(2) {
            use chrono::Datelike;
            let spend = spent(&pair[1]) - spent(&pair[0]);
            match pair[1].date.weekday() {
                chrono::Weekday::Sat | chrono::Weekday::Sun => weekend.push(spend),
                _ => weekday.push(spend),
            }
        }
        let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(avg(&weekend) < 0.75 * avg(&weekday));
        // Won deals become revenue and opportunities are reported over time.
        assert!(days.iter().any(|d| !d.revenue_events.is_empty()));
        assert!(
            days.iter()
                .all(|d| !d.opportunities.is_empty() || d.date > start())
        );
    }
}

#[test]
fn pausing_a_campaign_stops_its_spend() {
    let mut sim = Sim::new(&Profile::tenant_b(), start());
    let before = sim.step();
    sim.apply(&Change::CampaignStatus {
        campaign_id: "cmp-b-display".into(),
        status: "paused".into(),
    })
    .expect("pause");
    let after = sim.run(10);
    let spent = |d: &Day| {
        d.campaigns
            .iter()
            .find(|c| c.id == "cmp-b-display")
            .map(|c| (c.budget_spent, c.status.clone()))
    };
    for d in &after {
        assert_eq!(
            spent(d),
            spent(&before).map(|(s, _)| (s, "paused".to_owned()))
        );
    }
    // The other campaigns keep spending.
    let total = |d: &Day| d.campaigns.iter().map(|c| c.budget_spent).sum::<f64>();
    assert!(total(&after[9]) > total(&before));
    // Paid spend over the window falls: display is paid media.
    assert!(value(&after[9], "spend_paid") < value(&before, "spend_paid"));
}

#[test]
fn rate_changes_move_their_metric_after_a_lag() {
    let profile = Profile::tenant_a();
    let mut control = Sim::new(&profile, start());
    let mut treated = control.clone();
    treated
        .apply(&Change::Rate {
            metric_id: "lead_to_mql_rate".into(),
            relative: 0.3,
        })
        .expect("apply");
    let c = control.run(45);
    let t = treated.run(45);
    // Nothing moves at once: the first day sees a seventh of the effect.
    let day1 = value(&t[0], "lead_to_mql_rate") / value(&c[0], "lead_to_mql_rate");
    assert!(day1 < 1.03, "day-1 lift {day1}");
    let lift = value(&t[44], "lead_to_mql_rate") / value(&c[44], "lead_to_mql_rate");
    assert!((1.15..1.5).contains(&lift), "lift {lift}");
    // More MQLs flow on to more SQLs.
    assert!(value(&t[44], "sqls_new") > value(&c[44], "sqls_new"));

    let mut treated = control.clone();
    treated
        .apply(&Change::Rate {
            metric_id: "gross_margin".into(),
            relative: -0.1,
        })
        .expect("apply");
    let c = control.run(40);
    let t = treated.run(40);
    assert!(value(&t[39], "gross_margin") < value(&c[39], "gross_margin") - 0.04);
    assert!(value(&t[39], "payback_months") > value(&c[39], "payback_months"));
}

#[test]
fn budget_changes_scale_spend_after_a_lag() {
    let mut control = Sim::new(&Profile::tenant_a(), start());
    let mut treated = control.clone();
    let cut = Change::CampaignBudget {
        campaign_id: "cmp-a-linkedin".into(),
        budget_total: 0.5
            * control
                .step()
                .campaigns
                .iter()
                .find(|c| c.id == "cmp-a-linkedin")
                .map_or(0.0, |c| c.budget_total),
    };
    treated.step();
    treated.apply(&cut).expect("apply");
    let c = control.run(30);
    let t = treated.run(30);
    let budget = t[0].campaigns.iter().find(|c| c.id == "cmp-a-linkedin");
    assert!(budget.is_some_and(|b| b.budget_total < 2_000_000.0));
    assert!(value(&t[29], "spend_total") < value(&c[29], "spend_total"));
    assert!(value(&t[29], "website_visits") < value(&c[29], "website_visits"));
    assert!(value(&t[0], "spend_total") > value(&t[29], "spend_total"));
}

#[test]
fn apply_rejects_unknown_ids_and_bad_values_without_changing_state() {
    let mut sim = Sim::new(&Profile::tenant_a(), start());
    let before = serde_json::to_string(&sim).expect("serialize");
    let err = sim
        .apply(&Change::CampaignBudget {
            campaign_id: "cmp-nope".into(),
            budget_total: 1000.0,
        })
        .expect_err("unknown campaign");
    assert!(err.contains("unknown campaign `cmp-nope`"), "{err}");
    assert!(err.contains("cmp-a-search"), "{err}");
    let err = sim
        .apply(&Change::CampaignStatus {
            campaign_id: "cmp-zzz".into(),
            status: "paused".into(),
        })
        .expect_err("unknown campaign");
    assert!(err.contains("cmp-zzz"), "{err}");
    let err = sim
        .apply(&Change::Rate {
            metric_id: "win_rat".into(),
            relative: 0.1,
        })
        .expect_err("unknown metric");
    assert!(err.contains("did you mean `win_rate`"), "{err}");
    let err = sim
        .apply(&Change::Rate {
            metric_id: "revenue_vibes".into(),
            relative: 0.1,
        })
        .expect_err("unknown metric");
    assert!(err.contains("unknown metric id"), "{err}");
    let err = sim
        .apply(&Change::Rate {
            metric_id: "nrr".into(),
            relative: 0.1,
        })
        .expect_err("no lever");
    assert!(err.contains("no lever"), "{err}");
    for relative in [-0.95, f64::NAN, f64::INFINITY] {
        assert!(
            sim.apply(&Change::Rate {
                metric_id: "win_rate".into(),
                relative,
            })
            .is_err()
        );
    }
    for budget_total in [-1.0, f64::NAN] {
        assert!(
            sim.apply(&Change::CampaignBudget {
                campaign_id: "cmp-a-search".into(),
                budget_total,
            })
            .is_err()
        );
    }
    let err = sim
        .apply(&Change::CampaignStatus {
            campaign_id: "cmp-a-search".into(),
            status: "archived".into(),
        })
        .expect_err("bad status");
    assert!(err.contains("`paused` or `active`"), "{err}");
    assert_eq!(serde_json::to_string(&sim).expect("serialize"), before);
}

#[test]
fn changes_serialize_as_tagged_json() {
    let change = Change::Rate {
        metric_id: "win_rate".into(),
        relative: 0.05,
    };
    let json = serde_json::to_value(&change).expect("serialize");
    assert_eq!(json["Rate"]["metric_id"], "win_rate");
    let back: Change = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, change);
}
