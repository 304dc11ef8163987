//! The dashboard: server-rendered pages for operators and approvers,
//! served by the same binary at `/`, with no JavaScript, no CDN and no
//! external font.
//!
//! - **Sign-in** with an API key or a JWT from the identity provider: the
//!   credential is checked as the API checks it and kept in the session
//!   cookie `revos_session` (HttpOnly, SameSite=Strict, `Secure` when the
//!   request came over https), so every page authenticates exactly as the
//!   API does, and a revoked key or an expired token ends the session.
//! - **CSRF**: every form carries a token derived from the session
//!   (SHA-256 of a fixed label and the cookie's value: only someone who can
//!   read the cookie can compute it); a POST without it, or with another,
//!   is refused (403) before anything else is read.
//! - **Authorization**: every page acts through the same kernel use cases
//!   as the API, with the signed-in principal; what the API forbids, the
//!   pages forbid, and another tenant's ids answer "not found".
//!
//! Pages ([`pages`]): the tenant picker, a tenant's overview, the
//! approvals table with filters, an approval's detail and the decision
//! form, and the events timeline with each event's decisions, actions,
//! jobs, e-mails and tasks, and the optimization cycles with their
//! diagnosis, actions, guardrails and results; the queues, with pause,
//! resume and the redrive of dead jobs. The optimizer's pages
//! ([`insight`]): each metric's chart against its target with the actions
//! that touched it, and the experiments' reports. The records
//! ([`records`]): the audit log with its verification, templates, support
//! tickets and posts.

mod insight;
mod pages;
mod records;
mod session;

use axum::Router;
use axum::routing::{get, post};
use minijinja::Environment;
use std::sync::OnceLock;

use crate::AppState;

/// The pages' templates, compiled once.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("sign_in.html", include_str!("templates/sign_in.html")),
            ("home.html", include_str!("templates/home.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("approvals.html", include_str!("templates/approvals.html")),
            ("approval.html", include_str!("templates/approval.html")),
            ("error.html", include_str!("templates/error.html")),
            ("events.html", include_str!("templates/events.html")),
            ("event.html", include_str!("templates/event.html")),
            ("cycles.html", include_str!("templates/cycles.html")),
            ("cycle.html", include_str!("templates/cycle.html")),
            ("queues.html", include_str!("templates/queues.html")),
            ("metrics.html", include_str!("templates/metrics.html")),
            ("metric.html", include_str!("templates/metric.html")),
            ("experiments.html", include_str!("templates/experiments.html")),
            ("experiment.html", include_str!("templates/experiment.html")),
            ("audit.html", include_str!("templates/audit.html")),
            ("templates.html", include_str!("templates/templates.html")),
            ("template.html", include_str!("templates/template.html")),
            ("tickets.html", include_str!("templates/tickets.html")),
            ("ticket.html", include_str!("templates/ticket.html")),
            ("posts.html", include_str!("templates/posts.html")),
            ("post.html", include_str!("templates/post.html")),
        ] {
            if let Err(e) = env.add_template(name, source) {
                // The templates are part of the binary: a broken one is a
                // build defect, reported on every page that uses it.
                tracing::error!(template = name, error = %e, "a dashboard template does not compile");
            }
        }
        env
    })
}

/// The dashboard's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/sign-in", get(pages::sign_in_form).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route("/t/{tenant_id}", get(pages::overview))
        .route("/t/{tenant_id}/approvals", get(pages::approvals))
        .route("/t/{tenant_id}/events", get(pages::events))
        .route("/t/{tenant_id}/cycles", get(pages::cycles))
        .route("/t/{tenant_id}/queues", get(pages::queues))
        .route(
            "/t/{tenant_id}/queues/{queue}/{verb}",
            post(pages::pause_queue),
        )
        .route("/t/{tenant_id}/jobs/{job_id}/retry", post(pages::retry_job))
        .route("/t/{tenant_id}/cycles/{cycle_id}", get(pages::cycle))
        .route("/t/{tenant_id}/events/{event_id}", get(pages::event))
        .route(
            "/t/{tenant_id}/approvals/{approval_id}",
            get(pages::approval),
        )
        .route(
            "/t/{tenant_id}/approvals/{approval_id}/decide",
            post(pages::decide),
        )
        .route("/t/{tenant_id}/metrics", get(insight::metrics))
        .route("/t/{tenant_id}/metrics/{metric}", get(insight::metric))
        .route("/t/{tenant_id}/experiments", get(insight::experiments))
        .route(
            "/t/{tenant_id}/cycles/{cycle_id}/experiments/{action_id}",
            get(insight::experiment),
        )
        .route("/t/{tenant_id}/audit", get(records::audit))
        .route("/t/{tenant_id}/templates", get(records::templates))
        .route("/t/{tenant_id}/templates/{key}", get(records::template))
        .route("/t/{tenant_id}/tickets", get(records::tickets))
        .route("/t/{tenant_id}/tickets/{ticket}", get(records::ticket))
        .route("/t/{tenant_id}/posts", get(records::posts))
        .route("/t/{tenant_id}/posts/{post_id}", get(records::post))
        .route("/ui.css", get(pages::stylesheet))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// Every page renders from the smallest context it can get (a signed-out
    /// error page has no tenants, no actor, no token).
    #[test]
    fn every_template_renders_from_a_bare_context() {
        let env = super::templates();
        for name in [
            "sign_in.html",
            "home.html",
            "overview.html",
            "approvals.html",
            "approval.html",
            "error.html",
            "events.html",
            "event.html",
            "cycles.html",
            "cycle.html",
            "queues.html",
            "metrics.html",
            "metric.html",
            "experiments.html",
            "experiment.html",
            "audit.html",
            "templates.html",
            "template.html",
            "tickets.html",
            "ticket.html",
            "posts.html",
            "post.html",
        ] {
            let template = env.get_template(name).expect(name);
            let bare = json!({
                "title": "t",
                "a": {"risk": {}, "decisions": []},
                "e": {"subject": {}, "occurred_at": "", "recorded_at": ""},
                "c": {"created_at": ""},
                "filters": {},
                "m": {}, "x": {}, "p": {"checks": []},
                "t": {"risk": {}, "subject": ""},
            });
            if let Err(e) = template.render(&bare) {
                panic!("{name}: {e:#}");
            }
        }
    }

    /// Text from tenants and agents is escaped.
    #[test]
    fn pages_escape_what_they_show() {
        let html = super::templates()
            .get_template("error.html")
            .unwrap()
            .render(json!({"title": "x", "message": "<script>alert(1)</script>"}))
            .unwrap();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
