//! The audit log's use cases: recording an event, verifying a tenant's
//! chain, signing a checkpoint over its head, and the background sequencer
//! that chains the entries writers record unsequenced.
//!
//! The API and the CLI call these free functions with the kernel's store
//! (`revos audit verify`, `GET /v1/audit`, the handlers that record what
//! they did). The chain rules live in the pure `revos-audit` crate
//! (re-exported as `revos_store::audit::revos_audit`); the keys come from
//! the configuration and are passed in, as is the time. `revos serve` and
//! `revos worker` run [`run_sequencer`] beside their other loops.

use crate::Failure;
use chrono::{DateTime, Utc};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_store::Store;
use revos_store::StoreError;
use revos_store::audit::revos_audit::{self, SigningKey, Verifier, VerifyReport, VerifyingKey};
use revos_store::audit::{AuditEntry, Checkpoint, MAX_AUDIT_PAGE, NewAuditEntry};

/// Entries read per page while verifying a chain.
const VERIFY_PAGE: u32 = MAX_AUDIT_PAGE;

/// How long the background sequencer waits between two passes over the
/// tenants with pending entries.
pub const SEQUENCE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// One pass of the sequencer: sequences the backlog of every tenant that
/// has pending entries. Returns how many entries it chained. A tenant that
/// fails is logged and skipped, so one cannot hold up the others.
async fn sequence_pending(store: &dyn Store) -> Result<u64, Failure> {
    let mut total = 0;
    for tenant in store.pending_audit_tenants().await? {
        match store.sequence_audit_backlog(tenant).await {
            Ok(n) => total += n,
            // Deleted since it was listed: nothing left to chain.
            Err(StoreError::TenantNotFound(_)) => {}
            Err(err) => {
                tracing::error!(%tenant, error = %err, "could not sequence audit entries");
            }
        }
    }
    Ok(total)
}

/// Runs the sequencer until `shutdown` resolves: a pass every `interval`
/// (sequencers of one tenant queue on the store's chain lock, so several
/// processes may run one), then a last pass so that what was committed
/// before the stop is chained.
pub async fn run_sequencer(
    store: std::sync::Arc<dyn Store>,
    interval: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(interval) => {}
        }
        if let Err(err) = sequence_pending(store.as_ref()).await {
            tracing::error!(error = %err.body, "the audit sequencer could not list pending tenants");
        }
    }
    if let Err(err) = sequence_pending(store.as_ref()).await {
        tracing::error!(error = %err.body, "the audit sequencer could not list pending tenants");
    }
}

/// How many of the tenant's entries are committed but not yet sequenced:
/// what `revos audit verify` reports beside its verdict.
pub async fn backlog(store: &dyn Store, tenant: TenantId) -> Result<u64, Failure> {
    Ok(store.audit_backlog(tenant).await?)
}

/// Verifies the tenant's whole chain, streamed in pages of
/// [`VERIFY_PAGE`] entries, and, given the checkpoint key, its signed
/// checkpoints.
///
/// It covers the sequenced entries: each page's read first sequences the
/// tenant's committed backlog, and entries committed during the walk are
/// left for [`backlog`] to count.
///
/// Without a key only the hash chain is checked: that catches any change
/// not followed by re-hashing the rest of the chain, but neither a
/// re-hashed rewrite nor a cut-off tail, which only checkpoints reveal.
/// The checkpoints are read before the chain, so one signed while the
/// verification runs is not mistaken for a truncation.
pub async fn verify_tenant(
    store: &dyn Store,
    tenant: TenantId,
    key: Option<&VerifyingKey>,
) -> Result<VerifyReport, Failure> {
    let mut verifier = match key {
        Some(key) => Verifier::new(&store.checkpoints(tenant).await?, key),
        None => Verifier::chain_only(),
    }
    .expect_tenant(tenant);
    let mut after_seq = 0;
    loop {
        let page = store.audit_chain(tenant, after_seq, VERIFY_PAGE).await?;
        for entry in &page {
            if !verifier.push(entry) {
                return Ok(verifier.finish());
            }
        }
        match page.last() {
            Some(last) if page.len() >= VERIFY_PAGE as usize => after_seq = last.seq,
            _ => break,
        }
    }
    Ok(verifier.finish())
}

/// Signs the tenant's current head and stores the checkpoint.
///
/// `None` when there is nothing new to sign: the chain is empty, or its
/// head is checkpointed already (by this call's predecessor or by a
/// concurrent one). The head is signed as stored; run [`verify_tenant`]
/// first to avoid blessing a chain that was tampered with.
async fn checkpoint(
    store: &dyn Store,
    tenant: TenantId,
    signing_key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<Option<Checkpoint>, Failure> {
    let Some(head) = store.audit_head(tenant).await? else {
        return Ok(None);
    };
    let existing = store.checkpoints(tenant).await?;
    if existing.last().is_some_and(|cp| cp.seq >= head.seq) {
        return Ok(None);
    }
    let cp = revos_audit::sign_checkpoint(signing_key, &head, now);
    match store.add_checkpoint(&cp).await {
        Ok(()) => Ok(Some(cp)),
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The kernel's side of the audit log: recording what it did, and reading
/// and verifying chains on behalf of a caller.
impl crate::Kernel {
    /// Appends one event to `tenant`'s chain (the platform chain for
    /// [`TenantId::PLATFORM`]).
    ///
    /// Called after the change it describes has been committed, so a
    /// failure here cannot undo it: it is logged as an error rather than
    /// answered to the client, and `revos audit verify` still vouches for
    /// every entry that was written.
    pub(crate) async fn audit(
        &self,
        tenant: TenantId,
        actor: &str,
        action: &str,
        resource: Option<(&str, &str)>,
        details: serde_json::Value,
    ) {
        let entry = NewAuditEntry {
            occurred_at: Utc::now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            resource_type: resource.map(|(kind, _)| kind.to_owned()),
            resource_id: resource.map(|(_, id)| id.to_owned()),
            details,
        };
        if let Err(err) = self.store.append_audit(tenant, entry).await {
            tracing::error!(%tenant, action, error = %err, "could not append to the audit log");
        }
    }

    /// A page of audit entries of a tenant (or, for a platform admin asking
    /// for no tenant, of the platform chain), newest first unless the
    /// filter says otherwise. Needs the `admin` scope.
    pub async fn audit_entries(
        &self,
        by: &crate::identity::auth::Principal,
        tenant: Option<TenantId>,
        filter: &revos_store::audit::AuditFilter,
    ) -> Result<revos_store::listing::Listed<AuditEntry>, Failure> {
        let tenant = Self::audit_scope(by, tenant)?;
        Ok(self.store.page_audit(tenant, filter).await?)
    }

    /// How many entries [`Kernel::audit_entries`] would page through.
    pub async fn audit_count(
        &self,
        by: &crate::identity::auth::Principal,
        tenant: Option<TenantId>,
        filter: &revos_store::audit::AuditFilter,
    ) -> Result<u64, Failure> {
        let tenant = Self::audit_scope(by, tenant)?;
        Ok(self.store.count_audit(tenant, filter).await?)
    }

    /// The chain a caller reads: the tenant asked for (or the caller's
    /// own), else the platform chain for a platform admin.
    fn audit_scope(
        by: &crate::identity::auth::Principal,
        tenant: Option<TenantId>,
    ) -> Result<TenantId, Failure> {
        use revos_store::identity::Scope;
        Ok(match (tenant.or(by.tenant()), by.tenant()) {
            (Some(t), _) => {
                by.authorize_tenant(t, Scope::Admin)?;
                t
            }
            (None, _) => {
                by.authorize_platform(Scope::Admin)?;
                TenantId::PLATFORM
            }
        })
    }

    /// Every tenant whose chain `revos audit` looks at: the platform, then
    /// each tenant, oldest first.
    async fn audit_tenants(&self) -> Result<Vec<TenantId>, Failure> {
        let mut all = vec![TenantId::PLATFORM];
        let mut offset = 0;
        loop {
            let page = self
                .store
                .list_tenants(revos_store::Page::new(revos_store::MAX_PAGE, offset))
                .await?;
            let full = page.len() == revos_store::MAX_PAGE as usize;
            all.extend(page.into_iter().map(|t| t.id));
            if !full {
                break;
            }
            offset += revos_store::MAX_PAGE;
        }
        Ok(all)
    }

    /// The configured checkpoint signing key, if any.
    pub fn audit_signing_key(&self) -> Result<Option<SigningKey>, Failure> {
        match &self.config.audit_signing_key {
            None => Ok(None),
            Some(text) => revos_audit::signing_key_from_text(text)
                .map(Some)
                .map_err(|e| {
                    Failure::of(
                        ErrorKind::Configuration,
                        format!("audit_signing_key is not a usable Ed25519 key: {e}"),
                    )
                }),
        }
    }

    /// Verifies one tenant's chain, or every chain; with a configured key
    /// the signed checkpoints are checked too. Each verdict comes with the
    /// tenant's unsequenced backlog, counted after the walk.
    pub async fn verify_audit(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<(TenantId, VerifyReport, u64)>, Failure> {
        let key = self.audit_signing_key()?.map(|k| k.verifying_key());
        let tenants = match tenant {
            Some(t) => {
                if self.store.get_tenant(t).await?.is_none() {
                    return Err(Failure::tenant_not_found(t));
                }
                vec![t]
            }
            None => self.audit_tenants().await?,
        };
        let mut reports = Vec::with_capacity(tenants.len());
        for t in tenants {
            let report = verify_tenant(self.store.as_ref(), t, key.as_ref()).await?;
            reports.push((t, report, backlog(self.store.as_ref(), t).await?));
        }
        Ok(reports)
    }

    /// Signs the head of every chain that has new entries. `None` without
    /// a configured key.
    pub async fn checkpoint_audit(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Checkpoint>>, Failure> {
        let Some(key) = self.audit_signing_key()? else {
            return Ok(None);
        };
        let mut signed = Vec::new();
        for t in self.audit_tenants().await? {
            if let Some(cp) = checkpoint(self.store.as_ref(), t, &key, now).await? {
                signed.push(cp);
            }
        }
        Ok(Some(signed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revos_store::NewTenant;
    use revos_store::queue::QueueStore;
    use revos_store_sqlite::SqliteStore;
    use serde_json::json;

    async fn store_with_tenant() -> (SqliteStore, TenantId) {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let tenant = store
            .create_tenant(NewTenant {
                id: None,
                name: "Audited".into(),
            })
            .await
            .unwrap()
            .id;
        (store, tenant)
    }

    /// Appends `entry` to the tenant's chain, as [`Kernel::audit`] does
    /// (which logs a failure instead of answering it).
    ///
    /// [`Kernel::audit`]: crate::Kernel::audit
    async fn record(
        store: &dyn Store,
        tenant: TenantId,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, Failure> {
        Ok(store.append_audit(tenant, entry).await?)
    }

    fn event(i: u64) -> NewAuditEntry {
        NewAuditEntry {
            occurred_at: DateTime::UNIX_EPOCH + chrono::Duration::seconds(i as i64),
            actor: "system".into(),
            action: "test.event".into(),
            resource_type: None,
            resource_id: None,
            details: json!({ "i": i }),
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    #[tokio::test]
    async fn record_checkpoint_and_verify() {
        let (store, tenant) = store_with_tenant().await;
        assert_eq!(
            checkpoint(&store, tenant, &key(), DateTime::UNIX_EPOCH)
                .await
                .unwrap(),
            None,
            "nothing to sign in an empty chain"
        );
        for i in 1..=3 {
            let entry = record(&store, tenant, event(i)).await.unwrap();
            assert_eq!(entry.seq, i);
        }
        let cp = checkpoint(&store, tenant, &key(), DateTime::UNIX_EPOCH)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cp.seq, 3);
        assert_eq!(
            checkpoint(&store, tenant, &key(), DateTime::UNIX_EPOCH)
                .await
                .unwrap(),
            None,
            "the head is signed already"
        );
        record(&store, tenant, event(4)).await.unwrap();
        let verifying = key().verifying_key();
        assert_eq!(
            verify_tenant(&store, tenant, Some(&verifying))
                .await
                .unwrap(),
            VerifyReport::Ok {
                entries: 4,
                last_seq: 4,
                checkpoints_checked: 1
            }
        );
        assert_eq!(
            verify_tenant(&store, tenant, None).await.unwrap(),
            VerifyReport::Ok {
                entries: 4,
                last_seq: 4,
                checkpoints_checked: 0
            }
        );
        // Another key does not verify the checkpoint.
        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert!(
            !verify_tenant(&store, tenant, Some(&other))
                .await
                .unwrap()
                .is_ok()
        );
    }

    #[tokio::test]
    async fn verification_streams_across_pages() {
        let (store, tenant) = store_with_tenant().await;
        let total = u64::from(VERIFY_PAGE) + 3;
        for i in 1..=total {
            record(&store, tenant, event(i)).await.unwrap();
        }
        assert_eq!(
            verify_tenant(&store, tenant, None).await.unwrap(),
            VerifyReport::Ok {
                entries: total,
                last_seq: total,
                checkpoints_checked: 0
            }
        );
    }

    #[tokio::test]
    async fn the_sequencer_chains_what_transactions_recorded() {
        let (store, tenant) = store_with_tenant().await;
        for i in 1..=3 {
            let mut tx = store.begin(tenant).await.unwrap();
            tx.append_audit(event(i)).await.unwrap();
            tx.commit().await.unwrap();
        }
        assert_eq!(backlog(&store, tenant).await.unwrap(), 3);
        assert_eq!(sequence_pending(&store).await.unwrap(), 3);
        assert_eq!(backlog(&store, tenant).await.unwrap(), 0);
        assert_eq!(sequence_pending(&store).await.unwrap(), 0);

        // The background loop: a last pass on shutdown chains the rest.
        let mut tx = store.begin(tenant).await.unwrap();
        tx.append_audit(event(4)).await.unwrap();
        tx.commit().await.unwrap();
        let shared: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
        run_sequencer(
            shared.clone(),
            std::time::Duration::from_secs(3600),
            std::future::ready(()),
        )
        .await;
        assert_eq!(backlog(shared.as_ref(), tenant).await.unwrap(), 0);
        assert_eq!(
            verify_tenant(shared.as_ref(), tenant, None).await.unwrap(),
            VerifyReport::Ok {
                entries: 4,
                last_seq: 4,
                checkpoints_checked: 0
            }
        );
    }

    #[tokio::test]
    async fn a_missing_tenant_is_not_found() {
        let (store, _) = store_with_tenant().await;
        let missing = TenantId::new_random();
        let failure = verify_tenant(&store, missing, None).await.unwrap_err();
        assert_eq!(failure.status, 404);
        let failure = record(&store, missing, event(1)).await.unwrap_err();
        assert_eq!(failure.status, 404);
        let failure = checkpoint(&store, missing, &key(), DateTime::UNIX_EPOCH)
            .await
            .unwrap_err();
        assert_eq!(failure.status, 404);
    }
}
