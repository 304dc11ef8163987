//! The text rules every input obeys before anything is stored.
//!
//! One policy for both databases: PostgreSQL cannot store the NUL character
//! (`U+0000`) in text, SQLite can. So revos refuses NUL in every text it is
//! given — JSON keys and string values, form fields, path segments, query
//! strings, stored headers — with a 400 naming the field, before any write,
//! whichever backend is underneath. The JSON body parsers
//! ([`crate::validation::parse_json`], [`crate::validation::parse_input`])
//! call [`json_nul_path`] first; the API's other extractors, the inbound
//! webhook receiver and the CLI call [`nul_violation`] and
//! [`length_violation`].
//!
//! The second rule bounds the length of ids taken from headers that are
//! stored ([`MAX_HEADER_ID_LEN`]); ids in bodies have their own bounds
//! where they are checked (255 characters for idempotency keys,
//! correlation ids and subjects).

use serde_json::{Map, Value};

use crate::error::ErrorCode;
use crate::validation::Violation;

/// The rule name of a text that contains NUL.
pub const NUL_RULE: &str = "text.nul";

/// The rule name of a text that is too long.
pub const LENGTH_RULE: &str = "text.length";

/// The longest id taken from a header that is stored (`webhook-id`), in
/// characters.
pub const MAX_HEADER_ID_LEN: usize = 256;

/// Whether `text` contains the NUL character.
pub fn has_nul(text: &str) -> bool {
    text.as_bytes().contains(&0)
}

/// A violation of [`NUL_RULE`] at `path` when `text` contains NUL.
pub fn nul_violation(path: &str, text: &str) -> Option<Violation> {
    has_nul(text).then(|| nul_at(path.to_owned()))
}

/// A violation of [`LENGTH_RULE`] at `path` when `text` is longer than
/// `max` characters.
pub fn length_violation(path: &str, text: &str, max: usize) -> Option<Violation> {
    (text.chars().count() > max).then(|| {
        Violation::new(
            LENGTH_RULE,
            path,
            format!("{path} must have at most {max} characters"),
            ErrorCode::InvalidInput,
        )
    })
}

fn nul_at(path: String) -> Violation {
    let message = format!("{path} contains the NUL character (\\u0000), which no text may hold");
    Violation::new(NUL_RULE, path, message, ErrorCode::InvalidInput)
}

/// The JSON path of the first key or string value in `value` that contains
/// NUL, in document order (`$.payload.name`, `$.items[2]["a\u0000"]`).
pub fn json_nul_path(value: &Value) -> Option<String> {
    let mut path = String::from("$");
    walk(value, &mut path).then_some(path)
}

/// The [`NUL_RULE`] violation of the first key or string in `value` that
/// contains NUL, with its JSON path.
pub fn json_nul_violation(value: &Value) -> Option<Violation> {
    json_nul_path(value).map(nul_at)
}

/// [`json_nul_violation`] for a JSON object held as its map (a form post).
pub fn object_nul_violation(map: &Map<String, Value>) -> Option<Violation> {
    let mut path = String::from("$");
    walk_object(map, &mut path).then(|| nul_at(path))
}

/// Whether raw JSON text may hold a NUL: JSON can only carry one as the
/// escape `\u0000` (a raw control character is not valid JSON), so a body
/// without that sequence needs no walk.
pub fn json_may_hold_nul(json: &[u8]) -> bool {
    json.windows(6).any(|w| w == b"\\u0000")
}

/// Depth-first search; on a hit `path` is left pointing at the offender.
fn walk(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(s) => has_nul(s),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                if walk(item, path) {
                    return true;
                }
                path.truncate(len);
            }
            false
        }
        Value::Object(map) => walk_object(map, path),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn walk_object(map: &Map<String, Value>, path: &mut String) -> bool {
    for (key, item) in map {
        let len = path.len();
        push_key(path, key);
        if has_nul(key) || walk(item, path) {
            return true;
        }
        path.truncate(len);
    }
    false
}

/// Appends `.key` for a plain key, `["key"]` (JSON-escaped) otherwise.
fn push_key(path: &mut String, key: &str) {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nul_in_values_and_keys_with_their_path() {
        let value = json!({"a": "ok", "payload": {"name": "x\u{0}y"}});
        assert_eq!(json_nul_path(&value).as_deref(), Some("$.payload.name"));
        let value = json!({"payload": {"k\u{0}": 1}});
        assert_eq!(
            json_nul_path(&value).as_deref(),
            Some(r#"$.payload["k\u0000"]"#)
        );
        let value = json!([{"a": ["ok", "\u{0}"]}]);
        assert_eq!(json_nul_path(&value).as_deref(), Some("$[0].a[1]"));
        assert_eq!(json_nul_path(&json!({"a": ["b", 1, null]})), None);
    }

    #[test]
    fn the_raw_scan_finds_the_escape() {
        assert!(json_may_hold_nul(br#"{"a":"\u0000"}"#));
        assert!(!json_may_hold_nul(br#"{"a":"\u0001"}"#));
        // An escaped backslash before `u0000` is no NUL: the scan may say
        // yes, the walk then says no.
        let text = br#"{"a":"\\u0000"}"#;
        let value: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(json_nul_path(&value), None);
    }

    #[test]
    fn violations_name_the_field() {
        let v = nul_violation("$.name", "a\u{0}").unwrap();
        assert_eq!((v.rule.as_str(), v.path.as_str()), (NUL_RULE, "$.name"));
        assert!(nul_violation("$.name", "a").is_none());
        let v = length_violation("header.webhook-id", &"x".repeat(257), 256).unwrap();
        assert_eq!(v.rule, LENGTH_RULE);
        assert!(v.message.contains("256"));
        assert!(length_violation("header.webhook-id", &"x".repeat(256), 256).is_none());
    }
}
