//! Turning guard input (JSON numbers, numeric strings, dates, ids) into the
//! integers and strings a Cedar context can hold.
//!
//! Cedar has no floating point, so money becomes cents and percentages
//! become basis points. Conversion goes through the decimal text of the
//! number, so `19.99` is 1999 cents exactly rather than 1998.999….

use chrono::NaiveDate;
use serde_json::Value;

use crate::settings::kind;

/// `value` (a JSON number or numeric string such as `"1234.56"`) times
/// 10^`scale`, rounded half away from zero, as an integer. `field` names the
/// input in errors.
pub(crate) fn scaled(value: &Value, field: &str, scale: u32) -> Result<i64, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        other => {
            return Err(format!(
                "{field} must be a number or a numeric string, not {}",
                kind(other)
            ));
        }
    };
    let shown = crate::payload::truncate(&text, 40);
    if text.contains(['e', 'E']) && value.is_number() {
        // serde_json writes very large or small floats in exponent form.
        let x = value.as_f64().unwrap_or(f64::NAN) * 10f64.powi(scale as i32);
        if !x.is_finite() || x.abs() >= 9.0e15 {
            return Err(format!("{field} `{shown}` is too large"));
        }
        return Ok(x.round() as i64);
    }
    decimal(&text, scale).ok_or_else(|| {
        if value.is_string() {
            format!("{field} `{shown}` is not a number (write it like 1234.56, no separators or currency signs)")
        } else {
            format!("{field} `{shown}` is too large")
        }
    })
}

/// Parses `[+-]digits[.digits]` into an integer scaled by 10^`scale`.
fn decimal(s: &str, scale: u32) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (body.contains('.') && frac.is_empty())
    {
        return None;
    }
    let mut v: i64 = 0;
    for b in int.bytes() {
        v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let mut digits = frac.bytes();
    for _ in 0..scale {
        let d = digits.next().map(|b| b - b'0').unwrap_or(0);
        v = v.checked_mul(10)?.checked_add(i64::from(d))?;
    }
    if digits.next().is_some_and(|b| b >= b'5') {
        v = v.checked_add(1)?;
    }
    Some(if negative { -v } else { v })
}

/// An optional field: `None` when missing or null.
pub(crate) fn optional<'a>(input: &'a Value, field: &str) -> Option<&'a Value> {
    input.get(field).filter(|v| !v.is_null())
}

/// A `YYYY-MM-DD` date (an RFC 3339 time is accepted and its date used).
pub(crate) fn date(value: &Value, field: &str) -> Result<NaiveDate, String> {
    let Value::String(s) = value else {
        return Err(format!(
            "{field} must be a date string like 2025-03-31, not {}",
            kind(value)
        ));
    };
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s).map(|t| t.date_naive()))
        .map_err(|_| {
            format!(
                "{field} `{}` is not a date like 2025-03-31",
                crate::payload::truncate(s, 40)
            )
        })
}

/// A required identifier: a non-empty string (at most 200 characters) or
/// an integer.
pub(crate) fn id(input: &Value, field: &str) -> Result<String, String> {
    match input.get(field) {
        None | Some(Value::Null) => Err(format!("{field} is required")),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Err(format!("{field} must not be empty"))
            } else if s.chars().count() > 200 {
                Err(format!("{field} must have at most 200 characters"))
            } else {
                Ok(s.to_owned())
            }
        }
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        Some(other) => Err(format!(
            "{field} must be a string or an integer, not {}",
            kind(other)
        )),
    }
}

/// A deal stage normalized for rules: lower case, spaces and hyphens as
/// underscores ("Closed Won" → "closed_won"); missing = "".
pub(crate) fn stage(input: &Value, field: &str) -> Result<String, String> {
    match optional(input, field) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s
            .trim()
            .chars()
            .take(100)
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect()),
        Some(other) => Err(format!("{field} must be a string, not {}", kind(other))),
    }
}

/// A required boolean fact looked up by the kernel.
pub(crate) fn fact(facts: &Value, name: &str) -> Result<bool, String> {
    match facts.get(name) {
        Some(Value::Bool(b)) => Ok(*b),
        None | Some(Value::Null) => Err(format!("fact `{name}` is missing")),
        Some(other) => Err(format!(
            "fact `{name}` must be a boolean, not {}",
            kind(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_to_cents() {
        let cents = |v: Value| scaled(&v, "amount", 2);
        assert_eq!(cents(json!(19.99)), Ok(1999));
        assert_eq!(cents(json!(0.1)), Ok(10));
        assert_eq!(cents(json!(10000)), Ok(1_000_000));
        assert_eq!(cents(json!("1234.56")), Ok(123_456));
        assert_eq!(cents(json!(" 12 ")), Ok(1200));
        assert_eq!(cents(json!("12.345")), Ok(1235));
        assert_eq!(cents(json!("12.344")), Ok(1234));
        assert_eq!(cents(json!("-1.005")), Ok(-101));
        assert_eq!(cents(json!(".5")), Ok(50));
        assert!(cents(json!(1e20)).is_err());
        assert!(cents(json!(1.5e300)).is_err());
        assert!(cents(json!(u64::MAX)).is_err());
        for bad in ["", "abc", "1,000", "$5", "1.", "1.2.3", "--1", "1e3"] {
            let e = cents(json!(bad)).unwrap_err();
            assert!(e.contains("is not a number"), "{bad}: {e}");
        }
        assert_eq!(
            cents(json!(true)).unwrap_err(),
            "amount must be a number or a numeric string, not a boolean"
        );
        assert!(cents(json!("9".repeat(100))).is_err());
    }

    #[test]
    fn percent_to_basis_points() {
        assert_eq!(scaled(&json!(20), "d", 2), Ok(2000));
        assert_eq!(scaled(&json!(20.01), "d", 2), Ok(2001));
        assert_eq!(scaled(&json!(12.5), "d", 2), Ok(1250));
        assert_eq!(scaled(&json!("0.004"), "d", 2), Ok(0));
    }

    #[test]
    fn dates_ids_stages_facts() {
        assert_eq!(
            date(&json!("2025-03-31"), "d").unwrap().to_string(),
            "2025-03-31"
        );
        assert_eq!(
            date(&json!("2025-03-31T23:00:00-05:00"), "d")
                .unwrap()
                .to_string(),
            "2025-03-31"
        );
        assert!(
            date(&json!("31/03/2025"), "d")
                .unwrap_err()
                .contains("not a date")
        );
        assert!(date(&json!(20250331), "d").is_err());
        assert_eq!(id(&json!({"x": 42}), "x").unwrap(), "42");
        assert_eq!(id(&json!({}), "x").unwrap_err(), "x is required");
        assert!(id(&json!({"x": " "}), "x").is_err());
        assert!(id(&json!({"x": [1]}), "x").is_err());
        assert_eq!(
            stage(&json!({"s": "Closed Won"}), "s").unwrap(),
            "closed_won"
        );
        assert_eq!(stage(&json!({}), "s").unwrap(), "");
        assert!(fact(&json!({"f": "yes"}), "f").is_err());
        assert!(fact(&json!({}), "f").unwrap_err().contains("missing"));
        assert!(fact(&json!({"f": true}), "f").unwrap());
    }
}
