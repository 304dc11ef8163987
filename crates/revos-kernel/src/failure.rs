//! [`Failure`]: a `KernelError` together with the HTTP status to answer it with.
//!
//! The contract fixes five error codes with their statuses. Some failures
//! the API meets are finer than that (a conflict, a body that is too large, a
//! route that does not exist): they keep one of the five codes, carry the
//! precise class in `details.kind`, and pick the fitting HTTP status here.
//! The CLI prints the same body and maps the failure to an exit code.

use revos_contracts::validation::{Violation, violations_json};
use revos_contracts::{ErrorCode, KernelError, TenantId};
use revos_store::StoreError;

/// An error ready to be answered: the contract's body and an HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The HTTP status.
    pub status: u16,
    /// The `KernelError` body.
    pub body: KernelError,
}

impl Failure {
    /// A failure with the status the contract gives its code.
    pub fn from_error(body: KernelError) -> Self {
        Failure {
            status: body.http_status(),
            body,
        }
    }

    /// `INVALID_INPUT` (400) listing every violation with its JSON path.
    pub fn invalid(message: impl Into<String>, violations: &[Violation]) -> Self {
        Failure::from_error(
            KernelError::new(ErrorCode::InvalidInput, message)
                .with_detail("kind", "validation")
                .with_detail("violations", violations_json(violations)),
        )
    }

    /// `INVALID_INPUT` with a finer `kind` and a chosen HTTP status.
    pub fn input(status: u16, kind: &str, message: impl Into<String>) -> Self {
        Failure {
            status,
            body: KernelError::new(ErrorCode::InvalidInput, message).with_detail("kind", kind),
        }
    }

    /// `INVALID_INPUT` (400) for a paging cursor that is not one this
    /// server handed out; `path` names where it came from (`query.cursor`,
    /// `--cursor`).
    pub fn bad_cursor(path: &str, err: &revos_store::listing::CursorError) -> Self {
        Failure::invalid(
            "invalid cursor",
            &[Violation::new(
                "type",
                path,
                err.to_string(),
                ErrorCode::InvalidInput,
            )],
        )
    }

    /// `TENANT_NOT_FOUND` (404).
    pub fn tenant_not_found(tenant: TenantId) -> Self {
        Failure::from_error(
            KernelError::new(
                ErrorCode::TenantNotFound,
                format!("tenant {tenant} does not exist"),
            )
            .with_detail("tenant_id", tenant.to_string()),
        )
    }

    /// A record of the tenant that does not exist (404, `kind: not_found`).
    pub fn not_found(resource: &str, id: &str) -> Self {
        Failure {
            status: 404,
            body: KernelError::new(
                ErrorCode::InvalidInput,
                format!("{resource} `{id}` does not exist"),
            )
            .with_detail("kind", "not_found")
            .with_detail("resource", resource)
            .with_detail("id", id),
        }
    }

    /// `INTERNAL_ERROR` (500). The cause is logged, never sent to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Failure::from_error(
            KernelError::new(
                ErrorCode::InternalError,
                "an unexpected error occurred; it has been logged",
            )
            .with_detail("kind", "internal"),
        )
    }

    /// The database could not be opened or migrated: 503 when it cannot
    /// be reached or fails underneath, the store's own answer otherwise.
    pub fn opening(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) | StoreError::Backend(cause) => Failure {
                status: 503,
                body: KernelError::new(
                    ErrorCode::InternalError,
                    format!("cannot open the database: {cause}"),
                )
                .with_detail("kind", "unavailable"),
            },
            other => other.into(),
        }
    }

    /// The database cannot be reached (503, `INTERNAL_ERROR`).
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "database unavailable");
        Failure {
            status: 503,
            body: KernelError::new(
                ErrorCode::InternalError,
                "the database is not available; try again shortly",
            )
            .with_detail("kind", "unavailable"),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::TenantNotFound(tenant) => Failure::tenant_not_found(tenant),
            StoreError::Conflict { entity, id } => Failure {
                status: 409,
                body: KernelError::new(
                    ErrorCode::InvalidInput,
                    format!("{entity} `{id}` already exists"),
                )
                .with_detail("kind", "conflict")
                .with_detail("resource", entity)
                .with_detail("id", id),
            },
            // Backends put no driver text here (they log it and say a
            // fixed sentence), so the message is safe to answer.
            StoreError::Invalid(message) => Failure {
                status: 400,
                body: KernelError::new(ErrorCode::InvalidInput, message)
                    .with_detail("kind", "validation"),
            },
            StoreError::Unavailable(cause) => Failure::unavailable(&cause),
            StoreError::Backend(cause) => Failure::internal(&cause),
        }
    }
}

impl From<KernelError> for Failure {
    fn from(body: KernelError) -> Self {
        Failure::from_error(body)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.body.fmt(f)
    }
}

impl std::error::Error for Failure {}
