//! Reading and checking tenant settings for a policy.
//!
//! Settings are a JSON object stored per tenant and policy; `null` means
//! "all defaults". Each policy has a settings struct with serde defaults and
//! `deny_unknown_fields`, read through [`parse`], which names the offending
//! field in its error. The field checks shared by policies live here too.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::payload;

/// Deserializes `settings` (`null` = defaults) into `T`, with errors such as
/// `settings.response_sla_minutes: invalid type: string "x", expected u32`.
pub(crate) fn parse<T: DeserializeOwned + Default>(settings: &Value) -> Result<T, String> {
    match settings {
        Value::Null => Ok(T::default()),
        Value::Object(_) => serde_path_to_error::deserialize(settings).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                format!("settings: {}", e.inner())
            } else {
                format!("settings.{path}: {}", e.inner())
            }
        }),
        other => Err(format!(
            "settings must be a JSON object (or null for defaults), not {}",
            kind(other)
        )),
    }
}

/// The JSON kind of a value, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks an optional sender setting (`from`, `reply_to`).
pub(crate) fn check_mailbox(field: &str, value: Option<&str>) -> Result<(), String> {
    match value {
        None => Ok(()),
        Some(v) => payload::mailbox(v).map_err(|e| format!("settings.{field}: {e}")),
    }
}

/// Checks a name setting (an owner, a webhook endpoint): 1 to 100
/// characters, no control characters.
pub(crate) fn check_name(field: &str, value: &str) -> Result<(), String> {
    let len = value.trim().chars().count();
    if len == 0 || len > 100 {
        return Err(format!(
            "settings.{field} must have 1 to 100 characters; it has {len}"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "settings.{field} must not contain control characters"
        ));
    }
    Ok(())
}

/// Checks that a number setting lies in `range`.
pub(crate) fn check_range(
    field: &str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
    unit: &str,
) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "settings.{field} must be between {} and {} {unit}; got {value}",
            range.start(),
            range.end()
        ))
    }
}

/// Reads a `max_event_age` setting: a duration such as `24h`, `90m`,
/// `7d` or `2days` (at least a minute, at most a year); `None` when unset
/// (no limit).
pub(crate) fn max_event_age(value: Option<&str>) -> Result<Option<chrono::Duration>, String> {
    let Some(text) = value else {
        return Ok(None);
    };
    let parsed = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("settings.max_event_age: `{text}` is not a duration such as `24h` or `7d` ({e})")
    })?;
    let minute = std::time::Duration::from_secs(60);
    let year = std::time::Duration::from_secs(366 * 24 * 3600);
    if parsed < minute || parsed > year {
        return Err(format!(
            "settings.max_event_age must be between 1 minute and 1 year; it is `{text}`"
        ));
    }
    chrono::Duration::from_std(parsed)
        .map(Some)
        .map_err(|_| format!("settings.max_event_age `{text}` is too long"))
}

/// Why an event is too old for a policy to act on, if it is: it occurred
/// more than `max_age` before `now`. Past data never acts: a backfill of
/// last year's leads must not e-mail them today.
pub(crate) fn too_old(
    occurred_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    max_age: Option<chrono::Duration>,
    setting: &str,
) -> Option<String> {
    let max_age = max_age?;
    let age = now.signed_duration_since(occurred_at);
    (age > max_age).then(|| {
        format!(
            "Skipped: the event occurred at {} ({} ago), more than this policy's \
             max_event_age of {setting}; nothing is done for past events.",
            occurred_at.format("%Y-%m-%d %H:%M UTC"),
            humantime::format_duration(std::time::Duration::from_secs(
                age.num_minutes().max(0).unsigned_abs() * 60
            ))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct S {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(parse::<S>(&Value::Null).unwrap().n, 0);
        assert_eq!(parse::<S>(&json!({"n": 3})).unwrap().n, 3);
        let e = parse::<S>(&json!({"n": "x"})).unwrap_err();
        assert!(e.starts_with("settings.n: invalid type"), "{e}");
        let e = parse::<S>(&json!({"m": 1})).unwrap_err();
        assert!(e.contains("unknown field `m`"), "{e}");
        let e = parse::<S>(&json!([1])).unwrap_err();
        assert_eq!(
            e,
            "settings must be a JSON object (or null for defaults), not an array"
        );
    }
}
