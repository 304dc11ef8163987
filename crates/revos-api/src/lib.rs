//! The revos HTTP API.
//!
//! `router` builds the axum application over a [`Kernel`]; [`serve`] runs
//! it on a listener until a shutdown future resolves. `revos serve` calls
//! it; the integration tests bind port 0 and call it the same way, so they
//! exercise the real server.
//!
//! Every error leaves as the contract's `KernelError` (see the `error`
//! module): the handlers' own failures, the extractors' rejections, unknown
//! routes and methods, oversized bodies and panics alike.
//!
//! Only [`serve`] and the [`openapi`] document are public; everything else
//! is crate-private, and `unreachable_pub` keeps it so.

#![warn(unreachable_pub)]

pub(crate) mod auth;
pub(crate) mod docs;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod model;
pub mod openapi;
pub(crate) mod ratelimit;
pub(crate) mod routes;
pub(crate) mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::routing::{delete, post, put};
use revos_contracts::ErrorKind;
use revos_kernel::Kernel;
use routes::{
    audit, cycles, data, events, forms, jobs, keys, me, ops, posts, system, templates, tenants,
    tickets, webhooks,
};
use std::future::Future;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The kernel service.
    pub(crate) kernel: Kernel,
    /// The OpenAPI document, built once.
    pub(crate) openapi: Arc<serde_json::Value>,
    /// The docs page, rendered once.
    pub(crate) docs_html: Arc<String>,
    /// Request budgets per principal and endpoint class.
    pub(crate) limiter: Arc<ratelimit::RateLimiter>,
}

/// Builds the application.
pub(crate) fn router(kernel: Kernel) -> Router {
    let max_body = kernel.config().max_body_bytes;
    let openapi = openapi::document();
    let docs_html = docs::render(&openapi);
    let limiter = ratelimit::RateLimiter::new(&kernel.config().rate_limits);
    let state = AppState {
        kernel,
        openapi: Arc::new(openapi),
        docs_html: Arc::new(docs_html),
        limiter: Arc::new(limiter),
    };
    let tenant = "/v1/tenants/{tenant_id}";
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/openapi.json", get(system::openapi_json))
        .route("/docs", get(system::docs))
        .route("/v1/me", get(me::me))
        .route("/v1/queues", get(jobs::stats))
        .route(
            &format!("{tenant}/queue-settings"),
            get(jobs::tenant_settings).put(jobs::put_tenant_settings),
        )
        .route("/v1/queues/{queue}/pause", axum::routing::post(jobs::pause))
        .route("/v1/queues/{queue}/resume", axum::routing::post(jobs::resume))
        .route("/v1/jobs", get(jobs::list))
        .route("/v1/jobs/bulk-retry", axum::routing::post(jobs::bulk_retry))
        .route("/v1/jobs/bulk-cancel", axum::routing::post(jobs::bulk_cancel))
        .route("/v1/jobs/{job_id}", get(jobs::get))
        .route("/v1/jobs/{job_id}/retry", axum::routing::post(jobs::retry))
        .route("/v1/jobs/{job_id}/cancel", axum::routing::post(jobs::cancel))
        .route("/v1/jobs/{job_id}/approve", axum::routing::post(jobs::approve))
        .route("/v1/jobs/{job_id}/reject", axum::routing::post(jobs::reject))
        .route("/v1/tools", get(ops::tools))
        .route(
            &format!("{tenant}/tool-policies"),
            get(ops::get_policies).put(ops::put_policies),
        )
        .route(
            "/v1/agent-actions",
            get(ops::list_actions).post(ops::request_action),
        )
        .route("/v1/agent-actions/{action_id}", get(ops::get_action))
        .route("/v1/approvals", get(ops::list_approvals))
        .route("/v1/approvals/{approval_id}", get(ops::get_approval))
        .route("/v1/approvals/{approval_id}/approve", post(ops::approve))
        .route("/v1/approvals/{approval_id}/reject", post(ops::reject))
        .route("/metrics", get(system::metrics))
        .route("/v1/audit", get(audit::list))
        .route("/v1/audit/verify", get(audit::verify))
        .route(
            "/v1/webhooks/{tenant_id}/{source}",
            axum::routing::post(webhooks::receive),
        )
        .route(
            &format!("{tenant}/webhook-secrets"),
            get(webhooks::list_secrets).post(webhooks::create_secret),
        )
        .route(
            &format!("{tenant}/webhook-secrets/{{secret_id}}"),
            axum::routing::delete(webhooks::revoke_secret),
        )
        .route(&format!("{tenant}/raw-events"), get(webhooks::raw_events))
        .route(
            &format!("{tenant}/templates"),
            get(templates::list).post(templates::save),
        )
        .route(
            &format!("{tenant}/templates/{{template_key}}"),
            get(templates::versions),
        )
        .route(
            &format!("{tenant}/templates/{{template_key}}/versions/{{version}}"),
            get(templates::version),
        )
        .route(
            &format!("{tenant}/templates/{{template_key}}/preview"),
            axum::routing::post(templates::preview),
        )
        .route(
            &format!("{tenant}/renders/{{render_hash}}"),
            get(templates::reproduce),
        )
        .route(
            &format!("{tenant}/suppressions"),
            get(templates::suppressions).post(templates::suppress),
        )
        .route(
            &format!("{tenant}/suppressions/{{email}}"),
            axum::routing::delete(templates::unsuppress),
        )
        .route(
            "/v1/inbound/email/{tenant_id}",
            axum::routing::post(tickets::inbound_email),
        )
        .route(&format!("{tenant}/tickets"), get(tickets::list))
        .route(
            &format!("{tenant}/tickets/{{ticket_id}}"),
            get(tickets::show),
        )
        .route(
            &format!("{tenant}/tickets/{{ticket_id}}/reply"),
            post(tickets::reply),
        )
        .route(
            &format!("{tenant}/tickets/{{ticket_id}}/close"),
            post(tickets::close),
        )
        .route(
            &format!("{tenant}/tickets/{{ticket_id}}/escalate"),
            post(tickets::escalate),
        )
        .route(&format!("{tenant}/posts"), get(posts::list).post(posts::create))
        .route(
            &format!("{tenant}/posts/{{post_id}}"),
            get(posts::get).patch(posts::edit),
        )
        .route(
            &format!("{tenant}/posts/{{post_id}}/checks"),
            axum::routing::post(posts::check),
        )
        .route(
            &format!("{tenant}/posts/{{post_id}}/submit"),
            axum::routing::post(posts::submit),
        )
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{key_id}", axum::routing::delete(keys::revoke))
        .route("/v1/tenants", get(tenants::list).post(tenants::create))
        .route(tenant, get(tenants::get))
        .route(&format!("{tenant}/workspaces"), get(tenants::workspaces))
        .route(
            &format!("{tenant}/members"),
            get(tenants::members).post(tenants::put_member),
        )
        .route(
            &format!("{tenant}/members/{{subject}}"),
            axum::routing::delete(tenants::remove_member),
        )
        .route(
            &format!("{tenant}/optimizer-config"),
            get(tenants::get_optimizer_config).put(tenants::put_optimizer_config),
        )
        .route("/v1/metrics/dictionary", get(data::dictionary))
        .route(
            &format!("{tenant}/metrics"),
            get(data::list_metrics).post(data::upsert_metrics),
        )
        .route(
            &format!("{tenant}/campaigns"),
            get(data::list_campaigns).post(data::upsert_campaigns),
        )
        .route(
            &format!("{tenant}/campaigns/{{campaign_id}}"),
            get(data::get_campaign),
        )
        .route(
            &format!("{tenant}/opportunities"),
            get(data::list_opportunities).post(data::upsert_opportunities),
        )
        .route(
            &format!("{tenant}/accounts"),
            get(data::list_accounts).post(data::upsert_accounts),
        )
        .route(
            &format!("{tenant}/revenue-events"),
            get(data::list_revenue_events).post(data::upsert_revenue_events),
        )
        .route(
            &format!("{tenant}/spine/{{table}}/import"),
            post(data::import_spine),
        )
        .route(
            &format!("{tenant}/crm-activities"),
            get(data::list_crm_activities).post(data::upsert_crm_activities),
        )
        .route("/v1/kernel/run", post(cycles::run))
        .route("/v1/validation", post(cycles::validation))
        .route(
            &format!("{tenant}/cycles"),
            get(cycles::list).post(cycles::create),
        )
        .route(&format!("{tenant}/cycles/{{cycle_id}}"), get(cycles::get))
        .route(&format!("{tenant}/actions/execute"), post(cycles::execute))
        .route(&format!("{tenant}/actions/measure"), post(cycles::measure))
        .route("/v1/events", get(events::list).post(events::ingest))
        .route("/v1/events/batch", post(events::batch))
        .route("/v1/events/emit", post(events::emit))
        .route("/v1/events/{event_id}", get(events::get))
        .route("/v1/correlations/{correlation_id}", get(events::correlation))
        .route("/v1/lead-capture", post(events::lead_capture))
        .route(
            "/v1/forms/{token}/submit",
            post(forms::submit)
                .options(forms::preflight)
                .layer(DefaultBodyLimit::max(forms::FORM_BODY_LIMIT)),
        )
        .route(
            &format!("{tenant}/forms"),
            get(forms::list).post(forms::create),
        )
        .route(
            &format!("{tenant}/forms/{{form_id}}"),
            delete(forms::revoke),
        )
        .route("/v1/landing-form-submit", post(events::landing_form_submit))
        .route("/v1/tasks", get(events::tasks))
        .route("/v1/tasks/{task_id}/complete", post(events::complete_task))
        .route("/v1/guards", get(events::guards))
        .route("/v1/guards/{guard}", post(events::guard))
        .route("/v1/policies", get(events::policies))
        .route("/v1/replay", post(events::replay))
        .route(&format!("{tenant}/runtime"), get(events::runtime))
        .route(&format!("{tenant}/runtime/mode"), put(events::put_tenant_mode))
        .route(
            &format!("{tenant}/policies/{{policy_id}}/mode"),
            put(events::put_policy_mode),
        )
        .route(
            &format!("{tenant}/policy-settings"),
            get(events::policy_settings),
        )
        .route(
            &format!("{tenant}/policy-settings/{{policy_id}}"),
            put(events::put_policy_settings).delete(events::delete_policy_settings),
        )
        .route(
            &format!("{tenant}/webhook-endpoints"),
            get(events::list_endpoints).post(events::add_endpoint),
        )
        .route(
            &format!("{tenant}/webhook-endpoints/{{endpoint_id}}"),
            delete(events::remove_endpoint),
        )
        .merge(ui::routes())
        .route_layer(axum::middleware::from_fn(extract::refuse_nul_in_uri))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .fallback(|| async { error::ApiError::canned(ErrorKind::RouteNotFound).into_response() })
        .with_state(state)
        .layer(axum::middleware::map_response(kernel_error_shape))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().on_response(DefaultOnResponse::new().level(tracing::Level::INFO)).make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Counts a routed request by method, route template and status, with its
/// latency, for `/metrics` (the route is the router's template, so the
/// labels stay few whatever paths are asked for).
async fn count_request(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state.kernel.telemetry().http_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Gives any error response that is not already JSON (a 405 from the
/// router, a 413 from a body limit) the `KernelError` shape, keeping its
/// status and headers such as `Allow`.
async fn kernel_error_shape<B>(response: Response<B>) -> axum::response::Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let status = response.status();
    // JSON is the API's own error; HTML is a dashboard page's.
    let shaped_already = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if status.as_u16() < 400 || shaped_already {
        return response.map(axum::body::Body::new);
    }
    let (parts, _) = response.into_parts();
    let mut shaped = error::render(status.as_u16(), &error::for_status(status));
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a request handler panicked");
    let mut response = error::ApiError::canned(ErrorKind::Internal).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response.into_response()
}

/// Serves the application on `listener` until `shutdown` resolves, then
/// finishes the requests in flight.
pub async fn serve(
    kernel: Kernel,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(kernel).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
