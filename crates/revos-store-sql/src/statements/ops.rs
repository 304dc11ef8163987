//! The operations kernel's statements: [`revos_store::ops::OpsStore`],
//! written once for both backends.
//!
//! [`ops_statements!`](crate::ops_statements) expands in a backend's
//! `ops.rs` to the `OpsStore` implementation. The approval update is a
//! conditional `update … where version = $n`: of two writers that read the
//! same version, one changes a row and the other none.

/// Expands to the `OpsStore` implementation for the store type `$store`
/// (see the [module](crate::statements::ops)).
#[macro_export]
#[allow(clippy::crate_in_macro_def)]
macro_rules! ops_statements {
    ($store:ty) => {
        /// The operations statements both backends share, expanded from
        /// `revos_store_sql::ops_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{doc, is_unique_violation, store_error, tid, ts};
            use ::revos_contracts::TenantId;
            use ::revos_store::StoreError;
            use ::revos_store::ops::{
                AgentActionFilter, AgentActionRecord, ApprovalFilter, ApprovalRecord, OpsStore,
                ToolPolicyRecord,
            };
            use $crate::DbId;
            use $crate::ops::{AgentActionRow, ApprovalRow, ToolPolicyRow, version};
            use ::uuid::Uuid;

            #[::async_trait::async_trait]
            impl OpsStore for $store {
                async fn tool_policies(
                    &self,
                    tenant: TenantId,
                ) -> Result<Option<ToolPolicyRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<ToolPolicyRow> = ::sqlx::query_as(
                        "select text, settings, updated_by, updated_at
                         from tool_policies where tenant_id = $1",
                    )
                    .bind(tid(tenant))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(ToolPolicyRecord::from))
                }

                async fn put_tool_policies(
                    &self,
                    tenant: TenantId,
                    policies: &ToolPolicyRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "insert into tool_policies (tenant_id, text, settings, updated_by, updated_at)
                         values ($1, $2, $3, $4, $5)
                         on conflict (tenant_id) do update set
                             text = excluded.text, settings = excluded.settings,
                             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    )
                    .bind(tid(tenant))
                    .bind(&policies.text)
                    .bind(doc(&policies.settings)?)
                    .bind(&policies.updated_by)
                    .bind(ts(policies.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn insert_agent_action(
                    &self,
                    tenant: TenantId,
                    action: &AgentActionRecord,
                    approval: Option<&ApprovalRecord>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(concat!(
                        "insert into agent_actions (tenant_id, ",
                        $crate::agent_action_columns!(),
                        ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(action.id))
                    .bind(&action.idempotency_key)
                    .bind(&action.job_key)
                    .bind(&action.tool)
                    .bind(&action.agent)
                    .bind(&action.status)
                    .bind(action.approval_id.map(DbId))
                    .bind(action.job_id.map(DbId))
                    .bind(doc(&action.body)?)
                    .bind(ts(action.created_at))
                    .bind(ts(action.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| {
                        if is_unique_violation(&err) {
                            StoreError::Conflict {
                                entity: "agent action",
                                id: action.idempotency_key.clone(),
                            }
                        } else {
                            store_error(err)
                        }
                    })?;
                    if let Some(a) = approval {
                        ::sqlx::query(concat!(
                            "insert into approvals (tenant_id, ",
                            $crate::approval_columns!(),
                            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                        ))
                        .bind(tid(tenant))
                        .bind(DbId(a.id))
                        .bind(DbId(a.action_id))
                        .bind(&a.status)
                        .bind(&a.risk)
                        .bind(&a.tool)
                        .bind(&a.requester)
                        .bind(&a.queue)
                        .bind(ts(a.created_at))
                        .bind(ts(a.expires_at))
                        .bind(version(a.version)?)
                        .bind(doc(&a.body)?)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn agent_action(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<Option<AgentActionRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<AgentActionRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::agent_action_columns!(),
                        " from agent_actions where tenant_id = $1 and id = $2"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(AgentActionRecord::from))
                }

                async fn agent_action_by_key(
                    &self,
                    tenant: TenantId,
                    key: &str,
                    by_job_key: bool,
                ) -> Result<Option<AgentActionRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let sql = if by_job_key {
                        concat!(
                            "select ",
                            $crate::agent_action_columns!(),
                            " from agent_actions where tenant_id = $1 and job_key = $2"
                        )
                    } else {
                        concat!(
                            "select ",
                            $crate::agent_action_columns!(),
                            " from agent_actions where tenant_id = $1 and idempotency_key = $2"
                        )
                    };
                    let row: Option<AgentActionRow> = ::sqlx::query_as(sql)
                        .bind(tid(tenant))
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(AgentActionRecord::from))
                }

                async fn list_agent_actions(
                    &self,
                    tenant: TenantId,
                    filter: &AgentActionFilter,
                ) -> Result<Vec<AgentActionRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let (after_at, after_id) = match filter.after {
                        Some((at, id)) => (Some(ts(at)), Some(DbId(id))),
                        None => (None, None),
                    };
                    let rows: Vec<AgentActionRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::agent_action_columns!(),
                        " from agent_actions where tenant_id = $1
                           and ($2 is null or status = $2)
                           and ($3 is null or tool = $3)
                           and ($4 is null or agent = $4)
                           and ($5 is null or created_at < $5
                                or (created_at = $5 and id < $6))
                         order by created_at desc, id desc
                         limit $7"
                    ))
                    .bind(tid(tenant))
                    .bind(filter.status.as_deref())
                    .bind(filter.tool.as_deref())
                    .bind(filter.agent.as_deref())
                    .bind(after_at)
                    .bind(after_id)
                    .bind(i64::from(filter.limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(AgentActionRecord::from).collect())
                }

                async fn update_agent_action(
                    &self,
                    tenant: TenantId,
                    action: &AgentActionRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "update agent_actions set status = $3, approval_id = $4, job_id = $5,
                             body = $6, updated_at = $7
                         where tenant_id = $1 and id = $2",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(action.id))
                    .bind(&action.status)
                    .bind(action.approval_id.map(DbId))
                    .bind(action.job_id.map(DbId))
                    .bind(doc(&action.body)?)
                    .bind(ts(action.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn approval(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<Option<ApprovalRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<ApprovalRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::approval_columns!(),
                        " from approvals where tenant_id = $1 and id = $2"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(ApprovalRecord::from))
                }

                async fn list_approvals(
                    &self,
                    tenant: TenantId,
                    filter: &ApprovalFilter,
                ) -> Result<Vec<ApprovalRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let (after_at, after_id) = match filter.after {
                        Some((at, id)) => (Some(ts(at)), Some(DbId(id))),
                        None => (None, None),
                    };
                    let rows: Vec<ApprovalRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::approval_columns!(),
                        " from approvals where tenant_id = $1
                           and ($2 is null or status = $2)
                           and ($3 is null or risk = $3)
                           and ($4 is null or tool = $4)
                           and ($5 is null or requester = $5)
                           and ($6 is null or queue = $6)
                           and ($7 is null or created_at < $7)
                           and ($8 is null or expires_at <= $8)
                           and ($9 is null or created_at < $9
                                or (created_at = $9 and id < $10))
                         order by created_at desc, id desc
                         limit $11"
                    ))
                    .bind(tid(tenant))
                    .bind(filter.status.as_deref())
                    .bind(filter.risk.as_deref())
                    .bind(filter.tool.as_deref())
                    .bind(filter.requester.as_deref())
                    .bind(filter.queue.as_deref())
                    .bind(filter.created_before.map(ts))
                    .bind(filter.expires_by.map(ts))
                    .bind(after_at)
                    .bind(after_id)
                    .bind(i64::from(filter.limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(ApprovalRecord::from).collect())
                }

                async fn update_approval(
                    &self,
                    tenant: TenantId,
                    approval: &ApprovalRecord,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let done = ::sqlx::query(
                        "update approvals set status = $3, body = $4, version = version + 1
                         where tenant_id = $1 and id = $2 and version = $5",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(approval.id))
                    .bind(&approval.status)
                    .bind(doc(&approval.body)?)
                    .bind(version(approval.version)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        }
    };
}
