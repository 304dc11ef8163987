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

/// Reads row `i` into `T`, or says why it does not read.
fn read_row<T: DeserializeOwned>(i: usize, row: &Value) -> Result<T, Violation> {
    if let Some(v) = revos_contracts::text::json_nul_violation(row) {
        return Err(Violation::new(
            "spine_import",
            format!("$[{i}]"),
            v.message,
            ErrorCode::InvalidInput,
        ));
    }
    // The path names the field a bad value is in (`effective_date`).
    serde_path_to_error::deserialize::<_, T>(row).map_err(|e| {
        let field = e.path().to_string();
        let path = if field == "." {
            format!("$[{i}]")
        } else {
            format!("$[{i}].{field}")
        };
        Violation::new(
            "spine_import",
            path,
            e.into_inner().to_string(),
            ErrorCode::InvalidInput,
        )
    })
}

/// Reads every row into `T`, or says which rows do not read and why.
fn rows_as<T: DeserializeOwned>(rows: &[Value]) -> Result<Vec<T>, Vec<Violation>> {
    let (items, problems) = read_all::<T>(rows);
    if problems.is_empty() {
        Ok(items.into_iter().map(|(_, item)| item).collect())
    } else {
        Err(problems)
    }
}

/// The rows that read, each with its index, and the problems of the rest.
fn read_all<T: DeserializeOwned>(rows: &[Value]) -> (Vec<(usize, T)>, Vec<Violation>) {
    let mut items = Vec::with_capacity(rows.len());
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match read_row::<T>(i, row) {
            Ok(item) => items.push((i, item)),
            Err(v) => problems.push(v),
        }
    }
    (items, problems)
}

/// Every problem of the rows: those that do not read, and the table's
/// rules (ids named twice among them) on the rows that read (their paths naming each row's
/// index in the input); with the records when there is none.
fn problems_of<T: DeserializeOwned>(
    rows: &[Value],
    rules: impl Fn(&[T]) -> Vec<Violation>,
) -> (Vec<T>, Vec<Violation>) {
    let (read, mut problems) = read_all::<T>(rows);
    let (at, items): (Vec<usize>, Vec<T>) = read.into_iter().unzip();
    for mut v in rules(&items) {
        if let Some(j) = index_of(&v.path)
            && let Some(i) = at.get(j)
        {
            v.path = v.path.replacen(&format!("$[{j}]"), &format!("$[{i}]"), 1);
        }
        problems.push(v);
    }
    problems.sort_by_key(|v| index_of(&v.path));
    (items, problems)
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
    rules: impl Fn(&[T]) -> Vec<Violation>,
) -> Result<Vec<T>, Failure> {
    let (items, problems) = problems_of(rows, rules);
    if problems.is_empty() {
        Ok(items)
    } else {
        Err(refuse(table, problems))
    }
}

/// Every problem of `rows` for `table` that can be known without the
/// store, writing nothing: each row's shape, ids named twice and the
/// table's rules (a channel's campaign is looked up only at import). For
/// readers of files that found bad lines of their own, so one pass names
/// every problem.
pub fn check(table: SpineTable, rows: &[Value]) -> Vec<Violation> {
    match table {
        SpineTable::Campaigns => problems_of::<Campaign>(rows, validate::campaigns).1,
        SpineTable::Channels => read_all::<ChannelRow>(rows).1,
        SpineTable::Opportunities => problems_of::<Opportunity>(rows, validate::opportunities).1,
        SpineTable::Accounts => problems_of::<Account>(rows, validate::accounts).1,
        SpineTable::Activities => problems_of::<CrmActivity>(rows, validate::crm_activities).1,
        SpineTable::RevenueEvents => problems_of::<RevenueEvent>(rows, validate::revenue_events).1,
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
                let items = checked::<Campaign>(table, rows, validate::campaigns)?;
                // No metric reads campaigns: nothing to recompute.
                (store.upsert_campaigns(tenant, &items).await?, None)
            }
            SpineTable::Channels => {
                let items = self.channel_campaigns(tenant, rows).await?;
                (store.upsert_campaigns(tenant, &items).await?, None)
            }
            SpineTable::Opportunities => {
                let items = checked::<Opportunity>(table, rows, validate::opportunities)?;
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
                let items = checked::<Account>(table, rows, validate::accounts)?;
                (store.upsert_accounts(tenant, &items).await?, None)
            }
            SpineTable::Activities => {
                let items = checked::<CrmActivity>(table, rows, validate::crm_activities)?;
                let from = items.iter().map(|a| a.occurred_at.date_naive()).min();
                (store.upsert_crm_activities(tenant, &items).await?, from)
            }
            SpineTable::RevenueEvents => {
                let items = checked::<RevenueEvent>(table, rows, validate::revenue_events)?;
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
    fn every_bad_row_is_named_with_its_index_and_field() {
        let rows = vec![
            json!({"id": "r1", "type": "new_business", "amount": 10.0, "effective_date": "2026-11-01"}),
            json!({"id": "r2", "type": "new_busines", "amount": 10.0, "effective_date": "2026-11-01"}),
            json!({"id": "r3", "type": "churn", "amount": 10.0, "effective_date": "2026-13-01"}),
            json!({"id": "r1", "type": "churn", "amount": 5.0, "effective_date": "2026-11-02"}),
            json!({"id": "r5", "tpye": "churn", "amount": 5.0, "effective_date": "2026-11-02"}),
        ];
        let problems = check(SpineTable::RevenueEvents, &rows);
        let said: Vec<String> = problems
            .iter()
            .map(|v| format!("{} {}", v.path, v.message))
            .collect();
        // The row that reads with an unknown type is named beside the rows
        // that do not read at all, each by its own index.
        assert_eq!(said.len(), 4, "{said:?}");
        assert!(
            said[0].starts_with("$[1].type") && said[0].contains("new_busines"),
            "{said:?}"
        );
        assert!(said[1].starts_with("$[2].effective_date"), "{said:?}");
        assert!(
            said[2].starts_with("$[3].id") && said[2].contains("more than once"),
            "{said:?}"
        );
        assert!(
            said[3].starts_with("$[4]") && said[3].contains("tpye"),
            "{said:?}"
        );
        let err =
            checked::<RevenueEvent>(SpineTable::RevenueEvents, &rows, validate::revenue_events)
                .unwrap_err();
        assert!(err.body.message.starts_with("4 bad rows"), "{:?}", err.body);
    }
}
