//! The tenant transaction's shared part: [`revos_store::queue::TenantTx`]
//! for both backends.
//!
//! [`tenant_tx_statements!`](crate::tenant_tx_statements) expands in a
//! backend's `queue.rs` to the `TenantTx` implementation of its tenant
//! transaction type, a struct with the fields `tenant` and `tx`. The writes
//! of an ingest go to `crate::events` and `crate::audit::append_entry`;
//! enqueueing (PostgreSQL claims a fair place with one set-based statement,
//! SQLite writes job by job under its write lock) and the commit (which
//! wakes workers: `NOTIFY` on PostgreSQL, in-process wake-ups on SQLite)
//! stay in the backend as the type's `enqueue_job`, `enqueue_jobs` and
//! `finish`.

/// Expands to the `TenantTx` implementation for the tenant transaction type
/// `$tx` (see the [module](crate::statements::queue)).
#[macro_export]
// `crate` is meant: it names the backend crate the macro expands in, whose
// `dialect` module holds its encodings.
#[allow(clippy::crate_in_macro_def)]
macro_rules! tenant_tx_statements {
    ($tx:ty) => {
        #[::async_trait::async_trait]
        impl ::revos_store::queue::TenantTx for $tx {
            fn tenant(&self) -> ::revos_contracts::TenantId {
                self.tenant
            }

            async fn enqueue(
                &mut self,
                job: &::revos_store::queue::NewJob,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> Result<::revos_store::queue::EnqueueOutcome, ::revos_store::StoreError> {
                self.enqueue_job(job, now).await
            }

            async fn enqueue_many(
                &mut self,
                jobs: &[::revos_store::queue::NewJob],
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> Result<Vec<::revos_store::queue::EnqueueOutcome>, ::revos_store::StoreError> {
                self.enqueue_jobs(jobs, now).await
            }

            async fn insert_event(
                &mut self,
                event: &::revos_contracts::runtime::KernelEvent,
                body_hash: &str,
            ) -> Result<::revos_store::events::EventInsert, ::revos_store::StoreError> {
                crate::events::insert_event(&mut self.tx, self.tenant, event, body_hash).await
            }

            async fn insert_decisions(
                &mut self,
                decisions: &[::revos_contracts::runtime::KernelDecision],
            ) -> Result<(), ::revos_store::StoreError> {
                crate::events::insert_decisions(&mut self.tx, self.tenant, decisions).await
            }

            async fn insert_actions(
                &mut self,
                actions: &[::revos_contracts::runtime::KernelAction],
            ) -> Result<(), ::revos_store::StoreError> {
                crate::events::insert_actions(&mut self.tx, self.tenant, actions).await
            }

            async fn insert_outbox(
                &mut self,
                email: &::revos_store::events::OutboxEmail,
            ) -> Result<(), ::revos_store::StoreError> {
                crate::events::insert_outbox(&mut self.tx, self.tenant, email).await
            }

            async fn insert_task(
                &mut self,
                task: &::revos_store::events::NewTask,
                now: ::chrono::DateTime<::chrono::Utc>,
            ) -> Result<::revos_store::events::Task, ::revos_store::StoreError> {
                crate::events::insert_task(&mut self.tx, self.tenant, task, now).await
            }

            /// One insert into `audit_pending`, no lock: the sequencer
            /// chains it after the commit.
            async fn append_audit(
                &mut self,
                entry: ::revos_store::audit::NewAuditEntry,
            ) -> Result<(), ::revos_store::StoreError> {
                crate::audit::append_entry(&mut self.tx, self.tenant, entry).await
            }

            async fn commit(self: Box<Self>) -> Result<(), ::revos_store::StoreError> {
                self.finish().await
            }

            async fn rollback(self: Box<Self>) -> Result<(), ::revos_store::StoreError> {
                self.tx
                    .rollback()
                    .await
                    .map_err(crate::dialect::store_error)
            }
        }
    };
}
