//! The revos lab: the kernel driven on simulated tenants.
//!
//! - [`validation`]: seed 002's validation loop on test tenants A and B,
//!   step by step (`revos validate`, `POST /v1/validation/steps`).
//! - [`demo`]: the optimization loop day by day for a person to watch
//!   (`revos demo`), with one [`chart`] per tenant.
//! - [`evaluate`]: the planner in a closed loop on generated worlds, against
//!   doing nothing, a random policy and an oracle (`revos lab evaluate`);
//!   pure, no database.
//!
//! None of this is on the path of a live tenant: it runs the kernel's
//! public use cases against tenants it creates as simulations, which never
//! send e-mails or webhooks.

pub mod chart;
pub mod demo;
pub mod evaluate;
pub mod validation;
