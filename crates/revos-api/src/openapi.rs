//! The OpenAPI document, generated from the handlers' annotations.

use crate::routes::{audit, cycles, data, events, jobs, keys, me, system, tenants, webhooks};
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
            \"details\"?: {…}}`; `details.kind` names finer classes (`validation`, `not_found`, \
            `conflict`, `payload_too_large`, …) and `details.violations` lists every problem \
            with its JSON path."
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
        audit::list,
        audit::verify,
        webhooks::receive,
        webhooks::create_secret,
        webhooks::list_secrets,
        webhooks::revoke_secret,
        webhooks::raw_events,
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
    ),
    components(schemas(revos_contracts::KernelError, revos_contracts::ErrorCode)),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "keys", description = "API keys of services and AI agents"),
        (name = "queues", description = "Durable job queues: numbers, jobs, redrive, cancel, approvals"),
        (name = "audit", description = "The tamper-evident, per-tenant audit log"),
        (name = "webhooks", description = "Inbound webhooks verified with Standard Webhooks signatures"),
        (name = "system", description = "Liveness and readiness"),
        (name = "kernel", description = "Optimization cycles: KernelInput → KernelOutput (seed 001), cycles on stored data"),
        (name = "events", description = "The event runtime: events → decisions → actions, lead forms, timelines, tasks"),
        (name = "guards", description = "Guard boundaries: ALLOW, ALLOW_WITH_OVERRIDE or BLOCK under the tenant's Cedar rules"),
        (name = "policies", description = "Policies, runtime modes (shadow/enforce), settings and replay"),
        (name = "tenants", description = "Tenants, workspaces and optimizer settings"),
        (name = "metrics", description = "The canonical metric dictionary and daily metric values"),
        (name = "spine", description = "Campaigns, opportunities, accounts, revenue events and CRM activities"),
    )
)]
pub struct ApiDoc;

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

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
