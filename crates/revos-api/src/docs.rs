//! The human-readable API reference served at `/docs`.
//!
//! Rendered once, at start-up, from the OpenAPI document, into one
//! self-contained HTML page. The usual viewers (Swagger UI, Redoc, Scalar)
//! load their scripts from a CDN or download them at build time; revos is
//! often run where neither is reachable, so the page is built here and
//! needs nothing but the server.

use serde_json::Value;
use std::fmt::Write;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(items) = schema.get("items") {
        return format!("[{}]", schema_name(items));
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return all.iter().map(schema_name).collect::<Vec<_>>().join(" & ");
    }
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "object".to_owned(),
    }
}

fn body_schema(content: Option<&Value>) -> Option<String> {
    content?
        .as_object()?
        .values()
        .next()
        .and_then(|media| media.get("schema"))
        .map(schema_name)
}

/// Renders the page.
pub(crate) fn render(doc: &Value) -> String {
    let mut html = String::new();
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("revos");
    let version = doc
        .pointer("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let description = doc
        .pointer("/info/description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{t} API</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}}\
         h2{{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}}\
         .op{{border:1px solid #d0d7de;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}}\
         .m{{font-weight:700;text-transform:uppercase;display:inline-block;min-width:4rem}}\
         .get{{color:#0969da}}.post{{color:#1a7f37}}.put{{color:#9a6700}}.delete{{color:#cf222e}}\
         code{{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}}\
         table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;text-align:left;vertical-align:top}}\
         </style></head><body><h1>{t} API <small>{v}</small></h1><p>{d}</p>\
         <p>Machine-readable: <a href=\"/openapi.json\"><code>/openapi.json</code></a> (OpenAPI 3.1).</p>",
        t = escape(title),
        v = escape(version),
        d = escape(description)
    );
    let tags: Vec<(String, String)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    (
                        t.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        t.get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let paths = doc.get("paths").and_then(Value::as_object);
    for (tag, tag_description) in &tags {
        let _ = write!(
            html,
            "<h2 id=\"{t}\">{t}</h2><p>{d}</p>",
            t = escape(tag),
            d = escape(tag_description)
        );
        for (path, item) in paths.into_iter().flatten() {
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(op) = item.get(method) else { continue };
                let in_tag = op
                    .get("tags")
                    .and_then(Value::as_array)
                    .is_some_and(|ts| ts.iter().any(|t| t.as_str() == Some(tag)));
                if !in_tag {
                    continue;
                }
                render_operation(&mut html, method, path, op);
            }
        }
    }
    html.push_str("</body></html>");
    html
}

fn render_operation(html: &mut String, method: &str, path: &str, op: &Value) {
    let summary = op.get("summary").and_then(Value::as_str).unwrap_or("");
    let _ = write!(
        html,
        "<div class=\"op\"><p><span class=\"m {method}\">{method}</span> <code>{p}</code> — {s}</p>",
        p = escape(path),
        s = escape(summary)
    );
    if let Some(params) = op.get("parameters").and_then(Value::as_array) {
        html.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>",
        );
        for p in params {
            let _ = write!(
                html,
                "<tr><td><code>{n}</code>{req}</td><td>{i}</td><td>{ty}</td><td>{d}</td></tr>",
                n = escape(p.get("name").and_then(Value::as_str).unwrap_or("")),
                req = if p.get("required").and_then(Value::as_bool) == Some(true) {
                    " *"
                } else {
                    ""
                },
                i = escape(p.get("in").and_then(Value::as_str).unwrap_or("")),
                ty = escape(&p.get("schema").map(schema_name).unwrap_or_default()),
                d = escape(p.get("description").and_then(Value::as_str).unwrap_or("")),
            );
        }
        html.push_str("</table>");
    }
    if let Some(body) = body_schema(op.pointer("/requestBody/content")) {
        let _ = write!(html, "<p>Body: <code>{}</code></p>", escape(&body));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        html.push_str("<table>");
        for (status, response) in responses {
            let _ = write!(
                html,
                "<tr><td><b>{st}</b></td><td>{d}</td><td><code>{b}</code></td></tr>",
                st = escape(status),
                d = escape(
                    response
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
                b = escape(&body_schema(response.get("content")).unwrap_or_default()),
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</div>");
}
