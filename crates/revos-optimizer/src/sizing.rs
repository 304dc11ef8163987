//! Experiments designed to finish: exposure and window sized from the
//! tenant's own volume, so the powered sample is reached before the test is
//! judged.
//!
//! For an experiment on a funnel rate, the units that enter the tested step
//! per day come from the step's count metric (visits for
//! `visit_to_lead_rate`, leads for `lead_to_mql_rate`, MQLs, SQLs, and
//! closed deals for `win_rate`), read as a total over the analysis window
//! — the scale the snapshot's flow metrics and the tenant's targets use.
//! The treatment runs at the exposure cap; the window is the number of days
//! the smaller arm needs to reach the per-group sample of a
//! [`crate::MIN_DETECTABLE_EFFECT`] lift, at least the cycle's window and at
//! most [`MAX_EXPERIMENT_WINDOW_FACTOR`] times it (and never beyond
//! [`crate::MAX_OBSERVATION_DAYS`]).
//!
//! When that window cannot be reached, the test is powered for a larger
//! effect if one of [`LARGER_EFFECTS`] fits; otherwise no experiment is
//! proposed: the change becomes a staged full change, ramped in by its
//! owner and stopped by its baseline-relative abort condition, and the note
//! says why. An extension of an inconclusive test doubles the window per
//! earlier run (within the same limit), never the required sample.

use crate::candidates::{Candidate, Design};
use crate::settings::{MAX_OBSERVATION_DAYS, MIN_DETECTABLE_EFFECT, Settings};
use crate::snapshot::{Snapshot, num, pct};
use crate::stats;
use revos_contracts::kernel_io::{ActionType, KernelInput};

/// The longest experiment window, in cycle windows.
pub const MAX_EXPERIMENT_WINDOW_FACTOR: u32 = 3;

/// Larger effects a test may be powered for when volume is too low for
/// the default one.
pub const LARGER_EFFECTS: [f64; 2] = [0.3, 0.5];

/// The count metric whose units enter the step a rate measures.
fn unit_metric(rate: &str) -> Option<&'static [&'static str]> {
    Some(match rate {
        "visit_to_lead_rate" => &["website_visits"],
        "lead_to_mql_rate" => &["leads_new"],
        "mql_to_sql_rate" => &["mqls_new"],
        "sql_to_opp_rate" => &["sqls_new"],
        "win_rate" => &["opps_won", "opps_lost"],
        _ => return None,
    })
}

/// Units entering the tested step per day, if the input tells.
pub(crate) fn daily_units(rate: &str, input: &KernelInput, snap: &Snapshot) -> Option<f64> {
    let ids = unit_metric(rate)?;
    let total: f64 = ids.iter().map(|id| snap.get(id)).sum::<Option<f64>>()?;
    let w = &input.analysis_window;
    let days = ((w.end_date - w.start_date).num_days() + 1).max(1) as f64;
    Some(total / days).filter(|u| *u > 0.0)
}

/// The baseline and the rate the test must tell apart from it.
pub(crate) fn rates(design: &Design) -> (f64, f64) {
    if design.guard {
        let (p1, _) = stats::lift_target(design.baseline, 0.0);
        (p1, p1 * (1.0 - design.mde))
    } else {
        stats::lift_target(design.baseline, design.mde)
    }
}

/// The per-group sample of `design` (never below the tenant's minimum).
pub(crate) fn sample_per_group(design: &Design, settings: &Settings) -> u32 {
    let (p1, p2) = rates(design);
    stats::two_proportion_sample_size(p1, p2)
        .unwrap_or(settings.min_sample)
        .max(settings.min_sample)
}

/// Sizes the experiment candidate `c`: its window (and effect), or a
/// staged full change when no window within the limits reaches the sample.
pub(crate) fn size(c: &mut Candidate, input: &KernelInput, snap: &Snapshot, settings: &Settings) {
    let Some(design) = c.design.clone() else {
        return;
    };
    let longest =
        (settings.window_days * MAX_EXPERIMENT_WINDOW_FACTOR).clamp(1, MAX_OBSERVATION_DAYS);
    let stretch = 2_f64.powi(design.extensions.min(4) as i32);
    let Some(units) = daily_units(design.success_metric, input, snap) else {
        // Volume unknown: the cycle's window, doubled per extension.
        if design.extensions > 0 {
            let window = (f64::from(settings.window_days) * stretch).ceil() as u32;
            c.window_days = Some(window.clamp(settings.window_days, longest));
        }
        return;
    };
    let exposure = settings.exposure_cap.clamp(0.0, 100.0) / 100.0;
    // The smaller arm decides when both reach the sample.
    let per_day = units * exposure.min(1.0 - exposure);
    let days_for = |d: &Design| -> f64 {
        let n = f64::from(sample_per_group(d, settings));
        if per_day > 0.0 {
            (n / per_day).ceil()
        } else {
            f64::INFINITY
        }
    };
    let mut chosen: Option<(Design, f64)> = None;
    for mde in std::iter::once(design.mde.max(MIN_DETECTABLE_EFFECT)).chain(LARGER_EFFECTS) {
        let d = Design {
            mde,
            ..design.clone()
        };
        let days = days_for(&d);
        if days <= f64::from(longest) {
            chosen = Some((d, days));
            break;
        }
    }
    match chosen {
        Some((d, days)) => {
            // An extension runs longer than the last run: twice per run.
            let base = days.max(f64::from(settings.window_days));
            let window = ((base * stretch).ceil() as u32).clamp(settings.window_days, longest);
            if d.mde > design.mde + 1e-9 {
                c.notes.push_str(&format!(
                    " Powered to detect a {} change: {} units a day enter this step, too few to \
                     show a {} one within {longest} days.",
                    pct(d.mde),
                    num(units),
                    pct(design.mde)
                ));
            }
            if window > settings.window_days {
                c.notes.push_str(&format!(
                    " Runs {window} days so each group reaches its sample at {} exposure.",
                    pct(exposure)
                ));
            }
            c.design = Some(d);
            c.window_days = Some(window);
        }
        None => {
            let n = sample_per_group(&design, settings);
            c.kind = ActionType::ConfigChange;
            c.flexible = false;
            c.design = None;
            c.notes.push_str(&format!(
                " No experiment: each group would need {} units and only {} a day enter this \
                 step, more than {longest} days even for a {} effect at {} exposure; so this is \
                 a staged full change, ramped in and stopped by its abort condition.",
                num(f64::from(n)),
                num(units),
                pct(LARGER_EFFECTS[LARGER_EFFECTS.len() - 1]),
                pct(exposure)
            ));
        }
    }
}
