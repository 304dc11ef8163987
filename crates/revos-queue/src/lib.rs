//! The job model of revos's durable queues.
//!
//! Every side effect revos performs (an e-mail, a webhook, a notification,
//! a publication) runs as a job in a named queue kept in the kernel's own
//! database, so that an action and its job commit in one transaction. This
//! crate holds what the storage backends and the workers share, as pure
//! data and functions: the queues and their settings ([`QueueConfig`], with
//! the six queues of seed 003 as defaults), the job life cycle
//! ([`JobState`]), the retry schedule ([`Backoff`]) and idempotent job ids
//! ([`idempotency_id`]). The clock is always an argument.

pub mod config;
pub mod job;

pub use config::{Backoff, BackoffKind, QueueConfig, QueueSettings, Retention};
pub use job::{
    EnqueueOutcome, Job, JobFilter, JobState, MAX_PAYLOAD_BYTES, NewJob, QueueStats, idempotency_id,
};
