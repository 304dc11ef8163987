//! The tickets' statements: [`revos_store::tickets::TicketStore`], written
//! once for both backends.
//!
//! [`ticket_statements!`](crate::ticket_statements) expands in a backend's
//! `tickets.rs` to the `TicketStore` implementation. A ticket is written
//! with a conditional `update … where version = $n`: of two writers that
//! read the same version, one changes the row and the other none. A
//! message is inserted with `on conflict do nothing` on its `Message-ID`,
//! so a repeated e-mail changes nothing.

/// Expands to the `TicketStore` implementation for the store type `$store`
/// (see the [module](crate::statements::tickets)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! ticket_statements {
    ($store:ty) => {
        /// The ticket statements both backends share, expanded from
        /// `revos_store_sql::ticket_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{
                Conn, doc, in_list, is_unique_violation, store_error, text_list, tid, ts,
            };
            use ::revos_contracts::TenantId;
            use ::revos_store::StoreError;
            use ::revos_store::tickets::{
                TicketFilter, TicketMessageRecord, TicketRecord, TicketStore, WAITING_ON_US,
            };
            use $crate::DbId;
            use $crate::tickets::{TicketMessageRow, TicketRow};
            use ::uuid::Uuid;

            fn conflict(what: &'static str, id: &str) -> impl Fn(::sqlx::Error) -> StoreError {
                let id = id.to_owned();
                move |e| {
                    if is_unique_violation(&e) {
                        StoreError::Conflict {
                            entity: what,
                            id: id.clone(),
                        }
                    } else {
                        store_error(e)
                    }
                }
            }

            async fn insert_message(
                conn: &mut Conn,
                tenant: TenantId,
                m: &TicketMessageRecord,
            ) -> Result<bool, StoreError> {
                let done = ::sqlx::query(
                    "insert into ticket_messages (tenant_id, id, ticket_id, direction, channel,
                         message_id, author, subject, body, attachments, created_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     on conflict (tenant_id, message_id) do nothing",
                )
                .bind(tid(tenant))
                .bind(DbId(m.id))
                .bind(DbId(m.ticket_id))
                .bind(&m.direction)
                .bind(&m.channel)
                .bind(&m.message_id)
                .bind(&m.author)
                .bind(&m.subject)
                .bind(&m.body)
                .bind(doc(&m.attachments)?)
                .bind(ts(m.created_at))
                .execute(&mut *conn)
                .await
                .map_err(conflict("ticket message", &m.id.to_string()))?;
                Ok(done.rows_affected() > 0)
            }

            async fn write_ticket(
                conn: &mut Conn,
                tenant: TenantId,
                t: &TicketRecord,
            ) -> Result<bool, StoreError> {
                let done = ::sqlx::query(
                    "update tickets set status = $3, priority = $4, category = $5,
                         risk_score = $6, risk_level = $7, risk_factors = $8,
                         last_agent = $9, last_agent_at = $10, last_human = $11,
                         last_human_at = $12, sla_due_at = $13, body = $14,
                         updated_at = $15, version = version + 1
                     where tenant_id = $1 and id = $2 and version = $16",
                )
                .bind(tid(tenant))
                .bind(DbId(t.id))
                .bind(&t.status)
                .bind(&t.priority)
                .bind(&t.category)
                .bind(i64::from(t.risk_score))
                .bind(&t.risk_level)
                .bind(doc(&t.risk_factors)?)
                .bind(t.last_agent.as_deref())
                .bind(t.last_agent_at.map(ts))
                .bind(t.last_human.as_deref())
                .bind(t.last_human_at.map(ts))
                .bind(t.sla_due_at.map(ts))
                .bind(doc(&t.body)?)
                .bind(ts(t.updated_at))
                .bind(t.version)
                .execute(&mut *conn)
                .await
                .map_err(store_error)?;
                Ok(done.rows_affected() > 0)
            }

            fn records(rows: Vec<TicketRow>) -> Result<Vec<TicketRecord>, StoreError> {
                rows.into_iter().map(TicketRecord::try_from).collect()
            }

            #[::async_trait::async_trait]
            impl TicketStore for $store {
                async fn insert_ticket(
                    &self,
                    tenant: TenantId,
                    ticket: &TicketRecord,
                    first: &TicketMessageRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let t = ticket;
                    ::sqlx::query(
                        "insert into tickets (tenant_id, id, reference, status, priority,
                             category, subject, customer_email, risk_score, risk_level,
                             risk_factors, last_agent, last_agent_at, last_human,
                             last_human_at, sla_due_at, body, version, created_at, updated_at)
                         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                             $15, $16, $17, $18, $19, $20)",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(t.id))
                    .bind(&t.reference)
                    .bind(&t.status)
                    .bind(&t.priority)
                    .bind(&t.category)
                    .bind(&t.subject)
                    .bind(&t.customer_email)
                    .bind(i64::from(t.risk_score))
                    .bind(&t.risk_level)
                    .bind(doc(&t.risk_factors)?)
                    .bind(t.last_agent.as_deref())
                    .bind(t.last_agent_at.map(ts))
                    .bind(t.last_human.as_deref())
                    .bind(t.last_human_at.map(ts))
                    .bind(t.sla_due_at.map(ts))
                    .bind(doc(&t.body)?)
                    .bind(t.version)
                    .bind(ts(t.created_at))
                    .bind(ts(t.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict("ticket", &t.reference))?;
                    if !insert_message(&mut tx, tenant, first).await? {
                        return Err(StoreError::Conflict {
                            entity: "ticket message",
                            id: first.message_id.clone(),
                        });
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn add_ticket_message(
                    &self,
                    tenant: TenantId,
                    ticket: &TicketRecord,
                    message: &TicketMessageRecord,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    if !insert_message(&mut tx, tenant, message).await? {
                        return Ok(false);
                    }
                    if !write_ticket(&mut tx, tenant, ticket).await? {
                        return Err(StoreError::Conflict {
                            entity: "ticket",
                            id: ticket.id.to_string(),
                        });
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn update_ticket(
                    &self,
                    tenant: TenantId,
                    ticket: &TicketRecord,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let done = write_ticket(&mut tx, tenant, ticket).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done)
                }

                async fn ticket(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<Option<TicketRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<TicketRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::ticket_columns!(),
                        " from tickets where tenant_id = $1 and id = $2"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(TicketRecord::try_from).transpose()
                }

                async fn ticket_by_reference(
                    &self,
                    tenant: TenantId,
                    reference: &str,
                ) -> Result<Option<TicketRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<TicketRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::ticket_columns!(),
                        " from tickets where tenant_id = $1 and reference = $2"
                    ))
                    .bind(tid(tenant))
                    .bind(reference)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    row.map(TicketRecord::try_from).transpose()
                }

                async fn ticket_message_by_ids(
                    &self,
                    tenant: TenantId,
                    ids: &[String],
                ) -> Result<Option<TicketMessageRecord>, StoreError> {
                    if ids.is_empty() {
                        return Ok(None);
                    }
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<TicketMessageRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::ticket_message_columns!(),
                        " from ticket_messages where tenant_id = $1 and message_id ",
                        in_list!("$2"),
                        " order by created_at desc, id desc limit 1"
                    ))
                    .bind(tid(tenant))
                    .bind(text_list(ids)?)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(TicketMessageRecord::from))
                }

                async fn ticket_messages(
                    &self,
                    tenant: TenantId,
                    ticket: Uuid,
                ) -> Result<Vec<TicketMessageRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let rows: Vec<TicketMessageRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::ticket_message_columns!(),
                        " from ticket_messages where tenant_id = $1 and ticket_id = $2
                          order by created_at, id"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(ticket))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(TicketMessageRecord::from).collect())
                }

                async fn list_tickets(
                    &self,
                    tenant: TenantId,
                    filter: &TicketFilter,
                ) -> Result<Vec<TicketRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let (after_at, after_id) = match filter.after {
                        Some((at, id)) => (Some(ts(at)), Some(DbId(id))),
                        None => (None, None),
                    };
                    let rows: Vec<TicketRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::ticket_columns!(),
                        " from tickets where tenant_id = $1
                           and ($2 is null or status = $2)
                           and ($3 is null or risk_level = $3)
                           and ($4 is null or (sla_due_at < $4 and status ",
                        in_list!("$8"),
                        "))
                           and ($5 is null or created_at < $5
                                or (created_at = $5 and id < $6))
                         order by created_at desc, id desc
                         limit $7"
                    ))
                    .bind(tid(tenant))
                    .bind(filter.status.as_deref())
                    .bind(filter.risk.as_deref())
                    .bind(filter.overdue_at.map(ts))
                    .bind(after_at)
                    .bind(after_id)
                    .bind(i64::from(filter.limit))
                    .bind(text_list(&WAITING_ON_US)?)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    records(rows)
                }
            }
        }
    };
}
