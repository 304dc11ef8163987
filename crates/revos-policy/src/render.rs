//! Rendering of tenant email templates with minijinja.
//!
//! Templates come from tenant settings, so rendering is strict: an undefined
//! variable (a typo such as `{{ lead.nmae }}`) is an error, not a silent
//! blank. Plain-text templates are not escaped; HTML templates are
//! auto-escaped so payload text cannot inject markup. A fuel limit bounds
//! the work a template can do.

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
/// The longest template source accepted in settings.
pub(crate) const MAX_TEMPLATE_LEN: usize = 20_000;

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

/// Renders `source` with `ctx`. `field` names the setting the template came
/// from and prefixes any error, e.g.
/// `text_template: undefined value (in text_template.txt:3); unknown variables: lead.nmae`.
pub(crate) fn render(
    field: &str,
    source: &str,
    format: Format,
    ctx: &Value,
) -> Result<String, String> {
    let env = environment();
    let name = match format {
        Format::Text => format!("{field}.txt"),
        Format::Html => format!("{field}.html"),
    };
    let tmpl = env
        .template_from_named_str(&name, source)
        .map_err(|e| format!("{field}: {e}"))?;
    tmpl.render(ctx).map_err(|e| {
        let unknown = unknown_variables(&tmpl, ctx);
        if unknown.is_empty() {
            format!("{field}: {e}")
        } else {
            format!("{field}: {e}; unknown variables: {}", unknown.join(", "))
        }
    })
}

/// Checks a template from settings: its length, that it compiles, that it
/// renders against a sample context, and that every variable it reads
/// exists (so a typo is caught before any event arrives, even in a branch
/// the sample does not take).
pub(crate) fn check(
    field: &str,
    source: &str,
    format: Format,
    sample: &Value,
) -> Result<(), String> {
    let len = source.chars().count();
    if len > MAX_TEMPLATE_LEN {
        return Err(format!(
            "{field}: template has {len} characters; at most {MAX_TEMPLATE_LEN} are allowed"
        ));
    }
    render(field, source, format, sample)?;
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

    #[test]
    fn strict_undefined_is_an_error_naming_the_variable() {
        let ctx = json!({"lead": {"name": "Ada"}});
        assert_eq!(
            render("t", "Hi {{ lead.name }}", Format::Text, &ctx).unwrap(),
            "Hi Ada"
        );
        let err = render("text_template", "Hi {{ lead.nmae }}", Format::Text, &ctx).unwrap_err();
        assert!(err.starts_with("text_template: undefined value"), "{err}");
        assert!(err.contains("unknown variables: lead.nmae"), "{err}");
        let err = render(
            "t",
            "{% for x in range(3) %}{{ y }}{% endfor %}",
            Format::Text,
            &ctx,
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
        )
        .unwrap_err();
        assert!(err.starts_with("subject_template: syntax error"), "{err}");
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let ctx = json!({"m": "<b>&</b>"});
        assert_eq!(
            render("t", "{{ m }}", Format::Text, &ctx).unwrap(),
            "<b>&</b>"
        );
        assert_eq!(
            render("t", "{{ m }}", Format::Html, &ctx).unwrap(),
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
        )
        .unwrap_err();
        assert!(err.contains("fuel"), "{err}");
        let ctx = json!({"a": "x"});
        assert!(
            check(
                "t",
                "{% if a %}ok{% else %}{{ b }}{% endif %}",
                Format::Text,
                &ctx
            )
            .unwrap_err()
            .ends_with("unknown variables: b")
        );
        assert!(
            check(
                "t",
                "{% for i in range(2) %}{{ i }}{% endfor %}{% set c = 1 %}{{ c }}",
                Format::Text,
                &ctx
            )
            .is_ok()
        );
        let long = "x".repeat(MAX_TEMPLATE_LEN + 1);
        assert!(check("t", &long, Format::Text, &json!({})).is_err());
    }
}
