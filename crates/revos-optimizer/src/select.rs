//! Selection: turns the ordered candidates into the cycle's actions while
//! enforcing every guardrail, and records what it dropped and why.
//!
//! Each candidate passes, in order: the lever check (crate docs), learning
//! from earlier results ([`crate::learning`]), risk tolerance (experiment or
//! direct change), experiment exposure, `blocked_actions`, the CFO gate, one
//! change per campaign, and `max_daily_spend` on today's daily spend plus
//! every change (a budget raise counts at the pace it will be spent, not as
//! if its whole amount fell in one window). Selection stops at the risk
//! tolerance's number of actions.
//!
//! The CFO gate: while any economics guardrail is breached, no action may
//! add spend. A budget increase on a campaign becomes a reallocation from
//! the worst-returning campaign with unspent budget (total spend unchanged);
//! any other spend-adding candidate is dropped. Both are recorded in
//! [`crate::GatedCandidate`].

use std::collections::BTreeSet;

use chrono::NaiveDate;
use revos_contracts::kernel_io::{
    ActionType, CampaignInput, KernelInput, Lever, Outcome, OwnerSubsystem, RiskTolerance,
};

use crate::GatedCandidate;
use crate::candidates::{Candidate, reallocation};
use crate::diagnosis::Diagnosis;
use crate::learning::{ChangeKey, Past, type_str};
use crate::settings::Settings;
use crate::snapshot::{campaign_stats, num};

/// A candidate left out: which change, what left it out, and a sentence
/// saying why with the numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Skip {
    /// The change, as [`describe`] writes it.
    pub candidate: String,
    /// What left it out: a guardrail field (`allowed_levers`,
    /// `blocked_actions`, `max_experiment_exposure_pct`, `max_daily_spend`)
    /// or a planner rule (`recent_action_results`, `one_change_per_campaign`,
    /// `nothing_to_act_on`).
    pub blocked_by: &'static str,
    /// The human note: the change, then why.
    pub reason: String,
}

impl Skip {
    /// A skip of `c` by `blocked_by`; `why` follows the change's description.
    pub(crate) fn new(c: &Candidate, blocked_by: &'static str, why: &str) -> Self {
        let candidate = describe(c);
        Skip {
            reason: format!("{candidate}: {why}"),
            candidate,
            blocked_by,
        }
    }
}

/// The guardrails of `KernelInput.guardrails` (and the CFO gate on the
/// economics targets), in the order an error lists them.
pub(crate) const GUARDRAILS: [&str; 5] = [
    "allowed_levers",
    "blocked_actions",
    "max_experiment_exposure_pct",
    "max_daily_spend",
    "cfo_gate",
];

/// The selected candidates, with what was gated and skipped.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// Chosen, in priority order.
    pub chosen: Vec<Candidate>,
    /// Gated candidates and the index in `chosen` of what replaced them.
    pub gated: Vec<(GatedCandidate, Option<usize>)>,
    /// Dropped candidates, each with what dropped it.
    pub skipped: Vec<Skip>,
    /// Changes proposed again although they failed, because the evidence
    /// moved since: the change, the failed result's action id, the evidence.
    pub retried: Vec<(ChangeKey, String, String)>,
}

/// The lever a candidate's owner needs (see the crate docs).
pub(crate) fn lever_allowed(input: &KernelInput, lever: Lever) -> bool {
    input.guardrails.allowed_levers.contains(&lever)
}

/// Whether `blocked_actions` forbids `owner` doing `kind`: an entry matches
/// the type (`scale`) or `owner:type` (`pricing:experiment`), ignoring case
/// and surrounding spaces.
pub(crate) fn is_blocked(input: &KernelInput, owner: OwnerSubsystem, kind: ActionType) -> bool {
    let t = type_str(kind);
    let qualified = format!("{}:{t}", owner.as_str());
    input.guardrails.blocked_actions.iter().flatten().any(|b| {
        let b = b.trim().to_ascii_lowercase().replace(' ', "");
        b == t || b == qualified
    })
}

/// A candidate as people read it in skip notes, e.g.
/// ``crm:experiment `first_touch_sla_hours` on seq_1 (target win_rate)``.
pub(crate) fn describe(c: &Candidate) -> String {
    let on = c
        .entity
        .as_ref()
        .map(|e| format!(" on {}", e.id))
        .unwrap_or_default();
    format!(
        "{}:{} `{}`{on} (target {})",
        c.owner.as_str(),
        type_str(c.kind),
        c.field,
        c.target_metric
    )
}

/// Whether a result is about an experiment (its action id names the type).
fn was_experiment(r: &revos_contracts::kernel_io::ActionResult) -> bool {
    r.action_id.contains(":experiment:")
}

/// Whether a candidate moves budget (which may build on a success).
fn is_budget_change(c: &Candidate) -> bool {
    c.budget.is_some()
        || matches!(
            c.field.as_str(),
            "budget_reallocation" | "daily_budget_uplift_pct" | "budget_shift_pct" | "status"
        )
}

/// How many times an inconclusive experiment is extended before it is
/// decided on its evidence.
pub(crate) const MAX_EXTENSIONS: u32 = 2;

/// Learning from earlier results: drops, annotates and re-orders `pool`.
///
/// One result decides for each candidate, so its note tells one story:
/// the most recent result about the exact change (results are read newest
/// first, the order the kernel writes them), or, when there is none, the
/// most recent result about its target metric from an id that names no
/// change. Older results on the same change or metric are outweighed by it;
/// when they disagree the note says which result decided.
fn apply_learning(
    pool: Vec<Candidate>,
    past: &[Past<'_>],
    skipped: &mut Vec<Skip>,
    retried: &mut Vec<(ChangeKey, String, String)>,
) -> Vec<Candidate> {
    let mut ranked: Vec<(u8, Candidate)> = Vec::new();
    for mut c in pool {
        let key = c.key();
        let on_change: Vec<&Past<'_>> = past
            .iter()
            .filter(|p| p.key.as_ref() == Some(&key))
            .collect();
        let on_metric: Vec<&Past<'_>> = past
            .iter()
            .filter(|p| p.key.is_none() && p.result.target_metric == c.target_metric)
            .collect();
        let (same_change, related) = if on_change.is_empty() {
            (false, on_metric)
        } else {
            (true, on_change)
        };
        let Some(decisive) = related.first() else {
            ranked.push((1, c));
            continue;
        };
        let r = decisive.result;
        let outweighed = related
            .iter()
            .skip(1)
            .filter(|p| p.result.outcome != r.outcome)
            .count();
        let decided = if outweighed == 0 {
            String::new()
        } else {
            format!(
                " {} is the most recent of {} results on this {}, so it decides.",
                r.action_id,
                related.len(),
                if same_change { "change" } else { "metric" }
            )
        };
        let mut rank = 1u8;
        let lesson = match (r.outcome, same_change) {
            (Outcome::Failed, true) => match &decisive.new_evidence {
                None => {
                    skipped.push(Skip::new(
                        &c,
                        "recent_action_results",
                        &format!(
                            "not repeated, {} made the same change and failed ({} moved by {}) \
                             and nothing has changed since{}",
                            r.action_id,
                            r.target_metric,
                            num(r.delta),
                            if outweighed == 0 {
                                String::new()
                            } else {
                                format!(
                                    " (the most recent of {} results on this change)",
                                    related.len()
                                )
                            }
                        ),
                    ));
                    continue;
                }
                Some(evidence) => {
                    retried.push((key.clone(), r.action_id.clone(), evidence.clone()));
                    Some(format!(
                        " Re-proposed although {} failed: {evidence}.",
                        r.action_id
                    ))
                }
            },
            (Outcome::Failed, false) if decisive.new_evidence.is_none() => {
                rank = 2;
                if c.flexible && c.design.is_some() {
                    c.kind = ActionType::Experiment;
                    c.flexible = false;
                }
                Some(format!(
                    " {} on {} failed, so this is tested before any roll-out.",
                    r.action_id, r.target_metric
                ))
            }
            (Outcome::Successful, true) if was_experiment(r) => {
                // The experiment won: roll the change out to everyone.
                rank = 0;
                c.kind = ActionType::ConfigChange;
                c.flexible = false;
                c.design = None;
                Some(format!(
                    " Rolls out the change {} tested, whose treatment won ({} moved by {}).",
                    r.action_id,
                    r.target_metric,
                    num(r.delta)
                ))
            }
            (Outcome::Successful | Outcome::Inconclusive, true)
                if !was_experiment(r) && !is_budget_change(&c) =>
            {
                // A full change stays in place: making it again would stack
                // it (another price rise, another discount).
                let verdict = if r.outcome == Outcome::Successful {
                    format!("it worked ({} moved by {})", r.target_metric, num(r.delta))
                } else {
                    format!(
                        "its effect on {} was not told apart from noise",
                        r.target_metric
                    )
                };
                skipped.push(Skip::new(
                    &c,
                    "recent_action_results",
                    &format!(
                        "not made again: {} made this change and {verdict}; it stays in place",
                        r.action_id
                    ),
                ));
                continue;
            }
            (Outcome::Successful, true) => {
                rank = 0;
                if let Some(b) = c.budget.as_mut()
                    && b.delta > 0.0
                {
                    b.delta *= 1.5;
                }
                Some(format!(
                    " Builds on {}, which moved {} by {}.",
                    r.action_id,
                    r.target_metric,
                    num(r.delta)
                ))
            }
            (Outcome::Successful, false) => {
                rank = 0;
                Some(format!(
                    " {} already moved {} by {}; this builds on it.",
                    r.action_id,
                    r.target_metric,
                    num(r.delta)
                ))
            }
            (Outcome::Inconclusive, true) if c.design.is_some() && was_experiment(r) => {
                // Consecutive inconclusive runs of this change, newest first.
                let runs = related
                    .iter()
                    .take_while(|p| p.result.outcome == Outcome::Inconclusive)
                    .count() as u32;
                if runs > MAX_EXTENSIONS {
                    // Extended twice: decide on the evidence.
                    let ahead = match c.direction() {
                        revos_contracts::kernel_io::ImpactDirection::Increase => r.delta > 0.0,
                        revos_contracts::kernel_io::ImpactDirection::Decrease => r.delta < 0.0,
                    };
                    if !ahead {
                        skipped.push(Skip::new(
                            &c,
                            "recent_action_results",
                            &format!(
                                "dropped: {} ran {runs} times without a clear result and its \
                                 treatment was not ahead ({} moved by {}, confidence {})",
                                r.action_id,
                                r.target_metric,
                                num(r.delta),
                                num(r.confidence)
                            ),
                        ));
                        continue;
                    }
                    c.kind = ActionType::ConfigChange;
                    c.flexible = false;
                    c.design = None;
                    c.notes.push_str(&format!(
                        " Decided on the evidence after {runs} inconclusive runs of {}: the \
                         treatment was ahead by {} (confidence {}), so it is rolled out and \
                         watched by its abort condition.",
                        r.action_id,
                        num(r.delta),
                        num(r.confidence)
                    ));
                    ranked.push((1, c));
                    continue;
                }
                if let Some(d) = c.design.as_mut() {
                    d.extensions = runs;
                }
                Some(format!(
                    " Extends {}, which was inconclusive, with a longer window.",
                    r.action_id
                ))
            }
            _ => None,
        };
        if let Some(lesson) = lesson {
            if r.outcome == Outcome::Inconclusive && c.design.is_some() {
                c.kind = ActionType::Experiment;
                c.flexible = false;
            }
            c.notes.push_str(&lesson);
            c.notes.push_str(&decided);
        }
        ranked.push((rank, c));
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked.into_iter().map(|(_, c)| c).collect()
}

/// What screening decided for one candidate.
enum Screen {
    Accept(Candidate),
    Skip(Skip),
    Gate(Candidate),
}

struct Selector<'a> {
    input: &'a KernelInput,
    diag: &'a Diagnosis,
    settings: &'a Settings,
    touched: BTreeSet<String>,
    /// Daily spend the accepted actions add.
    daily_added: f64,
}

/// A campaign's planned daily spend on the window's last day: its unspent
/// budget over the days left to its end, or, without an end date, what it
/// has spent per day so far. Paused and ended campaigns spend nothing.
pub(crate) fn daily_pace(c: &CampaignInput, today: NaiveDate) -> f64 {
    if c.status != "active" || c.end_date.is_some_and(|e| e < today) {
        return 0.0;
    }
    let left = (c.budget_total - c.budget_spent).max(0.0);
    match c.end_date {
        Some(end) => left / ((end - today).num_days() + 1).max(1) as f64,
        None => c.budget_spent.max(0.0) / ((today - c.start_date).num_days() + 1).max(1) as f64,
    }
}

/// The planned daily spend of every campaign in the input: the "current
/// spend" that `max_daily_spend` bounds together with the changes.
pub(crate) fn daily_spend_now(input: &KernelInput) -> f64 {
    let today = input.analysis_window.end_date;
    input.campaigns.iter().map(|c| daily_pace(c, today)).sum()
}

impl Selector<'_> {
    fn screen(&self, mut c: Candidate) -> Screen {
        if !lever_allowed(self.input, c.lever) {
            let why = format!(
                "needs the `{}` lever, which is not in allowed_levers",
                c.lever.as_str()
            );
            return Screen::Skip(Skip::new(&c, "allowed_levers", &why));
        }
        if c.flexible && c.design.is_some() {
            match (self.settings.risk, c.kind) {
                (RiskTolerance::Low, ActionType::ConfigChange) => c.kind = ActionType::Experiment,
                (RiskTolerance::High, ActionType::Experiment) => c.kind = ActionType::ConfigChange,
                _ => {}
            }
        }
        if c.kind == ActionType::Experiment && self.settings.exposure_cap <= 0.0 {
            if c.flexible {
                c.kind = ActionType::ConfigChange;
            } else {
                return Screen::Skip(Skip::new(
                    &c,
                    "max_experiment_exposure_pct",
                    "max_experiment_exposure_pct is 0, so no experiment can run",
                ));
            }
        }
        if is_blocked(self.input, c.owner, c.kind) {
            let alternative = match c.kind {
                ActionType::Experiment if c.flexible => Some(ActionType::ConfigChange),
                ActionType::ConfigChange
                    if c.flexible && c.design.is_some() && self.settings.exposure_cap > 0.0 =>
                {
                    Some(ActionType::Experiment)
                }
                _ => None,
            };
            match alternative {
                Some(alt) if !is_blocked(self.input, c.owner, alt) => c.kind = alt,
                _ => {
                    let why = format!(
                        "`{}:{}` is in blocked_actions",
                        c.owner.as_str(),
                        type_str(c.kind)
                    );
                    return Screen::Skip(Skip::new(&c, "blocked_actions", &why));
                }
            }
        }
        if self.diag.spend_frozen() && c.adds_spend() {
            return Screen::Gate(c);
        }
        if c.campaigns.iter().any(|id| self.touched.contains(id)) {
            return Screen::Skip(Skip::new(
                &c,
                "one_change_per_campaign",
                "an earlier action already changes the same campaign",
            ));
        }
        // `max_daily_spend` bounds today's daily spend plus every change,
        // not only the additions.
        if let Some(cap) = self
            .input
            .guardrails
            .max_daily_spend
            .filter(|c| c.is_finite())
            && c.additional_spend() > 0.0
        {
            let now = daily_spend_now(self.input);
            let room = cap - now - self.daily_added;
            let daily = self.added_daily(&c);
            if room < 1.0 {
                let why = format!(
                    "max_daily_spend is {}; campaigns already plan {} a day{}, so nothing more \
                     may be added",
                    num(cap),
                    num(now),
                    if self.daily_added > 0.0 {
                        format!(" and this plan adds {}", num(self.daily_added))
                    } else {
                        String::new()
                    }
                );
                return Screen::Skip(Skip::new(&c, "max_daily_spend", &why));
            }
            if daily > room {
                let keep = room / daily;
                if let Some(b) = c.budget.as_mut() {
                    b.delta = (b.delta * keep * 100.0).floor() / 100.0;
                }
                c.extra_spend = (c.extra_spend * keep * 100.0).floor() / 100.0;
                c.notes.push_str(&format!(
                    " Held to {} a day more, so daily spend stays within max_daily_spend ({}).",
                    num(room),
                    num(cap)
                ));
            }
        }
        Screen::Accept(c)
    }

    /// The daily spend a candidate adds: a budget raise spread over the
    /// campaign's days left (or in proportion to its pace, whichever is
    /// more), extra spend over the observation window.
    fn added_daily(&self, c: &Candidate) -> f64 {
        let today = self.input.analysis_window.end_date;
        let budget = c.budget.map_or(0.0, |b| {
            let delta = b.delta.max(0.0);
            let campaign = c
                .campaigns
                .first()
                .and_then(|id| self.input.campaigns.iter().find(|k| &k.id == id));
            match campaign {
                Some(k) => {
                    let days_left = k
                        .end_date
                        .map_or(f64::from(self.settings.window_days), |e| {
                            ((e - today).num_days() + 1).max(1) as f64
                        });
                    let by_pace = if k.budget_total > 0.0 {
                        daily_pace(k, today) * delta / k.budget_total
                    } else {
                        0.0
                    };
                    (delta / days_left).max(by_pace)
                }
                None => delta / f64::from(self.settings.window_days.max(1)),
            }
        });
        budget + c.extra_spend.max(0.0) / f64::from(self.settings.window_days.max(1))
    }

    fn accept(&mut self, c: Candidate, sel: &mut Selection) -> usize {
        self.daily_added += self.added_daily(&c);
        self.touched.extend(c.campaigns.iter().cloned());
        sel.chosen.push(c);
        sel.chosen.len() - 1
    }

    /// The reallocation that replaces a gated budget increase, if any.
    fn replacement(&self, gated: &Candidate) -> Option<Candidate> {
        let budget = gated.budget.filter(|b| b.delta > 0.0)?;
        let to_id = gated.campaigns.first()?;
        let stats = campaign_stats(self.input);
        let to = stats.iter().find(|s| &s.campaign.id == to_id)?;
        // Only from a campaign that clearly returns less: moving money
        // between two alike campaigns changes nothing but the risk.
        let from = stats.iter().rev().find(|s| {
            &s.campaign.id != to_id
                && !self.touched.contains(&s.campaign.id)
                && s.campaign.budget_total - s.campaign.budget_spent >= 1.0
                && s.roi * crate::candidates::REALLOC_MIN_GAP <= to.roi
        })?;
        let room = from.campaign.budget_total - from.campaign.budget_spent;
        let metric = self
            .diag
            .breaches
            .iter()
            .map(|b| b.metric)
            .find(|m| *m != "gross_margin")
            .unwrap_or("cac_blended");
        // Total spend does not change, so CAC gets no allowance for it.
        let cac_now = self
            .diag
            .breaches
            .iter()
            .chain(self.diag.near_limit.iter())
            .find(|b| b.metric == "cac_blended")
            .map(|b| b.value);
        let stop = match (gated.abort.first(), cac_now) {
            (Some(a), Some(now)) if a.metric_id == "cac_blended" && now > 0.0 => {
                crate::candidates::abort(
                    "cac_blended",
                    a.operator,
                    now * (1.0 + crate::candidates::ABORT_CAC_RISE),
                    a.consecutive_days,
                )
            }
            (Some(a), _) => a.clone(),
            (None, _) => return None,
        };
        Some(reallocation(
            from,
            to,
            budget.delta.min(room),
            metric,
            stop,
            "Replaces a budget increase the CFO gate stopped.",
        ))
    }
}

/// Selects up to `settings.max_actions` candidates from `pool`.
pub(crate) fn select(
    pool: Vec<Candidate>,
    input: &KernelInput,
    diag: &Diagnosis,
    settings: &Settings,
    past: &[Past<'_>],
) -> Selection {
    let mut sel = Selection::default();
    let pool = apply_learning(pool, past, &mut sel.skipped, &mut sel.retried);
    let mut selector = Selector {
        input,
        diag,
        settings,
        touched: BTreeSet::new(),
        daily_added: 0.0,
    };
    for c in pool {
        if sel.chosen.len() >= settings.max_actions {
            break;
        }
        match selector.screen(c) {
            Screen::Accept(c) => {
                selector.accept(c, &mut sel);
            }
            Screen::Skip(why) => sel.skipped.push(why),
            Screen::Gate(c) => {
                let breach = match (diag.breaches.first(), diag.near_limit) {
                    (Some(b), _) => format!(
                        "{} is {} against a limit of {}",
                        b.metric,
                        num(b.value),
                        num(b.limit)
                    ),
                    (None, Some(n)) if n.value > n.limit => format!(
                        "{} is {}, above its limit of {} by less than its noise",
                        n.metric,
                        num(n.value),
                        num(n.limit)
                    ),
                    (None, Some(n)) => format!(
                        "{} is {}, within {} of its limit of {}",
                        n.metric,
                        num(n.value),
                        crate::snapshot::pct(crate::diagnosis::NEAR_LIMIT),
                        num(n.limit)
                    ),
                    (None, None) => String::new(),
                };
                let adds = match c.additional_spend() {
                    x if x > 0.0 => format!("this one adds up to {}", num(x)),
                    _ => "this one grows spend".to_owned(),
                };
                let mut reason =
                    format!("CFO gate: {breach}, so no action may add spend ({adds}).");
                // A replacement is a change like any other: what was
                // learned about it applies (a failed reallocation is not
                // made again unless the evidence moved).
                let replacement = selector
                    .replacement(&c)
                    .and_then(|r| {
                        apply_learning(vec![r], past, &mut sel.skipped, &mut sel.retried).pop()
                    })
                    .map(|r| selector.screen(r));
                let replaced = match replacement {
                    Some(Screen::Accept(r)) => {
                        reason.push_str(" Turned into a budget reallocation with no net spend.");
                        Some(selector.accept(r, &mut sel))
                    }
                    Some(Screen::Skip(why)) => {
                        reason.push_str(&format!(
                            " The reallocation was not possible either: {}.",
                            why.reason
                        ));
                        None
                    }
                    _ if c.budget.is_some_and(|b| b.delta > 0.0) => {
                        reason.push_str(
                            " Dropped: no other campaign untouched by this plan has unspent \
                             budget to reallocate.",
                        );
                        None
                    }
                    _ => {
                        reason.push_str(
                            " Dropped: only campaign budget increases can become reallocations.",
                        );
                        None
                    }
                };
                sel.gated.push((
                    GatedCandidate {
                        action_type: type_str(c.kind).to_owned(),
                        owner_subsystem: c.owner.as_str().to_owned(),
                        target_entity_id: c.entity.as_ref().map(|e| e.id.clone()),
                        reason,
                        replaced_by: None,
                    },
                    replaced,
                ));
            }
        }
    }
    sel
}

/// Screens measurement candidates (never gated: they add no spend) and
/// appends those that pass to `sel`.
pub(crate) fn select_fallback(
    pool: Vec<Candidate>,
    input: &KernelInput,
    diag: &Diagnosis,
    settings: &Settings,
    sel: &mut Selection,
) {
    let mut selector = Selector {
        input,
        diag,
        settings,
        touched: BTreeSet::new(),
        daily_added: 0.0,
    };
    for c in pool {
        if sel.chosen.len() >= settings.max_actions {
            break;
        }
        match selector.screen(c) {
            Screen::Accept(c) => {
                selector.accept(c, sel);
            }
            Screen::Skip(why) => sel.skipped.push(why),
            Screen::Gate(_) => {}
        }
    }
}

/// Why no measurement fix is possible: for every allowed lever, its
/// subsystem's `config_change` is in `blocked_actions`. One entry per
/// allowed subsystem, on the review of the priority metric.
pub(crate) fn measurement_blocked(
    input: &KernelInput,
    snap: &crate::snapshot::Snapshot,
    diag: &Diagnosis,
) -> Vec<Skip> {
    let mut out: Vec<Skip> = Vec::new();
    for (owner, lever) in MEASUREMENT_OWNERS {
        if !lever_allowed(input, lever)
            || out.iter().any(|s| s.candidate.starts_with(owner.as_str()))
        {
            continue;
        }
        let fixes = crate::candidates::measurement(input, snap, diag, &[(owner, lever)]);
        if fixes.is_empty() && lever == Lever::Channels {
            out.push(Skip {
                candidate: format!("{}:config_change (measurement fix)", owner.as_str()),
                blocked_by: "allowed_levers",
                reason: "allowed_levers: the `channels` lever allows only channel-level changes, \
                         and no revenue is attributed to a channel whose reporting could be fixed"
                    .to_owned(),
            });
            continue;
        }
        if let Some(c) = fixes.first() {
            let why = format!(
                "`{}:config_change` is in blocked_actions, so not even a measurement fix can run",
                owner.as_str()
            );
            out.push(Skip::new(c, "blocked_actions", &why));
        }
    }
    out
}

/// Who may run a measurement `config_change`, with the lever each needs,
/// in preference order.
const MEASUREMENT_OWNERS: [(OwnerSubsystem, Lever); 4] = [
    (OwnerSubsystem::Campaigns, Lever::Campaigns),
    (OwnerSubsystem::Campaigns, Lever::Channels),
    (OwnerSubsystem::Crm, Lever::Sequences),
    (OwnerSubsystem::Pricing, Lever::Pricing),
];

/// The subsystems (with the lever each needs) that may run a measurement
/// `config_change`, in preference order.
pub(crate) fn measurement_owners(input: &KernelInput) -> Vec<(OwnerSubsystem, Lever)> {
    let mut out = Vec::new();
    for (owner, lever) in MEASUREMENT_OWNERS {
        if lever_allowed(input, lever)
            && !is_blocked(input, owner, ActionType::ConfigChange)
            && !out.iter().any(|(o, _)| *o == owner)
        {
            out.push((owner, lever));
        }
    }
    out
}
