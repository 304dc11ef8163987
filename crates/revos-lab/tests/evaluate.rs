//! The closed-loop evaluation at a small size: every policy runs in every
//! kind of world, the report adds up, and a run repeats exactly.

use revos_lab::evaluate::{Options, evaluate};

fn small() -> Options {
    Options {
        worlds_per_kind: std::env::var("REVOS_EVAL_WORLDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        cycles: 8,
        cycle_days: 14,
        seed: 1,
    }
}

#[test]
fn the_evaluation_runs_every_policy_in_every_kind_of_world() {
    let report = evaluate(&small(), |_| {});
    println!("{}", report.to_text());
    assert_eq!(report.summary.len(), 5, "four kinds and `all`");
    for w in &report.worlds {
        assert_eq!(w.planner.actions_per_cycle.len(), 8);
        assert_eq!(w.random.actions_per_cycle, w.planner.actions_per_cycle);
        assert!(w.nothing.actions_per_cycle.iter().all(|n| *n == 0));
    }
}

#[test]
fn the_largest_seed_wraps_instead_of_overflowing() {
    let report = evaluate(
        &Options {
            worlds_per_kind: 1,
            cycles: 1,
            cycle_days: 1,
            seed: u64::MAX,
        },
        |_| {},
    );
    assert_eq!(report.worlds.len(), 4);
    assert_eq!(report.worlds[0].seed, u64::MAX);
    assert_eq!(report.worlds[1].seed, 0);
}

#[test]
fn a_trace_follows_the_planner_through_one_world() {
    use revos_lab::evaluate::trace::trace;
    use revos_sim::world::Constraint;
    let options = Options {
        worlds_per_kind: 1,
        cycles: 2,
        cycle_days: 14,
        seed: 1,
    };
    let t = trace(3, Constraint::Economics, &options);
    assert_eq!(t.cycles.len(), 2);
    assert!(t.cycles.iter().all(|c| c.summary.is_some()));
    assert!(t.cycles.iter().all(|c| !c.campaigns.is_empty()));
    // Every action comes with the notes a person reads.
    assert!(
        t.cycles[0]
            .actions
            .iter()
            .all(|(_, notes)| !notes.is_empty())
    );
    let text = t.to_text();
    assert!(text.starts_with("World 3 (economics planted)"), "{text}");
    assert!(text.contains("Cycle 2 — "), "{text}");
    assert!(text.contains("marginal return"), "{text}");
}
