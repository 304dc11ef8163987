//! Queues and their settings.
//!
//! The six queues of seed 003 come with the seed's settings, and
//! `connectors` maps stored webhook deliveries to spine rows; `revos.toml`
//! may change any field of any queue (`[queues.email] concurrency = 5`) and
//! add queues of its own. Settings that shape a job's life (attempts,
//! backoff, timeout, retention) are copied onto the job when it is
//! enqueued, so a job keeps the rules it was created under.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

/// How the wait before a retry grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackoffKind {
    /// Retry at once.
    None,
    /// The same delay every time.
    Fixed,
    /// `delay × 2^(attempt − 1)`.
    Exponential,
}

/// The wait before retry number `attempt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// How it grows.
    pub kind: BackoffKind,
    /// The base delay, in milliseconds.
    pub delay_ms: u64,
    /// The longest wait, in milliseconds.
    #[serde(default = "default_cap_ms")]
    pub cap_ms: u64,
    /// Spread each wait randomly over `[wait/2, wait]`, so jobs that failed
    /// together do not all retry in the same instant.
    #[serde(default)]
    pub jitter: bool,
}

fn default_cap_ms() -> u64 {
    60 * 60 * 1000
}

impl Backoff {
    /// No wait between attempts.
    pub const NONE: Backoff = Backoff {
        kind: BackoffKind::None,
        delay_ms: 0,
        cap_ms: 0,
        jitter: false,
    };

    /// The wait after failed attempt `attempt` (1-based). `random` is a
    /// number in `[0, 1)` used for jitter (pass `0.0` for none), so the
    /// function stays pure and testable.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let base = match self.kind {
            BackoffKind::None => 0,
            BackoffKind::Fixed => self.delay_ms,
            BackoffKind::Exponential => {
                let doublings = attempt.saturating_sub(1).min(62);
                self.delay_ms.saturating_mul(1u64 << doublings)
            }
        };
        let capped = if self.cap_ms > 0 {
            base.min(self.cap_ms)
        } else {
            base
        };
        let waited = if self.jitter {
            let random = random.clamp(0.0, 1.0);
            let half = capped / 2;
            half + ((capped - half) as f64 * random) as u64
        } else {
            capped
        };
        Duration::from_millis(waited)
    }
}

/// What happens to a completed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Retention {
    /// Deleted as soon as it completes (its idempotency key stays).
    RemoveOnComplete,
    /// Kept this many days, then deleted by the cleanup.
    KeepDays(u32),
    /// Kept for good (audit).
    Keep,
}

/// One queue's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Jobs of this queue one worker process runs at once.
    pub concurrency: u32,
    /// Priority classes, most urgent first. A job names one; a job that
    /// names none gets the last (least urgent).
    pub priorities: Vec<String>,
    /// Attempts before a job is dead.
    pub max_attempts: u32,
    /// The wait between attempts.
    pub backoff: Backoff,
    /// The longest one attempt may run, in milliseconds (none: no limit).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// What happens to completed jobs.
    pub retention: Retention,
    /// Jobs started per second by one worker process (none: no limit).
    #[serde(default)]
    pub rate_per_second: Option<u32>,
    /// Jobs wait in `awaiting_approval` until a person decides (the
    /// approval queue).
    #[serde(default)]
    pub requires_approval: bool,
}

impl QueueConfig {
    /// The index of a priority class (0 = most urgent); the last class when
    /// `name` is `None`. `Err` names the classes when `name` is unknown.
    pub fn priority_of(&self, name: Option<&str>) -> Result<i32, String> {
        let last = self.priorities.len().saturating_sub(1) as i32;
        match name {
            None => Ok(last),
            Some(name) => self
                .priorities
                .iter()
                .position(|p| p == name)
                .map(|i| i as i32)
                .ok_or_else(|| {
                    format!(
                        "unknown priority `{name}`; this queue has: {}",
                        self.priorities.join(", ")
                    )
                }),
        }
    }

    /// Checks the settings make sense.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err(format!("queue `{name}`: concurrency must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(format!("queue `{name}`: max_attempts must be at least 1"));
        }
        if self.priorities.is_empty() {
            return Err(format!("queue `{name}`: needs at least one priority class"));
        }
        if self.rate_per_second == Some(0) {
            return Err(format!(
                "queue `{name}`: rate_per_second must be at least 1 when set"
            ));
        }
        Ok(())
    }
}

fn classes(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// Every queue by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueSettings(pub BTreeMap<String, QueueConfig>);

impl Default for QueueSettings {
    /// The seven built-in queues, with their settings.
    fn default() -> Self {
        let mut queues = BTreeMap::new();
        queues.insert(
            "email".to_owned(),
            QueueConfig {
                concurrency: 3,
                priorities: classes(&["welcome", "confirmation", "notification", "newsletter"]),
                max_attempts: 3,
                backoff: Backoff {
                    kind: BackoffKind::Exponential,
                    delay_ms: 1000,
                    cap_ms: default_cap_ms(),
                    jitter: false,
                },
                timeout_ms: None,
                retention: Retention::KeepDays(7),
                rate_per_second: None,
                requires_approval: false,
            },
        );
        queues.insert(
            "embedding".to_owned(),
            QueueConfig {
                concurrency: 1,
                priorities: classes(&["user_profile", "fund_data", "provider_data"]),
                max_attempts: 2,
                backoff: Backoff::NONE,
                timeout_ms: Some(30_000),
                retention: Retention::KeepDays(7),
                rate_per_second: None,
                requires_approval: false,
            },
        );
        queues.insert(
            "webhook".to_owned(),
            QueueConfig {
                concurrency: 5,
                priorities: classes(&["stripe", "plaid", "sendgrid", "slack"]),
                max_attempts: 5,
                backoff: Backoff {
                    kind: BackoffKind::Fixed,
                    delay_ms: 5000,
                    cap_ms: default_cap_ms(),
                    jitter: false,
                },
                timeout_ms: None,
                retention: Retention::KeepDays(7),
                rate_per_second: None,
                requires_approval: false,
            },
        );
        queues.insert(
            "notification".to_owned(),
            QueueConfig {
                concurrency: 10,
                priorities: classes(&["urgent", "alert", "digest"]),
                max_attempts: 3,
                backoff: Backoff::NONE,
                timeout_ms: None,
                retention: Retention::RemoveOnComplete,
                rate_per_second: None,
                requires_approval: false,
            },
        );
        queues.insert(
            "approval".to_owned(),
            QueueConfig {
                concurrency: 2,
                priorities: classes(&["high_risk", "medium_risk", "low_risk"]),
                max_attempts: 1,
                backoff: Backoff::NONE,
                timeout_ms: None,
                retention: Retention::Keep,
                rate_per_second: None,
                requires_approval: true,
            },
        );
        queues.insert(
            "publish".to_owned(),
            QueueConfig {
                concurrency: 1,
                priorities: classes(&["news", "announcement", "update"]),
                max_attempts: 1,
                backoff: Backoff::NONE,
                timeout_ms: None,
                retention: Retention::Keep,
                rate_per_second: None,
                requires_approval: false,
            },
        );
        queues.insert(
            "connectors".to_owned(),
            QueueConfig {
                concurrency: 2,
                priorities: classes(&["delivery", "redrive", "recompute"]),
                max_attempts: 5,
                backoff: Backoff {
                    kind: BackoffKind::Exponential,
                    delay_ms: 1000,
                    cap_ms: default_cap_ms(),
                    jitter: false,
                },
                timeout_ms: Some(60_000),
                retention: Retention::KeepDays(7),
                rate_per_second: None,
                requires_approval: false,
            },
        );
        QueueSettings(queues)
    }
}

impl QueueSettings {
    /// One queue's settings.
    pub fn get(&self, name: &str) -> Option<&QueueConfig> {
        self.0.get(name)
    }

    /// Applies partial settings (from `revos.toml` or a tenant) over these:
    /// each given field of each given queue replaces the current one; an
    /// unknown queue name adds a queue, which must then be complete.
    pub fn merged(&self, overrides: &serde_json::Value) -> Result<QueueSettings, String> {
        let Some(map) = overrides.as_object() else {
            return Err("queue settings must be a table of queues".to_owned());
        };
        let mut merged = self.clone();
        for (name, fields) in map {
            if !is_valid_name(name) {
                return Err(format!(
                    "`{name}` is not a queue name (lower-case letters, digits and _, starting with a letter)"
                ));
            }
            let mut current = match merged.0.get(name) {
                Some(config) => serde_json::to_value(config).map_err(|e| e.to_string())?,
                None => serde_json::Value::Object(Default::default()),
            };
            let (Some(target), Some(fields)) = (current.as_object_mut(), fields.as_object()) else {
                return Err(format!("queue `{name}`: settings must be a table"));
            };
            for (key, value) in fields {
                target.insert(key.clone(), value.clone());
            }
            let config: QueueConfig =
                serde_json::from_value(current).map_err(|e| format!("queue `{name}`: {e}"))?;
            config.validate(name)?;
            merged.0.insert(name.clone(), config);
        }
        Ok(merged)
    }
}

/// Queue names: `^[a-z][a-z0-9_]{0,63}$`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seed_queues_have_the_seed_settings() {
        let q = QueueSettings::default();
        let email = q.get("email").unwrap();
        assert_eq!((email.concurrency, email.max_attempts), (3, 3));
        assert_eq!(email.backoff.kind, BackoffKind::Exponential);
        assert_eq!(email.backoff.delay_ms, 1000);
        assert_eq!(
            email.priorities,
            ["welcome", "confirmation", "notification", "newsletter"]
        );
        let embedding = q.get("embedding").unwrap();
        assert_eq!(
            (
                embedding.concurrency,
                embedding.max_attempts,
                embedding.timeout_ms
            ),
            (1, 2, Some(30_000))
        );
        let webhook = q.get("webhook").unwrap();
        assert_eq!((webhook.concurrency, webhook.max_attempts), (5, 5));
        assert_eq!(
            (webhook.backoff.kind, webhook.backoff.delay_ms),
            (BackoffKind::Fixed, 5000)
        );
        let notification = q.get("notification").unwrap();
        assert_eq!(
            (notification.concurrency, notification.max_attempts),
            (10, 3)
        );
        assert_eq!(notification.retention, Retention::RemoveOnComplete);
        let approval = q.get("approval").unwrap();
        assert_eq!((approval.concurrency, approval.max_attempts), (2, 1));
        assert!(approval.requires_approval);
        assert_eq!(approval.retention, Retention::Keep);
        let publish = q.get("publish").unwrap();
        assert_eq!(
            (publish.concurrency, publish.max_attempts, publish.retention),
            (1, 1, Retention::Keep)
        );
    }

    #[test]
    fn exponential_backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            kind: BackoffKind::Exponential,
            delay_ms: 1000,
            cap_ms: 5000,
            jitter: false,
        };
        let waits: Vec<u64> = (1..=5)
            .map(|a| b.delay(a, 0.0).as_millis() as u64)
            .collect();
        assert_eq!(waits, [1000, 2000, 4000, 5000, 5000]);
        let fixed = Backoff {
            kind: BackoffKind::Fixed,
            delay_ms: 5000,
            cap_ms: 0,
            jitter: false,
        };
        assert_eq!(fixed.delay(4, 0.9), Duration::from_secs(5));
        let jittered = Backoff { jitter: true, ..b };
        assert_eq!(jittered.delay(2, 0.0), Duration::from_millis(1000));
        assert_eq!(jittered.delay(2, 0.999_999), Duration::from_millis(1999));
        assert_eq!(Backoff::NONE.delay(3, 0.5), Duration::ZERO);
    }

    #[test]
    fn overrides_change_fields_and_add_queues() {
        let base = QueueSettings::default();
        let merged = base
            .merged(&json!({"email": {"concurrency": 8}, "crm_sync": {
                "concurrency": 2, "priorities": ["normal"], "max_attempts": 4,
                "backoff": {"kind": "fixed", "delay_ms": 100}, "retention": {"keep_days": 1}
            }}))
            .unwrap();
        assert_eq!(merged.get("email").unwrap().concurrency, 8);
        assert_eq!(merged.get("email").unwrap().max_attempts, 3);
        assert_eq!(merged.get("crm_sync").unwrap().max_attempts, 4);
        assert!(base.merged(&json!({"email": {"concurency": 8}})).is_err());
        assert!(base.merged(&json!({"email": {"concurrency": 0}})).is_err());
        assert!(base.merged(&json!({"Bad-Name": {}})).is_err());
        assert!(
            base.merged(&json!({"incomplete": {"concurrency": 1}}))
                .is_err()
        );
    }

    #[test]
    fn priorities_resolve_to_indexes() {
        let q = QueueSettings::default();
        let email = q.get("email").unwrap();
        assert_eq!(email.priority_of(Some("welcome")), Ok(0));
        assert_eq!(email.priority_of(None), Ok(3));
        assert!(
            email
                .priority_of(Some("spam"))
                .unwrap_err()
                .contains("welcome")
        );
    }
}
