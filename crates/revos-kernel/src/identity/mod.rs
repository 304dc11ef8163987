//! Identity: who is calling and what they may do.
//!
//! - [`auth`]: API keys, principals, scopes and the tenant check every use
//!   case starts with.
//! - [`jwt`]: users' JSON Web Tokens from a tenant's identity provider.
//! - [`members`]: which users belong to a tenant, in which role.
//! - [`rejections`]: failed authentication and rejected deliveries, audited
//!   at a bounded rate.
//!
//! This room imports no other room: every other one starts from a
//! [`auth::Principal`].

pub mod auth;
pub mod jwt;
pub(crate) mod members;
pub mod rejections;
