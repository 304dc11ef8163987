//! Failed authentication and rejected webhook deliveries, audited at a
//! bounded rate.
//!
//! Anyone on the network can send a request that fails authentication. If
//! each failure appended to an audit chain, an outsider could grow a
//! tenant's chain (or the platform's) as fast as the server answers. So a
//! failure is audited through a window per (chain, action, peer address):
//! the first failure in a window is written at once, the rest of the
//! window is counted and written as one summary entry (`count`,
//! `window_start`, `window_end`) when the window is over. A peer therefore
//! adds at most two entries per window to a chain, whatever it sends, and
//! the per-peer request budget in front of this bounds the work.
//!
//! Entries are written by a background task, so a request that fails pays
//! only for an in-memory update: a rejection for a tenant that exists
//! costs the caller the same time as one for a tenant that does not
//! (whose entry the store refuses, quietly). [`Kernel::settle_rejections`]
//! writes the open windows' counts and waits for the writer, for shutdown
//! and for tests.

use crate::Kernel;
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use revos_store::StoreError;
use revos_store::audit::NewAuditEntry;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// How long one aggregation window lasts.
const WINDOW: Duration = Duration::seconds(60);
/// The most (chain, action, peer) windows held at once; past it, new
/// peers of a chain share one window (`peer: "*"`), so memory stays
/// bounded too.
const MAX_WINDOWS: usize = 10_000;

/// A refused request worth an audit entry.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The chain it belongs to: the tenant whose credential or webhook was
    /// tried, or [`TenantId::PLATFORM`].
    pub chain: TenantId,
    /// `auth.failure` or `webhook.reject`.
    pub action: &'static str,
    /// The actor recorded (`anonymous`, `webhook:stripe`).
    pub actor: String,
    /// The resource named, such as the API key id tried.
    pub resource: Option<(String, String)>,
    /// The TCP peer (never a client-supplied header).
    pub peer: Option<IpAddr>,
    /// What was refused and why.
    pub details: Value,
}

type WindowKey = (TenantId, &'static str, String);

struct Window {
    started: DateTime<Utc>,
    suppressed: u64,
    last: Rejection,
}

enum Write {
    Entry(TenantId, NewAuditEntry),
    Flush(oneshot::Sender<()>),
}

/// The windows and the writer behind [`Kernel::note_rejection`].
#[derive(Default)]
pub(crate) struct RejectionLog {
    windows: Mutex<HashMap<WindowKey, Window>>,
    writer: OnceLock<mpsc::UnboundedSender<Write>>,
}

fn peer_text(peer: Option<IpAddr>) -> String {
    peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

fn entry(rejection: &Rejection, at: DateTime<Utc>, extra: Option<Value>) -> NewAuditEntry {
    let mut details = match &rejection.details {
        Value::Object(map) => map.clone(),
        other => {
            let mut map = serde_json::Map::new();
            map.insert("detail".to_owned(), other.clone());
            map
        }
    };
    details.insert("peer".to_owned(), json!(peer_text(rejection.peer)));
    if let Some(Value::Object(more)) = extra {
        details.extend(more);
    }
    NewAuditEntry {
        occurred_at: at,
        actor: rejection.actor.clone(),
        action: rejection.action.to_owned(),
        resource_type: rejection.resource.as_ref().map(|(kind, _)| kind.clone()),
        resource_id: rejection.resource.as_ref().map(|(_, id)| id.clone()),
        details: Value::Object(details),
    }
}

fn summary(key: &WindowKey, window: &Window, end: DateTime<Utc>) -> (TenantId, NewAuditEntry) {
    let extra = json!({
        "aggregated": true,
        "count": window.suppressed,
        "window_start": window.started,
        "window_end": end,
        "peer": key.2,
    });
    (key.0, entry(&window.last, end, Some(extra)))
}

impl RejectionLog {
    /// Takes one rejection at `now`: what to write now (the first of a
    /// window, and the summary of the window it ends).
    fn take(&self, rejection: Rejection, now: DateTime<Utc>) -> Vec<(TenantId, NewAuditEntry)> {
        let mut out = Vec::new();
        let Ok(mut windows) = self.windows.lock() else {
            return out;
        };
        let mut key: WindowKey = (rejection.chain, rejection.action, peer_text(rejection.peer));
        if !windows.contains_key(&key) && windows.len() >= MAX_WINDOWS {
            out.extend(sweep(&mut windows, now, false));
            if windows.len() >= MAX_WINDOWS {
                key.2 = "*".to_owned();
            }
        }
        match windows.get_mut(&key) {
            Some(window) if now < window.started + WINDOW => {
                window.suppressed += 1;
                window.last = rejection;
            }
            Some(window) => {
                if window.suppressed > 0 {
                    out.push(summary(&key, window, window.started + WINDOW));
                }
                out.push((key.0, entry(&rejection, now, None)));
                *window = Window {
                    started: now,
                    suppressed: 0,
                    last: rejection,
                };
            }
            None => {
                out.push((key.0, entry(&rejection, now, None)));
                windows.insert(
                    key,
                    Window {
                        started: now,
                        suppressed: 0,
                        last: rejection,
                    },
                );
            }
        }
        out
    }
}

/// Removes the windows that are over (all of them with `all`), answering
/// the summaries of those that counted more than their first rejection.
fn sweep(
    windows: &mut HashMap<WindowKey, Window>,
    now: DateTime<Utc>,
    all: bool,
) -> Vec<(TenantId, NewAuditEntry)> {
    let mut out = Vec::new();
    windows.retain(|key, window| {
        let over = now >= window.started + WINDOW;
        if over || all {
            if window.suppressed > 0 {
                out.push(summary(key, window, now.min(window.started + WINDOW)));
            }
            false
        } else {
            true
        }
    });
    out
}

impl Kernel {
    /// Audits a refused request at a bounded rate (see the module docs).
    /// Cheap: the entry, if any, is written in the background.
    pub fn note_rejection(&self, rejection: Rejection, now: DateTime<Utc>) {
        tracing::info!(
            action = rejection.action,
            chain = %rejection.chain,
            peer = %peer_text(rejection.peer),
            details = %rejection.details,
            "request refused"
        );
        let writes = self.rejections.take(rejection, now);
        self.send_rejection_writes(writes);
    }

    /// Writes the summaries of windows that are over (with `all`, of every
    /// open window) and waits until everything noted so far is written.
    /// `serve` calls it every minute and at shutdown.
    pub async fn settle_rejections(&self, now: DateTime<Utc>, all: bool) {
        let writes = match self.rejections.windows.lock() {
            Ok(mut windows) => sweep(&mut windows, now, all),
            Err(_) => Vec::new(),
        };
        self.send_rejection_writes(writes);
        let Some(writer) = self.rejections.writer.get() else {
            return;
        };
        let (done, finished) = oneshot::channel();
        if writer.send(Write::Flush(done)).is_ok() {
            let _ = finished.await;
        }
    }

    fn send_rejection_writes(&self, writes: Vec<(TenantId, NewAuditEntry)>) {
        if writes.is_empty() {
            return;
        }
        let writer = self.rejections.writer.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_rejections(self.store().clone(), rx));
            tx
        });
        for (chain, entry) in writes {
            if writer.send(Write::Entry(chain, entry)).is_err() {
                tracing::warn!("the audit writer of refused requests has stopped");
            }
        }
    }
}

async fn write_rejections(
    store: std::sync::Arc<dyn revos_store::Store>,
    mut rx: mpsc::UnboundedReceiver<Write>,
) {
    while let Some(write) = rx.recv().await {
        match write {
            Write::Entry(chain, entry) => match store.append_audit(chain, entry).await {
                Ok(_) => {}
                // A webhook for a tenant that does not exist has no chain.
                Err(StoreError::TenantNotFound(_)) => {}
                Err(err) => {
                    tracing::error!(%chain, error = %err, "could not audit a refused request");
                }
            },
            Write::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(peer: &str) -> Rejection {
        Rejection {
            chain: TenantId::PLATFORM,
            action: "auth.failure",
            actor: "anonymous".to_owned(),
            resource: None,
            peer: peer.parse().ok(),
            details: json!({"reason": "unknown key"}),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn one_entry_per_peer_and_window_plus_one_summary() {
        let log = RejectionLog::default();
        let mut written = Vec::new();
        for n in 0..100 {
            written.extend(log.take(rejection("10.0.0.1"), at(n % 50)));
        }
        assert_eq!(written.len(), 1, "the first of the window only");
        // The next window's first rejection closes the previous one.
        written.extend(log.take(rejection("10.0.0.1"), at(61)));
        assert_eq!(written.len(), 3);
        let summary = &written[1].1.details;
        assert_eq!(summary["count"], 99);
        assert_eq!(summary["aggregated"], true);
        assert_eq!(summary["peer"], "10.0.0.1");
    }

    #[test]
    fn peers_have_their_own_windows_and_sweeps_close_them() {
        let log = RejectionLog::default();
        assert_eq!(log.take(rejection("10.0.0.1"), at(0)).len(), 1);
        assert_eq!(log.take(rejection("10.0.0.2"), at(1)).len(), 1);
        assert!(log.take(rejection("10.0.0.2"), at(2)).is_empty());
        let mut windows = log.windows.lock().unwrap();
        assert!(
            sweep(&mut windows, at(30), false).is_empty(),
            "not over yet"
        );
        let closed = sweep(&mut windows, at(30), true);
        assert_eq!(closed.len(), 1, "only the window that counted more");
        assert_eq!(closed[0].1.details["count"], 1);
        assert!(windows.is_empty());
    }
}
