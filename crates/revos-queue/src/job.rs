//! Jobs: what is enqueued, what is stored, and the states a job goes
//! through.
//!
//! ```text
//!             enqueue                claim              complete
//!  (waiting | delayed | awaiting_approval) ──► active ──────────► completed
//!       ▲         ▲                  │  │  lease expired, attempts left
//!       │ approve │ retry (redrive)  │  └───────────────► waiting
//!       │         │                  │ fail, attempts left
//!       │     dead / failed ◄────────┘ ──► failed (retries at run_at)
//!       │                                 no attempts left ──► dead
//!  cancel: any state but active/completed ──► cancelled
//! ```

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::config::Backoff;

/// The largest job payload, in bytes of JSON.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// The longest job kind, in characters.
pub const MAX_KIND_CHARS: usize = 100;
/// The longest idempotency key, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Ready to run.
    Waiting,
    /// Will be ready at `run_at`.
    Delayed,
    /// Claimed by a worker that holds its lease.
    Active,
    /// Done.
    Completed,
    /// Its last attempt failed; it runs again at `run_at`.
    Failed,
    /// Failed on every attempt; waits for a person to redrive it.
    Dead,
    /// Held until a person approves it; never claimed before.
    AwaitingApproval,
    /// Cancelled; never runs.
    Cancelled,
}

impl JobState {
    /// The states a person may cancel a job in: it has not run, or is
    /// waiting to run again (the one rule both storage backends apply).
    pub const CANCELLABLE: [JobState; 5] = [
        JobState::Waiting,
        JobState::Delayed,
        JobState::Failed,
        JobState::AwaitingApproval,
        JobState::Dead,
    ];

    /// The states a person may redrive a job from.
    pub const RETRYABLE: [JobState; 3] = [JobState::Dead, JobState::Failed, JobState::Cancelled];

    /// Why a person's step (`verb`: "cancelled", "retried", …) on job `id`
    /// in this state is refused, when only `allowed` states permit it: the
    /// one sentence both storage backends answer.
    pub fn refusal(self, id: Uuid, allowed: &[JobState], verb: &str) -> String {
        let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        format!(
            "job {id} is {}; only a job that is {} can be {verb}",
            self.as_str(),
            allowed.join(", ")
        )
    }

    /// Every state, in life-cycle order.
    pub const ALL: [JobState; 8] = [
        JobState::Waiting,
        JobState::Delayed,
        JobState::Active,
        JobState::Completed,
        JobState::Failed,
        JobState::Dead,
        JobState::AwaitingApproval,
        JobState::Cancelled,
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Waiting => "waiting",
            JobState::Delayed => "delayed",
            JobState::Active => "active",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
            JobState::AwaitingApproval => "awaiting_approval",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// States a worker may claim from (when `run_at` has come).
    pub const CLAIMABLE: [JobState; 3] = [JobState::Waiting, JobState::Delayed, JobState::Failed];

    /// Whether the job can still run without a person's action.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Dead | JobState::Cancelled
        )
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// The queue (`email`, `webhook`, …).
    pub queue: String,
    /// The handler that runs it (`email.send`, `webhook.deliver`, …).
    pub kind: String,
    /// The handler's input.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Priority index in the queue's classes (0 = most urgent).
    pub priority: i32,
    /// Not before this time (a delayed job); `None`: now.
    #[serde(default)]
    pub run_at: Option<DateTime<Utc>>,
    /// Makes the enqueue idempotent: a second job with the same key for
    /// the same tenant is not created, even after the first was removed.
    /// See [`idempotency_id`].
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Attempts before the job is dead.
    pub max_attempts: u32,
    /// The wait between attempts.
    pub backoff: Backoff,
    /// The longest one attempt may run.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Delete the job when it completes (its idempotency key stays).
    #[serde(default)]
    pub remove_on_complete: bool,
    /// Start in `awaiting_approval`.
    #[serde(default)]
    pub awaiting_approval: bool,
    /// The kernel action this job carries out, if any; its state changes
    /// are audited.
    #[serde(default)]
    pub action_id: Option<Uuid>,
}

impl NewJob {
    /// Checks what every store refuses: a bad queue name, an empty or
    /// over-long kind, a payload over [`MAX_PAYLOAD_BYTES`], no attempts,
    /// an over-long idempotency key. The message names the problem.
    pub fn check(&self) -> Result<(), String> {
        if !crate::config::is_valid_name(&self.queue) {
            return Err(format!(
                "`{}` is not a queue name (lower-case letters, digits and _, starting with a \
                 letter, at most 64)",
                self.queue
            ));
        }
        let kind_chars = self.kind.chars().count();
        if kind_chars == 0 || kind_chars > MAX_KIND_CHARS {
            return Err(format!(
                "a job kind has 1 to {MAX_KIND_CHARS} characters, not {kind_chars}"
            ));
        }
        let payload = serde_json::to_vec(&self.payload).map_err(|e| format!("job payload: {e}"))?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(format!(
                "job payload is {} bytes of JSON; the limit is {MAX_PAYLOAD_BYTES}",
                payload.len()
            ));
        }
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if let Some(key) = &self.idempotency_key {
            let chars = key.chars().count();
            if chars > MAX_KEY_CHARS {
                return Err(format!(
                    "an idempotency key has at most {MAX_KEY_CHARS} characters, not {chars}"
                ));
            }
        }
        Ok(())
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    /// The job id.
    pub id: Uuid,
    /// The tenant it works for.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: TenantId,
    /// The queue.
    pub queue: String,
    /// The handler.
    pub kind: String,
    /// The handler's input.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Priority index (0 = most urgent).
    pub priority: i32,
    /// Where it is in its life.
    pub state: JobState,
    /// Attempts started so far (a redrive starts a fresh count; a released
    /// attempt does not count).
    pub attempts: u32,
    /// Claims so far: the fencing token of the current attempt. Unlike
    /// `attempts` it only ever grows, so no two claims share a token.
    pub claims: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The wait between attempts.
    pub backoff: Backoff,
    /// The longest one attempt may run.
    pub timeout_ms: Option<u64>,
    /// Deleted when completed.
    pub remove_on_complete: bool,
    /// When it may run (next).
    pub run_at: DateTime<Utc>,
    /// The worker holding it while active.
    pub worker: Option<String>,
    /// When the worker's lease ends unless renewed.
    pub lease_until: Option<DateTime<Utc>>,
    /// The idempotency key it was enqueued with.
    pub idempotency_key: Option<String>,
    /// The kernel action it carries out.
    pub action_id: Option<Uuid>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it completed, died or was cancelled.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    /// The fencing token of the current attempt: a worker may finish,
    /// fail, extend or release a job only with the token of the attempt it
    /// claimed, so a worker whose lease expired (and whose job was claimed
    /// again) can no longer change it.
    pub fn lease_token(&self) -> u32 {
        self.claims
    }
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EnqueueOutcome {
    /// A new job.
    Created {
        /// The job.
        job: Box<Job>,
    },
    /// The idempotency key was used before: nothing was enqueued.
    Duplicate {
        /// The job the key first created (it may have been removed since).
        job_id: Uuid,
    },
}

impl EnqueueOutcome {
    /// The id of the job the key stands for.
    pub fn job_id(&self) -> Uuid {
        match self {
            EnqueueOutcome::Created { job } => job.id,
            EnqueueOutcome::Duplicate { job_id } => *job_id,
        }
    }
}

/// Which jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobFilter {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this handler.
    pub kind: Option<String>,
    /// Only jobs created at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub until: Option<DateTime<Utc>>,
    /// Newest (the default) or oldest first, by creation time, then id.
    pub order: revos_contracts::Order,
    /// Keyset paging: only jobs past this (`created_at`, id) in `order`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One queue's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Jobs per state (every state is present).
    pub depth: std::collections::BTreeMap<String, u64>,
    /// Age in seconds of the oldest job ready to run.
    pub oldest_ready_age_seconds: Option<f64>,
    /// Jobs in the `failed` (will retry) or `dead` state.
    pub failures: u64,
    /// Jobs completed in the last minute.
    pub completed_last_minute: u64,
    /// Whether the queue is paused (for the tenant asked about, or for
    /// every tenant): it accepts jobs and claims none.
    #[serde(default)]
    pub paused: bool,
}

impl QueueStats {
    /// A queue with no jobs: every state at zero.
    pub fn empty(queue: String) -> Self {
        QueueStats {
            queue,
            depth: JobState::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), 0))
                .collect(),
            oldest_ready_age_seconds: None,
            failures: 0,
            completed_last_minute: 0,
            paused: false,
        }
    }
}

/// The idempotent job id of seed 003: `hash(action + entity_id + version)`,
/// the first 32 hex digits of SHA-256 over `action:entity_id:version`.
pub fn idempotency_id(action: &str, entity_id: &str, version: u64) -> String {
    let digest = Sha256::digest(format!("{action}:{entity_id}:{version}").as_bytes());
    hex::encode(digest)[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_ids_are_stable_and_distinct() {
        let a = idempotency_id("send_welcome", "user-1", 1);
        assert_eq!(a.len(), 32);
        assert_eq!(a, idempotency_id("send_welcome", "user-1", 1));
        assert_ne!(a, idempotency_id("send_welcome", "user-1", 2));
        assert_ne!(a, idempotency_id("send_welcome", "user-2", 1));
        // sha256("send_welcome:user-1:1"), first 32 hex digits.
        let full = hex::encode(Sha256::digest(b"send_welcome:user-1:1"));
        assert_eq!(a, full[..32]);
    }

    #[test]
    fn states_round_trip() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, serde_json::json!(state.as_str()));
        }
        assert!(JobState::parse("running").is_none());
    }
}
