//! [`Failure`]: a `KernelError` together with the HTTP status to answer it with.
//!
//! The contract fixes five error codes with their statuses. Some failures
//! the API meets are finer than that (a conflict, a body that is too large, a
//! route that does not exist): each is an [`ErrorKind`], which keeps one of
//! the five codes, carries the precise class in `details.kind`, and gives the
//! HTTP status from the table in `revos_contracts::error_kinds`; nothing here
//! picks a status by hand. The CLI prints the same body and maps the failure
//! to an exit code.

use revos_contracts::validation::{Violation, violations_json};
use revos_contracts::{ErrorCode, ErrorKind, KernelError, TenantId};
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

    /// A failure of `kind`: its code, `details.kind` and HTTP status all
    /// come from the kind's row of the error table.
    pub fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            status: kind.http_status(),
            body: KernelError::of(kind, message),
        }
    }

    /// Adds (or replaces) one entry of the body's `details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.body = self.body.with_detail(key, value);
        self
    }

    /// `INVALID_INPUT` (400, `kind: validation`) listing every violation
    /// with its JSON path.
    pub fn invalid(message: impl Into<String>, violations: &[Violation]) -> Self {
        Failure::of(ErrorKind::Validation, message)
            .with_detail("violations", violations_json(violations))
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
        Failure::of(
            ErrorKind::NotFound,
            format!("{resource} `{id}` does not exist"),
        )
        .with_detail("resource", resource)
        .with_detail("id", id)
    }

    /// `INTERNAL_ERROR` (500). The cause is logged, never sent to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Failure::of(
            ErrorKind::Internal,
            "an unexpected error occurred; it has been logged",
        )
    }

    /// The database could not be opened or migrated: 503 when it cannot
    /// be reached or fails underneath, the store's own answer otherwise.
    pub fn opening(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) | StoreError::Backend(cause) => Failure::of(
                ErrorKind::Unavailable,
                format!("cannot open the database: {cause}"),
            ),
            other => other.into(),
        }
    }

    /// The database cannot be reached (503, `INTERNAL_ERROR`).
    pub(crate) fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "database unavailable");
        Failure::of(
            ErrorKind::Unavailable,
            "the database is not available; try again shortly",
        )
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::TenantNotFound(tenant) => Failure::tenant_not_found(tenant),
            StoreError::Conflict { entity, id } => Failure::of(
                ErrorKind::Conflict,
                format!("{entity} `{id}` already exists"),
            )
            .with_detail("resource", entity)
            .with_detail("id", id),
            // Backends put no driver text here (they log it and say a
            // fixed sentence), so the message is safe to answer.
            StoreError::Invalid(message) => Failure::of(ErrorKind::Validation, message),
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
