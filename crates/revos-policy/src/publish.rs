//! The publish pipeline's rules: what a post's content may hold, its
//! content hash, and whether a draft may be submitted for publication.
//!
//! A post is checked before people are asked to approve it. Two checks
//! revos computes itself from the content — `source_urls` (the post says
//! where its information comes from) and `claims` (the statements it makes
//! are listed) — and two are attached by an agent or a person —
//! `fact_check` and `tone_check`, each `pass` or `fail` with notes. An
//! attached check belongs to the content it was made on: it carries the
//! [`content_hash`] of that content, and once the content changes it no
//! longer counts (the post needs that check again). Of several checks of
//! one name on the current content, the latest counts. [`evaluate`] names
//! every check that is failing or missing; a draft may be submitted only
//! when there is none.
//!
//! Pure: no I/O, no clock (times come with the checks).

use chrono::{DateTime, Utc};
use revos_contracts::ErrorCode;
use revos_contracts::validation::Violation;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The checks attached by an agent or a person.
pub const ATTACHED_CHECKS: [&str; 2] = ["fact_check", "tone_check"];

/// The checks revos computes from the content.
pub const COMPUTED_CHECKS: [&str; 2] = ["source_urls", "claims"];

/// A post's kind, which is its priority on the `publish` queue (seed 003's
/// classes, most urgent first).
pub const KINDS: [&str; 3] = ["news", "announcement", "update"];

/// The most source URLs, and claims, a post lists.
pub const MAX_ITEMS: usize = 100;

/// What a post says: everything the checks are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content<'a> {
    /// Where it is published (`blog`, `linkedin`, …).
    pub channel: &'a str,
    /// Its title.
    pub title: &'a str,
    /// Its text.
    pub body: &'a str,
    /// Where its information comes from.
    pub source_urls: &'a [String],
    /// The statements it makes.
    pub claims: &'a [String],
}

/// SHA-256 (hex) of the content as canonical JSON: the same content always
/// has the same hash, and any change to channel, title, text, sources or
/// claims gives another.
pub fn content_hash(c: &Content<'_>) -> String {
    let canonical = crate::stored::canonical_json(&json!({
        "channel": c.channel,
        "title": c.title,
        "body": c.body,
        "source_urls": c.source_urls,
        "claims": c.claims,
    }));
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Whether `s` names a channel: 1–50 of `a-z 0-9 _`, starting with a
/// letter (so `publish.<channel>` is a webhook endpoint name).
pub fn is_channel(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= 50
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `s` is an absolute `http` or `https` URL with a host.
pub fn is_source_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    let Some(rest) = rest else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && s.len() <= 2000 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn violation(path: &str, message: impl Into<String>) -> Violation {
    Violation::new("post", path, message, ErrorCode::InvalidInput)
}

fn text_between(out: &mut Vec<Violation>, path: &str, value: &str, max: usize) {
    let n = value.chars().count();
    if value.trim().is_empty() || n > max {
        out.push(violation(
            path,
            format!("must have 1 to {max} characters, not only spaces"),
        ));
    }
}

/// Checks the shape of a post's content and kind, naming every bad field.
/// Sources and claims may still be empty here: a draft is written before
/// it is complete; [`evaluate`] says what it lacks.
pub fn check_content(c: &Content<'_>, kind: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    if !is_channel(c.channel) {
        out.push(violation(
            "$.channel",
            "must be 1 to 50 characters of a-z, 0-9 or `_`, starting with a letter",
        ));
    }
    if !KINDS.contains(&kind) {
        out.push(violation(
            "$.kind",
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    text_between(&mut out, "$.title", c.title, 300);
    if c.title.contains(['\n', '\r']) {
        out.push(violation("$.title", "must be one line"));
    }
    text_between(&mut out, "$.body", c.body, 20_000);
    for (list, items, what) in [
        ("source_urls", c.source_urls, "URLs"),
        ("claims", c.claims, "claims"),
    ] {
        if items.len() > MAX_ITEMS {
            out.push(violation(
                &format!("$.{list}"),
                format!("at most {MAX_ITEMS} {what}, not {}", items.len()),
            ));
        }
    }
    for (i, url) in c.source_urls.iter().enumerate() {
        if !is_source_url(url) {
            out.push(violation(
                &format!("$.source_urls[{i}]"),
                "must be an absolute http or https URL (at most 2,000 characters, no spaces)",
            ));
        } else if c.source_urls[..i].contains(url) {
            out.push(violation(
                &format!("$.source_urls[{i}]"),
                format!("repeats `{url}`"),
            ));
        }
    }
    for (i, claim) in c.claims.iter().enumerate() {
        text_between(&mut out, &format!("$.claims[{i}]"), claim, 1000);
    }
    // No text holds NUL, on either backend.
    let texts = [
        ("$.channel".to_owned(), c.channel),
        ("$.title".to_owned(), c.title),
    ]
    .into_iter()
    .chain([("$.body".to_owned(), c.body)])
    .chain(
        c.source_urls
            .iter()
            .enumerate()
            .map(|(i, u)| (format!("$.source_urls[{i}]"), u.as_str())),
    )
    .chain(
        c.claims
            .iter()
            .enumerate()
            .map(|(i, x)| (format!("$.claims[{i}]"), x.as_str())),
    );
    out.extend(texts.filter_map(|(path, text)| revos_contracts::text::nul_violation(&path, text)));
    out
}

/// A check attached to a post by an agent or a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedCheck {
    /// `fact_check` or `tone_check`.
    pub name: String,
    /// `pass` or `fail`.
    pub result: String,
    /// What the checker found.
    pub notes: String,
    /// Who attached it (an agent's name or a person's actor).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The content hash of the content it was made on.
    pub content_hash: String,
}

/// Where a check stands for the current content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The check.
    pub name: String,
    /// `pass`, `fail` or `missing`.
    pub status: String,
    /// Whether revos computed it (`source_urls`, `claims`) or someone
    /// attached it.
    pub computed: bool,
    /// What was found, or what is needed.
    pub notes: String,
    /// Who attached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// The checks of a post and whether it may be submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// Every check, computed ones first, then `fact_check`, `tone_check`.
    pub checks: Vec<CheckOutcome>,
    /// One sentence per check that is failing or missing.
    pub problems: Vec<String>,
}

impl Readiness {
    /// Whether every check passes.
    pub fn ready(&self) -> bool {
        self.problems.is_empty()
    }

    /// The checks that fail or are missing, with what each needs.
    pub fn failing(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.checks.iter().filter(|c| c.status != "pass")
    }
}

fn computed(name: &str, pass: bool, notes: String) -> CheckOutcome {
    CheckOutcome {
        name: name.to_owned(),
        status: if pass { "pass" } else { "fail" }.to_owned(),
        computed: true,
        notes,
        by: None,
        at: None,
    }
}

/// The checks of `content` (whose hash is `hash`) given the checks
/// attached so far, and every reason it may not be submitted yet.
pub fn evaluate(content: &Content<'_>, hash: &str, attached: &[AttachedCheck]) -> Readiness {
    let mut checks = Vec::new();
    let sources = content.source_urls.len();
    checks.push(if sources == 0 {
        computed(
            "source_urls",
            false,
            "no source URLs: list where the post's information comes from".to_owned(),
        )
    } else {
        computed(
            "source_urls",
            true,
            format!(
                "{sources} source URL{}",
                if sources == 1 { "" } else { "s" }
            ),
        )
    });
    let claims = content.claims.len();
    checks.push(if claims == 0 {
        computed(
            "claims",
            false,
            "no claims listed: list the statements the post makes, so they can be \
             fact-checked"
                .to_owned(),
        )
    } else {
        computed(
            "claims",
            true,
            format!(
                "{claims} claim{} listed",
                if claims == 1 { "" } else { "s" }
            ),
        )
    });
    for name in ATTACHED_CHECKS {
        let latest = attached
            .iter()
            .filter(|c| c.name == name && c.content_hash == hash)
            .max_by_key(|c| c.at);
        checks.push(match latest {
            Some(c) => CheckOutcome {
                name: name.to_owned(),
                status: if c.result == "pass" { "pass" } else { "fail" }.to_owned(),
                computed: false,
                notes: c.notes.clone(),
                by: Some(c.by.clone()),
                at: Some(c.at),
            },
            None => {
                let stale = attached.iter().any(|c| c.name == name);
                CheckOutcome {
                    name: name.to_owned(),
                    status: "missing".to_owned(),
                    computed: false,
                    notes: if stale {
                        format!(
                            "the content changed since the last {name}: attach one for the \
                             current content"
                        )
                    } else {
                        format!("no {name} attached yet")
                    },
                    by: None,
                    at: None,
                }
            }
        });
    }
    let problems = checks
        .iter()
        .filter(|c| c.status != "pass")
        .map(|c| match c.status.as_str() {
            "missing" => format!("{} is missing: {}", c.name, c.notes),
            _ if c.computed => format!("{} fails: {}", c.name, c.notes),
            _ => format!(
                "{} failed ({}): {}",
                c.name,
                c.by.as_deref().unwrap_or("?"),
                c.notes
            ),
        })
        .collect();
    Readiness { checks, problems }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, 0).unwrap()
    }

    fn check(name: &str, result: &str, hash: &str, minute: u32) -> AttachedCheck {
        AttachedCheck {
            name: name.into(),
            result: result.into(),
            notes: format!("{name} says {result}"),
            by: "checker".into(),
            at: at(minute),
            content_hash: hash.into(),
        }
    }

    struct Post {
        sources: Vec<String>,
        claims: Vec<String>,
    }

    impl Post {
        fn complete() -> Post {
            Post {
                sources: strings(&["https://example.com/report"]),
                claims: strings(&["Revenue grew 12 % in Q1"]),
            }
        }

        fn content(&self) -> Content<'_> {
            Content {
                channel: "blog",
                title: "Q1 results",
                body: "Revenue grew.",
                source_urls: &self.sources,
                claims: &self.claims,
            }
        }
    }

    fn status(r: &Readiness, name: &str) -> String {
        r.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.status.clone())
            .unwrap()
    }

    fn passing(hash: &str) -> Vec<AttachedCheck> {
        vec![
            check("fact_check", "pass", hash, 1),
            check("tone_check", "pass", hash, 2),
        ]
    }

    #[test]
    fn a_complete_checked_post_is_ready() {
        let p = Post::complete();
        let hash = content_hash(&p.content());
        let r = evaluate(&p.content(), &hash, &passing(&hash));
        assert!(r.ready(), "{r:?}");
        assert_eq!(r.checks.len(), 4);
        assert_eq!(r.failing().count(), 0);
    }

    #[test]
    fn no_source_urls_fails_the_sources_check() {
        let mut p = Post::complete();
        p.sources.clear();
        let hash = content_hash(&p.content());
        let r = evaluate(&p.content(), &hash, &passing(&hash));
        assert_eq!(status(&r, "source_urls"), "fail");
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].starts_with("source_urls fails"), "{r:?}");
    }

    #[test]
    fn no_claims_fails_the_claims_check() {
        let mut p = Post::complete();
        p.claims.clear();
        let hash = content_hash(&p.content());
        let r = evaluate(&p.content(), &hash, &passing(&hash));
        assert_eq!(status(&r, "claims"), "fail");
        assert!(!r.ready());
    }

    #[test]
    fn missing_attached_checks_are_named() {
        let p = Post::complete();
        let hash = content_hash(&p.content());
        let r = evaluate(&p.content(), &hash, &[]);
        assert_eq!(status(&r, "fact_check"), "missing");
        assert_eq!(status(&r, "tone_check"), "missing");
        assert_eq!(r.problems.len(), 2);
    }

    #[test]
    fn a_failing_fact_check_is_named_with_its_notes() {
        let p = Post::complete();
        let hash = content_hash(&p.content());
        let mut attached = passing(&hash);
        attached.push(check("fact_check", "fail", &hash, 3));
        let r = evaluate(&p.content(), &hash, &attached);
        assert_eq!(status(&r, "fact_check"), "fail");
        assert_eq!(status(&r, "tone_check"), "pass");
        assert_eq!(
            r.problems,
            vec!["fact_check failed (checker): fact_check says fail"]
        );
    }

    #[test]
    fn the_latest_check_of_a_name_counts() {
        let p = Post::complete();
        let hash = content_hash(&p.content());
        let attached = vec![
            check("fact_check", "fail", &hash, 1),
            check("fact_check", "pass", &hash, 5),
            check("tone_check", "pass", &hash, 2),
        ];
        assert!(evaluate(&p.content(), &hash, &attached).ready());
    }

    #[test]
    fn checks_of_other_content_do_not_count() {
        let p = Post::complete();
        let old = content_hash(&p.content());
        let mut changed = Post::complete();
        changed.claims.push("Churn fell".into());
        let hash = content_hash(&changed.content());
        assert_ne!(old, hash);
        let r = evaluate(&changed.content(), &hash, &passing(&old));
        assert_eq!(status(&r, "fact_check"), "missing");
        assert!(r.problems[0].contains("content changed"), "{r:?}");
    }

    #[test]
    fn the_hash_covers_every_part_of_the_content() {
        let p = Post::complete();
        let base = content_hash(&p.content());
        assert_eq!(base, content_hash(&p.content()));
        assert_eq!(base.len(), 64);
        let mut c = p.content();
        c.title = "Other";
        assert_ne!(content_hash(&c), base);
        let mut c = p.content();
        c.channel = "news";
        assert_ne!(content_hash(&c), base);
        let mut c = p.content();
        c.body = "Other.";
        assert_ne!(content_hash(&c), base);
    }

    #[test]
    fn content_is_checked_naming_each_field() {
        let sources = strings(&["ftp://x", "https://a.example", "https://a.example"]);
        let claims = strings(&[" "]);
        let c = Content {
            channel: "Blog!",
            title: "two\nlines",
            body: "",
            source_urls: &sources,
            claims: &claims,
        };
        let paths: Vec<String> = check_content(&c, "gossip")
            .into_iter()
            .map(|v| v.path)
            .collect();
        for p in [
            "$.channel",
            "$.kind",
            "$.title",
            "$.body",
            "$.source_urls[0]",
            "$.source_urls[2]",
            "$.claims[0]",
        ] {
            assert!(paths.iter().any(|x| x == p), "{p} in {paths:?}");
        }
        let p = Post::complete();
        assert!(check_content(&p.content(), "news").is_empty());
        let mut c = p.content();
        c.body = "a\u{0}b";
        assert_eq!(check_content(&c, "news")[0].path, "$.body");
        assert!(is_source_url("http://example.com"));
        assert!(!is_source_url("https:///nohost"));
        assert!(is_channel("blog_2"));
        assert!(!is_channel("2blog"));
    }
}
