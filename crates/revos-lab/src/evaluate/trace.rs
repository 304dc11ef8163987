//! One world, cycle by cycle (`revos lab evaluate --trace SEED`): what the
//! planner was shown, what it named and did, and what it learned, beside
//! what the world knows (each campaign's true marginal return). For reading
//! a decision, not for scoring: the scores are in [`super::report`].

use std::fmt::Write as _;

use chrono::NaiveDate;
use revos_contracts::kernel_io::{Action, CycleSummary, KernelInput};
use revos_sim::world::{Constraint, STAGES, World};
use serde::Serialize;

use super::policies::{Policy, marginal_return};
use super::{Options, binding_name, run_policy, world_start};

/// One cycle of the planner in a traced world.
#[derive(Debug, Clone, Serialize)]
pub struct CycleTrace {
    /// 1-based.
    pub cycle: u32,
    /// The cycle's day.
    pub date: NaiveDate,
    /// The constraint that truly bound.
    pub truly: String,
    /// What the planner named, with its diagnosis.
    pub summary: Option<CycleSummary>,
    /// Planned daily spend before the cycle's actions, and its cap.
    pub daily_spend: f64,
    /// `max_daily_spend`, when set.
    pub cap: Option<f64>,
    /// The campaigns as the world knows them.
    pub campaigns: Vec<CampaignLine>,
    /// Results the planner was given (newest first), one line each.
    pub results: Vec<String>,
    /// The actions, one line each, with their notes.
    pub actions: Vec<(String, String)>,
}

/// A campaign as the world knows it.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignLine {
    /// Its id.
    pub id: String,
    /// Its channel.
    pub channel: String,
    /// Its status.
    pub status: String,
    /// Daily spend it is heading for.
    pub daily: f64,
    /// Lifetime value of one more unit of daily spend.
    pub marginal_return: f64,
}

impl CycleTrace {
    /// Records one cycle.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cycle: u32,
        date: NaiveDate,
        truly: Constraint,
        world: &World,
        input: &KernelInput,
        summary: Option<CycleSummary>,
        actions: &[Action],
    ) -> Self {
        CycleTrace {
            cycle,
            date,
            truly: truly.as_str().to_owned(),
            summary,
            daily_spend: world.sim().planned_daily_spend(),
            cap: world.guardrails().max_daily_spend,
            campaigns: world
                .sim()
                .campaign_truth()
                .iter()
                .map(|c| CampaignLine {
                    id: c.id.clone(),
                    channel: c.channel.clone(),
                    status: c.status.clone(),
                    daily: c.daily_level,
                    marginal_return: marginal_return(world, c),
                })
                .collect(),
            results: input
                .recent_action_results
                .iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{} {}: {} {:.4} → {:.4} (confidence {:.2})",
                        r.action_id,
                        serde_json::to_value(r.outcome)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        r.target_metric,
                        r.baseline_value,
                        r.observed_value,
                        r.confidence
                    )
                })
                .collect(),
            actions: actions
                .iter()
                .map(|a| {
                    (
                        format!(
                            "{} {} → {}",
                            a.action_id,
                            a.proposed_change.current_value,
                            a.proposed_change.new_value
                        ),
                        a.notes_for_humans.clone(),
                    )
                })
                .collect(),
        }
    }
}

/// A traced world.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// Its seed.
    pub seed: u64,
    /// Its planted constraint.
    pub constraint: String,
    /// Value of doing nothing, the planner and the oracle.
    pub values: [f64; 3],
    /// What the world knows and the planner does not: the weak stage, each
    /// stage's rate ceiling, and how far each practice reaches per stage.
    pub truth: String,
    /// The planner's cycles.
    pub cycles: Vec<CycleTrace>,
}

/// Runs the planner (and, for the values, doing nothing and the oracle) in
/// the world of `seed` with the planted constraint `kind`.
pub fn trace(seed: u64, kind: Constraint, options: &Options) -> Trace {
    let world = World::generate(seed, kind, world_start());
    let mut cycles = Vec::new();
    let planner = run_policy(&world, &mut Policy::Planner, options, Some(&mut cycles));
    let nothing = run_policy(&world, &mut Policy::Nothing, options, None);
    let oracle = run_policy(&world, &mut Policy::Oracle, options, None);
    Trace {
        seed,
        constraint: kind.as_str().to_owned(),
        values: [nothing.value, planner.value, oracle.value],
        truth: describe_truth(&world),
        cycles,
    }
}

fn describe_truth(world: &World) -> String {
    let t = world.truth();
    let mut s = format!(
        "weak stage: {}; stage ceilings {:?}; uptake {:.2}",
        t.weak_stage.map_or("none", |k| STAGES[k].0),
        t.ceiling.map(|c| (c * 1000.0).round() / 1000.0),
        t.uptake
    );
    for (p, reach) in &t.reach {
        let _ = write!(
            s,
            "\n  {:<30} reach {:?}",
            p.field(),
            reach.map(|r| (r * 100.0).round() / 100.0)
        );
    }
    s
}

impl Trace {
    /// The human reading.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let [nothing, planner, oracle] = self.values;
        let share = if oracle - nothing != 0.0 {
            (planner - nothing) / (oracle - nothing) * 100.0
        } else {
            0.0
        };
        let _ = writeln!(
            s,
            "World {} ({} planted). Gain over doing nothing: planner {:.0}, oracle {:.0} \
             (share {share:.0}%).",
            self.seed,
            self.constraint,
            planner - nothing,
            oracle - nothing
        );
        let _ = writeln!(s, "Truth: {}", self.truth);
        for c in &self.cycles {
            let _ = writeln!(s, "\nCycle {} — {} — truly {}", c.cycle, c.date, c.truly);
            if let Some(sum) = &c.summary {
                let _ = writeln!(
                    s,
                    "  named {} on {} ({:.2}): {}",
                    binding_name(sum.binding_constraint),
                    sum.priority_metric,
                    sum.confidence,
                    sum.diagnosis
                );
            }
            let cap = c.cap.map_or("none".to_owned(), |v| format!("{v:.0}"));
            let _ = writeln!(s, "  daily spend {:.0}, cap {cap}", c.daily_spend);
            for k in &c.campaigns {
                let _ = writeln!(
                    s,
                    "    {:<10} {:<10} {:<9} daily {:>9.0}  marginal return {:>6.2}",
                    k.id, k.channel, k.status, k.daily, k.marginal_return
                );
            }
            for r in &c.results {
                let _ = writeln!(s, "  learned: {r}");
            }
            for (a, notes) in &c.actions {
                let _ = writeln!(s, "  → {a}\n      {notes}");
            }
        }
        s
    }
}
