//! Selection: turns the ordered candidates into the cycle's actions while
//! enforcing every guardrail, and records what it dropped and why.
//!
//! Each candidate passes, in order: the lever check (crate docs), learning
//! from earlier results ([`crate::learning`]), risk tolerance (experiment or
//! direct change), experiment exposure, `blocked_actions`, the CFO gate, one
//! change per campaign, and the cycle's spend cap. Selection stops at the
//! risk tolerance's number of actions.
//!
//! The CFO gate: while any economics guardrail is breached, no action may
//! add spend. A budget increase on a campaign becomes a reallocation from
//! the worst-returning campaign with unspent budget (total spend unchanged);
//! any other spend-adding candidate is dropped. Both are recorded in
//! [`crate::GatedCandidate`].

use std::collections::BTreeSet;

use revos_contracts::kernel_io::{
    ActionType, KernelInput, Lever, Outcome, OwnerSubsystem, RiskTolerance,
};

use crate::GatedCandidate;
use crate::candidates::{Candidate, reallocation};
use crate::diagnosis::Diagnosis;
use crate::learning::{Past, type_str};
use crate::settings::Settings;
use crate::snapshot::{campaign_stats, num};

/// The selected candidates, with what was gated and skipped.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// Chosen, in priority order.
    pub chosen: Vec<Candidate>,
    /// Gated candidates and the index in `chosen` of what replaced them.
    pub gated: Vec<(GatedCandidate, Option<usize>)>,
    /// Human notes on dropped candidates.
    pub skipped: Vec<String>,
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

fn describe(c: &Candidate) -> String {
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

/// Learning from earlier results: drops, annotates and re-orders `pool`.
fn apply_learning(
    pool: Vec<Candidate>,
    past: &[Past<'_>],
    skipped: &mut Vec<String>,
) -> Vec<Candidate> {
    let mut ranked: Vec<(u8, Candidate)> = Vec::new();
    'next: for mut c in pool {
        let key = c.key();
        let mut rank = 1u8;
        for p in past {
            let r = p.result;
            let same_change = p.key.as_ref() == Some(&key);
            let same_metric = p.key.is_none() && r.target_metric == c.target_metric;
            match (r.outcome, same_change, same_metric) {
                (Outcome::Failed, true, _) => match &p.new_evidence {
                    None => {
                        skipped.push(format!(
                            "{}: not repeated, {} made the same change and failed ({} moved by \
                             {}) and nothing has changed since",
                            describe(&c),
                            r.action_id,
                            r.target_metric,
                            num(r.delta)
                        ));
                        continue 'next;
                    }
                    Some(evidence) => c.notes.push_str(&format!(
                        " Re-proposed although {} failed: {evidence}.",
                        r.action_id
                    )),
                },
                (Outcome::Failed, false, true) if p.new_evidence.is_none() => {
                    rank = 2;
                    if c.flexible && c.design.is_some() {
                        c.kind = ActionType::Experiment;
                        c.flexible = false;
                    }
                    c.notes.push_str(&format!(
                        " {} on {} failed, so this is tested before any roll-out.",
                        r.action_id, r.target_metric
                    ));
                }
                (Outcome::Successful, true, _) => {
                    rank = 0;
                    if let Some(b) = c.budget.as_mut()
                        && b.delta > 0.0
                    {
                        b.delta *= 1.5;
                    }
                    c.notes.push_str(&format!(
                        " Builds on {}, which moved {} by {}.",
                        r.action_id,
                        r.target_metric,
                        num(r.delta)
                    ));
                }
                (Outcome::Successful, false, true) => {
                    rank = 0;
                    c.notes.push_str(&format!(
                        " {} already moved {} by {}; this builds on it.",
                        r.action_id,
                        r.target_metric,
                        num(r.delta)
                    ));
                }
                (Outcome::Inconclusive, true, _) => {
                    if let Some(d) = c.design.as_mut() {
                        c.kind = ActionType::Experiment;
                        c.flexible = false;
                        d.sample_factor = 2;
                        c.notes.push_str(&format!(
                            " Extends {}, which was inconclusive, with twice the sample.",
                            r.action_id
                        ));
                    }
                }
                _ => {}
            }
        }
        ranked.push((rank, c));
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    ranked.into_iter().map(|(_, c)| c).collect()
}

/// What screening decided for one candidate.
enum Screen {
    Accept(Candidate),
    Skip(String),
    Gate(Candidate),
}

struct Selector<'a> {
    input: &'a KernelInput,
    diag: &'a Diagnosis,
    settings: &'a Settings,
    touched: BTreeSet<String>,
    spent: f64,
}

impl Selector<'_> {
    fn screen(&self, mut c: Candidate) -> Screen {
        if !lever_allowed(self.input, c.lever) {
            return Screen::Skip(format!(
                "{}: needs the `{}` lever, which is not in allowed_levers",
                describe(&c),
                lever_name(c.lever)
            ));
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
                return Screen::Skip(format!(
                    "{}: max_experiment_exposure_pct is 0, so no experiment can run",
                    describe(&c)
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
                    return Screen::Skip(format!(
                        "{}: `{}:{}` is in blocked_actions",
                        describe(&c),
                        c.owner.as_str(),
                        type_str(c.kind)
                    ));
                }
            }
        }
        if self.diag.economics_breached() && c.adds_spend() {
            return Screen::Gate(c);
        }
        if c.campaigns.iter().any(|id| self.touched.contains(id)) {
            return Screen::Skip(format!(
                "{}: an earlier action already changes the same campaign",
                describe(&c)
            ));
        }
        let add = c.additional_spend();
        if let Some(cap) = self.settings.spend_cap
            && add > 0.0
        {
            let remaining = ((cap - self.spent) * 100.0).floor() / 100.0;
            if remaining < 1.0 {
                return Screen::Skip(format!(
                    "{}: the cycle's spend cap of {} (max_daily_spend × {} days) is used up",
                    describe(&c),
                    num(cap),
                    self.settings.window_days
                ));
            }
            if add > remaining {
                if let Some(b) = c.budget.as_mut() {
                    b.delta = remaining;
                    c.extra_spend = 0.0;
                } else {
                    c.extra_spend = remaining;
                }
                c.notes.push_str(&format!(
                    " Capped at {} extra spend by max_daily_spend.",
                    num(remaining)
                ));
            }
        }
        Screen::Accept(c)
    }

    fn accept(&mut self, c: Candidate, sel: &mut Selection) -> usize {
        self.spent += c.additional_spend();
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
        let from = stats.iter().rev().find(|s| {
            &s.campaign.id != to_id
                && !self.touched.contains(&s.campaign.id)
                && s.campaign.budget_total - s.campaign.budget_spent >= 1.0
        })?;
        let room = from.campaign.budget_total - from.campaign.budget_spent;
        let metric = self
            .diag
            .breaches
            .iter()
            .map(|b| b.metric)
            .find(|m| *m != "gross_margin")
            .unwrap_or("cac_blended");
        let stop = gated.abort.first()?.clone();
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

fn lever_name(lever: Lever) -> &'static str {
    match lever {
        Lever::Campaigns => "campaigns",
        Lever::Channels => "channels",
        Lever::Sequences => "sequences",
        Lever::Pricing => "pricing",
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
    let pool = apply_learning(pool, past, &mut sel.skipped);
    let mut selector = Selector {
        input,
        diag,
        settings,
        touched: BTreeSet::new(),
        spent: 0.0,
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
                let breach = diag
                    .breaches
                    .first()
                    .map(|b| {
                        format!(
                            "{} is {} against a limit of {}",
                            b.metric,
                            num(b.value),
                            num(b.limit)
                        )
                    })
                    .unwrap_or_default();
                let adds = match c.additional_spend() {
                    x if x > 0.0 => format!("this one adds up to {}", num(x)),
                    _ => "this one grows spend".to_owned(),
                };
                let mut reason =
                    format!("CFO gate: {breach}, so no action may add spend ({adds}).");
                let replaced = match selector.replacement(&c).map(|r| selector.screen(r)) {
                    Some(Screen::Accept(r)) => {
                        reason.push_str(" Turned into a budget reallocation with no net spend.");
                        Some(selector.accept(r, &mut sel))
                    }
                    Some(Screen::Skip(why)) => {
                        reason.push_str(&format!(
                            " The reallocation was not possible either: {why}."
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
        spent: 0.0,
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

/// The subsystems (with the lever each needs) that may run a measurement
/// `config_change`, in preference order.
pub(crate) fn measurement_owners(input: &KernelInput) -> Vec<(OwnerSubsystem, Lever)> {
    let mut out = Vec::new();
    for (owner, lever) in [
        (OwnerSubsystem::Campaigns, Lever::Campaigns),
        (OwnerSubsystem::Campaigns, Lever::Channels),
        (OwnerSubsystem::Crm, Lever::Sequences),
        (OwnerSubsystem::Pricing, Lever::Pricing),
    ] {
        if lever_allowed(input, lever)
            && !is_blocked(input, owner, ActionType::ConfigChange)
            && !out.iter().any(|(o, _)| *o == owner)
        {
            out.push((owner, lever));
        }
    }
    out
}
