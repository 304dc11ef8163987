//! The event runtime's statements: the writes of an ingest and most of
//! [`revos_store::events::EventStore`], written once for both backends.
//!
//! [`event_statements!`](crate::event_statements) expands in a backend's
//! `events.rs` to a module `shared` with the ingest writes
//! (`insert_event`, `insert_decisions`, `insert_actions`, `insert_outbox`,
//! `insert_task`, on the tenant transaction's connection), the
//! `EventStore` implementation and `read_ingest_context`. What the two
//! backends do differently stays in the backend, as inherent methods of its
//! store that the implementation calls:
//!
//! - `begin_idempotency_key`: SQLite holds its one write lock and upserts;
//!   PostgreSQL inserts with `on conflict do nothing`, then locks the row.
//! - `purge_expired_keys`: PostgreSQL goes through a SECURITY DEFINER
//!   function, since the pool's role sees no row without a tenant.
//! - `crate::queue::jobs_for_actions`, which lives with the queue.

/// Expands to the event runtime's shared statements for the store type
/// `$store` (see the [module](crate::statements::events)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! event_statements {
    ($store:ty) => {
        /// The event runtime's statements both backends share, expanded from
        /// `revos_store_sql::event_statements!` over this backend's encodings
        /// (`crate::dialect`).
        mod shared {
            use crate::dialect::{
                Conn, corrupt, count, doc, id_list, in_list, is_set, is_unique_violation,
                store_error, text_list, tid, ts,
            };
            use $crate::DbId;
            use $crate::events::{
                ActionRow, DecisionRow, EndpointRow, EventRow, OutboxRow, TaskRow, events,
                parse_mode,
            };
            use $crate::{
                decision_columns, event_columns, kernel_action_columns as action_columns,
                outbox_columns, task_columns,
            };
            use ::chrono::{DateTime, Utc};
            use ::revos_contracts::TenantId;
            use ::revos_contracts::runtime::{
                ActionStatus, KernelAction, KernelDecision, KernelEvent, KernelMode,
            };
            use ::revos_store::events::{
                ActionTransition, EventFilter, EventInsert, EventStore, IdempotencyBegin,
                IngestContext, MAX_EVENT_PAGE, NewTask, OutboxEmail, OutboxStatus, StoredEvent,
                Task, TaskFilter, TaskStatus, WebhookEndpoint,
            };
            use ::revos_store::listing::{keyset_cmp, sql_direction};
            use ::revos_store::queue::Job;
            use ::revos_store::{StoreError, rules, support};
            use ::serde_json::Value;
            use ::sqlx::types::Json;
            use ::std::collections::BTreeMap;
            use ::uuid::Uuid;

            /// The event filter's decision condition: some decision on the
            /// event has the outcome in parameter `$outcome` and the mode in
            /// `$mode`, each only when given.
            fn decided_by(outcome: u8, mode: u8) -> String {
                format!(
                    "(${outcome} is null and ${mode} is null or exists (
                        select 1 from kernel_decisions d
                        where d.tenant_id = kernel_events.tenant_id
                          and d.event_id = kernel_events.id
                          and (${outcome} is null or d.outcome = ${outcome})
                          and (${mode} is null or d.mode = ${mode})))"
                )
            }

            // ---- the writes of an ingest (on the tenant transaction) ----------

            /// The event of `tenant` with this idempotency key.
            pub(crate) async fn event_with_key(
                conn: &mut Conn,
                tenant: TenantId,
                key: &str,
            ) -> Result<Option<StoredEvent>, StoreError> {
                let row: Option<EventRow> = ::sqlx::query_as(concat!(
                    "select ",
                    event_columns!(),
                    " from kernel_events where tenant_id = $1 and idempotency_key = $2"
                ))
                .bind(tid(tenant))
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(store_error)?;
                row.map(|row| row.into_stored(tenant)).transpose()
            }

            /// Writes an event unless its key is taken
            /// ([`revos_store::queue::TenantTx::insert_event`]).
            pub(crate) async fn insert_event(
                conn: &mut Conn,
                tenant: TenantId,
                event: &KernelEvent,
                body_hash: &str,
            ) -> Result<EventInsert, StoreError> {
                rules::same_tenant(event.tenant_id, tenant, "an event")?;
                let inserted = ::sqlx::query(
                    "insert into kernel_events
                         (tenant_id, id, type, source, idempotency_key, correlation_id,
                          subject_type, subject_id, payload, occurred_at, created_at, body_hash)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     on conflict (tenant_id, idempotency_key) do nothing",
                )
                .bind(tid(tenant))
                .bind(DbId(event.id))
                .bind(&event.r#type)
                .bind(&event.source)
                .bind(&event.idempotency_key)
                .bind(&event.correlation_id)
                .bind(&event.subject.r#type)
                .bind(&event.subject.id)
                .bind(doc(&event.payload)?)
                .bind(ts(event.occurred_at))
                .bind(ts(event.recorded_at))
                .bind(body_hash)
                .execute(&mut *conn)
                .await
                .map_err(|err| {
                    // The key is free (that conflict does nothing), so a
                    // unique violation here is the event id, taken by
                    // another event.
                    if is_unique_violation(&err) {
                        StoreError::Conflict {
                            entity: "event",
                            id: event.id.to_string(),
                        }
                    } else {
                        store_error(err)
                    }
                })?;
                if inserted.rows_affected() == 1 {
                    return Ok(EventInsert::Inserted);
                }
                match event_with_key(conn, tenant, &event.idempotency_key).await? {
                    Some(existing) => Ok(EventInsert::Existing(existing)),
                    None => Err(StoreError::Backend(format!(
                        "event key `{}` is taken but its event cannot be read",
                        event.idempotency_key
                    ))),
                }
            }

            /// Writes decisions.
            pub(crate) async fn insert_decisions(
                conn: &mut Conn,
                tenant: TenantId,
                decisions: &[KernelDecision],
            ) -> Result<(), StoreError> {
                for d in decisions {
                    rules::same_tenant(d.tenant_id, tenant, "a decision")?;
                    count("policy version", d.policy_version)?;
                }
                for d in decisions {
                    ::sqlx::query(
                        "insert into kernel_decisions
                             (tenant_id, id, event_id, policy_id, policy_version, outcome,
                              reasons, correlation_id, mode, created_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(d.id))
                    .bind(DbId(d.event_id))
                    .bind(&d.policy_id)
                    .bind(count("policy version", d.policy_version)?)
                    .bind(d.outcome.as_str())
                    .bind(doc(&d.reasons)?)
                    .bind(&d.correlation_id)
                    .bind(d.mode.as_str())
                    .bind(ts(d.decided_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(store_error)?;
                }
                Ok(())
            }

            /// Writes actions in the status they carry.
            pub(crate) async fn insert_actions(
                conn: &mut Conn,
                tenant: TenantId,
                actions: &[KernelAction],
            ) -> Result<(), StoreError> {
                for a in actions {
                    rules::same_tenant(a.tenant_id, tenant, "an action")?;
                }
                for a in actions {
                    ::sqlx::query(
                        "insert into kernel_actions
                             (tenant_id, id, decision_id, event_id, type, params, status,
                              idempotency_key, correlation_id, mode, created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(a.id))
                    .bind(DbId(a.decision_id))
                    .bind(DbId(a.event_id))
                    .bind(a.r#type.as_str())
                    .bind(doc(&a.params)?)
                    .bind(a.status.as_str())
                    .bind(&a.idempotency_key)
                    .bind(&a.correlation_id)
                    .bind(a.mode.as_str())
                    .bind(ts(a.created_at))
                    .bind(ts(a.updated_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(store_error)?;
                }
                Ok(())
            }

            /// Writes an e-mail to the outbox, as it is given.
            pub(crate) async fn insert_outbox(
                conn: &mut Conn,
                tenant: TenantId,
                email: &OutboxEmail,
            ) -> Result<(), StoreError> {
                rules::same_tenant(email.tenant_id, tenant, "an outbox e-mail")?;
                ::sqlx::query(
                    "insert into channel_outbox
                         (tenant_id, id, action_id, to_addr, from_addr, reply_to, subject,
                          text_body, html_body, message_id, status, attempts, last_error,
                          sent_at, created_at, updated_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                             $15, $15)",
                )
                .bind(tid(tenant))
                .bind(DbId(email.id))
                .bind(DbId(email.action_id))
                .bind(&email.to)
                .bind(&email.from)
                .bind(&email.reply_to)
                .bind(&email.subject)
                .bind(&email.text)
                .bind(&email.html)
                .bind(&email.message_id)
                .bind(email.status.as_str())
                .bind(count("attempts", email.attempts)?)
                .bind(&email.last_error)
                .bind(email.sent_at.map(ts))
                .bind(ts(email.created_at))
                .execute(&mut *conn)
                .await
                .map_err(store_error)?;
                Ok(())
            }

            /// Creates an open task.
            pub(crate) async fn insert_task(
                conn: &mut Conn,
                tenant: TenantId,
                task: &NewTask,
                now: DateTime<Utc>,
            ) -> Result<Task, StoreError> {
                let row: TaskRow = ::sqlx::query_as(concat!(
                    "insert into tasks
                         (tenant_id, id, action_id, owner, subject, details, due_at,
                          entity_type, entity_id, status, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10)
                     returning ",
                    task_columns!()
                ))
                .bind(tid(tenant))
                .bind(DbId(task.id))
                .bind(task.action_id.map(DbId))
                .bind(&task.owner)
                .bind(&task.subject)
                .bind(&task.details)
                .bind(task.due_at.map(ts))
                .bind(&task.entity_type)
                .bind(&task.entity_id)
                .bind(ts(support::now_at(now)))
                .fetch_one(&mut *conn)
                .await
                .map_err(store_error)?;
                row.into_task(tenant)
            }

            // ---- reads on a connection -----------------------------------------

            async fn action_by_id(
                conn: &mut Conn,
                tenant: TenantId,
                id: Uuid,
            ) -> Result<Option<KernelAction>, StoreError> {
                let row: Option<ActionRow> = ::sqlx::query_as(concat!(
                    "select ",
                    action_columns!(),
                    " from kernel_actions where tenant_id = $1 and id = $2"
                ))
                .bind(tid(tenant))
                .bind(DbId(id))
                .fetch_optional(&mut *conn)
                .await
                .map_err(store_error)?;
                row.map(|row| row.into_action(tenant)).transpose()
            }

            async fn outbox_by_id(
                conn: &mut Conn,
                tenant: TenantId,
                id: Uuid,
            ) -> Result<Option<OutboxEmail>, StoreError> {
                let row: Option<OutboxRow> = ::sqlx::query_as(concat!(
                    "select ",
                    outbox_columns!(),
                    " from channel_outbox where tenant_id = $1 and id = $2"
                ))
                .bind(tid(tenant))
                .bind(DbId(id))
                .fetch_optional(&mut *conn)
                .await
                .map_err(store_error)?;
                row.map(|row| row.into_email(tenant)).transpose()
            }

            // ---- the store -------------------------------------------------------

            #[::async_trait::async_trait]
            impl EventStore for $store {
                async fn get_event(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<Option<StoredEvent>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<EventRow> = ::sqlx::query_as(concat!(
                        "select ",
                        event_columns!(),
                        " from kernel_events where tenant_id = $1 and id = $2"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(|row| row.into_stored(tenant)).transpose()
                }

                async fn event_by_key(
                    &self,
                    tenant: TenantId,
                    key: &str,
                ) -> Result<Option<StoredEvent>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let event = event_with_key(&mut tx, tenant, key).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(event)
                }

                async fn taken_event_keys(
                    &self,
                    tenant: TenantId,
                    keys: &[String],
                ) -> Result<::std::collections::HashSet<String>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<(String,)> = ::sqlx::query_as(concat!(
                        "select idempotency_key from kernel_events
                         where tenant_id = $1 and idempotency_key ",
                        in_list!("$2")
                    ))
                    .bind(tid(tenant))
                    .bind(text_list(keys)?)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(|(k,)| k).collect())
                }

                async fn list_events(
                    &self,
                    tenant: TenantId,
                    filter: &EventFilter,
                ) -> Result<Vec<KernelEvent>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let dir = sql_direction(filter.order);
                    let sql = format!(
                        "select {} from kernel_events
                         where tenant_id = $1
                           and ($2 is null or created_at >= $2)
                           and ($3 is null or created_at < $3)
                           and ($4 is null or type = $4)
                           and ($5 is null or source = $5)
                           and ($6 is null or (created_at, id) {} ($6, $7))
                           and ($9 is null or correlation_id = $9)
                           and {}
                         order by created_at {dir}, id {dir}
                         limit $8",
                        event_columns!(),
                        keyset_cmp(filter.order),
                        decided_by(10, 11),
                    );
                    let rows: Vec<EventRow> = ::sqlx::query_as(
                        // Built from fixed fragments: the order picks `<`/`>`
                        // and `asc`/`desc`.
                        ::sqlx::AssertSqlSafe(sql),
                    )
                    .bind(tid(tenant))
                    .bind(filter.since.map(ts))
                    .bind(filter.until.map(ts))
                    .bind(&filter.r#type)
                    .bind(&filter.source)
                    .bind(filter.after.map(|(at, _)| ts(at)))
                    .bind(filter.after.map(|(_, id)| DbId(id)))
                    .bind(i64::from(rules::event_page_limit(filter.limit)))
                    .bind(&filter.correlation_id)
                    .bind(filter.outcome.map(|o| o.as_str()))
                    .bind(filter.mode.map(|m| m.as_str()))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    events(rows, tenant)
                }

                async fn count_events(
                    &self,
                    tenant: TenantId,
                    filter: &EventFilter,
                ) -> Result<u64, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let (n,): (i64,) = ::sqlx::query_as(
                        // Built from fixed fragments (the decision filter's
                        // parameter numbers).
                        ::sqlx::AssertSqlSafe(format!(
                            "select count(*) from kernel_events
                             where tenant_id = $1
                               and ($2 is null or created_at >= $2)
                               and ($3 is null or created_at < $3)
                               and ($4 is null or type = $4)
                               and ($5 is null or source = $5)
                               and ($6 is null or correlation_id = $6)
                               and {}",
                            decided_by(7, 8),
                        )),
                    )
                    .bind(tid(tenant))
                    .bind(filter.since.map(ts))
                    .bind(filter.until.map(ts))
                    .bind(&filter.r#type)
                    .bind(&filter.source)
                    .bind(&filter.correlation_id)
                    .bind(filter.outcome.map(|o| o.as_str()))
                    .bind(filter.mode.map(|m| m.as_str()))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(u64::try_from(n).unwrap_or_default())
                }

                async fn events_by_correlation(
                    &self,
                    tenant: TenantId,
                    correlation_id: &str,
                ) -> Result<Vec<KernelEvent>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<EventRow> = ::sqlx::query_as(concat!(
                        "select ",
                        event_columns!(),
                        " from kernel_events where tenant_id = $1 and correlation_id = $2
                         order by created_at, id limit $3"
                    ))
                    .bind(tid(tenant))
                    .bind(correlation_id)
                    .bind(i64::from(MAX_EVENT_PAGE))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    events(rows, tenant)
                }

                async fn decisions_for_events(
                    &self,
                    tenant: TenantId,
                    events: &[Uuid],
                ) -> Result<Vec<KernelDecision>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    if events.is_empty() {
                        return Ok(Vec::new());
                    }
                    let rows: Vec<DecisionRow> = ::sqlx::query_as(concat!(
                        "select ",
                        decision_columns!(),
                        " from kernel_decisions where tenant_id = $1 and event_id ",
                        in_list!("$2"),
                        " order by created_at, id"
                    ))
                    .bind(tid(tenant))
                    .bind(id_list(events)?)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter()
                        .map(|row| row.into_decision(tenant))
                        .collect()
                }

                async fn actions_for_events(
                    &self,
                    tenant: TenantId,
                    events: &[Uuid],
                ) -> Result<Vec<KernelAction>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    if events.is_empty() {
                        return Ok(Vec::new());
                    }
                    let rows: Vec<ActionRow> = ::sqlx::query_as(concat!(
                        "select ",
                        action_columns!(),
                        " from kernel_actions where tenant_id = $1 and event_id ",
                        in_list!("$2"),
                        " order by created_at, id"
                    ))
                    .bind(tid(tenant))
                    .bind(id_list(events)?)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter().map(|row| row.into_action(tenant)).collect()
                }

                async fn jobs_for_actions(
                    &self,
                    tenant: TenantId,
                    actions: &[Uuid],
                ) -> Result<Vec<Job>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    if actions.is_empty() {
                        return Ok(Vec::new());
                    }
                    let jobs = crate::queue::jobs_for_actions(&mut tx, tenant, actions).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(jobs)
                }

                async fn get_action(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<Option<KernelAction>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let action = action_by_id(&mut tx, tenant, id).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(action)
                }

                async fn set_action_status(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                    to: ActionStatus,
                    now: DateTime<Utc>,
                ) -> Result<ActionTransition, StoreError> {
                    let from: Vec<&str> = ActionStatus::ALL
                        .into_iter()
                        .filter(|from| from.can_transition_to(to))
                        .map(ActionStatus::as_str)
                        .collect();
                    let mut tx = self.write_tenant(tenant).await?;
                    // One statement: on SQLite under the write lock; on
                    // PostgreSQL, of two concurrent moves from the same
                    // status, the second waits for the first's row lock, then
                    // re-checks the status of the row as the first left it.
                    let moved: Option<ActionRow> = ::sqlx::query_as(concat!(
                        "update kernel_actions set status = $3, updated_at = $4
                         where tenant_id = $1 and id = $2 and status ",
                        in_list!("$5"),
                        " returning ",
                        action_columns!()
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .bind(to.as_str())
                    .bind(ts(support::now_at(now)))
                    .bind(text_list(&from)?)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let transition = match moved {
                        Some(row) => ActionTransition::Moved(row.into_action(tenant)?),
                        None => match action_by_id(&mut tx, tenant, id).await? {
                            Some(action) => ActionTransition::Refused(action),
                            None => ActionTransition::NotFound,
                        },
                    };
                    tx.commit().await.map_err(store_error)?;
                    Ok(transition)
                }

                async fn outbox_for_action(
                    &self,
                    tenant: TenantId,
                    action: Uuid,
                ) -> Result<Option<OutboxEmail>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<OutboxRow> = ::sqlx::query_as(concat!(
                        "select ",
                        outbox_columns!(),
                        " from channel_outbox where tenant_id = $1 and action_id = $2"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(action))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(|row| row.into_email(tenant)).transpose()
                }

                async fn move_outbox(
                    &self,
                    tenant: TenantId,
                    action: Uuid,
                    to: OutboxStatus,
                    now: DateTime<Utc>,
                ) -> Result<Option<OutboxEmail>, StoreError> {
                    let sources = OutboxStatus::sources_of(to);
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(concat!(
                        "update channel_outbox set
                             status = $3,
                             last_error = case when $3 = 'pending' then null else last_error end,
                             updated_at = $4
                         where tenant_id = $1 and action_id = $2 and status ",
                        in_list!("$5")
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(action))
                    .bind(to.as_str())
                    .bind(ts(support::now_at(now)))
                    .bind(text_list(&sources)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    self.outbox_for_action(tenant, action).await
                }

                async fn outbox_for_actions(
                    &self,
                    tenant: TenantId,
                    actions: &[Uuid],
                ) -> Result<Vec<OutboxEmail>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    if actions.is_empty() {
                        return Ok(Vec::new());
                    }
                    let rows: Vec<OutboxRow> = ::sqlx::query_as(concat!(
                        "select ",
                        outbox_columns!(),
                        " from channel_outbox where tenant_id = $1 and action_id ",
                        in_list!("$2"),
                        " order by created_at, id"
                    ))
                    .bind(tid(tenant))
                    .bind(id_list(actions)?)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter().map(|row| row.into_email(tenant)).collect()
                }

                async fn begin_outbox_send(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                    now: DateTime<Utc>,
                ) -> Result<Option<OutboxEmail>, StoreError> {
                    let now = ts(support::now_at(now));
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "update channel_outbox set status = 'sending', updated_at = $3
                         where tenant_id = $1 and id = $2 and status in ('pending', 'sending')",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let email = outbox_by_id(&mut tx, tenant, id).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(email)
                }

                async fn record_outbox_attempt(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                    result: Result<(), String>,
                    give_up: bool,
                    now: DateTime<Utc>,
                ) -> Result<Option<OutboxEmail>, StoreError> {
                    let now = ts(support::now_at(now));
                    let mut tx = self.write_tenant(tenant).await?;
                    match &result {
                        Ok(()) => ::sqlx::query(
                            "update channel_outbox set
                                 status = 'sent', attempts = attempts + 1, sent_at = $3,
                                 updated_at = $3
                             where tenant_id = $1 and id = $2 and status <> 'sent'",
                        )
                        .bind(tid(tenant))
                        .bind(DbId(id))
                        .bind(&now),
                        Err(error) => ::sqlx::query(
                            "update channel_outbox set
                                 status = case when $5 then 'failed'
                                               when status = 'sending' then 'pending'
                                               else status end,
                                 attempts = attempts + 1, last_error = $4, updated_at = $3
                             where tenant_id = $1 and id = $2 and status <> 'sent'",
                        )
                        .bind(tid(tenant))
                        .bind(DbId(id))
                        .bind(&now)
                        .bind(error)
                        .bind(give_up),
                    }
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let email = outbox_by_id(&mut tx, tenant, id).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(email)
                }

                async fn list_tasks(
                    &self,
                    tenant: TenantId,
                    filter: &TaskFilter,
                ) -> Result<Vec<Task>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let dir = sql_direction(filter.order);
                    let sql = format!(
                        "select {} from tasks
                         where tenant_id = $1
                           and ($2 is null or owner = $2)
                           and ($3 is null or status = $3)
                           and ($5 is null or (created_at, id) {} ($5, $6))
                         order by created_at {dir}, id {dir}
                         limit $4",
                        task_columns!(),
                        keyset_cmp(filter.order),
                    );
                    let rows: Vec<TaskRow> = ::sqlx::query_as(
                        // Built from fixed fragments: the order picks `<`/`>`
                        // and `asc`/`desc`.
                        ::sqlx::AssertSqlSafe(sql),
                    )
                    .bind(tid(tenant))
                    .bind(&filter.owner)
                    .bind(filter.status.map(TaskStatus::as_str))
                    .bind(i64::from(rules::event_page_limit(filter.limit)))
                    .bind(filter.after.map(|(at, _)| ts(at)))
                    .bind(filter.after.map(|(_, id)| DbId(id)))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter().map(|row| row.into_task(tenant)).collect()
                }

                async fn count_tasks(
                    &self,
                    tenant: TenantId,
                    filter: &TaskFilter,
                ) -> Result<u64, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let (n,): (i64,) = ::sqlx::query_as(
                        "select count(*) from tasks
                         where tenant_id = $1
                           and ($2 is null or owner = $2)
                           and ($3 is null or status = $3)",
                    )
                    .bind(tid(tenant))
                    .bind(&filter.owner)
                    .bind(filter.status.map(TaskStatus::as_str))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(u64::try_from(n).unwrap_or_default())
                }

                async fn tasks_for_actions(
                    &self,
                    tenant: TenantId,
                    actions: &[Uuid],
                ) -> Result<Vec<Task>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    if actions.is_empty() {
                        return Ok(Vec::new());
                    }
                    let rows: Vec<TaskRow> = ::sqlx::query_as(concat!(
                        "select ",
                        task_columns!(),
                        " from tasks where tenant_id = $1 and action_id ",
                        in_list!("$2"),
                        " order by created_at, id"
                    ))
                    .bind(tid(tenant))
                    .bind(id_list(actions)?)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter().map(|row| row.into_task(tenant)).collect()
                }

                async fn complete_task(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                    now: DateTime<Utc>,
                ) -> Result<Option<Task>, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    // Done once: a second call keeps the first completion time.
                    let row: Option<TaskRow> = ::sqlx::query_as(concat!(
                        "update tasks set status = 'done', completed_at = coalesce(completed_at, $3)
                         where tenant_id = $1 and id = $2
                         returning ",
                        task_columns!()
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .bind(ts(support::now_at(now)))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(|row| row.into_task(tenant)).transpose()
                }

                async fn tenant_mode(
                    &self,
                    tenant: TenantId,
                ) -> Result<Option<KernelMode>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let mode: Option<String> =
                        ::sqlx::query_scalar("select kernel_mode from tenants where id = $1")
                            .bind(tid(tenant))
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    mode.map(|m| parse_mode(&m)).transpose()
                }

                async fn set_tenant_mode(
                    &self,
                    tenant: TenantId,
                    mode: Option<KernelMode>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query("update tenants set kernel_mode = $2 where id = $1")
                        .bind(tid(tenant))
                        .bind(mode.map(KernelMode::as_str))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn policy_modes(
                    &self,
                    tenant: TenantId,
                ) -> Result<BTreeMap<String, KernelMode>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<(String, String)> = ::sqlx::query_as(
                        "select policy_id, mode from policy_modes where tenant_id = $1
                         order by policy_id",
                    )
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows.into_iter()
                        .map(|(policy, mode)| Ok((policy, parse_mode(&mode)?)))
                        .collect()
                }

                async fn set_policy_mode(
                    &self,
                    tenant: TenantId,
                    policy_id: &str,
                    mode: Option<KernelMode>,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    match mode {
                        Some(mode) => ::sqlx::query(
                            "insert into policy_modes (tenant_id, policy_id, mode, updated_at)
                             values ($1, $2, $3, $4)
                             on conflict (tenant_id, policy_id) do update set
                                 mode = excluded.mode, updated_at = excluded.updated_at",
                        )
                        .bind(tid(tenant))
                        .bind(policy_id)
                        .bind(mode.as_str())
                        .bind(ts(support::now_at(now))),
                        None => ::sqlx::query(
                            "delete from policy_modes where tenant_id = $1 and policy_id = $2",
                        )
                        .bind(tid(tenant))
                        .bind(policy_id),
                    }
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn policy_settings(
                    &self,
                    tenant: TenantId,
                ) -> Result<BTreeMap<String, Value>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<(String, Json<Value>)> = ::sqlx::query_as(
                        "select policy_id, settings from policy_settings where tenant_id = $1
                         order by policy_id",
                    )
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows
                        .into_iter()
                        .map(|(policy, settings)| (policy, settings.0))
                        .collect())
                }

                async fn put_policy_settings(
                    &self,
                    tenant: TenantId,
                    policy_id: &str,
                    settings: Option<&Value>,
                    now: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let settings = settings.map(doc).transpose()?;
                    let mut tx = self.write_tenant(tenant).await?;
                    match settings {
                        Some(settings) => ::sqlx::query(
                            "insert into policy_settings
                                 (tenant_id, policy_id, settings, updated_at)
                             values ($1, $2, $3, $4)
                             on conflict (tenant_id, policy_id) do update set
                                 settings = excluded.settings, updated_at = excluded.updated_at",
                        )
                        .bind(tid(tenant))
                        .bind(policy_id)
                        .bind(settings)
                        .bind(ts(support::now_at(now))),
                        None => ::sqlx::query(
                            "delete from policy_settings where tenant_id = $1 and policy_id = $2",
                        )
                        .bind(tid(tenant))
                        .bind(policy_id),
                    }
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn add_webhook_endpoint(
                    &self,
                    endpoint: &WebhookEndpoint,
                ) -> Result<(), StoreError> {
                    let Some(secret) = &endpoint.secret else {
                        return Err(StoreError::Invalid(
                            "a webhook endpoint needs its signing secret".into(),
                        ));
                    };
                    let tenant = endpoint.tenant_id;
                    let mut tx = self.write_tenant(tenant).await?;
                    // Taken: the name among the tenant's active endpoints (the
                    // unique index), or the id. On PostgreSQL a concurrent
                    // insert of the name waits here.
                    let inserted = ::sqlx::query(
                        "insert into webhook_endpoints
                             (tenant_id, id, name, url, secret, active, created_at)
                         values ($1, $2, $3, $4, $5, $6, $7)
                         on conflict do nothing",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(endpoint.id))
                    .bind(&endpoint.name)
                    .bind(&endpoint.url)
                    .bind(secret)
                    .bind(endpoint.active)
                    .bind(ts(endpoint.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if inserted.rows_affected() == 0 {
                        return Err(StoreError::Conflict {
                            entity: "webhook endpoint",
                            id: endpoint.name.clone(),
                        });
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn list_webhook_endpoints(
                    &self,
                    tenant: TenantId,
                ) -> Result<Vec<WebhookEndpoint>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<EndpointRow> = ::sqlx::query_as(
                        "select id, name, url, cast(null as text) as secret, active, created_at
                         from webhook_endpoints where tenant_id = $1
                         order by name, created_at, id",
                    )
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows
                        .into_iter()
                        .map(|row| row.into_endpoint(tenant))
                        .collect())
                }

                async fn webhook_endpoint(
                    &self,
                    tenant: TenantId,
                    name: &str,
                ) -> Result<Option<WebhookEndpoint>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<EndpointRow> = ::sqlx::query_as(concat!(
                        "select id, name, url, secret, active, created_at
                         from webhook_endpoints where tenant_id = $1 and name = $2 and ",
                        is_set!("active")
                    ))
                    .bind(tid(tenant))
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(|row| row.into_endpoint(tenant)))
                }

                async fn deactivate_webhook_endpoint(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let done = ::sqlx::query(
                        "update webhook_endpoints set active = false
                         where tenant_id = $1 and id = $2",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn idempotency_begin(
                    &self,
                    tenant: TenantId,
                    key: &str,
                    request_hash: &str,
                    now: DateTime<Utc>,
                    stale_after: ::chrono::Duration,
                ) -> Result<IdempotencyBegin, StoreError> {
                    self.begin_idempotency_key(tenant, key, request_hash, now, stale_after)
                        .await
                }

                async fn idempotency_finish(
                    &self,
                    tenant: TenantId,
                    key: &str,
                    status: u16,
                    body: &Value,
                    expires_at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    let body = doc(body)?;
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "update idempotency_keys
                         set status_code = $3, response = $4, expires_at = $5
                         where tenant_id = $1 and key = $2 and status_code is null",
                    )
                    .bind(tid(tenant))
                    .bind(key)
                    .bind(count("status code", u32::from(status))?)
                    .bind(body)
                    .bind(ts(support::now_at(expires_at)))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn idempotency_abandon(
                    &self,
                    tenant: TenantId,
                    key: &str,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(
                        "delete from idempotency_keys
                         where tenant_id = $1 and key = $2 and status_code is null",
                    )
                    .bind(tid(tenant))
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn purge_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
                    self.purge_expired_keys(now).await
                }
            }

            // ---- what an ingest reads first --------------------------------------

            impl $store {
                /// [`revos_store::Store::ingest_context`] in one read
                /// transaction.
                pub(crate) async fn read_ingest_context(
                    &self,
                    tenant: TenantId,
                    key: &str,
                ) -> Result<IngestContext, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let (tenant_name, mode): (String, Option<String>) =
                        ::sqlx::query_as("select name, kernel_mode from tenants where id = $1")
                            .bind(tid(tenant))
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    let existing = event_with_key(&mut tx, tenant, key).await?;
                    let modes: Vec<(String, String)> = ::sqlx::query_as(
                        "select policy_id, mode from policy_modes where tenant_id = $1",
                    )
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let settings: Vec<(String, Json<Value>)> = ::sqlx::query_as(
                        "select policy_id, settings from policy_settings where tenant_id = $1",
                    )
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let endpoints: Vec<String> = ::sqlx::query_scalar(
                        "select name from webhook_endpoints where tenant_id = $1 and active
                         order by name",
                    )
                    .bind(tid(tenant))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let queues: Option<Json<Value>> = ::sqlx::query_scalar(
                        "select settings from tenant_queue_settings where tenant_id = $1",
                    )
                    .bind(tid(tenant))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    let queue_overrides = match queues {
                        None => ::serde_json::Map::new(),
                        Some(Json(Value::Object(map))) => map,
                        Some(Json(other)) => {
                            return Err(corrupt("tenant queue settings", &other.to_string()));
                        }
                    };
                    Ok(IngestContext {
                        tenant_name,
                        existing,
                        tenant_mode: mode.map(|m| parse_mode(&m)).transpose()?,
                        policy_modes: modes
                            .into_iter()
                            .map(|(policy, mode)| Ok((policy, parse_mode(&mode)?)))
                            .collect::<Result<_, StoreError>>()?,
                        settings: settings.into_iter().map(|(p, s)| (p, s.0)).collect(),
                        endpoints,
                        queue_overrides,
                    })
                }
            }
        }

        pub(crate) use shared::{
            event_with_key, insert_actions, insert_decisions, insert_event, insert_outbox,
            insert_task,
        };
    };
}
