//! The closed-loop evaluation (`revos lab evaluate`): the planner's
//! decisions applied to generated worlds it does not model, cycle after
//! cycle, against doing nothing, a random policy of the same size and an
//! oracle that knows each world's planted constraint.
//!
//! For every world ([`revos_sim::world::World`], one planted constraint
//! each) and every policy, the loop runs on a copy of the same world (the
//! simulator's noise is keyed by day and what is drawn, so the policies see
//! common random numbers):
//!
//! 1. [`HISTORY_DAYS`] days of history;
//! 2. per cycle: the input the kernel would assemble from the tenant's
//!    reported data ([`input`]), the policy's actions, the guardrail
//!    checks ([`checks`]), the actions applied to the world;
//! 3. `cycle_days` simulated days, during which the executor's rules
//!    ([`executor`]) watch the planner's actions: abort conditions revert,
//!    the observation window ends in a measured result (an experiment on its
//!    own arms), and the results feed the next cycle's input;
//! 4. the world's value at the end: bookings (won and expected from the
//!    open pipeline) at their gross margin over their expected life, less
//!    all spend.
//!
//! A policy's improvement is its value less do-nothing's on the same world;
//! the planner's share is the sum of its improvements over the sum of the
//! oracle's, per constraint kind and overall.

pub mod checks;
pub mod executor;
pub mod input;
pub mod policies;
pub mod report;
pub mod trace;

use chrono::NaiveDate;
use revos_contracts::kernel_io::{Action, BindingConstraint};
use revos_sim::world::{Constraint, World};
use serde::{Deserialize, Serialize};

pub use report::{KindSummary, Report, WorldRun};

use crate::evaluate::checks::Violation;
use crate::evaluate::executor::Executor;
use crate::evaluate::policies::Policy;

/// Days of history before the first cycle (long enough for a reporting
/// break to make a required metric stale).
pub const HISTORY_DAYS: u32 = 45;

/// The first visible day of every world (fixed, so runs repeat exactly).
pub fn world_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default()
}

/// What to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Worlds per constraint kind.
    pub worlds_per_kind: u32,
    /// Cycles per world.
    pub cycles: u32,
    /// Days between cycles.
    pub cycle_days: u32,
    /// The seed of the first world; the others follow it (wrapping at the
    /// largest seed).
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            worlds_per_kind: 18,
            cycles: 8,
            cycle_days: 14,
            seed: 1,
        }
    }
}

/// Progress, reported after each world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Worlds done.
    pub done: u32,
    /// Worlds in all.
    pub of: u32,
}

/// What one policy did in one world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRun {
    /// The world's value at the end.
    pub value: f64,
    /// Actions per cycle.
    pub actions_per_cycle: Vec<usize>,
    /// The action ids of each cycle (the planner only; they name the change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<Vec<String>>,
    /// Guardrail violations.
    pub violations: Vec<Violation>,
    /// The binding constraint the policy named per cycle (the planner only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnoses: Vec<String>,
    /// The constraint that truly bound at each cycle: the planted one, or,
    /// in a data-quality world, demand once the reporting is fixed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binding: Vec<String>,
    /// The executor's tallies (the planner only).
    #[serde(default)]
    pub tally: executor::Tally,
    /// Cycles where the planner answered with an error, with the error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
}

/// Runs the evaluation.
pub fn evaluate(options: &Options, mut progress: impl FnMut(Progress)) -> Report {
    let per_kind = options.worlds_per_kind.max(1);
    let total = per_kind * Constraint::ALL.len() as u32;
    let mut runs = Vec::new();
    let mut done = 0;
    for (k, kind) in Constraint::ALL.iter().enumerate() {
        for i in 0..per_kind {
            let seed = options
                .seed
                .wrapping_add(u64::from(i) * 4)
                .wrapping_add(k as u64);
            runs.push(run_world(seed, *kind, options));
            done += 1;
            progress(Progress { done, of: total });
        }
    }
    Report::new(*options, runs)
}

/// Runs every policy in the world of `seed`.
pub fn run_world(seed: u64, kind: Constraint, options: &Options) -> WorldRun {
    let world = World::generate(seed, kind, world_start());
    let planner = run_policy(&world, &mut Policy::Planner, options, None);
    let counts = planner.actions_per_cycle.clone();
    let nothing = run_policy(&world, &mut Policy::Nothing, options, None);
    let random = run_policy(&world, &mut Policy::Random { seed, counts }, options, None);
    let oracle = run_policy(&world, &mut Policy::Oracle, options, None);
    WorldRun {
        seed,
        constraint: kind.as_str().to_owned(),
        nothing,
        random,
        oracle,
        planner,
    }
}

/// Runs one policy on a copy of `world`; with `trace`, records what it saw,
/// decided and learned cycle by cycle.
pub fn run_policy(
    world: &World,
    policy: &mut Policy,
    options: &Options,
    mut trace: Option<&mut Vec<trace::CycleTrace>>,
) -> PolicyRun {
    let mut world = world.clone();
    for _ in 0..HISTORY_DAYS {
        world.step();
    }
    let mut book = input::Book::default();
    book.read(&world);
    let mut executor = Executor::default();
    let mut run = PolicyRun {
        value: 0.0,
        actions_per_cycle: Vec::new(),
        plans: Vec::new(),
        violations: Vec::new(),
        diagnoses: Vec::new(),
        binding: Vec::new(),
        tally: executor::Tally::default(),
        refusals: Vec::new(),
    };
    for cycle in 0..options.cycles {
        let today = world.date();
        let truly = match world.constraint() {
            Constraint::DataQuality if !world.data_broken() => Constraint::Demand,
            kind => kind,
        };
        run.binding.push(truly.as_str().to_owned());
        let kernel_input = book.input(&world, today, executor.results(today));
        let decision = policy.decide(&kernel_input, &world, cycle);
        let mut summary = None;
        let actions: Vec<Action> = match decision {
            Ok(d) => {
                if let Some(binding) = d.binding {
                    run.diagnoses.push(binding_name(binding).to_owned());
                }
                summary = d.summary;
                d.actions
            }
            Err(e) => {
                run.refusals.push(format!("cycle {}: {e}", cycle + 1));
                run.diagnoses.push("refused".to_owned());
                Vec::new()
            }
        };
        let spend_before = world.sim().planned_daily_spend();
        run.violations
            .extend(checks::before_applying(&kernel_input, &actions, cycle + 1));
        let watched = matches!(policy, Policy::Planner);
        for (i, action) in actions.iter().enumerate() {
            let key = format!("c{}a{}:{}", cycle + 1, i + 1, action.action_id);
            executor.start(&mut world, action, &key, today, watched, &mut run.tally);
        }
        if let Some(v) = checks::spend_after(&world, spend_before, cycle + 1) {
            run.violations.push(v);
        }
        if let Some(t) = trace.as_deref_mut() {
            t.push(trace::CycleTrace::new(
                cycle + 1,
                today,
                truly,
                &world,
                &kernel_input,
                summary,
                &actions,
            ));
        }
        run.actions_per_cycle.push(actions.len());
        if watched {
            run.plans
                .push(actions.iter().map(|a| a.action_id.clone()).collect());
        }
        for _ in 0..options.cycle_days {
            world.step();
            book.read(&world);
            executor.watch(&mut world, &mut run.tally);
        }
    }
    run.value = world.value();
    run
}

/// The contract's name of a binding constraint.
pub fn binding_name(b: BindingConstraint) -> &'static str {
    match b {
        BindingConstraint::Demand => "demand",
        BindingConstraint::Conversion => "conversion",
        BindingConstraint::Economics => "economics",
        BindingConstraint::DataQuality => "data_quality",
    }
}
