//! The evaluation's report: per world the value each policy reached, per
//! constraint kind the planner's share of the oracle's improvement over
//! doing nothing, and every guardrail the planner broke.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::evaluate::{Options, PolicyRun};

/// Every policy's run in one world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldRun {
    /// The world's seed.
    pub seed: u64,
    /// Its planted constraint.
    pub constraint: String,
    /// Doing nothing.
    pub nothing: PolicyRun,
    /// Random actions of the planner's size.
    pub random: PolicyRun,
    /// The oracle.
    pub oracle: PolicyRun,
    /// The planner.
    pub planner: PolicyRun,
}

/// The figures of one constraint kind (or of all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindSummary {
    /// The kind (`all` for every world).
    pub constraint: String,
    /// Worlds.
    pub worlds: usize,
    /// Mean improvement over doing nothing: planner, random, oracle.
    pub planner_gain: f64,
    /// Random's mean improvement.
    pub random_gain: f64,
    /// The oracle's mean improvement.
    pub oracle_gain: f64,
    /// The planner's improvement over the oracle's (sums over worlds).
    pub planner_share: f64,
    /// Random's improvement over the oracle's.
    pub random_share: f64,
    /// Cycles where the planner named the constraint that truly bound, of
    /// all cycles.
    pub diagnosed_right: f64,
    /// Guardrail violations by the planner.
    pub planner_violations: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was run.
    pub options: Options,
    /// Per kind, then `all`.
    pub summary: Vec<KindSummary>,
    /// Every world.
    pub worlds: Vec<WorldRun>,
}

impl Report {
    /// Summarises `worlds`.
    pub fn new(options: Options, worlds: Vec<WorldRun>) -> Report {
        let mut kinds: Vec<String> = Vec::new();
        for w in &worlds {
            if !kinds.contains(&w.constraint) {
                kinds.push(w.constraint.clone());
            }
        }
        let mut summary: Vec<KindSummary> = kinds
            .iter()
            .map(|k| summarise(k, worlds.iter().filter(|w| &w.constraint == k)))
            .collect();
        summary.push(summarise("all", worlds.iter()));
        Report {
            options,
            summary,
            worlds,
        }
    }

    /// The summary of `all`.
    pub fn overall(&self) -> Option<&KindSummary> {
        self.summary.iter().find(|s| s.constraint == "all")
    }

    /// Every planner violation, with its world.
    pub fn planner_violations(&self) -> Vec<(u64, &str, &crate::evaluate::checks::Violation)> {
        self.worlds
            .iter()
            .flat_map(|w| {
                w.planner
                    .violations
                    .iter()
                    .map(move |v| (w.seed, w.constraint.as_str(), v))
            })
            .collect()
    }

    /// The report for people: the table, then the violations.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let o = &self.options;
        let _ = writeln!(
            s,
            "Closed-loop evaluation: {} worlds per constraint, {} cycles of {} days, seed {}.",
            o.worlds_per_kind, o.cycles, o.cycle_days, o.seed
        );
        let _ = writeln!(
            s,
            "Gain = value over doing nothing (bookings at margin over their life, less spend); \
             share = planner's gain / oracle's gain."
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<13} {:>6} {:>14} {:>14} {:>14} {:>8} {:>8} {:>10} {:>10}",
            "constraint",
            "worlds",
            "planner gain",
            "random gain",
            "oracle gain",
            "planner",
            "random",
            "diagnosed",
            "violations"
        );
        for k in &self.summary {
            let _ = writeln!(
                s,
                "{:<13} {:>6} {:>14.0} {:>14.0} {:>14.0} {:>7.0}% {:>7.0}% {:>9.0}% {:>10}",
                k.constraint,
                k.worlds,
                k.planner_gain,
                k.random_gain,
                k.oracle_gain,
                k.planner_share * 100.0,
                k.random_share * 100.0,
                k.diagnosed_right * 100.0,
                k.planner_violations
            );
        }
        let tally =
            self.worlds
                .iter()
                .fold(crate::evaluate::executor::Tally::default(), |mut t, w| {
                    let p = &w.planner.tally;
                    t.applied += p.applied;
                    t.not_applied += p.not_applied;
                    t.superseded += p.superseded;
                    t.aborted += p.aborted;
                    t.successful += p.successful;
                    t.failed += p.failed;
                    t.inconclusive += p.inconclusive;
                    t.experiments += p.experiments;
                    t.experiments_underpowered += p.experiments_underpowered;
                    t.experiments_successful += p.experiments_successful;
                    t
                });
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "Planner's actions: {} applied ({} could not be, {} not stacked on the same change \
             still observed), {} successful, {} failed ({} aborted), {} inconclusive; \
             experiments: {} measured, {} with an arm below its minimum sample, {} successful.",
            tally.applied,
            tally.not_applied,
            tally.superseded,
            tally.successful,
            tally.failed,
            tally.aborted,
            tally.inconclusive,
            tally.experiments,
            tally.experiments_underpowered,
            tally.experiments_successful
        );
        let refusals: usize = self.worlds.iter().map(|w| w.planner.refusals.len()).sum();
        if refusals > 0 {
            let _ = writeln!(
                s,
                "The planner refused {refusals} cycles (no actions taken):"
            );
            for w in &self.worlds {
                for r in w.planner.refusals.iter().take(1) {
                    let _ = writeln!(s, "  world {} ({}): {r}", w.seed, w.constraint);
                }
            }
        }
        let violations = self.planner_violations();
        if violations.is_empty() {
            let _ = writeln!(s, "No guardrail violations by the planner.");
        } else {
            let _ = writeln!(
                s,
                "Guardrail violations by the planner ({}):",
                violations.len()
            );
            for (seed, kind, v) in violations.iter().take(20) {
                let _ = writeln!(
                    s,
                    "  world {seed} ({kind}), cycle {}: {}: {}",
                    v.cycle, v.guardrail, v.detail
                );
            }
            if violations.len() > 20 {
                let _ = writeln!(s, "  … {} more (--json lists all)", violations.len() - 20);
            }
        }
        s
    }
}

fn summarise<'a>(kind: &str, worlds: impl Iterator<Item = &'a WorldRun>) -> KindSummary {
    let worlds: Vec<&WorldRun> = worlds.collect();
    let n = worlds.len().max(1) as f64;
    let gain = |f: fn(&WorldRun) -> f64| worlds.iter().map(|w| f(w)).sum::<f64>();
    let planner = gain(|w| w.planner.value - w.nothing.value);
    let random = gain(|w| w.random.value - w.nothing.value);
    let oracle = gain(|w| w.oracle.value - w.nothing.value);
    let share = |x: f64| {
        if oracle.abs() > f64::EPSILON {
            x / oracle
        } else {
            0.0
        }
    };
    let (right, cycles) = worlds.iter().fold((0usize, 0usize), |(r, c), w| {
        let right = w
            .planner
            .diagnoses
            .iter()
            .zip(&w.planner.binding)
            .filter(|(named, truly)| named == truly)
            .count();
        (r + right, c + w.planner.diagnoses.len())
    });
    KindSummary {
        constraint: kind.to_owned(),
        worlds: worlds.len(),
        planner_gain: planner / n,
        random_gain: random / n,
        oracle_gain: oracle / n,
        planner_share: share(planner),
        random_share: share(random),
        diagnosed_right: if cycles == 0 {
            0.0
        } else {
            right as f64 / cycles as f64
        },
        planner_violations: worlds.iter().map(|w| w.planner.violations.len()).sum(),
    }
}
