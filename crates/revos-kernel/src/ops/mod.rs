//! The operations kernel for agents: what agents and people may ask of
//! revos for sensitive operations, and the gates in front of them.
//!
//! - [`templates`]: versioned e-mail templates, their renders kept under a
//!   reproducible hash, and the suppression list.

pub mod templates;
