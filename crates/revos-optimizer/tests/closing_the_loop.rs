//! Decisions that close the loop, on the fixtures: experiments sized from
//! the tenant's volume, inconclusive tests extended and then decided, a
//! full change not stacked on itself, a pause re-judged.

mod common;

use common::{ctx, fixture};
use revos_contracts::kernel_io::{
    Action, ActionResult, ActionType, KernelInput, MetricValue, Outcome,
};
use revos_optimizer::{Plan, plan};

fn with_metric(mut input: KernelInput, id: &str, value: f64) -> KernelInput {
    let date = input.analysis_window.end_date;
    input.metrics.retain(|m| m.metric_id != id);
    input.metrics.push(MetricValue {
        metric_id: id.to_owned(),
        value,
        date,
        dimension: None,
    });
    input
}

fn follow_up(p: &Plan) -> Option<&Action> {
    p.output
        .actions
        .iter()
        .find(|a| a.proposed_change.field == "first_touch_sla_hours")
}

/// A conversion tenant at low risk, where the weak stage is tested first.
fn cautious() -> KernelInput {
    let mut input = fixture("conversion");
    if let Some(c) = input.config.as_mut() {
        c.risk_tolerance = Some(revos_contracts::kernel_io::RiskTolerance::Low);
    }
    input
}

#[test]
fn an_experiment_runs_long_enough_to_reach_its_sample() {
    // Plenty of MQLs: the cycle's window is enough.
    let busy = plan(&with_metric(cautious(), "mqls_new", 60_000.0), &ctx()).expect("plan");
    let a = follow_up(&busy).expect("follow-up test");
    assert_eq!(a.r#type, ActionType::Experiment);
    assert_eq!(a.observation_window_days, 14, "{}", a.notes_for_humans);

    // Fewer: the window grows until the smaller group reaches its sample.
    let quiet = plan(&with_metric(cautious(), "mqls_new", 6_000.0), &ctx()).expect("plan");
    let a = follow_up(&quiet).expect("follow-up test");
    assert_eq!(a.r#type, ActionType::Experiment);
    let e = a.experiment.as_ref().expect("design");
    let days = a.observation_window_days;
    assert!(days > 14 && days <= 42, "{days}: {}", a.notes_for_humans);
    let per_day = 6_000.0 / 30.0 * e.treatment_group_pct / 100.0;
    assert!(
        per_day * f64::from(days) >= f64::from(e.min_sample_size),
        "{per_day}/day × {days} days < {}",
        e.min_sample_size
    );
    assert!(a.notes_for_humans.contains(&format!("Runs {days} days")));
    assert_eq!(quiet.output.learning_plan.observation_window_days, days);

    // Too few for any test within three windows: a staged full change.
    let tiny = plan(&with_metric(cautious(), "mqls_new", 60.0), &ctx()).expect("plan");
    let a = follow_up(&tiny).expect("follow-up change");
    assert_eq!(a.r#type, ActionType::ConfigChange);
    assert!(a.experiment.is_none());
    assert!(
        a.notes_for_humans.contains("No experiment")
            && a.notes_for_humans.contains("staged full change"),
        "{}",
        a.notes_for_humans
    );
}

fn result(id: &str, delta: f64, outcome: Outcome) -> ActionResult {
    ActionResult {
        action_id: id.to_owned(),
        target_metric: "mql_to_sql_rate".to_owned(),
        baseline_value: 0.25,
        observed_value: 0.25 + delta,
        delta,
        confidence: 0.4,
        outcome,
    }
}

#[test]
fn an_inconclusive_test_is_extended_twice_then_decided_on_its_evidence() {
    let input = with_metric(cautious(), "mqls_new", 60_000.0);
    let first = plan(&input, &ctx()).expect("plan");
    let id = follow_up(&first).expect("test").action_id.clone();

    // Once inconclusive: extended with a longer window, same sample.
    let mut once = input.clone();
    once.recent_action_results = Some(vec![result(&id, 0.01, Outcome::Inconclusive)]);
    let p = plan(&once, &ctx()).expect("plan");
    let a = follow_up(&p).expect("extension");
    assert_eq!(a.r#type, ActionType::Experiment);
    assert!(a.observation_window_days > 14, "{}", a.notes_for_humans);
    assert!(a.notes_for_humans.contains("with a longer window"));
    assert_eq!(
        a.experiment.as_ref().map(|e| e.min_sample_size),
        follow_up(&first).and_then(|f| f.experiment.as_ref().map(|e| e.min_sample_size))
    );

    // Three inconclusive runs with the treatment ahead: rolled out.
    let mut thrice = input.clone();
    thrice.recent_action_results = Some(vec![
        result(&id, 0.01, Outcome::Inconclusive),
        result(&id, 0.02, Outcome::Inconclusive),
        result(&id, -0.01, Outcome::Inconclusive),
    ]);
    let p = plan(&thrice, &ctx()).expect("plan");
    let a = follow_up(&p).expect("decided");
    assert_eq!(a.r#type, ActionType::ConfigChange);
    assert!(
        a.notes_for_humans
            .contains("Decided on the evidence after 3 inconclusive runs"),
        "{}",
        a.notes_for_humans
    );

    // … with the treatment behind: dropped, and the plan says why.
    let mut behind = input;
    behind.recent_action_results = Some(vec![
        result(&id, -0.01, Outcome::Inconclusive),
        result(&id, 0.02, Outcome::Inconclusive),
        result(&id, 0.01, Outcome::Inconclusive),
    ]);
    let p = plan(&behind, &ctx()).expect("plan");
    assert!(follow_up(&p).is_none());
    assert!(
        p.skipped
            .iter()
            .any(|s| s.contains("without a clear result"))
    );
}

#[test]
fn a_full_change_is_not_made_again_on_top_of_itself() {
    let input = fixture("conversion");
    let first = plan(&input, &ctx()).expect("plan");
    let change = first
        .output
        .actions
        .iter()
        .find(|a| {
            a.r#type == ActionType::ConfigChange
                && !a.proposed_change.field.contains("budget")
                && a.proposed_change.field != "status"
        })
        .expect("a full change that is not a budget");
    for outcome in [Outcome::Inconclusive, Outcome::Successful] {
        let mut next = input.clone();
        next.recent_action_results = Some(vec![ActionResult {
            action_id: change.action_id.clone(),
            target_metric: change.target_metric.clone(),
            baseline_value: 1.0,
            observed_value: 1.01,
            delta: 0.01,
            confidence: 0.3,
            outcome,
        }]);
        let p = plan(&next, &ctx()).expect("plan");
        assert!(
            !p.output
                .actions
                .iter()
                .any(|a| a.proposed_change.field == change.proposed_change.field
                    && a.target_entity == change.target_entity),
            "{outcome:?}: {} made again",
            change.action_id
        );
        assert!(
            p.skipped
                .iter()
                .any(|s| s.contains("not made again") && s.contains(&change.action_id)),
            "{:?}",
            p.skipped
        );
    }
}

#[test]
fn a_paused_campaign_that_still_earns_is_resumed() {
    let mut input = fixture("demand");
    let paused = input.campaigns[0].id.clone();
    input.campaigns[0].status = "paused".to_owned();
    let p = plan(&input, &ctx()).expect("plan");
    let resume = p
        .output
        .actions
        .iter()
        .find(|a| {
            a.proposed_change.field == "status"
                && a.proposed_change.new_value == "active"
                && a.target_entity.as_ref().is_some_and(|e| e.id == paused)
        })
        .unwrap_or_else(|| panic!("{paused} resumed: {:#?}", p.output.actions));
    assert!(resume.notes_for_humans.starts_with("Resume "));
    assert!(resume.guardrails.max_additional_spend.unwrap_or(0.0) > 0.0);
}

#[test]
fn a_cost_breach_within_its_noise_freezes_spend_without_naming_economics() {
    use revos_contracts::kernel_io::BindingConstraint;
    // CAC about a quarter above its cap: clear with a hundred new customers
    // behind it (±10%) …
    let clear = plan(
        &with_metric(fixture("economics"), "customers_new", 100.0),
        &ctx(),
    )
    .expect("plan");
    assert_eq!(
        clear.output.cycle_summary.binding_constraint,
        BindingConstraint::Economics
    );
    assert!(
        clear
            .output
            .cycle_summary
            .diagnosis
            .contains("from 100 new customers in the window, ±10%"),
        "{}",
        clear.output.cycle_summary.diagnosis
    );
    // … noise with four (±50%): another constraint is named, and still
    // nothing adds spend.
    let noisy = plan(
        &with_metric(fixture("economics"), "customers_new", 4.0),
        &ctx(),
    )
    .expect("plan");
    assert_ne!(
        noisy.output.cycle_summary.binding_constraint,
        BindingConstraint::Economics
    );
    for a in &noisy.output.actions {
        assert_eq!(
            a.guardrails.max_additional_spend.unwrap_or(0.0),
            0.0,
            "{}",
            a.action_id
        );
        assert_ne!(a.r#type, ActionType::Scale, "{}", a.action_id);
    }
    assert!(
        noisy
            .gated
            .iter()
            .any(|g| g.reason.contains("by less than its noise")),
        "{:?}",
        noisy.gated
    );
}

#[test]
fn no_budget_is_moved_to_or_from_a_channel_no_budget_buys() {
    let mut input = fixture("demand");
    for e in input.revenue_events.iter_mut().step_by(2) {
        e.attributed_campaign_id = None;
        e.attributed_channel = Some("organic".to_owned());
    }
    let p = plan(&input, &ctx()).expect("plan");
    for a in &p.output.actions {
        let on_organic = a.target_entity.as_ref().is_some_and(|e| e.id == "organic")
            || a.proposed_change.new_value.to_string().contains("organic");
        assert!(
            !on_organic
                || a.r#type == ActionType::ConfigChange
                    && a.proposed_change.field.starts_with("tracking."),
            "{} acts on the organic channel",
            a.action_id
        );
    }
}

fn budget_raises(p: &Plan) -> Vec<&Action> {
    p.output
        .actions
        .iter()
        .filter(|a| a.r#type == ActionType::Scale && a.proposed_change.field == "budget_total")
        .collect()
}

fn on_campaign<'a>(actions: &[&'a Action], id: &str) -> Option<&'a Action> {
    actions
        .iter()
        .copied()
        .find(|a| a.target_entity.as_ref().is_some_and(|e| e.id == id))
}

/// `n` more wins of `amount` each, attributed to `campaign`.
fn with_wins(mut input: KernelInput, campaign: &str, n: usize, amount: f64) -> KernelInput {
    let template = input.revenue_events[0].clone();
    for i in 0..n {
        let mut e = template.clone();
        e.id = format!("extra_{campaign}_{i}");
        e.amount = amount;
        e.attributed_campaign_id = Some(campaign.to_owned());
        input.revenue_events.push(e);
    }
    input
}

#[test]
fn every_campaign_that_earns_its_budget_is_scaled_not_only_the_best() {
    // Returns: webinar 2.0, search 0.41, social 0.27; blended 0.61.
    let p = plan(&fixture("demand"), &ctx()).expect("plan");
    let raises = budget_raises(&p);
    assert!(on_campaign(&raises, "cmp_webinar").is_some(), "{raises:#?}");
    let search = on_campaign(&raises, "cmp_search").expect("search earns 67% of the blend");
    assert!(
        search
            .notes_for_humans
            .contains("67% of the blended return of the active campaigns (0.61×)"),
        "{}",
        search.notes_for_humans
    );
    assert!(
        on_campaign(&raises, "cmp_social").is_none(),
        "social returns 44% of the blend"
    );
    // The CAC stop allows for the step's own spend: 15% + 20% over 7,800.
    let stop = &search.guardrails.abort_conditions[0];
    assert_eq!(stop.metric_id, "cac_blended");
    assert!((stop.threshold - 7_800.0 * 1.35).abs() < 0.01, "{stop:?}");
    assert_eq!(search.target_metric, "leads_new");
}

#[test]
fn a_clear_winner_gets_twice_the_step_and_one_lucky_win_does_not() {
    let mut input = fixture("demand");
    input.guardrails.max_daily_spend = None;
    // One win of 48,000: beats the blend, but one standard error lower it
    // is nothing.
    let once = plan(&input, &ctx()).expect("plan");
    let webinar = on_campaign(&budget_raises(&once), "cmp_webinar").expect("raise");
    assert_eq!(webinar.proposed_change.new_value, 48_000.0, "+20%");

    // Sixteen wins of 3,000 (the same 48,000 and more): a clear winner, and
    // CAC (7,800) is more than a fifth under its 9,000 cap... which it is
    // not, so the step stays; with a 12,000 cap it doubles.
    input
        .revenue_events
        .retain(|e| e.attributed_campaign_id.as_deref() != Some("cmp_webinar"));
    let input = with_wins(input, "cmp_webinar", 16, 3_000.0);
    let near_cap = plan(&input, &ctx()).expect("plan");
    let webinar = on_campaign(&budget_raises(&near_cap), "cmp_webinar").expect("raise");
    assert_eq!(webinar.proposed_change.new_value, 48_000.0, "+20%");

    let mut roomy = input.clone();
    roomy.targets.cac_max = Some(12_000.0);
    let p = plan(&roomy, &ctx()).expect("plan");
    let webinar = on_campaign(&budget_raises(&p), "cmp_webinar").expect("raise");
    assert_eq!(webinar.proposed_change.new_value, 56_000.0, "+40%");
    assert!(
        webinar.notes_for_humans.contains("twice the usual 20%"),
        "{}",
        webinar.notes_for_humans
    );
}

fn changes_campaign(p: &Plan, field: &str, id: &str) -> bool {
    p.output.actions.iter().any(|a| {
        a.proposed_change.field == field && a.target_entity.as_ref().is_some_and(|e| e.id == id)
    })
}

#[test]
fn economics_pauses_only_waste_and_never_cuts_an_above_average_campaign() {
    // CAC 11,200 over a 9,000 cap. Social returns 0.27, 44% of the blended
    // 0.61: waste, paused.
    // Search (0.41) is below the blend: budget leaves it (a cut, or a move
    // to the best campaign, one change per campaign).
    let p = plan(&fixture("economics"), &ctx()).expect("plan");
    assert!(
        changes_campaign(&p, "status", "cmp_social"),
        "{:#?}",
        p.output.actions
    );
    assert!(
        changes_campaign(&p, "budget_total", "cmp_search")
            || changes_campaign(&p, "budget_reallocation", "cmp_search"),
        "{:#?}",
        p.output.actions
    );

    // Social at 0.8 (63% of the blended 1.27) is not waste; search at 1.32
    // is above the blend: neither is paused or cut.
    let input = with_wins(fixture("economics"), "cmp_social", 1, 24_000.0);
    let input = with_wins(input, "cmp_search", 1, 80_000.0);
    let p = plan(&input, &ctx()).expect("plan");
    for id in ["cmp_social", "cmp_search"] {
        assert!(!changes_campaign(&p, "status", id), "{id} paused");
        assert!(!changes_campaign(&p, "budget_total", id), "{id} cut");
    }
    assert!(!changes_campaign(&p, "budget_reallocation", "cmp_search"));
}

#[test]
fn the_weak_stage_is_worked_first_with_the_practices_that_reach_it() {
    let input = with_metric(fixture("conversion"), "lead_to_mql_rate", 0.08);
    let p = plan(&input, &ctx()).expect("plan");
    assert_eq!(p.output.cycle_summary.priority_metric, "lead_to_mql_rate");
    let first = &p.output.actions[0];
    assert_eq!(first.target_metric, "lead_to_mql_rate", "{first:#?}");
    let nurture = p
        .output
        .actions
        .iter()
        .find(|a| a.proposed_change.field == "nurture_sequence_enabled")
        .unwrap_or_else(|| panic!("a nurture sequence: {:#?}", p.output.actions));
    assert_eq!(nurture.target_metric, "lead_to_mql_rate");
}

#[test]
fn no_budget_moves_between_campaigns_that_return_alike() {
    // Every campaign returns about the same: a reallocation would only add
    // risk.
    let mut input = fixture("conversion");
    for e in &mut input.revenue_events {
        let spent = input
            .campaigns
            .iter()
            .find(|c| Some(&c.id) == e.attributed_campaign_id.as_ref())
            .map(|c| c.budget_spent);
        if let Some(spent) = spent {
            e.amount = spent * 0.5;
        }
    }
    let p = plan(&input, &ctx()).expect("plan");
    assert!(
        p.output
            .actions
            .iter()
            .all(|a| a.proposed_change.field != "budget_reallocation"),
        "{:#?}",
        p.output.actions
    );
}
