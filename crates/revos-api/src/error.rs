//! [`ApiError`]: how every failure leaves the server.
//!
//! Handlers return `Result<_, ApiError>`; an `ApiError` is a kernel
//! [`Failure`] and renders as the contract's `KernelError` JSON with the
//! failure's HTTP status. Rejections of axum's extractors, unknown routes,
//! wrong methods and panics are turned into the same shape, so a client
//! never has to parse anything else. Every status comes from the error
//! table ([`ErrorKind`]), except that a response another layer already
//! answered keeps its status when it is given the shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use revos_contracts::{ErrorKind, KernelError};
use revos_kernel::Failure;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) Failure);

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        ApiError(f)
    }
}

impl ApiError {
    /// A failure of `kind`, with the code and status of its row in the
    /// error table.
    pub(crate) fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError(Failure::of(kind, message))
    }

    /// The failure the server answers on its own for `kind` (an unknown
    /// route, a panic), with the sentence [`for_status`] gives it.
    pub(crate) fn canned(kind: ErrorKind) -> Self {
        ApiError(Failure::of(kind, canned_message(kind)))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = render(self.0.status, &self.0.body);
        if self.0.status == 429
            && let Some(secs) = self
                .0
                .body
                .details
                .as_ref()
                .and_then(|d| d.get("retry_after_seconds"))
                .and_then(|v| v.as_u64())
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.0.status == 401 {
            // A refused token says why (RFC 6750 `error_description`).
            let challenge = self
                .0
                .body
                .details
                .as_ref()
                .and_then(|d| d.get("www_authenticate"))
                .and_then(|v| v.as_str())
                .and_then(|v| HeaderValue::from_str(v).ok())
                .unwrap_or_else(|| HeaderValue::from_static("Bearer realm=\"revos\""));
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Renders a `KernelError` body with a status.
pub(crate) fn render(status: u16, body: &KernelError) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| {
        br#"{"error":true,"code":"INTERNAL_ERROR","message":"error rendering failed"}"#.to_vec()
    });
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The kind of a bare status produced outside the handlers (an axum or
/// tower layer answering 405, 408, 413, …).
fn kind_of_status(status: StatusCode) -> ErrorKind {
    match status {
        StatusCode::NOT_FOUND => ErrorKind::RouteNotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => ErrorKind::Timeout,
        s if s.is_server_error() => ErrorKind::Internal,
        _ => ErrorKind::Http,
    }
}

/// The sentence the server answers on its own for `kind`.
fn canned_message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RouteNotFound => "no such endpoint; see /docs for the API",
        ErrorKind::MethodNotAllowed => "this endpoint does not accept that HTTP method",
        ErrorKind::PayloadTooLarge => "the request body is larger than the server accepts",
        ErrorKind::UnsupportedMediaType => {
            "send the body as JSON with `Content-Type: application/json`"
        }
        ErrorKind::Timeout => "the request took too long",
        _ => "an unexpected error occurred; it has been logged",
    }
}

/// The `KernelError` for a bare status produced outside the handlers (an
/// axum or tower layer answering 405, 408, 413, …). The response keeps the
/// layer's status: for the kinds named here it is the status of their row
/// in the error table; any other 4xx is `http`, any 5xx `internal`.
pub(crate) fn for_status(status: StatusCode) -> KernelError {
    match kind_of_status(status) {
        ErrorKind::Http => KernelError::of(
            ErrorKind::Http,
            format!(
                "request rejected: {}",
                status.canonical_reason().unwrap_or("client error")
            ),
        ),
        kind => KernelError::of(kind, canned_message(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_statuses_agree_with_the_table() {
        for status in [
            StatusCode::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            let kind = kind_of_status(status);
            assert_ne!(kind, ErrorKind::Http, "{status}");
            assert_eq!(kind.http_status(), status.as_u16(), "{kind:?}");
            let body = for_status(status);
            assert_eq!(body.code, kind.code());
            assert_eq!(body.message, canned_message(kind));
        }
        let other = for_status(StatusCode::URI_TOO_LONG);
        assert_eq!(other.code, ErrorKind::Http.code());
        assert_eq!(other.message, "request rejected: URI Too Long");
        let details = other.details.unwrap_or_default();
        assert_eq!(details["kind"], "http");
    }
}
