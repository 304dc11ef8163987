//! The safe-send gate: whether a marketing send (an agent's
//! `send_campaign`) goes out now, waits for a person, or is blocked — and to
//! whom, once suppressed addresses are removed.
//!
//! Pure: the caller gathers the facts ([`Facts`]: the template version, the
//! tenant's verified domains, the suppressed recipients, whether the
//! version was sent before) and acts on the [`Gate`]. Every rule gives a
//! reason with a stable code, so an agent and an approver read why.
//!
//! | rule | verdict |
//! |---|---|
//! | the sending domain is not one of the tenant's verified domains | block |
//! | marketing mail without an unsubscribe link | block |
//! | a template that is not `marketing` sent as a campaign | block |
//! | a compliance flag of the template missing from the send | block |
//! | a throttle of 0, or above the tenant's ceiling | block |
//! | nobody left once suppressed addresses are removed | block |
//! | more recipients than the approval threshold | approval |
//! | a template version never sent before | approval |
//! | otherwise | send now |
//!
//! Suppressed recipients are always removed, whatever the verdict, and
//! counted in the reasons.

use std::collections::BTreeSet;

use serde::Serialize;

/// What the gate decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every rule is met: queue the send now.
    SendNow,
    /// A person must approve first.
    NeedsApproval,
    /// A rule is broken: nothing is sent.
    Block,
}

/// One reason, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// E.g. `unverified_domain`, `large_audience`.
    pub code: &'static str,
    /// A sentence with the numbers.
    pub message: String,
}

/// A send job as an agent asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendJob {
    /// The recipients the audience definition resolved to.
    pub recipients: Vec<String>,
    /// The domain the mail is sent from.
    pub sending_domain: String,
    /// Most e-mails per hour.
    pub throttle_per_hour: u32,
    /// Whether every message carries an unsubscribe link.
    pub unsubscribe_link: bool,
    /// The compliance flags the send declares.
    pub compliance_flags: Vec<String>,
}

/// The template version a send uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFacts {
    /// Its key.
    pub key: String,
    /// Its version.
    pub version: u32,
    /// `transactional`, `marketing` or `notification`.
    pub category: String,
    /// The flags it requires.
    pub compliance_flags: Vec<String>,
}

/// What the caller knows about the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The template version.
    pub template: TemplateFacts,
    /// Whether that version was ever sent before.
    pub version_sent_before: bool,
    /// The tenant's verified sending domains (lower case).
    pub verified_domains: Vec<String>,
    /// The recipients on the suppression list (lower case).
    pub suppressed: Vec<String>,
    /// More recipients than this need an approval.
    pub approval_threshold: u32,
    /// The highest throttle the tenant allows, per hour.
    pub max_throttle_per_hour: u32,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// What to do.
    pub verdict: Verdict,
    /// Why, every rule that fired, blocking ones first.
    pub reasons: Vec<Reason>,
    /// The recipients to send to: the audience less suppressed addresses,
    /// deduplicated, lower case, in order.
    pub recipients: Vec<String>,
    /// How many were removed as suppressed.
    pub suppressed: usize,
}

fn reason(code: &'static str, message: String) -> Reason {
    Reason { code, message }
}

/// Decides a send.
pub fn decide(job: &SendJob, facts: &Facts) -> Gate {
    let mut blocks = Vec::new();
    let mut approvals = Vec::new();

    let domain = job.sending_domain.trim().to_ascii_lowercase();
    if !facts.verified_domains.iter().any(|d| d == &domain) {
        blocks.push(reason(
            "unverified_domain",
            format!(
                "`{domain}` is not a verified sending domain of this tenant (verified: {})",
                if facts.verified_domains.is_empty() {
                    "none".to_owned()
                } else {
                    facts.verified_domains.join(", ")
                }
            ),
        ));
    }
    let t = &facts.template;
    if t.category != "marketing" {
        blocks.push(reason(
            "not_a_marketing_template",
            format!(
                "template {}@{} is `{}`; a campaign sends marketing mail, so it needs a \
                 `marketing` template (and its rules)",
                t.key, t.version, t.category
            ),
        ));
    }
    if !job.unsubscribe_link {
        blocks.push(reason(
            "no_unsubscribe_link",
            "marketing mail must carry an unsubscribe link".to_owned(),
        ));
    }
    let declared: BTreeSet<&str> = job.compliance_flags.iter().map(String::as_str).collect();
    let missing: Vec<&str> = t
        .compliance_flags
        .iter()
        .map(String::as_str)
        .filter(|f| !declared.contains(f))
        .collect();
    if !missing.is_empty() {
        blocks.push(reason(
            "compliance_flag_missing",
            format!(
                "template {}@{} requires {}, which the send does not declare",
                t.key,
                t.version,
                missing.join(", ")
            ),
        ));
    }
    if job.throttle_per_hour == 0 || job.throttle_per_hour > facts.max_throttle_per_hour {
        blocks.push(reason(
            "throttle_out_of_range",
            format!(
                "a throttle of {} e-mails an hour is outside 1 to {}",
                job.throttle_per_hour, facts.max_throttle_per_hour
            ),
        ));
    }

    let suppressed: BTreeSet<&str> = facts.suppressed.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    let mut recipients = Vec::new();
    let mut removed = 0;
    for r in &job.recipients {
        let r = r.trim().to_ascii_lowercase();
        if !seen.insert(r.clone()) {
            continue;
        }
        if suppressed.contains(r.as_str()) {
            removed += 1;
        } else {
            recipients.push(r);
        }
    }
    let mut notes = Vec::new();
    if removed > 0 {
        notes.push(reason(
            "suppressed_removed",
            format!("{removed} suppressed recipient(s) removed from the audience"),
        ));
    }
    if recipients.is_empty() {
        blocks.push(reason(
            "empty_audience",
            "nobody is left to send to once suppressed addresses are removed".to_owned(),
        ));
    }
    let n = recipients.len();
    if n > facts.approval_threshold as usize {
        approvals.push(reason(
            "large_audience",
            format!(
                "{n} recipients, more than the {} this tenant sends without approval",
                facts.approval_threshold
            ),
        ));
    }
    if !facts.version_sent_before {
        approvals.push(reason(
            "new_template_version",
            format!(
                "template {}@{} has never been sent before",
                t.key, t.version
            ),
        ));
    }
    let verdict = if !blocks.is_empty() {
        Verdict::Block
    } else if !approvals.is_empty() {
        Verdict::NeedsApproval
    } else {
        Verdict::SendNow
    };
    let mut reasons = blocks;
    reasons.extend(approvals);
    reasons.extend(notes);
    Gate {
        verdict,
        reasons,
        recipients,
        suppressed: removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> SendJob {
        SendJob {
            recipients: vec!["a@x.io".into(), "B@x.io".into(), "c@x.io".into()],
            sending_domain: "news.acme.test".into(),
            throttle_per_hour: 500,
            unsubscribe_link: true,
            compliance_flags: vec!["can_spam".into()],
        }
    }

    fn facts() -> Facts {
        Facts {
            template: TemplateFacts {
                key: "spring_newsletter".into(),
                version: 3,
                category: "marketing".into(),
                compliance_flags: vec!["can_spam".into()],
            },
            version_sent_before: true,
            verified_domains: vec!["news.acme.test".into()],
            suppressed: vec![],
            approval_threshold: 500,
            max_throttle_per_hour: 10_000,
        }
    }

    fn codes(g: &Gate) -> Vec<&'static str> {
        g.reasons.iter().map(|r| r.code).collect()
    }

    /// The decision table, one row per rule.
    #[test]
    fn each_rule_decides_as_its_row_says() {
        type Case = (
            &'static str,
            fn(&mut SendJob, &mut Facts),
            Verdict,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            ("all rules met", |_, _| {}, Verdict::SendNow, ""),
            (
                "unverified domain",
                |j, _| j.sending_domain = "mail.other.test".into(),
                Verdict::Block,
                "unverified_domain",
            ),
            (
                "no unsubscribe link",
                |j, _| j.unsubscribe_link = false,
                Verdict::Block,
                "no_unsubscribe_link",
            ),
            (
                "transactional template as a campaign",
                |_, f| f.template.category = "transactional".into(),
                Verdict::Block,
                "not_a_marketing_template",
            ),
            (
                "compliance flag missing",
                |_, f| f.template.compliance_flags.push("gdpr".into()),
                Verdict::Block,
                "compliance_flag_missing",
            ),
            (
                "throttle 0",
                |j, _| j.throttle_per_hour = 0,
                Verdict::Block,
                "throttle_out_of_range",
            ),
            (
                "throttle above the ceiling",
                |j, _| j.throttle_per_hour = 20_000,
                Verdict::Block,
                "throttle_out_of_range",
            ),
            (
                "everyone suppressed",
                |_, f| f.suppressed = vec!["a@x.io".into(), "b@x.io".into(), "c@x.io".into()],
                Verdict::Block,
                "empty_audience",
            ),
            (
                "audience above the threshold",
                |_, f| f.approval_threshold = 2,
                Verdict::NeedsApproval,
                "large_audience",
            ),
            (
                "a version never sent",
                |_, f| f.version_sent_before = false,
                Verdict::NeedsApproval,
                "new_template_version",
            ),
            (
                "a block wins over an approval",
                |j, f| {
                    j.unsubscribe_link = false;
                    f.version_sent_before = false;
                },
                Verdict::Block,
                "no_unsubscribe_link",
            ),
        ];
        for (name, change, verdict, code) in cases {
            let (mut j, mut f) = (job(), facts());
            change(&mut j, &mut f);
            let g = decide(&j, &f);
            assert_eq!(g.verdict, verdict, "{name}: {:?}", g.reasons);
            if code.is_empty() {
                assert!(g.reasons.is_empty(), "{name}: {:?}", g.reasons);
            } else {
                assert_eq!(g.reasons[0].code, code, "{name}: {:?}", g.reasons);
            }
        }
    }

    #[test]
    fn suppressed_recipients_are_removed_whatever_the_verdict() {
        let mut f = facts();
        f.suppressed = vec!["b@x.io".into()];
        let mut j = job();
        j.recipients.push(" A@X.io ".into());
        let g = decide(&j, &f);
        assert_eq!(g.verdict, Verdict::SendNow);
        assert_eq!(g.recipients, vec!["a@x.io", "c@x.io"]);
        assert_eq!(g.suppressed, 1);
        assert_eq!(codes(&g), vec!["suppressed_removed"]);

        f.version_sent_before = false;
        let g = decide(&j, &f);
        assert_eq!(g.verdict, Verdict::NeedsApproval);
        assert_eq!(g.recipients, vec!["a@x.io", "c@x.io"]);
        assert_eq!(
            codes(&g),
            vec!["new_template_version", "suppressed_removed"]
        );
    }

    #[test]
    fn the_threshold_counts_recipients_after_suppression() {
        let mut f = facts();
        f.approval_threshold = 2;
        f.suppressed = vec!["c@x.io".into()];
        let g = decide(&job(), &f);
        assert_eq!(g.verdict, Verdict::SendNow, "{:?}", g.reasons);
    }
}
