//! [`ApiError`]: how every failure leaves the server.
//!
//! Handlers return `Result<_, ApiError>`; an `ApiError` is a kernel
//! [`Failure`] and renders as the contract's `KernelError` JSON with the
//! failure's HTTP status. Rejections of axum's extractors, unknown routes,
//! wrong methods and panics are turned into the same shape, so a client
//! never has to parse anything else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use revos_contracts::{ErrorCode, KernelError};
use revos_kernel::Failure;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError(pub Failure);

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        ApiError(f)
    }
}

impl ApiError {
    /// `INVALID_INPUT` with a finer kind and status.
    pub fn input(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        ApiError(Failure::input(status.as_u16(), kind, message))
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
pub fn render(status: u16, body: &KernelError) -> Response {
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

/// The `KernelError` for a bare status produced outside the handlers (an
/// axum or tower layer answering 405, 408, 413, …).
pub fn for_status(status: StatusCode) -> KernelError {
    let (code, kind, message) = match status {
        StatusCode::NOT_FOUND => (
            ErrorCode::InvalidInput,
            "route_not_found",
            "no such endpoint; see /docs for the API".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::InvalidInput,
            "method_not_allowed",
            "this endpoint does not accept that HTTP method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::InvalidInput,
            "payload_too_large",
            "the request body is larger than the server accepts".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::InvalidInput,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::InvalidInput,
            "timeout",
            "the request took too long".to_owned(),
        ),
        s if s.is_server_error() => (
            ErrorCode::InternalError,
            "internal",
            "an unexpected error occurred; it has been logged".to_owned(),
        ),
        s => (
            ErrorCode::InvalidInput,
            "http",
            format!(
                "request rejected: {}",
                s.canonical_reason().unwrap_or("client error")
            ),
        ),
    };
    KernelError::new(code, message).with_detail("kind", kind)
}
