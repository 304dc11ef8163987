//! Canonical JSON: one byte string per JSON value, so that a hash computed
//! when an entry is written can be computed again from the entry read back.
//!
//! The form follows RFC 8785 (JSON Canonicalization Scheme) in spirit:
//! no whitespace, object members sorted by key, strings with the minimal
//! escapes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control
//! characters as `\u00xx` in lower-case hex, everything else as UTF-8).
//!
//! Where it deviates from RFC 8785, knowingly:
//!
//! * **Numbers** are written the way `serde_json` writes them, not in
//!   ECMAScript's form: integers exactly as they are (even beyond 2^53),
//!   floats in `ryu`'s shortest round-trip form, which keeps a `.0` on
//!   whole floats (`1.0`, where RFC 8785 writes `1`) and switches to
//!   exponent notation at other magnitudes than ECMAScript does (`1e+16`,
//!   where RFC 8785 writes `10000000000000000`).
//!   Both are deterministic for any value `serde_json` parses, which is all
//!   the chain needs.
//! * **Keys** are sorted by their UTF-8 bytes, not by UTF-16 code units.
//!   The two orders differ only between characters above U+FFFF and those
//!   in U+E000..=U+FFFF.
//!
//! Key order never depends on how `serde_json::Map` is built (insertion
//! order under its `preserve_order` feature): members are sorted here.

use serde_json::Value;
use std::fmt::Write as _;

/// The canonical text of `value`.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_sorted_and_compact() {
        let value = json!({"b": 1, "a": [true, null, {"d": "x", "c": 2.5}], "": -3});
        assert_eq!(
            canonical_json(&value),
            r#"{"":-3,"a":[true,null,{"c":2.5,"d":"x"}],"b":1}"#
        );
    }

    #[test]
    fn key_order_does_not_depend_on_insertion_order() {
        let mut one = serde_json::Map::new();
        one.insert("z".into(), json!(1));
        one.insert("a".into(), json!(2));
        let mut two = serde_json::Map::new();
        two.insert("a".into(), json!(2));
        two.insert("z".into(), json!(1));
        assert_eq!(
            canonical_json(&Value::Object(one)),
            canonical_json(&Value::Object(two))
        );
    }

    #[test]
    fn strings_use_minimal_escapes() {
        let value = json!("q\"b\\s/\u{08}\u{0c}\n\r\t\u{01}\u{1f}é€😀");
        assert_eq!(
            canonical_json(&value),
            "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001fé€😀\""
        );
    }

    #[test]
    fn numbers_follow_serde_json() {
        let value = json!([0, -0.0, 1.0, 0.1, 1e16, 1e21, 18446744073709551615u64, -42]);
        assert_eq!(
            canonical_json(&value),
            "[0,-0.0,1.0,0.1,1e+16,1e+21,18446744073709551615,-42]"
        );
    }

    #[test]
    fn canonical_text_parses_back_to_the_same_text() {
        let value = json!({"k": [1.5, "ü", {"y": null, "x": 1e-7}], "n": 12345678901234i64});
        let text = canonical_json(&value);
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(canonical_json(&reparsed), text);
    }
}
