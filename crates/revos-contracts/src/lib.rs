//! The public contracts of the revos kernel.
//!
//! This crate holds what clients wire against and what every other crate
//! shares: the `KernelInput` → `KernelOutput` contract of seed 001 with its
//! validation rules and error codes, the `KernelEvent` / `KernelDecision` /
//! `KernelAction` records of seed 000, and the canonical metric dictionary.
//! It is pure: no database, HTTP or clock. Time enters as an argument.
//!
//! - [`kernel_io`]: the seed 001 input and output types;
//! - [`validation`]: the seed 001 rules, parsing with JSON paths, and the
//!   mapping of violations to [`KernelError`];
//! - [`runtime`]: the seed 000 event → decision → action records;
//! - [`metrics`]: the canonical metric dictionary and [`MetricId`];
//! - [`order`]: which end of a list comes first;
//! - [`schema`]: the JSON Schemas checked in under `schemas/`;
//! - [`error`] and [`ids`]: the error shape and identifier newtypes;
//! - [`error_kinds`]: the table of error kinds, each with its code, HTTP
//!   status and `details.kind` (listed in `docs/ERRORS.md`).

pub mod error;
pub mod error_kinds;
pub mod ids;
pub mod kernel_io;
pub mod metrics;
pub mod order;
pub mod runtime;
pub mod schema;
pub mod text;
pub mod validation;

pub use error::{ErrorCode, KernelError};
pub use error_kinds::{ErrorKind, KindSpec};
pub use ids::TenantId;
pub use kernel_io::{
    Action, ActionType, BindingConstraint, DataQualityAction, KernelInput, KernelOutput,
    OwnerSubsystem, RevenueOsV1,
};
pub use metrics::{MetricDefinition, MetricId, REQUIRED_METRICS, UnknownMetric};
pub use order::Order;
pub use runtime::{
    ActionKind, ActionStatus, DecisionOutcome, KernelAction, KernelDecision, KernelEvent,
    KernelMode,
};
pub use validation::{
    InputContext, OutputContext, Violation, check_input, check_output, parse_input, parse_output,
    validate_input, validate_output,
};
