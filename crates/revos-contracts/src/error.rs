//! The `KernelError` shape of seed 001 and its error-code table.
//!
//! Every error revos answers, from every endpoint and the CLI, is a
//! [`KernelError`]: `{"error": true, "code": …, "message": …, "details"?: {…}}`.
//! The five codes and their HTTP statuses are the contract's and are not
//! extended; finer distinctions (a route that does not exist, a body that is
//! too large) travel in `details.kind` and in the HTTP status of their
//! [`ErrorKind`](crate::ErrorKind), so a client that switches on `code` never
//! meets an unknown value.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The contract's error codes (the kernel I/O contract's "Error Responses").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Input fails validation (400).
    InvalidInput,
    /// `tenant_id` not in the database (404).
    TenantNotFound,
    /// Not enough metrics for analysis (422).
    InsufficientData,
    /// Last cycle was less than 12 hours ago (429).
    CycleTooRecent,
    /// Unexpected failure (500).
    InternalError,
}

impl ErrorCode {
    /// Every code, in the order of the contract's table.
    pub const ALL: [ErrorCode; 5] = [
        ErrorCode::InvalidInput,
        ErrorCode::TenantNotFound,
        ErrorCode::InsufficientData,
        ErrorCode::CycleTooRecent,
        ErrorCode::InternalError,
    ];

    /// The HTTP status the contract assigns to this code.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput => 400,
            ErrorCode::TenantNotFound => 404,
            ErrorCode::InsufficientData => 422,
            ErrorCode::CycleTooRecent => 429,
            ErrorCode::InternalError => 500,
        }
    }

    /// The code as it appears on the wire (`"INVALID_INPUT"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::TenantNotFound => "TENANT_NOT_FOUND",
            ErrorCode::InsufficientData => "INSUFFICIENT_DATA",
            ErrorCode::CycleTooRecent => "CYCLE_TOO_RECENT",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The literal `true` of `KernelError.error`.
///
/// A unit type rather than a `bool` so that `{"error": false}` is not a
/// `KernelError` at all: the contract writes the field as the literal `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct True;

impl Serialize for True {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

impl<'de> Deserialize<'de> for True {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if bool::deserialize(deserializer)? {
            Ok(True)
        } else {
            Err(serde::de::Error::custom("`error` must be the literal true"))
        }
    }
}

impl JsonSchema for True {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "True".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "boolean", "const": true })
    }

    fn inline_schema() -> bool {
        true
    }
}

impl utoipa::PartialSchema for True {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Boolean)
            .enum_values(Some([true]))
            .into()
    }
}

impl ToSchema for True {}

/// The contract's error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KernelError {
    /// Always `true`.
    #[schema(value_type = bool)]
    pub error: True,
    /// What went wrong, from the contract's five codes.
    pub code: ErrorCode,
    /// A sentence a person can act on.
    pub message: String,
    /// Structured context: the violations with their JSON paths, the
    /// missing tenant, `kind` for errors finer than the five codes, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Map<String, Value>>,
}

impl KernelError {
    /// An error with a code and a message and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KernelError {
            error: True,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Adds (or replaces) one entry of `details`.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details
            .get_or_insert_with(Map::new)
            .insert(key.to_owned(), value.into());
        self
    }

    /// The HTTP status the contract assigns to this error's code.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for KernelError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_contract_statuses() {
        let table: Vec<(&str, u16)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str(), c.http_status()))
            .collect();
        assert_eq!(
            table,
            vec![
                ("INVALID_INPUT", 400),
                ("TENANT_NOT_FOUND", 404),
                ("INSUFFICIENT_DATA", 422),
                ("CYCLE_TOO_RECENT", 429),
                ("INTERNAL_ERROR", 500),
            ]
        );
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::json!(code.as_str()));
        }
    }

    #[test]
    fn error_shape_round_trips() {
        let err = KernelError::new(ErrorCode::InvalidInput, "bad")
            .with_detail("violations", serde_json::json!([{"path": "$.tenant_id"}]));
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["error"], serde_json::json!(true));
        assert_eq!(json["code"], "INVALID_INPUT");
        let back: KernelError = serde_json::from_value(json).unwrap();
        assert_eq!(back, err);
    }

    #[test]
    fn error_false_is_not_a_kernel_error() {
        let parsed: Result<KernelError, _> =
            serde_json::from_str(r#"{"error": false, "code": "INTERNAL_ERROR", "message": "x"}"#);
        assert!(parsed.is_err());
        let no_details: KernelError =
            serde_json::from_str(r#"{"error": true, "code": "INTERNAL_ERROR", "message": "x"}"#)
                .unwrap();
        assert!(no_details.details.is_none());
        assert!(
            !serde_json::to_string(&no_details)
                .unwrap()
                .contains("details")
        );
    }
}
