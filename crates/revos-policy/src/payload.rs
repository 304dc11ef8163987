//! Lenient, panic-free reading of event payloads.
//!
//! Payloads come from other modules and may hold anything: numbers where
//! strings were expected, arrays, megabytes of text. The policies read them
//! through these helpers, which accept strings and scalars, ignore other
//! shapes, trim, and cap lengths so that a hostile payload can neither crash
//! a policy nor bloat an email.

use serde_json::Value;

/// The longest short field (names, companies, ids) kept from a payload.
pub(crate) const MAX_SHORT: usize = 200;
/// The longest free-text field (a lead's message) kept from a payload.
pub(crate) const MAX_LONG: usize = 5_000;
/// The longest email address (RFC 5321).
const MAX_EMAIL: usize = 254;

/// The string at `key`: a trimmed non-empty string, or a number or boolean
/// written out; anything else (missing, null, array, object) is `None`.
/// Capped at `max` characters.
pub(crate) fn text(payload: &Value, key: &str, max: usize) -> Option<String> {
    let raw = match payload.get(key)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    if raw.is_empty() {
        return None;
    }
    Some(truncate(&raw, max))
}

/// Like [`text`], but on one line: control characters (newlines included)
/// become spaces and runs of whitespace collapse. For subjects and names.
pub(crate) fn line(payload: &Value, key: &str, max: usize) -> Option<String> {
    let t = text(payload, key, max)?;
    let l = single_line(&t);
    (!l.is_empty()).then_some(l)
}

/// `s` with control characters replaced by spaces and whitespace collapsed.
pub(crate) fn single_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max` characters of `s`, with "…" when something was cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => {
            let mut out = s[..cut].trim_end().to_owned();
            out.push('…');
            out
        }
    }
}

/// The first word of a name, for greetings.
pub(crate) fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Checks an email address well enough to send to it: one `@`, a non-empty
/// local part, a dotted domain, no whitespace or control characters, at most
/// 254 characters. Returns the trimmed address with a lower-case domain, or
/// why it is not usable.
pub(crate) fn email(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("is empty");
    }
    if s.chars().count() > MAX_EMAIL {
        return Err("is longer than 254 characters");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace");
    }
    if s.chars()
        .any(|c| matches!(c, '<' | '>' | ',' | ';' | '"' | '(' | ')'))
    {
        return Err("contains characters not allowed in an address");
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err("has no @");
    };
    if local.is_empty() || domain.contains('@') {
        return Err("is not of the form name@domain");
    }
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if !domain.contains('.') || !labels_ok {
        return Err("has no valid domain");
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// The domain of a checked address.
pub(crate) fn email_domain(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

/// Checks a sender setting: a bare address or `Display Name <address>`.
pub(crate) fn mailbox(raw: &str) -> Result<(), String> {
    let s = raw.trim();
    let address = match (s.find('<'), s.ends_with('>')) {
        (Some(open), true) => {
            let name = &s[..open];
            if name.chars().any(char::is_control) {
                return Err("display name contains control characters".to_owned());
            }
            &s[open + 1..s.len() - 1]
        }
        (None, false) => s,
        _ => return Err(format!("`{s}` is not `address` or `Name <address>`")),
    };
    email(address)
        .map(|_| ())
        .map_err(|why| format!("address `{address}` {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_accepts_scalars_and_ignores_shapes() {
        let p = json!({"a": "  x  ", "b": 12, "c": true, "d": [1], "e": {}, "f": null, "g": "  "});
        assert_eq!(text(&p, "a", 10).as_deref(), Some("x"));
        assert_eq!(text(&p, "b", 10).as_deref(), Some("12"));
        assert_eq!(text(&p, "c", 10).as_deref(), Some("true"));
        for k in ["d", "e", "f", "g", "missing"] {
            assert_eq!(text(&p, k, 10), None, "{k}");
        }
        assert_eq!(text(&json!([1, 2]), "a", 10), None);
        assert_eq!(text(&json!("str"), "a", 10), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("", 0), "");
        assert_eq!(single_line(" a\r\nb\t c\u{0}d "), "a b c d");
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "Ada@example.com");
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example..com",
            "ada@-example.com",
            "Ada <ada@example.com>",
            "ada@example.com\r\nBcc: x@y.z",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(email(&format!("{}@example.com", "a".repeat(300))).is_err());
        assert_eq!(email_domain("a@b.co"), "b.co");
        assert!(mailbox("Acme Sales <sales@acme.test>").is_ok());
        assert!(mailbox("sales@acme.test").is_ok());
        assert!(mailbox("Acme <sales@acme>").is_err());
        assert!(mailbox("Acme sales@acme.test>").is_err());
    }
}
