//! The OpenAPI document, generated from the handlers' annotations.
//!
//! The annotations say what is particular to each route. What the server
//! does the same way on every route is added here, once, by [`conform`]:
//! the declaration of every `{param}` of a path (ids the server parses as
//! UUIDs are typed `format: uuid`), the statuses every authenticated route
//! can answer (401, 403, 429), those of every route that reads parameters
//! or a body (400, 404, 413, 415), and an example for every request body.
//! `.ci/schemathesis` fuzzes the running server against this document.

use crate::routes::{
    audit, cycles, data, events, forms, jobs, keys, me, ops, posts, system, templates, tenants,
    tickets, webhooks,
};
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The revos HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "revos",
        description = "The Revenue OS kernel. Every error is a `KernelError`: \
            `{\"error\": true, \"code\": \"INVALID_INPUT\" | \"TENANT_NOT_FOUND\" | \
            \"INSUFFICIENT_DATA\" | \"CYCLE_TOO_RECENT\" | \"INTERNAL_ERROR\", \"message\": …, \
            \"details\"?: {…}}`; `details.violations` lists every problem with its JSON path, \
            and `details.kind` names finer classes (each listed below, as in docs/ERRORS.md)."
    ),
    paths(
        system::healthz,
        system::readyz,
        me::me,
        jobs::stats,
        jobs::tenant_settings,
        jobs::put_tenant_settings,
        jobs::list,
        jobs::get,
        jobs::retry,
        jobs::cancel,
        jobs::approve,
        jobs::reject,
        jobs::bulk_retry,
        jobs::bulk_cancel,
        jobs::pause,
        jobs::resume,
        audit::list,
        audit::verify,
        webhooks::receive,
        webhooks::create_secret,
        webhooks::list_secrets,
        webhooks::revoke_secret,
        webhooks::raw_events,
        templates::save,
        templates::list,
        templates::versions,
        templates::version,
        templates::preview,
        templates::reproduce,
        templates::suppress,
        templates::suppressions,
        templates::unsuppress,
        tickets::inbound_email,
        tickets::list,
        tickets::show,
        tickets::reply,
        tickets::close,
        tickets::escalate,
        keys::create,
        keys::list,
        keys::revoke,
        tenants::create,
        tenants::list,
        tenants::get,
        tenants::workspaces,
        tenants::members,
        tenants::put_member,
        tenants::remove_member,
        tenants::get_optimizer_config,
        tenants::put_optimizer_config,
        data::dictionary,
        data::upsert_metrics,
        data::list_metrics,
        data::upsert_campaigns,
        data::list_campaigns,
        data::get_campaign,
        data::upsert_opportunities,
        data::list_opportunities,
        data::upsert_accounts,
        data::list_accounts,
        data::upsert_revenue_events,
        data::list_revenue_events,
        data::upsert_crm_activities,
        data::list_crm_activities,
        data::import_spine,
        cycles::run,
        cycles::create,
        cycles::list,
        cycles::get,
        cycles::execute,
        cycles::measure,
        cycles::validation,
        events::ingest,
        events::batch,
        events::emit,
        events::list,
        events::get,
        events::correlation,
        events::lead_capture,
        events::landing_form_submit,
        forms::submit,
        forms::preflight,
        forms::create,
        forms::list,
        forms::revoke,
        events::tasks,
        events::complete_task,
        events::guards,
        events::guard,
        events::policies,
        events::replay,
        events::runtime,
        events::put_tenant_mode,
        events::put_policy_mode,
        events::policy_settings,
        events::put_policy_settings,
        events::delete_policy_settings,
        events::add_endpoint,
        events::list_endpoints,
        events::remove_endpoint,
        ops::tools,
        ops::get_policies,
        ops::put_policies,
        ops::list_actions,
        ops::request_action,
        ops::get_action,
        ops::list_approvals,
        ops::get_approval,
        ops::approve,
        ops::reject,
        posts::create,
        posts::list,
        posts::get,
        posts::edit,
        posts::check,
        posts::submit,
    ),
    components(schemas(
        revos_contracts::KernelError,
        revos_contracts::ErrorCode,
        revos_contracts::Order,
        revos_contracts::kernel_io::Targets,
        revos_contracts::kernel_io::Guardrails,
        revos_contracts::kernel_io::KernelConfig,
    )),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "keys", description = "API keys of services and AI agents"),
        (name = "queues", description = "Durable job queues: numbers, jobs, redrive, cancel, approvals"),
        (name = "audit", description = "The tamper-evident, per-tenant audit log"),
        (name = "webhooks", description = "Inbound webhooks verified with Standard Webhooks signatures"),
        (name = "templates", description = "Versioned e-mail templates, reproducible renders (render_hash) and the suppression list"),
        (name = "tickets", description = "Support tickets: signed inbound e-mail, routing by an explainable risk score, replies through the agent-action gate, close and escalate"),
        (name = "posts", description = "The publish pipeline: drafts, their checks, submission through publish_post (always approved by a person) and the published record"),
        (name = "system", description = "Liveness and readiness"),
        (name = "kernel", description = "Optimization cycles: KernelInput → KernelOutput (the kernel I/O contract), cycles on stored data"),
        (name = "forms", description = "Public lead forms: publishable form tokens (`rvf_…`) a web page posts leads with, from its allowed origins, without an API key"),
        (name = "events", description = "The event runtime: events → decisions → actions, lead forms, timelines, tasks"),
        (name = "guards", description = "Guard boundaries: ALLOW, ALLOW_WITH_OVERRIDE or BLOCK under the tenant's Cedar rules"),
        (name = "policies", description = "Policies, runtime modes (shadow/enforce), settings and replay"),
        (name = "tenants", description = "Tenants, workspaces and optimizer settings"),
        (name = "metrics", description = "The canonical metric dictionary and daily metric values"),
        (name = "agents", description = "The operations kernel for AI agents: tools, Cedar tool policies, agent actions and approval gates"),
        (name = "spine", description = "Campaigns, opportunities, accounts, revenue events and CRM activities"),
    )
)]
pub(crate) struct ApiDoc;

/// Declares the `Authorization: Bearer rvs_…` scheme every /v1 route needs.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rvs_<id>_<secret>")
                    .description(Some(
                        "An API key. `revos serve` prints a bootstrap admin key the first \
                         time it runs on a database; `revos keys create` makes more.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, as `/openapi.json` serves it.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    conform(&mut doc);
    describe_error_kinds(&mut doc);
    doc
}

/// Appends every `details.kind` of the error table, with its code, HTTP
/// status and meaning, to the document's description.
fn describe_error_kinds(doc: &mut Value) {
    let Some(description) = doc.pointer_mut("/info/description") else {
        return;
    };
    let mut text = description.as_str().unwrap_or_default().to_owned();
    text.push_str("\n\n`details.kind` values:\n");
    for kind in revos_contracts::ErrorKind::ALL {
        let spec = kind.spec();
        text.push_str(&format!(
            "\n- `{}` ({}, {}): {}",
            spec.kind,
            spec.code.as_str(),
            spec.status,
            spec.description
        ));
    }
    *description = Value::String(text);
}

/// How the server reads a `{param}` of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathParam {
    /// Parsed as a UUID; anything else is refused (400 or 404).
    Uuid,
    /// Any non-empty text.
    Text,
}

/// Every `{param}` name the routes use, and how the server reads it.
pub const PATH_PARAMS: &[(&str, PathParam, &str)] = &[
    ("tenant_id", PathParam::Uuid, "Tenant UUID"),
    ("event_id", PathParam::Uuid, "Event UUID"),
    ("job_id", PathParam::Uuid, "Job UUID"),
    ("action_id", PathParam::Uuid, "Agent action UUID"),
    ("approval_id", PathParam::Uuid, "Approval UUID"),
    ("post_id", PathParam::Uuid, "Post UUID"),
    ("task_id", PathParam::Uuid, "Task UUID"),
    ("cycle_id", PathParam::Uuid, "Cycle UUID"),
    ("endpoint_id", PathParam::Uuid, "Webhook endpoint UUID"),
    ("secret_id", PathParam::Uuid, "Webhook secret UUID"),
    ("form_id", PathParam::Uuid, "Form token UUID"),
    (
        "token",
        PathParam::Text,
        "The publishable form token (`rvf_…`)",
    ),
    (
        "key_id",
        PathParam::Text,
        "The key id, with or without `rvs_`",
    ),
    ("campaign_id", PathParam::Text, "Campaign id"),
    (
        "table",
        PathParam::Text,
        "The spine table: campaigns, channels, opportunities, accounts, activities, revenue-events",
    ),
    (
        "correlation_id",
        PathParam::Text,
        "The correlation id the events share",
    ),
    (
        "guard",
        PathParam::Text,
        "The guard: `deal_update`, `send_invoice`, … (`_` or `-`)",
    ),
    (
        "policy_id",
        PathParam::Text,
        "Policy or guard settings id (`revenue_os.growth.lead_response_v1`)",
    ),
    ("subject", PathParam::Text, "The member's `sub`"),
    (
        "template_key",
        PathParam::Text,
        "The template's key (`welcome_investor`)",
    ),
    (
        "version",
        PathParam::Text,
        "The template's version: 1, 2, …",
    ),
    (
        "render_hash",
        PathParam::Text,
        "A render's SHA-256, 64 lower-case hex digits",
    ),
    ("email", PathParam::Text, "An e-mail address"),
    (
        "ticket_id",
        PathParam::Text,
        "The ticket's UUID or its reference (`T-…`)",
    ),
    (
        "queue",
        PathParam::Text,
        "The queue (`email`, `webhook`, …)",
    ),
    (
        "source",
        PathParam::Text,
        "The sending system (`stripe`, `crm`, …)",
    ),
];

/// The `{param}` names of a path template, in order.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

const METHODS: [&str; 6] = ["get", "post", "put", "delete", "patch", "options"];

/// Adds to every operation of `doc` what the server does on every route.
pub(crate) fn conform(doc: &mut Value) {
    constrain_schemas(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let names = path_params(path);
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            declare_path_params(op, &names);
            declare_cursor_form(op, path);
            forbid_nul_in_text_params(op);
            if let Some(example) = request_example(method, path)
                && let Some(content) = op
                    .get_mut("requestBody")
                    .and_then(|b| b.get_mut("content"))
                    .and_then(Value::as_object_mut)
            {
                for media in content.values_mut() {
                    if let Some(media) = media.as_object_mut() {
                        media.insert("example".to_owned(), example.clone());
                    }
                }
            }
            if let Some(replays) = honours_idempotency_key(method, path) {
                declare_idempotency_key(op, replays);
            }
            add_common_responses(op, method);
        }
    }
}

/// Declares every `{param}` of the path on the operation, typed as the
/// server reads it.
fn declare_path_params(op: &mut Map<String, Value>, names: &[&str]) {
    let params = op
        .entry("parameters")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(params) = params.as_array_mut() else {
        return;
    };
    for name in names {
        let (kind, description) = PATH_PARAMS
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or((PathParam::Text, ""), |(_, k, d)| (*k, *d));
        let schema = match kind {
            PathParam::Uuid => {
                json!({"type": "string", "format": "uuid", "pattern": UUID_PATTERN})
            }
            PathParam::Text if *name == "source" => {
                json!({"type": "string", "pattern": WEBHOOK_SOURCE})
            }
            PathParam::Text if *name == "table" => json!({
                "type": "string",
                "enum": revos_kernel::spine::SpineTable::ALL.map(|t| t.as_str()),
            }),
            PathParam::Text => json!({"type": "string", "minLength": 1}),
        };
        let declared = params
            .iter_mut()
            .find(|p| p["in"] == "path" && p["name"] == *name);
        match declared {
            Some(param) => {
                param["schema"] = schema;
                param["required"] = Value::Bool(true);
            }
            None => params.push(json!({
                "name": name,
                "in": "path",
                "description": description,
                "required": true,
                "schema": schema,
            })),
        }
    }
    if params.is_empty() {
        op.remove("parameters");
    }
}

/// No text holds NUL (the text rules): a free-text path or query
/// parameter says so with a pattern, as the server refuses it with 400.
fn forbid_nul_in_text_params(op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for param in params {
        if !matches!(param["in"].as_str(), Some("path" | "query")) {
            continue;
        }
        let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut) else {
            continue;
        };
        let is_text = match schema.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
            _ => false,
        };
        let constrained = ["pattern", "enum", "format", "const"]
            .iter()
            .any(|k| schema.contains_key(*k));
        if is_text && !constrained {
            schema.insert("pattern".to_owned(), json!(NO_NUL_PATTERN));
        }
    }
}

/// States the exact form of a `cursor` query parameter: every text of
/// that form is a position the list can continue from, anything else is a
/// 400 (`revos_store::listing`).
fn declare_cursor_form(op: &mut Map<String, Value>, path: &str) {
    use revos_store::listing::{CURSOR_AT_PATTERN, CURSOR_SEQ_PATTERN};
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    let pattern = if path == "/v1/audit" {
        CURSOR_SEQ_PATTERN
    } else {
        CURSOR_AT_PATTERN
    };
    for param in params {
        if param["in"] == "query"
            && param["name"] == "cursor"
            && let Some(schema) = param.get_mut("schema").and_then(Value::as_object_mut)
        {
            schema.insert("pattern".to_owned(), json!(pattern));
        }
    }
}

/// Text without the NUL character.
const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// Whether the operation honours an `Idempotency-Key` header, and if so
/// whether it answers a repeated request with the stored response (and a
/// concurrent one with 409) or, as `emit`, keys the event with it.
fn honours_idempotency_key(method: &str, path: &str) -> Option<bool> {
    match (method, path) {
        (
            "post",
            "/v1/events" | "/v1/events/batch" | "/v1/lead-capture" | "/v1/landing-form-submit",
        ) => Some(true),
        ("post", "/v1/events/emit") => Some(false),
        _ => None,
    }
}

fn declare_idempotency_key(op: &mut Map<String, Value>, replays: bool) {
    if let Some(params) = op
        .entry("parameters")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        && !params.iter().any(|p| p["name"] == "Idempotency-Key")
    {
        params.push(json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Makes the request idempotent (kept `idempotency_hours`, 24 h by default); visible ASCII",
            "schema": {"type": "string"},
        }));
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let error = json!({"$ref": "#/components/schemas/KernelError"});
    let mut statuses = vec![("422", "The Idempotency-Key was used for another request")];
    if replays {
        statuses.push((
            "409",
            "A request with this Idempotency-Key is still running",
        ));
    }
    for (status, description) in statuses {
        responses.entry(status).or_insert_with(|| {
            json!({"description": description, "content": {"application/json": {"schema": error}}})
        });
    }
}

/// Whether the operation needs a credential (its own `security`, else the
/// document's, which is the bearer key).
fn is_secured(op: &Map<String, Value>) -> bool {
    match op.get("security").and_then(Value::as_array) {
        None => true,
        Some(reqs) => reqs
            .iter()
            .any(|r| r.as_object().is_some_and(|o| !o.is_empty())),
    }
}

fn add_common_responses(op: &mut Map<String, Value>, method: &str) {
    let secured = is_secured(op);
    let has_body = op.contains_key("requestBody");
    let params: Vec<(String, String)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["in"].as_str().unwrap_or_default().to_owned(),
                        p["name"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let has_path = params.iter().any(|(loc, _)| loc == "path");
    let reads_input = has_body || params.iter().any(|(loc, _)| loc != "header");
    let names_tenant = params.iter().any(|(_, name)| name == "tenant_id");
    let mut add: Vec<(&str, &str)> = Vec::new();
    if reads_input {
        add.push((
            "400",
            "INVALID_INPUT: a parameter or the body is malformed; `details.violations` names each problem",
        ));
    }
    if secured {
        add.push(("401", "No valid credential (`WWW-Authenticate: Bearer`)"));
        if method != "get" {
            add.push(("403", "The credential lacks the scope this needs"));
        }
    }
    // A tenant named in the path, the query or the body may not exist.
    if has_path || names_tenant || (secured && has_body) {
        add.push((
            "404",
            "No such tenant or record (TENANT_NOT_FOUND or `details.kind` `not_found`)",
        ));
    }
    if has_body {
        add.push(("413", "The body is larger than `max_body_bytes`"));
        add.push(("415", "The body is not `application/json`"));
    }
    if secured {
        add.push(("429", "Over the caller's request budget (`Retry-After`)"));
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    for (status, description) in add {
        let response = responses.entry(status).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KernelError"}}},
            })
        });
        // The headers the server sends with these statuses, wherever the
        // status is documented.
        let header = match status {
            "401" => Some(("WWW-Authenticate", "`Bearer realm=\"revos\"`", "string")),
            "429" => Some((
                "Retry-After",
                "Seconds until the budget allows another request",
                "integer",
            )),
            _ => None,
        };
        if let Some((name, description, ty)) = header
            && response.get("headers").is_none()
        {
            response["headers"] =
                json!({name: {"description": description, "schema": {"type": ty}}});
        }
    }
}

/// A text field as the kernel checks it: not blank, at most `max`
/// characters.
fn text(max: usize) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": "\\S"})
}

/// The rules the kernel checks on fields of the request bodies, beyond
/// their types, as `(schema, property, constraints)`.
fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let non_negative = json!({"minimum": 0});
    let event_name = json!({"pattern": "^[a-z][a-z0-9_.]{0,63}$"});
    let metric_ids: Vec<&str> = revos_contracts::metrics::dictionary()
        .iter()
        .map(|m| m.id)
        .collect();
    vec![
        ("NewTenant", "name", text(200)),
        ("NewApiKey", "name", text(200)),
        ("NewApiKey", "agent", text(200)),
        ("NewApiKey", "scopes", json!({"minItems": 1})),
        ("NewMember", "subject", text(200)),
        ("NewEndpoint", "name", event_name.clone()),
        (
            "NewWebhookSecret",
            "source",
            json!({"pattern": WEBHOOK_SOURCE}),
        ),
        (
            "CycleRequest",
            "window_days",
            json!({"minimum": 1, "maximum": 366}),
        ),
        ("MetricPoint", "metric_id", json!({"enum": metric_ids})),
        (
            "MetricPoint",
            "dimension",
            json!({"propertyNames": text(100), "additionalProperties": text(200)}),
        ),
        ("Campaign", "id", text(200)),
        ("Campaign", "name", text(500)),
        ("Campaign", "status", text(50)),
        ("Campaign", "objective", text(200)),
        ("Campaign", "budget_total", non_negative.clone()),
        ("Campaign", "budget_spent", non_negative.clone()),
        ("CampaignChannel", "channel", text(100)),
        ("CampaignChannel", "status", text(50)),
        ("CampaignChannel", "budget_total", non_negative.clone()),
        ("CampaignChannel", "budget_spent", non_negative.clone()),
        ("Opportunity", "id", text(200)),
        ("Opportunity", "stage", text(100)),
        ("Opportunity", "account_id", text(200)),
        ("Opportunity", "amount", non_negative.clone()),
        (
            "Opportunity",
            "win_probability",
            json!({"minimum": 0, "maximum": 1}),
        ),
        ("Account", "id", text(200)),
        ("Account", "name", text(500)),
        ("Account", "arr", non_negative),
        ("RevenueEvent", "id", text(200)),
        ("RevenueEvent", "type", text(100)),
        ("CrmActivity", "id", text(200)),
        ("CrmActivity", "type", text(100)),
        ("EventInput", "type", event_name.clone()),
        ("EventInput", "source", event_name),
    ]
}

/// What a webhook `source` looks like.
const WEBHOOK_SOURCE: &str = "^[a-z][a-z0-9_.-]{0,63}$";

/// Adds [`field_rules`] to the component schemas, and states what the
/// server parses an unsigned 32-bit integer and a UUID as.
fn constrain_schemas(doc: &mut Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (schema, property, rules) in field_rules() {
            let Some(target) = schemas
                .get_mut(schema)
                .and_then(|s| s.get_mut("properties"))
                .and_then(|p| p.get_mut(property))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            if let Some(rules) = rules.as_object() {
                for (k, v) in rules {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
    merge_flattened(doc);
    stored_guardrails(doc);
    walk_schemas(doc);
}

/// A struct that flattens another (`#[serde(flatten)]`) is an `allOf` of
/// the inner schema and its own fields; where the inner one forbids other
/// properties, no value could match both. Such a schema becomes one
/// object with the fields of both.
fn merge_flattened(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let resolve = |part: &Value| -> Value {
        part.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .and_then(|name| schemas.get(name))
            .cloned()
            .unwrap_or_else(|| part.clone())
    };
    let Some(targets) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in targets.values_mut() {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
            continue;
        };
        let parts: Vec<Value> = parts.iter().map(resolve).collect();
        let closed = |p: &Value| p.get("additionalProperties") == Some(&Value::Bool(false));
        if !parts.iter().any(closed) {
            continue;
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        for part in &parts {
            if let Some(props) = part.get("properties").and_then(Value::as_object) {
                properties.extend(props.clone());
            }
            if let Some(req) = part.get("required").and_then(Value::as_array) {
                required.extend(req.iter().cloned());
            }
        }
        let mut merged = json!({"type": "object", "properties": properties, "required": required});
        if let Some(description) = schema.get("description") {
            merged["description"] = description.clone();
        }
        if parts.iter().all(closed) {
            merged["additionalProperties"] = Value::Bool(false);
        }
        *schema = merged;
    }
}

/// The guardrails an optimizer configuration stores: `Guardrails`, where
/// an empty `allowed_levers` is kept (the scheduler then leaves the tenant
/// alone), or `{}`.
fn stored_guardrails(doc: &mut Value) {
    let Some(mut guardrails) = doc.pointer("/components/schemas/Guardrails").cloned() else {
        return;
    };
    if let Some(levers) = guardrails
        .pointer_mut("/properties/allowed_levers")
        .and_then(Value::as_object_mut)
    {
        levers.remove("minItems");
    }
    if let Some(target) =
        doc.pointer_mut("/components/schemas/OptimizerConfig/properties/guardrails")
    {
        *target = json!({
            "description": "`KernelInput.guardrails` (an empty `allowed_levers` leaves the tenant out of scheduled cycles), or `{}` for none yet.",
            "anyOf": [guardrails, {"type": "object", "maxProperties": 0}],
        });
    }
}

/// The forms `Uuid::parse_str` accepts.
const UUID_PATTERN: &str = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\}|urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$";

/// Every schema object in the document: a `u32` (`int32` from 0) may be
/// up to 2³²−1; a `uuid` is one of the forms the server parses.
fn walk_schemas(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("int32")
                && map.get("minimum").and_then(Value::as_u64) == Some(0)
                && !map.contains_key("maximum")
            {
                map.remove("format");
                map.insert("maximum".to_owned(), json!(u32::MAX));
            }
            if map.get("format").and_then(Value::as_str) == Some("uuid") {
                map.insert("pattern".to_owned(), json!(UUID_PATTERN));
            }
            for v in map.values_mut() {
                walk_schemas(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(walk_schemas),
        _ => {}
    }
}

/// An example of each request body: valid, and accepted by a server whose
/// caller may write to the tenant it names.
fn request_example(method: &str, path: &str) -> Option<Value> {
    let event = json!({
        "type": "lead_captured",
        "source": "cmo_campaigns",
        "idempotency_key": "form-2026-0001",
        "payload": {"email": "ada@example.com", "name": "Ada Lovelace", "company": "Analytical Engines"},
    });
    let path = path.strip_prefix("/v1/tenants/{tenant_id}").unwrap_or(path);
    Some(match (method, path) {
        ("post", "/v1/keys") => json!({"name": "crm-sync", "scopes": ["read", "write"]}),
        ("post", "/v1/tenants") => json!({"name": "Acme Corp"}),
        ("put", "/optimizer-config") => json!({
            "targets": {"pipeline_total": 500000.0, "cac_max": 1200.0},
            "guardrails": {"max_daily_spend": 2000.0, "allowed_levers": ["campaigns", "channels"]},
            "config": {"risk_tolerance": "medium"},
        }),
        ("post", "/members") => json!({"subject": "user-123", "role": "approver"}),
        ("put", "/queue-settings") => json!({"email": {"max_attempts": 5}}),
        ("post", "/webhook-secrets") => json!({"source": "billing"}),
        ("post", "/forms") => json!({
            "name": "Contact page",
            "origins": ["https://www.example.com"],
            "redirect_url": "https://www.example.com/thanks",
            "honeypot": "website",
        }),
        ("post", "/v1/forms/{token}/submit") => json!({
            "email": "ada@example.com", "name": "Ada Lovelace", "company": "Analytical Engines",
            "utm_source": "newsletter",
        }),
        ("post", "/templates") => json!({
            "template_key": "welcome_investor", "category": "marketing",
            "subject": "Welcome, {{ name }}",
            "text": "Hello {{ name }},\nwelcome aboard.\nUnsubscribe: {{ unsubscribe_url }}\n",
            "compliance_flags": ["can_spam"], "throttle_ms": 200,
        }),
        ("post", "/templates/{template_key}/preview") => json!({
            "version": 1, "data": {"name": "Ada", "unsubscribe_url": "https://acme.example/u"},
        }),
        ("post", "/posts") => json!({
            "channel": "blog", "kind": "announcement", "title": "Spring release",
            "body": "Our spring release ships faster reports.",
            "source_urls": ["https://acme.example/changelog/spring"],
            "claims": ["Reports load twice as fast as in the winter release"],
        }),
        ("patch", "/posts/{post_id}") => json!({"title": "Spring release is out"}),
        ("post", "/posts/{post_id}/checks") => json!({
            "name": "fact_check", "result": "pass",
            "notes": "the changelog and the benchmark page back every claim",
        }),
        ("post", "/posts/{post_id}/submit") => json!({"reason_code": "launch"}),
        ("post", "/suppressions") => {
            json!({"emails": ["ada@example.com"], "reason": "unsubscribed"})
        }
        ("post", "/metrics") => json!([
            {"metric_id": "pipeline_total", "date": "2026-11-30", "value": 420000.0},
            {"metric_id": "cac_blended", "date": "2026-11-30", "value": 950.0, "dimension": {"channel": "paid_search"}},
        ]),
        ("post", "/campaigns") => json!([{
            "id": "cmp-001", "name": "Q4 webinar series", "status": "active", "objective": "demand_gen",
            "budget_total": 20000.0, "budget_spent": 7500.0, "start_date": "2026-10-01", "end_date": "2026-12-31",
            "channels": [{"channel": "linkedin", "status": "active", "budget_total": 12000.0, "budget_spent": 5000.0}],
        }]),
        ("post", "/opportunities") => json!([{
            "id": "opp-001", "account_id": "acc-001", "name": "Acme renewal", "stage": "proposal",
            "status": "open", "amount": 48000.0, "expected_close_date": "2027-01-15", "win_probability": 0.6,
        }]),
        ("post", "/accounts") => json!([{
            "id": "acc-001", "name": "Acme Corp", "domain": "acme.example", "segment": "mid_market", "arr": 120000.0,
        }]),
        ("post", "/revenue-events") => json!([{
            "id": "inv-1001", "type": "booking", "amount": 48000.0, "effective_date": "2026-11-20",
            "account_id": "acc-001", "opportunity_id": "opp-001",
        }]),
        ("post", "/crm-activities") => json!([{
            "id": "act-001", "type": "meeting", "occurred_at": "2026-11-18T15:00:00Z",
            "account_id": "acc-001", "owner": "sam@example.com", "subject": "Pricing review",
        }]),
        ("post", "/spine/{table}/import") => json!([
            {"id": "acc-001", "name": "Acme Corp", "domain": "acme.example", "segment": "mid_market"},
            {"id": "acc-002", "name": "Globex", "arr": 36000.0},
        ]),
        ("post", "/cycles") => json!({"window_days": 30}),
        ("post", "/v1/validation") => json!({"operation": "run_cycle_1"}),
        ("post", "/v1/events") | ("post", "/v1/events/emit") => event,
        ("post", "/v1/events/batch") => json!([event]),
        ("post", "/v1/lead-capture") => json!({
            "email": "ada@example.com", "name": "Ada Lovelace", "company": "Analytical Engines",
            "submission_id": "sub-0001", "utm_source": "newsletter",
        }),
        ("post", "/v1/landing-form-submit") => json!({
            "landing_page_id": "lp-pricing", "form_id": "demo-request",
            "fields": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        }),
        ("post", "/v1/guards/{guard}") => json!({"deal_id": "opp-001", "discount_pct": 10}),
        ("post", "/v1/replay") => json!({
            "policy": "revenue_os.growth.lead_response_v1@2", "since": "2026-11-01T00:00:00Z",
        }),
        ("put", "/runtime/mode") | ("put", "/policies/{policy_id}/mode") => {
            json!({"mode": "shadow"})
        }
        ("put", "/policy-settings/{policy_id}") => json!({}),
        ("put", "/tool-policies") => json!({
            "policies": "@id(\"small-sends\")\npermit(principal == Agent::\"growth-bot\", action == Action::\"send_email\", resource)\nwhen { context.affected < 500 };",
            "settings": {"expire_after_minutes": 1440, "approvers": {"high": 2}},
        }),
        ("post", "/v1/agent-actions") => json!({
            "tool": "send_email",
            "args": {"to": ["ada@example.com"], "subject": "Your demo", "text": "See you Tuesday."},
            "entity": "lead:ada",
            "evidence": [{"kind": "note", "text": "asked for a demo"}],
            "reason_code": "demo_follow_up",
            "idempotency_key": "follow-up-ada-1",
        }),
        ("post", "/v1/approvals/{approval_id}/approve") => {
            json!({"reason": "checked the evidence", "confirm_count": 1})
        }
        ("post", "/v1/approvals/{approval_id}/reject") => json!({"reason": "not now"}),
        ("post", "/webhook-endpoints") => {
            json!({"name": "crm_sync", "url": "https://hooks.example.com/revos"})
        }
        ("post", "/v1/webhooks/{tenant_id}/{source}") => {
            json!({"type": "invoice.paid", "data": {"id": "in_1"}})
        }
        ("post", "/v1/inbound/email/{tenant_id}") => json!({
            "message_id": "<CA+abc123@mail.client.example>",
            "from": "Ada Lovelace <ada@client.example>",
            "to": "support@acme.example",
            "subject": "Where is my invoice?",
            "text": "Hello, I cannot find last month's invoice.",
            "customer_tier": "pro",
        }),
        ("post", "/tickets/{ticket_id}/reply") => json!({
            "text": "Hello Ada, your invoice is attached to your account page.",
            "kind": "reply",
        }),
        ("post", "/tickets/{ticket_id}/close") => json!({"reason": "answered"}),
        ("post", "/tickets/{ticket_id}/escalate") => {
            json!({"urgency": "high", "reason": "asks for a refund above the limit"})
        }
        ("post", "/v1/jobs/bulk-retry") => json!({"queue": "email", "state": "dead"}),
        ("post", "/v1/jobs/bulk-cancel") => json!({"queue": "email", "state": "waiting"}),
        ("post", "/v1/jobs/{job_id}/approve") | ("post", "/v1/jobs/{job_id}/reject") => {
            json!({"reason": "checked the recipient list with sales"})
        }
        _ => return None,
    })
}
