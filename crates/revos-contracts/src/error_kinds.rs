//! [`ErrorKind`]: the one table of every error class revos answers.
//!
//! The contract fixes five [`ErrorCode`]s. Many failures are finer than that
//! (a conflict, a body that is too large, a refused credential): each is an
//! [`ErrorKind`] that keeps one of the five codes on the wire, names itself
//! in `details.kind`, and is answered with its own HTTP status. The code, the
//! status, the `details.kind` string and a one-line meaning of every kind are
//! written once, in the table below, in the way meilisearch keeps its error
//! codes; call sites name a kind and never pick a status or a string.
//!
//! `docs/ERRORS.md` lists the same table for clients, and a test keeps the
//! two in step.

use crate::error::{ErrorCode, KernelError};

/// The code, status, `details.kind` and meaning of one [`ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSpec {
    /// The contract code the error carries in `code`.
    pub code: ErrorCode,
    /// The HTTP status the error is answered with.
    pub status: u16,
    /// The stable value of `details.kind`.
    pub kind: &'static str,
    /// What the error means, in one line.
    pub description: &'static str,
}

/// Declares [`ErrorKind`], [`ErrorKind::ALL`] and [`ErrorKind::spec`] from
/// one list, so that no kind can be added without its row.
macro_rules! error_kinds {
    ($($variant:ident => ($code:ident, $status:literal, $kind:literal, $description:literal),)+) => {
        /// Every class of error revos answers that is finer than the
        /// contract's five codes (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $(
                #[doc = $description]
                $variant,
            )+
        }

        impl ErrorKind {
            /// Every kind, in the order of the table (and of `docs/ERRORS.md`).
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant),+];

            /// This kind's row of the table.
            pub const fn spec(self) -> KindSpec {
                match self {
                    $(
                        ErrorKind::$variant => KindSpec {
                            code: ErrorCode::$code,
                            status: $status,
                            kind: $kind,
                            description: $description,
                        },
                    )+
                }
            }
        }
    };
}

error_kinds! {
    // Input the caller sent.
    Validation => (InvalidInput, 400, "validation",
        "A field, parameter, flag or file breaks a rule; `details.violations`, when present, names each problem with its path."),
    Configuration => (InvalidInput, 400, "configuration",
        "The configuration (file, environment or flags) is not usable: an unsupported database URL, an unknown queue, a bad `[jwt]` section."),
    Io => (InvalidInput, 400, "io",
        "The CLI cannot read a file or standard input it was pointed at."),
    ScratchIo => (InvalidInput, 500, "io",
        "The CLI cannot make the temporary directory of a scratch database."),
    Body => (InvalidInput, 400, "body",
        "The request body cannot be read."),
    FormTooLarge => (InvalidInput, 413, "body",
        "A form-encoded request body is larger than `max_body_bytes`."),
    PayloadTooLarge => (InvalidInput, 413, "payload_too_large",
        "A JSON request body is larger than `max_body_bytes`."),
    UnsupportedMediaType => (InvalidInput, 415, "unsupported_media_type",
        "The request body is not sent as `application/json`."),
    Path => (InvalidInput, 400, "path",
        "A path parameter cannot be read."),
    Query => (InvalidInput, 400, "query",
        "The query string is malformed."),
    // Routing and the HTTP layer.
    RouteNotFound => (InvalidInput, 404, "route_not_found",
        "No endpoint has this path."),
    MethodNotAllowed => (InvalidInput, 405, "method_not_allowed",
        "The endpoint does not accept this HTTP method (`Allow` lists those it does)."),
    Timeout => (InvalidInput, 408, "timeout",
        "The request took too long."),
    Http => (InvalidInput, 400, "http",
        "The HTTP layer refused the request for another reason; the answer keeps that layer's 4xx status."),
    // Records and state.
    NotFound => (InvalidInput, 404, "not_found",
        "A record of the tenant does not exist; `details.resource` and `details.id` name it."),
    Conflict => (InvalidInput, 409, "conflict",
        "The request clashes with what is stored: the record already exists, a tenant would lose its last owner, or steps ran out of order."),
    Rejected => (InvalidInput, 409, "rejected",
        "A job cannot be redriven because an approver rejected its action."),
    IdempotencyConflict => (InvalidInput, 422, "idempotency_conflict",
        "An idempotency key was already used for a different request or event."),
    IdempotencyInFlight => (InvalidInput, 409, "idempotency_in_flight",
        "A request with the same `Idempotency-Key` is still being processed; retry later."),
    // Who is asking.
    Unauthorized => (InvalidInput, 401, "unauthorized",
        "No credential, or one that does not authenticate (`WWW-Authenticate` says why)."),
    Forbidden => (InvalidInput, 403, "forbidden",
        "The caller is authenticated but not allowed: a missing scope, a platform-only action, an agent deciding an approval."),
    WebhookSignature => (InvalidInput, 401, "webhook_signature",
        "An inbound webhook delivery cannot be trusted: a bad or missing signature, an old timestamp; `details.reason` says which."),
    RateLimited => (InvalidInput, 429, "rate_limited",
        "The caller is over its request budget; `Retry-After` and `details.retry_after_seconds` say when to retry."),
    // The server.
    Internal => (InternalError, 500, "internal",
        "An unexpected failure; the cause is logged, never answered (a 5xx from the HTTP layer keeps its status)."),
    Unavailable => (InternalError, 503, "unavailable",
        "The database cannot be reached; try again shortly."),
}

impl ErrorKind {
    /// The contract code the error carries.
    pub const fn code(self) -> ErrorCode {
        self.spec().code
    }

    /// The HTTP status the error is answered with.
    pub const fn http_status(self) -> u16 {
        self.spec().status
    }

    /// The stable `details.kind` string.
    pub const fn as_str(self) -> &'static str {
        self.spec().kind
    }

    /// What the error means, in one line.
    pub const fn description(self) -> &'static str {
        self.spec().description
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl KernelError {
    /// An error of `kind`: its contract code, `message`, and
    /// `details.kind`. The HTTP status to answer it with is
    /// [`ErrorKind::http_status`].
    pub fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        KernelError::new(kind.code(), message).with_detail("kind", kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_row_is_distinct_and_well_formed() {
        let mut rows = HashSet::new();
        for &kind in ErrorKind::ALL {
            let spec = kind.spec();
            assert!(
                rows.insert((spec.kind, spec.status)),
                "{kind:?}: `{}` with {} is listed twice",
                spec.kind,
                spec.status
            );
            assert!((400..600).contains(&spec.status), "{kind:?}");
            assert!(
                !spec.kind.is_empty()
                    && spec
                        .kind
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{kind:?}: `{}` is not snake_case",
                spec.kind
            );
            assert!(spec.description.ends_with('.'), "{kind:?}");
            // The contract's server-side code is never answered with a 4xx.
            assert!(
                spec.code != ErrorCode::InternalError || spec.status >= 500,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn errors_carry_code_and_kind() {
        let err = KernelError::of(ErrorKind::Conflict, "taken").with_detail("id", "x");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "error": true,
                "code": "INVALID_INPUT",
                "message": "taken",
                "details": {"kind": "conflict", "id": "x"}
            })
        );
        assert_eq!(ErrorKind::Conflict.http_status(), 409);
        assert_eq!(ErrorKind::Unavailable.code(), ErrorCode::InternalError);
        assert_eq!(ErrorKind::RateLimited.to_string(), "rate_limited");
    }
}
