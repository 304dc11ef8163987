//! Extractors whose rejections are `KernelError`s.
//!
//! axum's own `Json`, `Path` and `Query` answer malformed input in plain
//! text. These wrappers answer `INVALID_INPUT` with the JSON path of the
//! bad field, so a client sees the same shape for a typo in a body as for a
//! rule the kernel checks.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use revos_contracts::ErrorKind;
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, TenantId};
use revos_kernel::Failure;
use serde::de::DeserializeOwned;

/// Parses a JSON body into `T`; a failure is `INVALID_INPUT` naming the
/// JSON path of the problem.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    revos_contracts::validation::parse_json(bytes).map_err(|violation| {
        let summary = if violation.rule == "syntax" {
            "the body is not valid JSON"
        } else if violation.rule == revos_contracts::text::NUL_RULE {
            "a text in the body contains the NUL character"
        } else {
            "the body does not match the expected shape"
        };
        ApiError(Failure::invalid(summary, &[violation]))
    })
}

/// Reads a JSON request body: checks the content type and the size limit.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let essence = v.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
        })
        .unwrap_or(false);
    if !is_json {
        return Err(ApiError::of(
            ErrorKind::UnsupportedMediaType,
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::of(
                ErrorKind::PayloadTooLarge,
                "the request body is larger than the server accepts (see max_body_bytes)",
            )
        } else {
            ApiError::of(
                ErrorKind::Body,
                format!("could not read the request body: {}", rejection.body_text()),
            )
        }
    })
}

/// A JSON request body.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON request body together with its raw bytes (for an
/// `Idempotency-Key`'s request hash).
pub(crate) struct ApiJsonRaw<T>(pub(crate) T, pub(crate) Bytes);

impl<S, T> FromRequest<S> for ApiJsonRaw<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        let value = parse_json(&bytes)?;
        Ok(ApiJsonRaw(value, bytes))
    }
}

/// A form post: `application/x-www-form-urlencoded` (what a plain HTML
/// form sends) or a JSON object, as a map of fields, with the raw bytes.
pub(crate) struct FormFields(
    pub(crate) serde_json::Map<String, serde_json::Value>,
    pub(crate) Bytes,
);

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let essence = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if essence != "application/x-www-form-urlencoded" {
            let ApiJsonRaw(map, bytes) = ApiJsonRaw::from_request(req, state).await?;
            return Ok(FormFields(map, bytes));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            ApiError::of(
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorKind::FormTooLarge
                } else {
                    ErrorKind::Body
                },
                format!("could not read the form: {}", rejection.body_text()),
            )
        })?;
        let mut map = serde_json::Map::new();
        for (k, v) in url::form_urlencoded::parse(&bytes) {
            map.insert(k.into_owned(), serde_json::Value::String(v.into_owned()));
        }
        if let Some(violation) = revos_contracts::text::object_nul_violation(&map) {
            return Err(ApiError(Failure::invalid(
                "a form field contains the NUL character",
                &[violation],
            )));
        }
        Ok(FormFields(map, bytes))
    }
}

/// Refuses a request whose path segments or query string hold the NUL
/// character (`%00`), naming the parameter: the text rule of
/// [`revos_contracts::text`], applied before any handler runs. Placed as a
/// route layer, so the path parameters have their names.
pub(crate) async fn refuse_nul_in_uri(
    params: Result<axum::extract::RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // NUL reaches a URI only percent-encoded; most requests stop here.
    let uri = req.uri();
    if !uri.path().contains("%00") && !uri.query().is_some_and(|q| q.contains("%00")) {
        return next.run(req).await;
    }
    let mut found = None;
    if let Ok(params) = &params {
        found = params.iter().find_map(|(name, value)| {
            revos_contracts::text::nul_violation(&format!("path.{name}"), value)
        });
    }
    if found.is_none() {
        let query = req.uri().query().unwrap_or_default();
        found = url::form_urlencoded::parse(query.as_bytes()).find_map(|(name, value)| {
            let path = format!("query.{}", name.replace('\0', "\\u0000"));
            revos_contracts::text::nul_violation(&path, &name)
                .or_else(|| revos_contracts::text::nul_violation(&path, &value))
        });
    }
    match found {
        Some(violation) => ApiError(Failure::invalid(
            "a path or query parameter contains the NUL character",
            &[violation],
        ))
        .into_response(),
        None => next.run(req).await,
    }
}

/// A JSON body that is either one record or an array of records; bulk
/// endpoints accept both.
pub(crate) struct ApiBatch<T>(pub(crate) Vec<T>);

impl<S, T> FromRequest<S> for ApiBatch<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        // Decide by the first significant byte instead of an untagged enum,
        // which would lose the path of the field that failed.
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
        if first == Some(b'{') {
            parse_json::<T>(&bytes).map(|one| ApiBatch(vec![one]))
        } else {
            parse_json::<Vec<T>>(&bytes).map(ApiBatch)
        }
    }
}

/// The `{tenant_id}` path segment, parsed.
pub(crate) struct TenantPath(pub(crate) TenantId);

impl<S: Send + Sync> FromRequestParts<S> for TenantPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::of(ErrorKind::Path, r.body_text()))?;
        let raw = params
            .iter()
            .find(|(name, _)| *name == "tenant_id")
            .map(|(_, value)| value.to_owned())
            .unwrap_or_default();
        raw.parse::<TenantId>().map(TenantPath).map_err(|e| {
            ApiError(Failure::invalid(
                "invalid tenant id in the path",
                &[Violation {
                    rule: "type".to_owned(),
                    path: "path.tenant_id".to_owned(),
                    message: e.to_string(),
                    code: ErrorCode::InvalidInput,
                }],
            ))
        })
    }
}

/// Query-string parameters.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        parse_query(query).map(ApiQuery)
    }
}

fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::of(ErrorKind::Query, "malformed query string"))?,
    )
    .map(|q| q.0)
    .map_err(|r| {
        ApiError(Failure::invalid(
            "invalid query parameters",
            &[Violation {
                rule: "type".to_owned(),
                path: "query".to_owned(),
                message: r.body_text(),
                code: ErrorCode::InvalidInput,
            }],
        ))
    })
}
