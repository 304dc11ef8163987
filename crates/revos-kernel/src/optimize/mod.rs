//! The optimizer's shell (seeds 001 and 002): the pure planner of
//! `revos-optimizer` run against a tenant's stored data, and what follows.
//!
//! - [`analytics`]: daily metric values computed from the spine.
//! - [`cycles`]: a cycle's input assembled, planned, checked and stored.
//! - [`executor`]: the cycle's actions carried out, observed and judged.
//! - [`scheduler`]: what starts a cycle without a person asking.
//! - [`lifecycle`]: campaign launches that start a cycle.
//! - [`views`]: what people see of it: metric charts, experiment reports.
//!
//! Experiment read-outs are pure and live in `revos_optimizer::experiments`.
//! The optimizer acts through the runtime (it ingests events such as
//! `optimization.change_applied`); nothing below it calls up into it.

pub mod analytics;
pub(crate) mod carrier;
pub mod cycles;
pub mod executor;
pub(crate) mod lifecycle;
pub mod scheduler;
pub mod views;
