//! Spine imports: a tenant's campaigns, channels, opportunities, accounts,
//! CRM activities and revenue events, loaded in bulk from the systems it
//! already runs (`revos spine import`, `POST
//! /v1/tenants/{id}/spine/{table}/import`).
//!
//! An import is all or nothing: every row is read into its record and
//! checked before anything is written, each problem is reported with the
//! row's index (`$[12].amount`), and the rows are then written in one
//! store transaction. Rows are keyed by the id they carry from the
//! tenant's own system, so importing a file again updates the same rows
//! and adds none.
//!
//! An import never acts: campaigns are written as they are (a campaign
//! that arrives `active` is not a launch and starts no cycle, unlike one
//! sent by a backend to `POST /v1/tenants/{id}/campaigns`), and no event
//! is recorded, so no policy runs. The import itself is audited, and the
//! metrics of the days its rows touch are recomputed shortly after (a
//! `metrics.recompute` job, as for mapped deliveries).

use crate::identity::auth::Principal;
use crate::{Failure, Kernel, validate};
use chrono::NaiveDate;
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, TenantId};
use revos_store::identity::Scope;
use revos_store::{
    Account, Campaign, CampaignChannel, CrmActivity, Opportunity, RevenueEvent, WriteSummary,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The most rows one import takes; larger files are split by the caller.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// A spine table an import can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SpineTable {
    /// `spine_campaigns` (with their channels when a row carries them).
    Campaigns,
    /// `spine_campaign_channels`: one row per campaign and channel; the
    /// campaign must exist.
    Channels,
    /// `spine_opportunities`.
    Opportunities,
    /// `spine_accounts`.
    Accounts,
    /// `spine_crm_activities`.
    Activities,
    /// `revenue_events`.
    RevenueEvents,
}

impl SpineTable {
    /// Every table, in the order an import of a whole spine should follow
    /// (channels after their campaigns).
    pub const ALL: [SpineTable; 6] = [
        SpineTable::Accounts,
        SpineTable::Campaigns,
        SpineTable::Channels,
        SpineTable::Opportunities,
        SpineTable::Activities,
        SpineTable::RevenueEvents,
    ];

    /// The table's name on the command line and in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpineTable::Campaigns => "campaigns",
            SpineTable::Channels => "channels",
            SpineTable::Opportunities => "opportunities",
            SpineTable::Accounts => "accounts",
            SpineTable::Activities => "activities",
            SpineTable::RevenueEvents => "revenue-events",
        }
    }

    /// The table named `s`; an unknown name is an error that lists them.
    pub fn parse(s: &str) -> Result<SpineTable, Failure> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s || t.as_str().replace('-', "_") == s)
            .ok_or_else(|| {
                Failure::of(
                    revos_contracts::ErrorKind::Validation,
                    format!(
                        "`{s}` is not a spine table: one of {}",
                        Self::ALL.map(SpineTable::as_str).join(", ")
                    ),
                )
            })
    }

    /// The fields whose values are numbers, for readers of untyped input
    /// (CSV cells).
    pub const fn number_fields(self) -> &'static [&'static str] {
        match self {
            SpineTable::Campaigns | SpineTable::Channels => &["budget_total", "budget_spent"],
            SpineTable::Opportunities => &["amount", "win_probability"],
            SpineTable::Accounts => &["arr"],
            SpineTable::RevenueEvents => &["amount"],
            SpineTable::Activities => &[],
        }
    }
}

/// A channel row of a channels import.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelRow {
    campaign_id: String,
    channel: String,
    status: String,
    budget_total: f64,
    budget_spent: f64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SpineImportReport {
    /// The table.
    pub table: SpineTable,
    /// Rows read.
    pub rows: u64,
    /// Rows written (new or changed); a repeated import writes the same
    /// rows again and adds none.
    pub written: u64,
}

/// Reads every row into `T`, or says which rows do not read and why.
fn rows_as<T: DeserializeOwned>(rows: &[Value]) -> Result<Vec<T>, Vec<Violation>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if let Some(v) = revos_contracts::text::json_nul_violation(row) {
            problems.push(Violation::new(
                "spine_import",
                format!("$[{i}]"),
                v.message,
                ErrorCode::InvalidInput,
            ));
            continue;
        }
        match serde_json::from_value::<T>(row.clone()) {
            Ok(item) => out.push(item),
            Err(e) => problems.push(Violation::new(
                "spine_import",
                format!("$[{i}]"),
                e.to_string(),
                ErrorCode::InvalidInput,
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Refuses an import that names one id twice: the file would say two
/// things about one row.
fn unique_ids<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<Violation> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, id) in ids.enumerate() {
        if let Some(first) = seen.insert(id, i) {
            problems.push(Violation::new(
                "spine_import",
                format!("$[{i}].id"),
                format!("`{id}` is also the id of row {first}; each row needs its own id"),
                ErrorCode::InvalidInput,
            ));
        }
    }
    problems
}

fn refuse(table: SpineTable, problems: Vec<Violation>) -> Failure {
    Failure::invalid(
        format!(
            "{} bad row{} for {}; nothing was imported",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            table.as_str()
        ),
        &problems,
    )
}

/// Reads, checks and returns the records, or the failure naming each bad row.
fn checked<T: DeserializeOwned>(
    table: SpineTable,
    rows: &[Value],
    id: impl Fn(&T) -> &str,
    check: impl Fn(&[T]) -> Vec<Violation>,
) -> Result<Vec<T>, Failure> {
    let items = rows_as::<T>(rows).map_err(|p| refuse(table, p))?;
    let mut problems = unique_ids(items.iter().map(&id));
    problems.extend(check(&items));
    if problems.is_empty() {
        Ok(items)
    } else {
        Err(refuse(table, problems))
    }
}

/// The index in a violation path such as `$[12].budget_total`.
fn index_of(path: &str) -> Option<usize> {
    path.strip_prefix("$[")?.split(']').next()?.parse().ok()
}

impl Kernel {
    /// Imports rows into one spine table of `tenant`, all or nothing (see
    /// the module docs). Needs `write`; audited as `spine.import`.
    pub async fn import_spine(
        &self,
        by: &Principal,
        tenant: TenantId,
        table: SpineTable,
        rows: &[Value],
    ) -> Result<SpineImportReport, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        self.tenant(tenant).await?;
        if rows.is_empty() {
            return Err(Failure::of(
                revos_contracts::ErrorKind::Validation,
                format!("no rows to import into {}", table.as_str()),
            ));
        }
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(Failure::of(
                revos_contracts::ErrorKind::Validation,
                format!(
                    "{} rows are more than one import takes ({MAX_IMPORT_ROWS}); split the file",
                    rows.len()
                ),
            ));
        }
        let store = self.store();
        let today = chrono::Utc::now().date_naive();
        let (written, touched_from): (WriteSummary, Option<NaiveDate>) = match table {
            SpineTable::Campaigns => {
                let items = checked(table, rows, |c: &Campaign| &c.id, validate::campaigns)?;
                // No metric reads campaigns: nothing to recompute.
                (store.upsert_campaigns(tenant, &items).await?, None)
            }
            SpineTable::Channels => {
                let items = self.channel_campaigns(tenant, rows).await?;
                (store.upsert_campaigns(tenant, &items).await?, None)
            }
            SpineTable::Opportunities => {
                let items = checked(
                    table,
                    rows,
                    |o: &Opportunity| &o.id,
                    validate::opportunities,
                )?;
                let from = items
                    .iter()
                    .map(|o| {
                        o.created_date
                            .unwrap_or(today)
                            .min(o.closed_date.unwrap_or(today))
                    })
                    .min();
                (store.upsert_opportunities(tenant, &items).await?, from)
            }
            SpineTable::Accounts => {
                let items = checked(table, rows, |a: &Account| &a.id, validate::accounts)?;
                (store.upsert_accounts(tenant, &items).await?, None)
            }
            SpineTable::Activities => {
                let items = checked(
                    table,
                    rows,
                    |a: &CrmActivity| &a.id,
                    validate::crm_activities,
                )?;
                let from = items.iter().map(|a| a.occurred_at.date_naive()).min();
                (store.upsert_crm_activities(tenant, &items).await?, from)
            }
            SpineTable::RevenueEvents => {
                let items = checked(
                    table,
                    rows,
                    |e: &RevenueEvent| &e.id,
                    validate::revenue_events,
                )?;
                let from = items.iter().map(|e| e.effective_date).min();
                (store.upsert_revenue_events(tenant, &items).await?, from)
            }
        };
        let report = SpineImportReport {
            table,
            rows: rows.len() as u64,
            written: written.written,
        };
        if let Some(from) = touched_from {
            crate::runtime::connectors::enqueue_recompute(self, tenant, from).await;
        }
        self.audit(
            tenant,
            &by.actor(),
            "spine.import",
            Some(("spine_table", table.as_str())),
            json!({"rows": report.rows, "written": report.written}),
        )
        .await;
        Ok(report)
    }

    /// The campaigns a channels import changes: each named campaign with
    /// its channels, the imported ones replacing those of the same name.
    async fn channel_campaigns(
        &self,
        tenant: TenantId,
        rows: &[Value],
    ) -> Result<Vec<Campaign>, Failure> {
        let table = SpineTable::Channels;
        let channels = rows_as::<ChannelRow>(rows).map_err(|p| refuse(table, p))?;
        let mut problems = Vec::new();
        let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let mut campaigns: BTreeMap<String, Campaign> = BTreeMap::new();
        for (i, row) in channels.iter().enumerate() {
            if let Some(first) = seen.insert((&row.campaign_id, &row.channel), i) {
                problems.push(Violation::new(
                    "spine_import",
                    format!("$[{i}].channel"),
                    format!(
                        "campaign `{}` channel `{}` is also row {first}",
                        row.campaign_id, row.channel
                    ),
                    ErrorCode::InvalidInput,
                ));
                continue;
            }
            if !campaigns.contains_key(&row.campaign_id) {
                match self.store().get_campaign(tenant, &row.campaign_id).await? {
                    Some(c) => {
                        campaigns.insert(row.campaign_id.clone(), c);
                    }
                    None => {
                        problems.push(Violation::new(
                            "spine_import",
                            format!("$[{i}].campaign_id"),
                            format!(
                                "there is no campaign `{}`; import the campaigns first",
                                row.campaign_id
                            ),
                            ErrorCode::InvalidInput,
                        ));
                        continue;
                    }
                }
            }
            if let Some(c) = campaigns.get_mut(&row.campaign_id) {
                let channel = CampaignChannel {
                    channel: row.channel.clone(),
                    status: row.status.clone(),
                    budget_total: row.budget_total,
                    budget_spent: row.budget_spent,
                };
                match c.channels.iter_mut().find(|x| x.channel == row.channel) {
                    Some(existing) => *existing = channel,
                    None => c.channels.push(channel),
                }
            }
        }
        let items: Vec<Campaign> = campaigns.into_values().collect();
        problems.extend(validate::campaigns(&items).into_iter().map(|mut v| {
            // The campaign's own index means nothing to the importer: name
            // the campaign instead.
            if let Some(c) = index_of(&v.path).and_then(|i| items.get(i)) {
                v.path = format!("campaign `{}`: {}", c.id, v.path);
            }
            v
        }));
        if problems.is_empty() {
            Ok(items)
        } else {
            Err(refuse(table, problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_named_and_unknown_ones_listed() {
        assert_eq!(
            SpineTable::parse("revenue-events").unwrap(),
            SpineTable::RevenueEvents
        );
        assert_eq!(
            SpineTable::parse("revenue_events").unwrap(),
            SpineTable::RevenueEvents
        );
        let err = SpineTable::parse("deals").unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.body.message.contains("opportunities"), "{:?}", err.body);
    }

    #[test]
    fn rows_that_do_not_read_are_named_with_their_index() {
        let rows = vec![
            json!({"id": "a1", "name": "Acme"}),
            json!({"id": "a2", "nmae": "Typo"}),
            json!({"id": "a1", "name": "Again"}),
        ];
        let err = checked(
            SpineTable::Accounts,
            &rows,
            |a: &Account| &a.id,
            |_| Vec::new(),
        )
        .unwrap_err();
        let text = serde_json::to_string(&err.body).unwrap();
        assert!(text.contains("$[1]") && text.contains("nmae"), "{text}");
        let rows = vec![rows[0].clone(), rows[2].clone()];
        let err = checked(
            SpineTable::Accounts,
            &rows,
            |a: &Account| &a.id,
            |_| Vec::new(),
        )
        .unwrap_err();
        let text = serde_json::to_string(&err.body).unwrap();
        assert!(text.contains("$[1].id") && text.contains("row 0"), "{text}");
    }
}
