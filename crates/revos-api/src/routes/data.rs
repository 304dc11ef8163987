//! The metric dictionary, metric snapshots and the spine data (campaigns,
//! opportunities, accounts, revenue events, CRM activities).
//!
//! Writes are bulk upserts: the body is one record or an array of them,
//! every record is checked first, and either all are written in one
//! transaction or none is.

use crate::AppState;
use crate::auth::{Caller, TenantRead, TenantWrite};
use crate::error::ApiError;
use crate::extract::{ApiBatch, ApiJson, ApiQuery};
use crate::model::data::{
    Account, Campaign, CrmActivity, MetricPoint, MetricSnapshot, Opportunity, OpportunityStatus,
    RevenueEvent, SnapshotSource, WriteSummary,
};
use crate::routes::{List, PageParams};
use axum::Json;
use axum::extract::{Path, State};
use chrono::NaiveDate;
use revos_contracts::KernelError;
use revos_contracts::metrics::{self, MetricDefinition};
use revos_kernel::spine::{SpineImportReport, SpineTable};
use revos_store::{DateRange, MetricQuery, Page};
use serde::Deserialize;
use utoipa::IntoParams;

/// The canonical metric dictionary.
#[utoipa::path(get, path = "/v1/metrics/dictionary", tag = "metrics",
    responses((status = 200, description = "Every canonical metric", body = List<MetricDefinition>)))]
pub(crate) async fn dictionary(_: Caller) -> Json<List<MetricDefinition>> {
    Json(List::all(metrics::dictionary().to_vec()))
}

/// Upserts daily metric values, validated against the dictionary.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/metrics", tag = "metrics",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body(content = Vec<MetricPoint>, description = "One value or an array of `{metric_id, date, value, dimension?}`"),
    responses(
        (status = 200, description = "All values written", body = WriteSummary),
        (status = 400, description = "INVALID_INPUT: unknown metric, bad value; nothing written", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
        (status = 413, description = "Body too large", body = KernelError),
    ))]
pub(crate) async fn upsert_metrics(
    State(state): State<AppState>,
    TenantWrite { tenant, .. }: TenantWrite,
    ApiBatch(points): ApiBatch<MetricPoint>,
) -> Result<Json<WriteSummary>, ApiError> {
    let points = records(points);
    Ok(Json(
        state.kernel.import_metrics(tenant, &points).await?.into(),
    ))
}

/// Filters of the metric list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MetricParams {
    /// Only this metric.
    pub(crate) metric_id: Option<String>,
    /// First day (inclusive, YYYY-MM-DD).
    pub(crate) from: Option<NaiveDate>,
    /// Last day (inclusive, YYYY-MM-DD).
    pub(crate) to: Option<NaiveDate>,
    /// `imported` or `computed`.
    #[param(value_type = Option<SnapshotSource>)]
    pub(crate) source: Option<SnapshotSource>,
    /// At most this many values (1–1000, default 100).
    pub(crate) limit: Option<u32>,
    /// Values to skip.
    pub(crate) offset: Option<u32>,
}

/// Stored daily metric values, by date.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/metrics", tag = "metrics",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), MetricParams),
    responses(
        (status = 200, description = "A page of values", body = List<MetricSnapshot>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_metrics(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    ApiQuery(params): ApiQuery<MetricParams>,
) -> Result<Json<List<MetricSnapshot>>, ApiError> {
    let page = Page::new(params.limit.unwrap_or(100), params.offset.unwrap_or(0));
    let query = MetricQuery {
        metric_id: params.metric_id,
        range: DateRange {
            from: params.from,
            to: params.to,
        },
        source: params.source.map(Into::into),
        page,
    };
    Ok(Json(
        List::new(state.kernel.metrics(tenant, &query).await?, page).convert(),
    ))
}

/// Upserts campaigns; each campaign's `channels` replace the stored ones.
/// A campaign that becomes `active` for the first time (new, or stored as
/// neither `active` nor `paused`) is a launch: a `campaign_launched` event
/// is recorded, and the scheduler runs a `lifecycle_event` cycle for it.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/campaigns", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body(content = Vec<Campaign>, description = "One campaign or an array"),
    responses(
        (status = 200, description = "Written", body = WriteSummary),
        (status = 400, description = "INVALID_INPUT; nothing written", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn upsert_campaigns(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    ApiBatch(items): ApiBatch<Campaign>,
) -> Result<Json<WriteSummary>, ApiError> {
    let items = records(items);
    Ok(Json(
        state
            .kernel
            .receive_campaigns(&principal, tenant, &items)
            .await?
            .into(),
    ))
}

/// Campaigns with their channels.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/campaigns", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), PageParams),
    responses(
        (status = 200, description = "A page of campaigns", body = List<Campaign>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<List<Campaign>>, ApiError> {
    let page = params.page();
    Ok(Json(
        List::new(state.kernel.campaigns(tenant, page).await?, page).convert(),
    ))
}

/// One campaign.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/campaigns/{campaign_id}", tag = "spine",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("campaign_id" = String, Path, description = "Campaign id"),
    ),
    responses(
        (status = 200, description = "The campaign", body = Campaign),
        (status = 404, description = "No such tenant or campaign", body = KernelError),
    ))]
pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    Path((_, campaign_id)): Path<(String, String)>,
) -> Result<Json<Campaign>, ApiError> {
    Ok(Json(
        state.kernel.campaign(tenant, &campaign_id).await?.into(),
    ))
}

/// Upserts opportunities.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/opportunities", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body(content = Vec<Opportunity>, description = "One opportunity or an array"),
    responses(
        (status = 200, description = "Written", body = WriteSummary),
        (status = 400, description = "INVALID_INPUT; nothing written", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn upsert_opportunities(
    State(state): State<AppState>,
    TenantWrite { tenant, .. }: TenantWrite,
    ApiBatch(items): ApiBatch<Opportunity>,
) -> Result<Json<WriteSummary>, ApiError> {
    let items = records(items);
    Ok(Json(
        state
            .kernel
            .upsert_opportunities(tenant, &items)
            .await?
            .into(),
    ))
}

/// Filters of the opportunity list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct OpportunityParams {
    /// `open`, `won` or `lost`.
    #[param(value_type = Option<OpportunityStatus>)]
    pub(crate) status: Option<OpportunityStatus>,
    /// At most this many (1–1000, default 100).
    pub(crate) limit: Option<u32>,
    /// Records to skip.
    pub(crate) offset: Option<u32>,
}

/// Opportunities, optionally of one status.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/opportunities", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), OpportunityParams),
    responses(
        (status = 200, description = "A page of opportunities", body = List<Opportunity>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_opportunities(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    ApiQuery(params): ApiQuery<OpportunityParams>,
) -> Result<Json<List<Opportunity>>, ApiError> {
    let page = Page::new(params.limit.unwrap_or(100), params.offset.unwrap_or(0));
    let items = state
        .kernel
        .opportunities(tenant, params.status.map(Into::into), page)
        .await?;
    Ok(Json(List::new(items, page).convert()))
}

/// Upserts accounts.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/accounts", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body(content = Vec<Account>, description = "One account or an array"),
    responses(
        (status = 200, description = "Written", body = WriteSummary),
        (status = 400, description = "INVALID_INPUT; nothing written", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn upsert_accounts(
    State(state): State<AppState>,
    TenantWrite { tenant, .. }: TenantWrite,
    ApiBatch(items): ApiBatch<Account>,
) -> Result<Json<WriteSummary>, ApiError> {
    let items = records(items);
    Ok(Json(
        state.kernel.upsert_accounts(tenant, &items).await?.into(),
    ))
}

/// Accounts.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/accounts", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), PageParams),
    responses(
        (status = 200, description = "A page of accounts", body = List<Account>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_accounts(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<List<Account>>, ApiError> {
    let page = params.page();
    Ok(Json(
        List::new(state.kernel.accounts(tenant, page).await?, page).convert(),
    ))
}

/// Upserts revenue events.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/revenue-events", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body(content = Vec<RevenueEvent>, description = "One revenue event or an array"),
    responses(
        (status = 200, description = "Written", body = WriteSummary),
        (status = 400, description = "INVALID_INPUT; nothing written", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn upsert_revenue_events(
    State(state): State<AppState>,
    TenantWrite { tenant, .. }: TenantWrite,
    ApiBatch(items): ApiBatch<RevenueEvent>,
) -> Result<Json<WriteSummary>, ApiError> {
    let items = records(items);
    Ok(Json(
        state
            .kernel
            .upsert_revenue_events(tenant, &items)
            .await?
            .into(),
    ))
}

/// Filters of the revenue-event list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RevenueParams {
    /// First effective day (inclusive).
    pub(crate) from: Option<NaiveDate>,
    /// Last effective day (inclusive).
    pub(crate) to: Option<NaiveDate>,
    /// At most this many (1–1000, default 100).
    pub(crate) limit: Option<u32>,
    /// Records to skip.
    pub(crate) offset: Option<u32>,
}

/// Revenue events by effective date.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/revenue-events", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), RevenueParams),
    responses(
        (status = 200, description = "A page of revenue events", body = List<RevenueEvent>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_revenue_events(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    ApiQuery(params): ApiQuery<RevenueParams>,
) -> Result<Json<List<RevenueEvent>>, ApiError> {
    let page = Page::new(params.limit.unwrap_or(100), params.offset.unwrap_or(0));
    let range = DateRange {
        from: params.from,
        to: params.to,
    };
    let items = state.kernel.revenue_events(tenant, range, page).await?;
    Ok(Json(List::new(items, page).convert()))
}

/// Upserts CRM activities.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/crm-activities", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID")),
    request_body(content = Vec<CrmActivity>, description = "One activity or an array"),
    responses(
        (status = 200, description = "Written", body = WriteSummary),
        (status = 400, description = "INVALID_INPUT; nothing written", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn upsert_crm_activities(
    State(state): State<AppState>,
    TenantWrite { tenant, .. }: TenantWrite,
    ApiBatch(items): ApiBatch<CrmActivity>,
) -> Result<Json<WriteSummary>, ApiError> {
    let items = records(items);
    Ok(Json(
        state
            .kernel
            .upsert_crm_activities(tenant, &items)
            .await?
            .into(),
    ))
}

/// CRM activities by time.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/crm-activities", tag = "spine",
    params(("tenant_id" = String, Path, description = "Tenant UUID"), PageParams),
    responses(
        (status = 200, description = "A page of activities", body = List<CrmActivity>),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
    ))]
pub(crate) async fn list_crm_activities(
    State(state): State<AppState>,
    TenantRead { tenant, .. }: TenantRead,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<List<CrmActivity>>, ApiError> {
    let page = params.page();
    Ok(Json(
        List::new(state.kernel.crm_activities(tenant, page).await?, page).convert(),
    ))
}

/// The store's records of a batch of API bodies.
fn records<A, R: From<A>>(items: Vec<A>) -> Vec<R> {
    items.into_iter().map(R::from).collect()
}

/// Imports rows into one spine table (`campaigns`, `channels`,
/// `opportunities`, `accounts`, `activities`, `revenue-events`), all or
/// nothing: every row is checked first and a bad one is named by its index
/// (`$[12].amount`); rows are keyed by their ids, so a repeated import adds
/// nothing. An import never acts: an `active` campaign is not a launch, and
/// no event is recorded. Audited as `spine.import`.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/spine/{table}/import", tag = "spine",
    params(
        ("tenant_id" = String, Path, description = "Tenant UUID"),
        ("table" = SpineTable, Path, description = "The spine table"),
    ),
    request_body(content = Vec<Object>, description = "The rows: each the table's record (`channels`: `{campaign_id, channel, status, budget_total, budget_spent}`)"),
    responses(
        (status = 200, description = "Every row written", body = SpineImportReport),
        (status = 400, description = "INVALID_INPUT: an unknown table, a bad row (each named); nothing written", body = KernelError),
        (status = 404, description = "TENANT_NOT_FOUND", body = KernelError),
        (status = 413, description = "Body too large: use `revos spine import`", body = KernelError),
    ))]
pub(crate) async fn import_spine(
    State(state): State<AppState>,
    TenantWrite {
        tenant, principal, ..
    }: TenantWrite,
    Path((_, table)): Path<(String, String)>,
    ApiJson(rows): ApiJson<Vec<serde_json::Value>>,
) -> Result<Json<SpineImportReport>, ApiError> {
    let table = SpineTable::parse(&table)?;
    Ok(Json(
        state
            .kernel
            .import_spine(&principal, tenant, table, &rows)
            .await?,
    ))
}
