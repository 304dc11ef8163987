//! The facts the planner reads from a [`KernelInput`]: the latest tenant-wide
//! value of each metric, campaign and channel performance, and number
//! formatting for the sentences people read.
//!
//! Built once per [`crate::plan`] call and shared by [`crate::diagnosis`] and
//! [`crate::candidates`], so both look at the same numbers.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use revos_contracts::kernel_io::{CampaignInput, KernelInput};
use revos_contracts::metrics;

/// The latest tenant-wide value of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Latest {
    /// The value.
    pub value: f64,
    /// The day it describes.
    pub date: NaiveDate,
}

/// The latest tenant-wide value of every metric in the input.
///
/// "Tenant-wide" means the value has no `dimension`. Among the values of a
/// metric, those dated inside the analysis window win over those outside it,
/// and the latest date wins among them; ties keep the later entry of the
/// input, as a snapshot job appends corrections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    latest: BTreeMap<String, Latest>,
}

impl Snapshot {
    /// Reads the tenant-wide values of `input.metrics`.
    pub(crate) fn new(input: &KernelInput) -> Self {
        let window = &input.analysis_window;
        let in_window = |d: NaiveDate| d >= window.start_date && d <= window.end_date;
        let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
        for m in input.metrics.iter().filter(|m| m.dimension.is_none()) {
            let candidate = Latest {
                value: m.value,
                date: m.date,
            };
            let better = match latest.get(&m.metric_id) {
                None => true,
                Some(old) => {
                    let key = |l: &Latest| (in_window(l.date), l.date);
                    key(&candidate) >= key(old)
                }
            };
            if better {
                latest.insert(m.metric_id.clone(), candidate);
            }
        }
        Snapshot { latest }
    }

    /// The latest tenant-wide value of `id`, whatever its quality.
    pub(crate) fn raw(&self, id: &str) -> Option<Latest> {
        self.latest.get(id).copied()
    }

    /// The latest tenant-wide value of `id` if it is usable: finite and in
    /// the dictionary's valid range for the metric.
    pub(crate) fn get(&self, id: &str) -> Option<f64> {
        let latest = self.raw(id)?;
        match metrics::lookup(id) {
            Some(def) if def.check_value(latest.value).is_ok() => Some(latest.value),
            Some(_) => None,
            None => latest.value.is_finite().then_some(latest.value),
        }
    }
}

/// How one active campaign performs.
#[derive(Debug, Clone)]
pub(crate) struct CampaignStat<'a> {
    /// The campaign.
    pub campaign: &'a CampaignInput,
    /// Revenue attributed to it by the input's revenue events.
    pub revenue: f64,
    /// Attributed revenue per unit spent (spend floored at 1).
    pub roi: f64,
    /// The revenue events behind `revenue`: the noise of a return is about
    /// `1/√wins` of it.
    pub wins: usize,
}

/// The active campaigns with sane budgets, best return first (ties by id).
///
/// A campaign is active when its status is `active` (any case); campaigns
/// with a negative budget are reported as invalid data and never changed.
pub(crate) fn campaign_stats(input: &KernelInput) -> Vec<CampaignStat<'_>> {
    let mut stats: Vec<CampaignStat<'_>> = input
        .campaigns
        .iter()
        .filter(|c| c.status.trim().eq_ignore_ascii_case("active"))
        .filter(|c| campaign_is_sane(c))
        .map(|c| {
            let events: Vec<f64> = input
                .revenue_events
                .iter()
                .filter(|e| e.attributed_campaign_id.as_deref() == Some(c.id.as_str()))
                .map(|e| e.amount.max(0.0))
                .filter(|a| *a > 0.0)
                .collect();
            let revenue: f64 = events.iter().sum();
            CampaignStat {
                campaign: c,
                revenue,
                roi: revenue / c.budget_spent.max(1.0),
                wins: events.len(),
            }
        })
        .collect();
    stats.sort_by(|a, b| {
        b.roi
            .total_cmp(&a.roi)
            .then_with(|| a.campaign.id.cmp(&b.campaign.id))
    });
    stats
}

/// Whether a campaign's budget figures can be reasoned about.
pub(crate) fn campaign_is_sane(c: &CampaignInput) -> bool {
    c.budget_total.is_finite()
        && c.budget_spent.is_finite()
        && c.budget_total >= 0.0
        && c.budget_spent >= 0.0
}

/// Attributed revenue per channel, largest first (ties by name).
pub(crate) fn channel_revenue(input: &KernelInput) -> Vec<(String, f64)> {
    let mut by_channel: BTreeMap<String, f64> = BTreeMap::new();
    for e in &input.revenue_events {
        if let Some(ch) = e.attributed_channel.as_deref().map(str::trim)
            && !ch.is_empty()
        {
            *by_channel.entry(ch.to_owned()).or_default() += e.amount.max(0.0);
        }
    }
    let mut out: Vec<(String, f64)> = by_channel.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// Rounds to two decimals, so outputs read cleanly and snapshot stably.
pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Formats a number for a sentence: thousands separators and no decimals
/// from 1,000 up, otherwise at most two decimals.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1000.0 {
        let rounded = v.round();
        let digits = format!("{:.0}", rounded.abs());
        let mut grouped = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        if rounded < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else {
        let s = format!("{:.2}", round2(v));
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_owned()
        } else {
            s.to_owned()
        }
    }
}

/// Formats a fraction as a whole percentage, e.g. `0.243` → `24%`.
pub(crate) fn pct(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(1_200_000.0), "1,200,000");
        assert_eq!(num(9000.4), "9,000");
        assert_eq!(num(-12_345.0), "-12,345");
        assert_eq!(num(0.18), "0.18");
        assert_eq!(num(18.0), "18");
        assert_eq!(num(0.0), "0");
        assert_eq!(pct(0.243), "24%");
    }
}
