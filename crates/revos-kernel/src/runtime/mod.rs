//! The event runtime (seed 000): events in, decisions and actions out.
//!
//! - [`input`]: an event as a backend sends it.
//! - [`ingest`]: events → policies → decisions → actions, in one
//!   transaction with the adapters' rows and the audit entry.
//! - [`entry`]: lead forms and booking webhooks turned into events.
//! - [`forms`]: publishable form tokens and the public submissions they
//!   carry.
//! - [`webhooks`]: inbound webhook deliveries, verified and kept raw.
//! - [`connectors`]: raw deliveries mapped to spine rows.
//! - [`guards`]: `ALLOW` / `ALLOW_WITH_OVERRIDE` / `BLOCK` before a sensitive
//!   change.
//! - [`replay`]: what another policy version would have decided.
//! - [`timeline`]: what became of an event.
//!
//! The runtime hands its actions' work to [`crate::delivery`] as jobs; it
//! does not know the optimizer.

pub mod connectors;
pub mod entry;
pub mod forms;
pub mod guards;
pub mod ingest;
pub(crate) mod input;
pub mod replay;
pub mod timeline;
pub(crate) mod webhooks;

pub use ingest::{IngestReceipt, body_hash};
pub use input::EventInput;
pub use webhooks::{SignatureScheme, WebhookRequest};
