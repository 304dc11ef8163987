//! Stored, versioned e-mail templates: checking a source when it is saved,
//! rendering it with a send's data, and the hashes that make every send
//! reproducible.
//!
//! The rendering is the policies' own ([`crate::render`]): strict about
//! undefined variables, HTML auto-escaped, bounded by fuel and
//! [`TemplateLimits`]. `render_hash` is SHA-256 over the template source and
//! the data in canonical JSON (object keys sorted, no whitespace), so the
//! same template and data give the same hash whatever order the data's
//! keys came in, and any change to either gives another.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::TemplateLimits;
use crate::render::{self, Format};

/// A template's source: the subject, the text body and, optionally, the
/// HTML body, each a minijinja template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// The subject line's template.
    pub subject: &'a str,
    /// The plain-text body's template.
    pub text: &'a str,
    /// The HTML body's template, if any.
    pub html: Option<&'a str>,
}

/// A rendered e-mail and the hash that reproduces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, when the template has one.
    pub html: Option<String>,
    /// [`render_hash`] of the source and the data.
    pub render_hash: String,
}

/// Checks each part compiles and is within size; the errors name the part
/// (`subject: syntax error: …`).
pub fn check(source: &Source<'_>) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if source.subject.trim().is_empty() {
        problems.push("subject: must not be empty".to_owned());
    }
    if source.subject.contains(['\r', '\n']) {
        problems.push("subject: must be one line".to_owned());
    }
    if source.text.trim().is_empty() {
        problems.push("text: must not be empty".to_owned());
    }
    let parts = [
        ("subject", Some(source.subject), Format::Text),
        ("text", Some(source.text), Format::Text),
        ("html", source.html, Format::Html),
    ];
    for (field, part, format) in parts {
        if let Some(part) = part
            && let Err(e) = render::compile(field, part, format)
        {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Renders `source` with `data` (a JSON object).
pub fn render(
    source: &Source<'_>,
    data: &Value,
    limits: &TemplateLimits,
) -> Result<Rendered, String> {
    if !data.is_object() {
        return Err("data: must be a JSON object".to_owned());
    }
    let subject = render::render("subject", source.subject, Format::Text, data, limits)?;
    if subject.contains(['\r', '\n']) {
        return Err("subject: the rendered subject has a line break".to_owned());
    }
    let text = render::render("text", source.text, Format::Text, data, limits)?;
    let html = source
        .html
        .map(|h| render::render("html", h, Format::Html, data, limits))
        .transpose()?;
    Ok(Rendered {
        subject: subject.trim().to_owned(),
        text,
        html,
        render_hash: render_hash(source, data),
    })
}

/// SHA-256 (hex) of the source alone: tells two versions apart.
pub fn source_hash(source: &Source<'_>) -> String {
    let mut h = Sha256::new();
    feed_source(&mut h, source);
    hex::encode(h.finalize())
}

/// SHA-256 (hex) of the source and the canonical data.
pub fn render_hash(source: &Source<'_>, data: &Value) -> String {
    let mut h = Sha256::new();
    feed_source(&mut h, source);
    let canonical = canonical_json(data);
    h.update((canonical.len() as u64).to_be_bytes());
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// Each part length-prefixed, so moving text from one part to the next
/// changes the hash; a missing HTML part differs from an empty one.
fn feed_source(h: &mut Sha256, source: &Source<'_>) {
    for part in [Some(source.subject), Some(source.text), source.html] {
        match part {
            Some(p) => {
                h.update([1]);
                h.update((p.len() as u64).to_be_bytes());
                h.update(p.as_bytes());
            }
            None => h.update([0]),
        }
    }
}

/// JSON with object keys sorted at every level and no whitespace.
///
/// Written here because serde_json keeps insertion order when any crate in
/// the build enables its `preserve_order` feature, so its own output is not
/// canonical.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(value) = map.get(k) {
                    write_canonical(value, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SRC: Source<'static> = Source {
        subject: "Welcome, {{ name }}",
        text: "Hello {{ name }}, your plan is {{ plan.name }}.\n",
        html: Some("<p>Hello {{ name }}</p>"),
    };

    #[test]
    fn the_same_template_and_data_give_the_same_hash_in_any_key_order() {
        let a = json!({ "name": "Ada", "plan": { "name": "Pro", "seats": 3 } });
        let b: Value =
            serde_json::from_str(r#"{"plan":{"seats":3,"name":"Pro"},"name":"Ada"}"#).unwrap();
        assert_eq!(render_hash(&SRC, &a), render_hash(&SRC, &b));
        let other = json!({ "name": "Bob", "plan": { "name": "Pro", "seats": 3 } });
        assert_ne!(render_hash(&SRC, &a), render_hash(&SRC, &other));
        let edited = Source {
            subject: "Welcome {{ name }}",
            ..SRC
        };
        assert_ne!(render_hash(&SRC, &a), render_hash(&edited, &a));
        let no_html = Source { html: None, ..SRC };
        let empty_html = Source {
            html: Some(""),
            ..SRC
        };
        assert_ne!(source_hash(&no_html), source_hash(&empty_html));
    }

    #[test]
    fn renders_escape_html_and_refuse_unknown_variables() {
        let data = json!({ "name": "<b>Ada</b>", "plan": { "name": "Pro" } });
        let r = render(&SRC, &data, &TemplateLimits::default()).unwrap();
        assert_eq!(r.subject, "Welcome, <b>Ada</b>");
        assert_eq!(
            r.html.as_deref(),
            Some("<p>Hello &lt;b&gt;Ada&lt;&#x2f;b&gt;</p>")
        );
        assert_eq!(r.render_hash, render_hash(&SRC, &data));
        let err = render(&SRC, &json!({ "name": "Ada" }), &TemplateLimits::default()).unwrap_err();
        assert!(err.contains("plan"), "{err}");
        assert!(render(&SRC, &json!([1]), &TemplateLimits::default()).is_err());
    }

    #[test]
    fn check_names_the_broken_part() {
        let bad = Source {
            subject: "Hi\nthere",
            text: "{% if %}",
            html: Some("{{ unclosed"),
        };
        let problems = check(&bad).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("subject: must be one line"))
        );
        assert!(problems.iter().any(|p| p.starts_with("text: ")));
        assert!(problems.iter().any(|p| p.starts_with("html: ")));
        assert!(check(&SRC).is_ok());
    }
}
