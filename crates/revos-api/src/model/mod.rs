//! The request and response bodies of the HTTP API, one module per area.
//!
//! These types are the API's side of the wire: what the handlers in
//! [`crate::routes`] accept and answer, and what the OpenAPI document
//! ([`crate::openapi`]) is generated from. Each converts from the store's
//! record or the kernel's result it shows (`From<record>`), and a request
//! body converts into the store's or the kernel's input. So a change to a
//! storage record does not change the API: it stops compiling here until
//! the API type is changed on purpose.
//!
//! Contract types of `revos-contracts` (the kernel I/O, `KernelError`, the
//! runtime's events, decisions and actions) and the kernel's own reports
//! are the API's already and are used as they are.

pub(crate) mod audit;
pub(crate) mod cycles;
pub(crate) mod data;
pub(crate) mod events;
pub(crate) mod identity;
pub(crate) mod templates;
pub(crate) mod tenants;
pub(crate) mod webhooks;
