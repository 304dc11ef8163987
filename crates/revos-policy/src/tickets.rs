//! Support-ticket routing: an explainable risk score for a customer's
//! message, the level it gives (low, medium, high), the route that level
//! takes, the ticket's priority and the time its answer is due.
//!
//! The score is the sum of the points of every rule that applies, each
//! named in the result with what it matched:
//!
//! | rule | points |
//! |---|---|
//! | category `security` or `legal` | 60 |
//! | category `billing` or `refund` | 30 |
//! | category `account` | 15 |
//! | category `technical` | 5 |
//! | keyword (each distinct one, see [`KEYWORDS`]) | 15–60 |
//! | amount above 1,000.00 / above 100.00 | 40 / 20 |
//! | customer tier `enterprise` / `business` | 20 / 10 |
//!
//! A score of [`HIGH_FROM`] or more is high risk, [`MEDIUM_FROM`] or more
//! medium, less low. The route follows the level (seed 003): low → the
//! agent's reply is sent ([`Route::AutoSend`]); medium → the agent's reply
//! is a draft that a person approves ([`Route::DraftApprove`]); high → the
//! ticket is escalated to people and agents cannot reply
//! ([`Route::Escalate`]).
//!
//! The category, when the sender does not give one, is the first of
//! security, legal, refund, billing, account, technical whose words appear
//! in the subject or text (see [`categorize`]), else `general`.
//!
//! Priority: high risk is `urgent` from a score of [`URGENT_FROM`], else
//! `high`; medium risk is `medium`; low risk is `low`. An enterprise
//! customer's ticket is at least `high`. The answer is due
//! [`SlaHours`] after the message (urgent 1 h, high 4 h, medium 24 h, low
//! 72 h by default; a tenant may set its own).
//!
//! Pure: no I/O, no clock (the caller passes the time in).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::tools::RiskLevel;

/// From this score a ticket is high risk.
pub const HIGH_FROM: u32 = 60;
/// From this score a ticket is medium risk.
pub const MEDIUM_FROM: u32 = 25;
/// From this score a high-risk ticket is `urgent`.
pub const URGENT_FROM: u32 = 100;

/// The categories a ticket can have.
pub const CATEGORIES: [&str; 7] = [
    "security",
    "legal",
    "refund",
    "billing",
    "account",
    "technical",
    "general",
];

/// The customer tiers the score knows (others count as `free`).
pub const TIERS: [&str; 4] = ["free", "pro", "business", "enterprise"];

/// The priorities, lowest first.
pub const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];

/// Words that raise the score, with their points: (word, points). A word
/// matches as a whole word, case-insensitively; each counts once.
pub const KEYWORDS: [(&str, u32); 16] = [
    ("lawyer", 60),
    ("attorney", 60),
    ("lawsuit", 60),
    ("chargeback", 50),
    ("fraud", 50),
    ("breach", 50),
    ("hacked", 50),
    ("gdpr", 40),
    ("dispute", 30),
    ("refund", 25),
    ("cancel", 20),
    ("cancellation", 20),
    ("complaint", 20),
    ("urgent", 15),
    ("invoice", 15),
    ("charged", 15),
];

/// Words that name a category, in the order categories are tried.
const CATEGORY_WORDS: [(&str, &[&str]); 6] = [
    (
        "security",
        &["breach", "hacked", "phishing", "vulnerability", "security"],
    ),
    (
        "legal",
        &["lawyer", "attorney", "lawsuit", "legal", "gdpr", "court"],
    ),
    ("refund", &["refund", "chargeback", "money back"]),
    (
        "billing",
        &["invoice", "billing", "charged", "payment", "subscription"],
    ),
    (
        "account",
        &["password", "login", "log in", "account", "sign in"],
    ),
    ("technical", &["error", "bug", "crash", "broken", "api"]),
];

/// The facts of a customer's message the score reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// The subject.
    pub subject: &'a str,
    /// The text.
    pub text: &'a str,
    /// The category the sender gave, if any (one of [`CATEGORIES`]).
    pub category: Option<&'a str>,
    /// An amount at stake, in cents.
    pub amount_cents: Option<i64>,
    /// The customer's tier (one of [`TIERS`]).
    pub customer_tier: Option<&'a str>,
}

/// One rule that applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factor {
    /// The rule: `category`, `keyword`, `amount` or `customer_tier`.
    pub rule: String,
    /// What it matched (`billing`, `chargeback`, `150000`, `enterprise`).
    pub matched: String,
    /// The points it added.
    pub points: u32,
}

/// What happens to the agent's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Low risk: the agent's reply is sent.
    AutoSend,
    /// Medium risk: the agent's reply waits for a person's approval.
    DraftApprove,
    /// High risk: people handle the ticket; agents cannot reply.
    Escalate,
}

impl Route {
    /// The spelling on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Route::AutoSend => "auto_send",
            Route::DraftApprove => "draft_approve",
            Route::Escalate => "escalate",
        }
    }

    /// The route of a level.
    pub const fn of(level: RiskLevel) -> Route {
        match level {
            RiskLevel::Low => Route::AutoSend,
            RiskLevel::Medium => Route::DraftApprove,
            RiskLevel::High => Route::Escalate,
        }
    }
}

/// The routing of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The category (given, or found in the words).
    pub category: String,
    /// The score: the sum of the factors' points.
    pub score: u32,
    /// The level the score gives.
    pub level: RiskLevel,
    /// Every rule that applied.
    pub factors: Vec<Factor>,
    /// The priority.
    pub priority: &'static str,
    /// What happens to an agent's reply.
    pub route: Route,
}

/// How long an answer may take, by priority, in hours (each 1 to
/// [`MAX_SLA_HOURS`]; a field left out keeps its default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaHours {
    /// `urgent`.
    pub urgent: u32,
    /// `high`.
    pub high: u32,
    /// `medium`.
    pub medium: u32,
    /// `low`.
    pub low: u32,
}

impl Default for SlaHours {
    fn default() -> Self {
        SlaHours {
            urgent: 1,
            high: 4,
            medium: 24,
            low: 72,
        }
    }
}

/// The longest SLA: 30 days.
pub const MAX_SLA_HOURS: u32 = 720;

impl SlaHours {
    /// The priorities whose hours are out of bounds (1 to [`MAX_SLA_HOURS`]).
    pub fn out_of_bounds(&self) -> Vec<&'static str> {
        [
            ("urgent", self.urgent),
            ("high", self.high),
            ("medium", self.medium),
            ("low", self.low),
        ]
        .into_iter()
        .filter(|(_, h)| !(1..=MAX_SLA_HOURS).contains(h))
        .map(|(p, _)| p)
        .collect()
    }

    /// When an answer to a message of `priority` received at `at` is due.
    pub fn due(&self, priority: &str, at: DateTime<Utc>) -> DateTime<Utc> {
        let hours = match priority {
            "urgent" => self.urgent,
            "high" => self.high,
            "medium" => self.medium,
            _ => self.low,
        };
        at + Duration::hours(i64::from(hours))
    }
}

/// The words of `s`, lower case: runs of letters and digits.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `phrase` (one or more words) appears as whole words in `ws`.
fn has_phrase(ws: &[String], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    ws.windows(p.len())
        .any(|w| w.iter().zip(&p).all(|(a, b)| a == b))
}

/// The category of a message by its words (see the [module](self)).
pub fn categorize(subject: &str, text: &str) -> &'static str {
    let ws = words(&format!("{subject} {text}"));
    CATEGORY_WORDS
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| has_phrase(&ws, p)))
        .map_or("general", |(c, _)| c)
}

/// The level of a score.
pub const fn level_of(score: u32) -> RiskLevel {
    if score >= HIGH_FROM {
        RiskLevel::High
    } else if score >= MEDIUM_FROM {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    }
}

/// The priority of a routing's level and score for a customer's tier.
pub fn priority_of(level: RiskLevel, score: u32, tier: Option<&str>) -> &'static str {
    let p = match level {
        RiskLevel::High if score >= URGENT_FROM => "urgent",
        RiskLevel::High => "high",
        RiskLevel::Medium => "medium",
        RiskLevel::Low => "low",
    };
    if tier == Some("enterprise") && (p == "low" || p == "medium") {
        "high"
    } else {
        p
    }
}

/// Scores a message and routes it (see the [module](self)). `facts.category`
/// and `facts.customer_tier` are expected to be checked by the caller;
/// an unknown category counts as `general`, an unknown tier as `free`.
pub fn route(facts: &Facts<'_>) -> Routing {
    let category = facts
        .category
        .and_then(|c| CATEGORIES.iter().find(|k| **k == c).copied())
        .unwrap_or_else(|| categorize(facts.subject, facts.text));
    let mut factors = Vec::new();
    let category_points = match category {
        "security" | "legal" => 60,
        "billing" | "refund" => 30,
        "account" => 15,
        "technical" => 5,
        _ => 0,
    };
    if category_points > 0 {
        factors.push(Factor {
            rule: "category".into(),
            matched: category.into(),
            points: category_points,
        });
    }
    let ws = words(&format!("{} {}", facts.subject, facts.text));
    for (word, points) in KEYWORDS {
        if has_phrase(&ws, word) {
            factors.push(Factor {
                rule: "keyword".into(),
                matched: word.into(),
                points,
            });
        }
    }
    if let Some(amount) = facts.amount_cents {
        let points = if amount > 100_000 {
            40
        } else if amount > 10_000 {
            20
        } else {
            0
        };
        if points > 0 {
            factors.push(Factor {
                rule: "amount".into(),
                matched: amount.to_string(),
                points,
            });
        }
    }
    let tier_points = match facts.customer_tier {
        Some("enterprise") => 20,
        Some("business") => 10,
        _ => 0,
    };
    if let Some(tier) = facts.customer_tier.filter(|_| tier_points > 0) {
        factors.push(Factor {
            rule: "customer_tier".into(),
            matched: tier.into(),
            points: tier_points,
        });
    }
    let score = factors.iter().map(|f| f.points).sum();
    let level = level_of(score);
    Routing {
        category: category.to_owned(),
        score,
        level,
        priority: priority_of(level, score, facts.customer_tier),
        route: Route::of(level),
        factors,
    }
}

/// One sentence per factor: `keyword "refund": +25`.
pub fn explain(factors: &[Factor]) -> Vec<String> {
    factors
        .iter()
        .map(|f| format!("{} `{}`: +{}", f.rule, f.matched, f.points))
        .collect()
}

/// The ticket reference token a subject carries, `[#T-…]`, if any: the
/// reference without the brackets and `#`.
pub fn reference_in(subject: &str) -> Option<&str> {
    let start = subject.find("[#")? + 2;
    let rest = &subject[start..];
    let end = rest.find(']')?;
    let token = rest[..end].trim();
    let ok = token.len() > 2
        && token.len() <= 40
        && token.starts_with("T-")
        && token[2..].bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn facts(subject: &'static str, text: &'static str) -> Facts<'static> {
        Facts {
            subject,
            text,
            ..Facts::default()
        }
    }

    fn points(r: &Routing, rule: &str) -> Vec<(String, u32)> {
        r.factors
            .iter()
            .filter(|f| f.rule == rule)
            .map(|f| (f.matched.clone(), f.points))
            .collect()
    }

    #[test]
    fn a_plain_question_is_low_risk_and_sent() {
        let r = route(&facts("How do I export a report?", "Where is the button?"));
        assert_eq!(r.category, "general");
        assert_eq!(r.score, 0);
        assert_eq!(r.level, RiskLevel::Low);
        assert_eq!(r.route, Route::AutoSend);
        assert_eq!(r.priority, "low");
        assert!(r.factors.is_empty());
    }

    #[test]
    fn the_category_rule() {
        for (cat, pts) in [
            ("security", 60),
            ("legal", 60),
            ("billing", 30),
            ("refund", 30),
            ("account", 15),
            ("technical", 5),
        ] {
            let r = route(&Facts {
                category: Some(cat),
                ..facts("Hello", "A question")
            });
            assert_eq!(r.category, cat);
            assert_eq!(points(&r, "category"), vec![(cat.to_owned(), pts)], "{cat}");
        }
        let r = route(&Facts {
            category: Some("general"),
            ..facts("Hello", "A question")
        });
        assert!(points(&r, "category").is_empty());
        // Security and legal alone are high risk; billing alone medium.
        assert_eq!(
            route(&Facts {
                category: Some("legal"),
                ..facts("Hi", "")
            })
            .level,
            RiskLevel::High
        );
        assert_eq!(
            route(&Facts {
                category: Some("billing"),
                ..facts("Hi", "")
            })
            .level,
            RiskLevel::Medium
        );
    }

    #[test]
    fn the_category_is_found_in_the_words_when_not_given() {
        assert_eq!(categorize("Account hacked", ""), "security");
        assert_eq!(categorize("", "my lawyer will call"), "legal");
        assert_eq!(categorize("Refund please", "the invoice"), "refund");
        assert_eq!(categorize("Invoice 42", ""), "billing");
        assert_eq!(categorize("Cannot log in", ""), "account");
        assert_eq!(categorize("", "the API returns an error"), "technical");
        assert_eq!(categorize("Thanks", "great product"), "general");
        // Whole words only.
        assert_eq!(categorize("Rapid", "rapids"), "general");
    }

    #[test]
    fn the_keyword_rule_counts_each_word_once() {
        let r = route(&facts("Refund", "refund REFUND, or I file a chargeback"));
        assert_eq!(
            points(&r, "keyword"),
            vec![("chargeback".to_owned(), 50), ("refund".to_owned(), 25)]
        );
        // category refund 30 + 50 + 25
        assert_eq!(r.score, 105);
        assert_eq!(r.level, RiskLevel::High);
        assert_eq!(r.priority, "urgent");
        assert_eq!(r.route, Route::Escalate);
        // Not inside other words.
        let r = route(&facts("Cancelled?", "uncanceled"));
        assert!(points(&r, "keyword").is_empty());
        let r = route(&facts("Please cancel my plan", ""));
        assert_eq!(points(&r, "keyword"), vec![("cancel".to_owned(), 20)]);
        assert_eq!(r.level, RiskLevel::Low);
        let r = route(&facts("GDPR request", "delete my data"));
        assert!(points(&r, "keyword").contains(&("gdpr".to_owned(), 40)));
        assert_eq!(r.level, RiskLevel::High);
    }

    #[test]
    fn the_amount_rule() {
        for (amount, pts) in [
            (None, 0),
            (Some(10_000), 0),
            (Some(10_001), 20),
            (Some(100_001), 40),
        ] {
            let r = route(&Facts {
                amount_cents: amount,
                ..facts("Question", "about my plan")
            });
            let got: u32 = points(&r, "amount").iter().map(|p| p.1).sum();
            assert_eq!(got, pts, "{amount:?}");
        }
        let r = route(&Facts {
            amount_cents: Some(500_000),
            ..facts("Question", "about my plan")
        });
        assert_eq!(r.level, RiskLevel::Medium);
    }

    #[test]
    fn the_tier_rule() {
        for (tier, pts) in [
            ("free", 0),
            ("pro", 0),
            ("business", 10),
            ("enterprise", 20),
        ] {
            let r = route(&Facts {
                customer_tier: Some(tier),
                ..facts("Question", "about my plan")
            });
            let got: u32 = points(&r, "customer_tier").iter().map(|p| p.1).sum();
            assert_eq!(got, pts, "{tier}");
        }
        // An enterprise customer is answered at high priority at least.
        let r = route(&Facts {
            customer_tier: Some("enterprise"),
            ..facts("Question", "about my plan")
        });
        assert_eq!(r.level, RiskLevel::Low);
        assert_eq!(r.priority, "high");
    }

    #[test]
    fn levels_and_priorities_by_score() {
        assert_eq!(level_of(0), RiskLevel::Low);
        assert_eq!(level_of(MEDIUM_FROM - 1), RiskLevel::Low);
        assert_eq!(level_of(MEDIUM_FROM), RiskLevel::Medium);
        assert_eq!(level_of(HIGH_FROM - 1), RiskLevel::Medium);
        assert_eq!(level_of(HIGH_FROM), RiskLevel::High);
        assert_eq!(priority_of(RiskLevel::High, URGENT_FROM, None), "urgent");
        assert_eq!(priority_of(RiskLevel::High, HIGH_FROM, None), "high");
        assert_eq!(priority_of(RiskLevel::Medium, 30, None), "medium");
        assert_eq!(priority_of(RiskLevel::Low, 0, Some("pro")), "low");
        let r = route(&facts("Invoice question", "why was I charged twice?"));
        // billing 30 + invoice 15 + charged 15
        assert_eq!(r.score, 60);
        assert_eq!(r.level, RiskLevel::High);
        assert_eq!(
            explain(&r.factors),
            vec![
                "category `billing`: +30",
                "keyword `invoice`: +15",
                "keyword `charged`: +15"
            ]
        );
    }

    #[test]
    fn sla_due_times_by_priority() {
        let at = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        let sla = SlaHours::default();
        assert_eq!(sla.due("urgent", at), at + Duration::hours(1));
        assert_eq!(sla.due("high", at), at + Duration::hours(4));
        assert_eq!(sla.due("medium", at), at + Duration::hours(24));
        assert_eq!(sla.due("low", at), at + Duration::hours(72));
    }

    #[test]
    fn sla_hours_are_configurable_within_bounds() {
        let sla: SlaHours = serde_json::from_str(r#"{"low": 8}"#).unwrap();
        assert_eq!(sla.low, 8);
        assert_eq!(sla.urgent, 1);
        assert!(sla.out_of_bounds().is_empty());
        let bad = SlaHours {
            urgent: 0,
            low: MAX_SLA_HOURS + 1,
            ..SlaHours::default()
        };
        assert_eq!(bad.out_of_bounds(), vec!["urgent", "low"]);
        assert!(serde_json::from_str::<SlaHours>(r#"{"normal": 8}"#).is_err());
    }

    #[test]
    fn reference_tokens_in_subjects() {
        assert_eq!(reference_in("Re: Help [#T-1A2B3C4D]"), Some("T-1A2B3C4D"));
        assert_eq!(reference_in("Help [#T-]"), None);
        assert_eq!(reference_in("Help [#X-12]"), None);
        assert_eq!(reference_in("Help [#T-12 ]"), Some("T-12"));
        assert_eq!(reference_in("Help [#T-1;2]"), None);
        assert_eq!(reference_in("Help"), None);
    }
}
