//! Rendering of tenant email templates with minijinja.
//!
//! Templates come from tenant settings, so rendering is strict: an undefined
//! variable (a typo such as `{{ lead.nmae }}`) is an error, not a silent
//! blank. Plain-text templates are not escaped; HTML templates are
//! auto-escaped so payload text cannot inject markup.
//!
//! Bounds, so that a template cannot make revos store or send something
//! huge:
//!
//! - a template's source has at most [`MAX_TEMPLATE_BYTES`] bytes, checked
//!   when settings are stored;
//! - a fuel limit bounds the instructions one render may execute;
//! - a render writes into a writer that refuses output past
//!   [`TemplateLimits::max_rendered_bytes`] (default
//!   [`DEFAULT_MAX_RENDERED_BYTES`]): the render fails as soon as the limit
//!   is crossed, so no oversize text is ever built up or returned. At
//!   settings time a template whose sample render crosses the limit is
//!   refused; at event time the policy's decision becomes `error`.
//!
//! What these do not bound: the memory a render allocates before anything
//! is written. The engine caps one string repetition (`'x' * n`) at 100 MB
//! and fuel caps the number of operations, but neither accounts for
//! memory: repeated `{% set s = s ~ s %}` doubles a string per statement.
//! Such a string is never written, stored or returned, but allocating it
//! can exhaust memory; see docs/SECURITY.md (template bounds).

use std::io;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

/// Whether a template renders plain text or HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// No escaping.
    Text,
    /// HTML auto-escaping.
    Html,
}

/// The most instructions one render may execute.
const FUEL: u64 = 100_000;
/// The largest template source accepted in settings, in bytes (16 KiB).
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// The largest rendered text of one template field by default, in bytes
/// (64 KiB); the kernel's `[templates] max_rendered_bytes` changes it.
pub const DEFAULT_MAX_RENDERED_BYTES: usize = 64 * 1024;

/// The bounds a render works within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLimits {
    /// The largest rendered text of one template field, in bytes.
    pub max_rendered_bytes: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            max_rendered_bytes: DEFAULT_MAX_RENDERED_BYTES,
        }
    }
}

/// A writer that keeps at most `max` bytes and fails past them.
struct Bounded {
    out: Vec<u8>,
    max: usize,
    exceeded: bool,
}

impl io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len().saturating_add(buf.len()) > self.max {
            self.exceeded = true;
            return Err(io::Error::other("rendered text too large"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Globals minijinja provides that are not context variables.
const GLOBALS: [&str; 6] = ["range", "dict", "namespace", "debug", "cycler", "joiner"];

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    // Plain-text emails end with a newline, as written.
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// Renders `source` with `ctx`, at most `limits.max_rendered_bytes` of
/// output. `field` names the setting the template came from and prefixes
/// any error, e.g.
/// `text_template: undefined value (in text_template.txt:3); unknown variables: lead.nmae`.
pub(crate) fn render(
    field: &str,
    source: &str,
    format: Format,
    ctx: &Value,
    limits: &TemplateLimits,
) -> Result<String, String> {
    let env = environment();
    let name = match format {
        Format::Text => format!("{field}.txt"),
        Format::Html => format!("{field}.html"),
    };
    let tmpl = env
        .template_from_named_str(&name, source)
        .map_err(|e| format!("{field}: {e}"))?;
    let mut out = Bounded {
        out: Vec::new(),
        max: limits.max_rendered_bytes,
        exceeded: false,
    };
    let rendered = tmpl.render_captured_to(ctx, &mut out).map(|_| ());
    if out.exceeded {
        return Err(format!(
            "{field}: the rendered text is larger than {} bytes (the limit set by \
             [templates] max_rendered_bytes), so nothing was rendered",
            limits.max_rendered_bytes
        ));
    }
    rendered.map_err(|e| {
        let unknown = unknown_variables(&tmpl, ctx);
        if unknown.is_empty() {
            format!("{field}: {e}")
        } else {
            format!("{field}: {e}; unknown variables: {}", unknown.join(", "))
        }
    })?;
    // The output is pieces of UTF-8 text written whole, so this holds.
    String::from_utf8(out.out).map_err(|e| format!("{field}: {e}"))
}

/// Checks that a template stored on its own compiles and is within
/// [`MAX_TEMPLATE_BYTES`]; its variables come with each send, so they are
/// checked when it renders.
pub(crate) fn compile(field: &str, source: &str, format: Format) -> Result<(), String> {
    let len = source.len();
    if len > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "{field}: the template has {len} bytes; at most {MAX_TEMPLATE_BYTES} are allowed"
        ));
    }
    let name = match format {
        Format::Text => format!("{field}.txt"),
        Format::Html => format!("{field}.html"),
    };
    environment()
        .template_from_named_str(&name, source)
        .map(|_| ())
        .map_err(|e| format!("{field}: {e}"))
}

/// Checks a template from settings: its size, that it compiles, that it
/// renders against a sample context within the limits, and that every
/// variable it reads exists (so a typo is caught before any event
/// arrives, even in a branch the sample does not take).
pub(crate) fn check(
    field: &str,
    source: &str,
    format: Format,
    sample: &Value,
    limits: &TemplateLimits,
) -> Result<(), String> {
    let len = source.len();
    if len > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "{field}: the template has {len} bytes; at most {MAX_TEMPLATE_BYTES} are allowed"
        ));
    }
    render(field, source, format, sample, limits)?;
    // Variables in branches the sample did not take are checked too.
    let env = environment();
    let tmpl = env
        .template_from_named_str(field, source)
        .map_err(|e| format!("{field}: {e}"))?;
    let unknown = unknown_variables(&tmpl, sample);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{field}: unknown variables: {}",
            unknown.join(", ")
        ))
    }
}

/// The variables the template reads that `ctx` does not hold (dotted
/// paths), sorted; globals such as `range` are not counted.
fn unknown_variables(tmpl: &minijinja::Template<'_, '_>, ctx: &Value) -> Vec<String> {
    let mut out: Vec<String> = tmpl
        .undeclared_variables(true)
        .into_iter()
        .filter(|path| {
            let mut parts = path.split('.');
            let head = parts.next().unwrap_or_default();
            if GLOBALS.contains(&head) && ctx.get(head).is_none() {
                return false;
            }
            let mut cur = ctx.get(head);
            for part in parts {
                cur = cur.and_then(|v| v.get(part));
            }
            cur.is_none()
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const L: TemplateLimits = TemplateLimits {
        max_rendered_bytes: DEFAULT_MAX_RENDERED_BYTES,
    };

    #[test]
    fn strict_undefined_is_an_error_naming_the_variable() {
        let ctx = json!({"lead": {"name": "Ada"}});
        assert_eq!(
            render("t", "Hi {{ lead.name }}", Format::Text, &ctx, &L).unwrap(),
            "Hi Ada"
        );
        let err = render(
            "text_template",
            "Hi {{ lead.nmae }}",
            Format::Text,
            &ctx,
            &L,
        )
        .unwrap_err();
        assert!(err.starts_with("text_template: undefined value"), "{err}");
        assert!(err.contains("unknown variables: lead.nmae"), "{err}");
        let err = render(
            "t",
            "{% for x in range(3) %}{{ y }}{% endfor %}",
            Format::Text,
            &ctx,
            &L,
        )
        .unwrap_err();
        assert!(err.ends_with("unknown variables: y"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_field() {
        let err = render(
            "subject_template",
            "Hi {{ lead.name ",
            Format::Text,
            &json!({}),
            &L,
        )
        .unwrap_err();
        assert!(err.starts_with("subject_template: syntax error"), "{err}");
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let ctx = json!({"m": "<b>&</b>"});
        assert_eq!(
            render("t", "{{ m }}", Format::Text, &ctx, &L).unwrap(),
            "<b>&</b>"
        );
        assert_eq!(
            render("t", "{{ m }}", Format::Html, &ctx, &L).unwrap(),
            "&lt;b&gt;&amp;&lt;&#x2f;b&gt;"
        );
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let err = render(
            "t",
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            Format::Text,
            &json!({}),
            &L,
        )
        .unwrap_err();
        assert!(err.contains("fuel"), "{err}");
        let ctx = json!({"a": "x"});
        assert!(
            check(
                "t",
                "{% if a %}ok{% else %}{{ b }}{% endif %}",
                Format::Text,
                &ctx,
                &L
            )
            .unwrap_err()
            .ends_with("unknown variables: b")
        );
        assert!(
            check(
                "t",
                "{% for i in range(2) %}{{ i }}{% endfor %}{% set c = 1 %}{{ c }}",
                Format::Text,
                &ctx,
                &L
            )
            .is_ok()
        );
        let long = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        let err = check("t", &long, Format::Text, &json!({}), &L).unwrap_err();
        assert!(err.contains("at most 16384"), "{err}");
    }

    #[test]
    fn rendered_text_is_bounded() {
        let small = TemplateLimits {
            max_rendered_bytes: 100,
        };
        let ctx = json!({"name": "x".repeat(30)});
        let loop3 = "{% for i in range(3) %}{{ name }}{% endfor %}";
        assert_eq!(
            render("t", loop3, Format::Text, &ctx, &small)
                .unwrap()
                .len(),
            90
        );
        let loop4 = "{% for i in range(4) %}{{ name }}{% endfor %}";
        let err = render("text_template", loop4, Format::Text, &ctx, &small).unwrap_err();
        assert!(
            err.starts_with("text_template: the rendered text is larger than 100 bytes"),
            "{err}"
        );
        // One huge expression: refused at the default limit, nothing kept.
        let err = check(
            "subject_template",
            "{{ 'x' * 100000000 }}",
            Format::Text,
            &ctx,
            &L,
        )
        .unwrap_err();
        assert!(err.contains("larger than 65536 bytes"), "{err}");
        // HTML escaping counts towards the limit.
        let html = json!({"m": "<".repeat(30)});
        assert!(render("t", "{{ m }}", Format::Html, &html, &small).is_err());
        assert!(render("t", "{{ m }}", Format::Text, &html, &small).is_ok());
    }
}
