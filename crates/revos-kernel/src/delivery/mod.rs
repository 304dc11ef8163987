//! Delivery: the half of an action that runs outside the ingest
//! transaction, from the durable queues.
//!
//! - [`jobs`]: enqueueing under a queue's settings; looking at, retrying,
//!   cancelling and pausing jobs, authorized and audited.
//! - [`worker`]: claims jobs with a lease and runs them.
//! - [`dispatch`]: the job handlers (e-mail, outbound webhooks).
//! - [`email`]: SMTP with `lettre`.
//! - [`outbound`]: signed outbound webhooks (Standard Webhooks).
//!
//! Delivery knows identity and audit; it does not know the event runtime
//! that enqueues its jobs, only the job kinds below.

pub(crate) mod dispatch;
pub mod email;
pub mod jobs;
pub(crate) mod outbound;
pub mod worker;

/// The job kind that sends an outbox e-mail.
pub(crate) const EMAIL_JOB: &str = "email.send";
/// The job kind that delivers an outbound webhook.
pub(crate) const WEBHOOK_JOB: &str = "webhook.deliver";
