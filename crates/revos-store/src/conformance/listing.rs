//! Conformance cases of listing newest first and paging by cursor: events,
//! audit entries, jobs, cycles and tasks read newest first unless asked
//! otherwise, and walking the pages with each `next_cursor` (passed through
//! its opaque text) yields every record once, also when several share a
//! time, with `has_more` false on the last page.

use super::{ok, t0, tenant};
use crate::Store;
use crate::audit::AuditFilter;
use crate::cycles::CycleFilter;
use crate::events::{EventFilter, TaskFilter};
use crate::listing::{Cursor, Listed, Order};
use crate::queue::JobFilter;
use chrono::{DateTime, Duration, Utc};
use std::fmt::Debug;
use std::future::Future;
use uuid::Uuid;

/// How many records each case writes: seven, in pairs that share a time
/// (and a lone last one), so that the id has to break ties.
const N: i64 = 7;

/// The (time, id) key of a cursor of a list keyed by time.
fn at(cursor: Option<Cursor>) -> Option<(DateTime<Utc>, Uuid)> {
    cursor.map(|c| match c.at() {
        Ok(key) => key,
        Err(err) => panic!("a time-keyed list handed out another cursor: {err}"),
    })
}

/// Checks one list against `oldest_first`, its records' keys from the
/// oldest: in both orders, the whole list, then pages of 1, 2, 3 and of
/// exactly all records, each page continued from the previous page's
/// cursor read back from its text.
async fn check_paging<K, F, Fut>(what: &str, oldest_first: &[K], page: F)
where
    K: PartialEq + Debug + Clone,
    F: Fn(Order, Option<u32>, Option<Cursor>) -> Fut,
    Fut: Future<Output = Listed<K>>,
{
    let n = oldest_first.len() as u32;
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let mut expected = oldest_first.to_vec();
        if order == Order::NewestFirst {
            expected.reverse();
        }
        let whole = page(order, None, None).await;
        assert_eq!(whole.items, expected, "{what}: the whole list {order:?}");
        assert!(!whole.has_more, "{what}: one page holds all {order:?}");
        assert_eq!(whole.next_cursor, None, "{what}: no cursor after the end");

        for limit in [1, 2, 3, n] {
            let mut seen = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                pages += 1;
                assert!(pages <= n + 1, "{what}: paging by {limit} does not end");
                let listed = page(order, Some(limit), cursor).await;
                assert!(
                    listed.items.len() as u32 <= limit,
                    "{what}: a page of {limit} holds {}",
                    listed.items.len()
                );
                seen.extend(listed.items.iter().cloned());
                match (listed.has_more, listed.next_cursor) {
                    (true, Some(next)) => match Cursor::decode(&next.encode()) {
                        Ok(back) => cursor = Some(back),
                        Err(err) => panic!("{what}: a cursor does not read back: {err}"),
                    },
                    (false, None) => break,
                    other => panic!("{what}: has_more and next_cursor disagree: {other:?}"),
                }
            }
            assert_eq!(
                seen, expected,
                "{what}: pages of {limit} {order:?} give every record once"
            );
            assert_eq!(
                pages,
                n.div_ceil(limit),
                "{what}: a full last page of {limit} says nothing follows"
            );
        }
    }
}

/// Events: newest first by default, then the paging rules; the count
/// follows the filter.
pub async fn events_page_newest_first_by_cursor(store: &dyn Store) {
    let t = tenant(store, "Event pages").await;
    let mut events = Vec::new();
    for n in 0..N {
        let mut e = super::events::event(t, &format!("k{n}"), n / 2 * 10);
        if n % 3 == 0 {
            e.r#type = "booking_made".into();
        }
        super::events::ingest(store, &e, &[], &[]).await;
        events.push(e);
    }
    events.sort_by_key(|e| (e.recorded_at, e.id));
    let oldest_first: Vec<Uuid> = events.iter().map(|e| e.id).collect();

    let default = ok(
        store.list_events(t, &EventFilter::default()).await,
        "list_events",
    );
    let newest: Vec<Uuid> = oldest_first.iter().rev().copied().collect();
    assert_eq!(
        default.iter().map(|e| e.id).collect::<Vec<_>>(),
        newest,
        "events list newest first by default"
    );

    check_paging("events", &oldest_first, |order, limit, cursor| async move {
        let filter = EventFilter {
            order,
            after: at(cursor),
            limit,
            ..EventFilter::default()
        };
        ok(store.page_events(t, &filter).await, "page_events").map(|e| e.id)
    })
    .await;

    assert_eq!(
        ok(
            store.count_events(t, &EventFilter::default()).await,
            "count_events"
        ),
        N as u64
    );
    let bookings = EventFilter {
        r#type: Some("booking_made".into()),
        limit: Some(1),
        ..EventFilter::default()
    };
    assert_eq!(
        ok(store.count_events(t, &bookings).await, "count_events"),
        3,
        "the count follows the filter, not the limit"
    );
    let first = ok(store.page_events(t, &bookings).await, "page_events");
    assert!(first.has_more, "one of three bookings leaves more");
}

/// Audit entries: newest first by default (by `seq`), then the paging
/// rules; `after_seq` still filters whatever the order.
pub async fn audit_pages_newest_first_by_cursor(store: &dyn Store) {
    let t = tenant(store, "Audit pages").await;
    let mut seqs = Vec::new();
    for i in 1..=N as u32 {
        let entry = ok(
            store.append_audit(t, super::audit::event(i)).await,
            "append_audit",
        );
        seqs.push(entry.seq);
    }
    let default = ok(
        store.list_audit(t, &AuditFilter::default()).await,
        "list_audit",
    );
    let newest: Vec<u64> = seqs.iter().rev().copied().collect();
    assert_eq!(
        default.iter().map(|e| e.seq).collect::<Vec<_>>(),
        newest,
        "audit entries list newest first by default"
    );

    check_paging("audit", &seqs, |order, limit, cursor| async move {
        let filter = AuditFilter {
            order,
            past_seq: cursor.map(|c| match c.seq() {
                Ok(seq) => seq,
                Err(err) => panic!("the audit log handed out another cursor: {err}"),
            }),
            limit: limit.unwrap_or(100),
            ..AuditFilter::default()
        };
        ok(store.page_audit(t, &filter).await, "page_audit").map(|e| e.seq)
    })
    .await;

    let after_three = AuditFilter {
        after_seq: Some(seqs[2]),
        ..AuditFilter::default()
    };
    let listed = ok(store.list_audit(t, &after_three).await, "list_audit");
    assert_eq!(
        listed.iter().map(|e| e.seq).collect::<Vec<_>>(),
        newest[..newest.len() - 3].to_vec(),
        "after_seq keeps the later entries, newest first"
    );
    assert_eq!(
        ok(store.count_audit(t, &after_three).await, "count_audit"),
        N as u64 - 3
    );
    assert_eq!(
        ok(
            store.count_audit(t, &AuditFilter::default()).await,
            "count_audit"
        ),
        N as u64
    );
}

/// Jobs: newest first by default (by creation time, then id), then the
/// paging rules, for one tenant and across tenants.
pub async fn jobs_page_newest_first_by_cursor(store: &dyn Store) {
    let t = tenant(store, "Job pages").await;
    let mut jobs = Vec::new();
    for n in 0..N {
        let now = t0() + Duration::seconds(n / 2);
        let job = super::queue::new_job("email", n as u32);
        jobs.push(super::queue::enqueue(store, t, &job, now).await);
    }
    jobs.sort_by_key(|j| (j.created_at, j.id));
    let oldest_first: Vec<Uuid> = jobs.iter().map(|j| j.id).collect();

    let default = ok(
        store.list_jobs(Some(t), &JobFilter::default()).await,
        "list_jobs",
    );
    let newest: Vec<Uuid> = oldest_first.iter().rev().copied().collect();
    assert_eq!(
        default.iter().map(|j| j.id).collect::<Vec<_>>(),
        newest,
        "jobs list newest first by default"
    );

    for scope in [Some(t), None] {
        check_paging("jobs", &oldest_first, |order, limit, cursor| async move {
            let filter = JobFilter {
                order,
                after: at(cursor),
                limit,
                ..JobFilter::default()
            };
            ok(store.page_jobs(scope, &filter).await, "page_jobs").map(|j| j.id)
        })
        .await;
        assert_eq!(
            ok(
                store.count_jobs(scope, &JobFilter::default()).await,
                "count_jobs"
            ),
            N as u64
        );
    }
    let other_queue = JobFilter {
        queue: Some("webhook".into()),
        ..JobFilter::default()
    };
    assert_eq!(
        ok(store.count_jobs(Some(t), &other_queue).await, "count_jobs"),
        0,
        "the count follows the filter"
    );
}

/// Cycles: newest first by default (by creation time, then id), then the
/// paging rules.
pub async fn cycles_page_newest_first_by_cursor(store: &dyn Store) {
    let t = tenant(store, "Cycle pages").await;
    let mut cycles = Vec::new();
    for n in 0..N {
        let cycle = super::cycles::completed(t, n / 2);
        super::cycles::record(store, &cycle, &[]).await;
        cycles.push(cycle);
    }
    cycles.sort_by_key(|c| (c.created_at, c.id));
    let oldest_first: Vec<Uuid> = cycles.iter().map(|c| c.id).collect();

    let default = ok(
        store.cycles_matching(t, &CycleFilter::default()).await,
        "cycles_matching",
    );
    let newest: Vec<Uuid> = oldest_first.iter().rev().copied().collect();
    assert_eq!(
        default.iter().map(|c| c.id).collect::<Vec<_>>(),
        newest,
        "cycles list newest first by default"
    );

    check_paging("cycles", &oldest_first, |order, limit, cursor| async move {
        let filter = CycleFilter {
            order,
            after: at(cursor),
            limit,
        };
        ok(store.page_cycles(t, &filter).await, "page_cycles").map(|c| c.id)
    })
    .await;
    assert_eq!(ok(store.count_cycles(t).await, "count_cycles"), N as u64);
}

/// Tasks: newest first by default (by creation time, then id), then the
/// paging rules; the count follows the filter.
pub async fn tasks_page_newest_first_by_cursor(store: &dyn Store) {
    let t = tenant(store, "Task pages").await;
    let mut tasks = Vec::new();
    let mut tx = ok(store.begin(t).await, "begin");
    for n in 0..N {
        let owner = if n % 2 == 0 { "alice" } else { "bob" };
        let task = super::events::new_task(owner, Some(N - n), None);
        let now = t0() + Duration::seconds(n / 2);
        tasks.push(ok(tx.insert_task(&task, now).await, "insert_task"));
    }
    ok(tx.commit().await, "commit");
    tasks.sort_by_key(|task| (task.created_at, task.id));
    let oldest_first: Vec<Uuid> = tasks.iter().map(|task| task.id).collect();

    let default = ok(
        store.list_tasks(t, &TaskFilter::default()).await,
        "list_tasks",
    );
    let newest: Vec<Uuid> = oldest_first.iter().rev().copied().collect();
    assert_eq!(
        default.iter().map(|task| task.id).collect::<Vec<_>>(),
        newest,
        "tasks list newest first by default"
    );

    check_paging("tasks", &oldest_first, |order, limit, cursor| async move {
        let filter = TaskFilter {
            order,
            after: at(cursor),
            limit,
            ..TaskFilter::default()
        };
        ok(store.page_tasks(t, &filter).await, "page_tasks").map(|task| task.id)
    })
    .await;

    let alice = TaskFilter {
        owner: Some("alice".into()),
        ..TaskFilter::default()
    };
    assert_eq!(ok(store.count_tasks(t, &alice).await, "count_tasks"), 4);
    assert_eq!(
        ok(
            store.count_tasks(t, &TaskFilter::default()).await,
            "count_tasks"
        ),
        N as u64
    );
}
