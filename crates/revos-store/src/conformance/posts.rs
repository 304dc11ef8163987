//! The publish pipeline's storage: posts read back as written, a taken id
//! is a conflict, an update is written only over the version that was
//! read, the list filters by status and pages newest first, tenants are
//! isolated, and a missing tenant is reported.

use super::{t0, tenant};
use crate::posts::{PostFilter, PostRecord};
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use serde_json::json;
use uuid::Uuid;

fn post(status: &str, at: DateTime<Utc>) -> PostRecord {
    PostRecord {
        id: Uuid::new_v4(),
        status: status.into(),
        channel: "blog".into(),
        content_hash: "a".repeat(64),
        version: 1,
        doc: json!({"title": "Spring release", "body": "It is out.", "checks": []}),
        created_by: "agent:writer".into(),
        created_at: at,
        updated_at: at,
    }
}

fn all(limit: u32) -> PostFilter {
    PostFilter {
        limit,
        ..PostFilter::default()
    }
}

/// A post reads back equal; its id taken again is a conflict that writes
/// nothing.
pub async fn posts_read_back_and_ids_are_unique(store: &dyn Store) {
    let t = tenant(store, "Posts").await;
    let p = post("draft", t0());
    store.insert_post(t, &p).await.unwrap();
    assert_eq!(store.post(t, p.id).await.unwrap(), Some(p.clone()));
    let mut twin = post("published", t0());
    twin.id = p.id;
    match store.insert_post(t, &twin).await {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.post(t, p.id).await.unwrap(), Some(p));
    assert!(store.post(t, Uuid::new_v4()).await.unwrap().is_none());
}

/// An update names the version it read: the first writer wins, a second
/// writer over the same version changes nothing.
pub async fn post_updates_are_conditional(store: &dyn Store) {
    let t = tenant(store, "Posts").await;
    let p = post("draft", t0());
    store.insert_post(t, &p).await.unwrap();
    let mut changed = p.clone();
    changed.status = "submitted".into();
    changed.channel = "news".into();
    changed.content_hash = "b".repeat(64);
    changed.doc["submission"] = json!({"action_id": Uuid::new_v4()});
    changed.updated_at = t0() + Duration::seconds(5);
    assert!(store.update_post(t, &changed).await.unwrap());
    let mut late = p.clone();
    late.status = "published".into();
    assert!(!store.update_post(t, &late).await.unwrap());
    let stored = store.post(t, p.id).await.unwrap().unwrap();
    changed.version = 2;
    assert_eq!(stored, changed);
}

/// The status filter applies; the list is newest first and pages by
/// (time, id).
pub async fn posts_are_filtered_and_paged_newest_first(store: &dyn Store) {
    let t = tenant(store, "Posts").await;
    let mut made = Vec::new();
    for (i, status) in ["draft", "submitted", "draft", "published", "draft"]
        .iter()
        .enumerate()
    {
        let p = post(status, t0() + Duration::minutes(i as i64));
        store.insert_post(t, &p).await.unwrap();
        made.push(p);
    }
    let ids = |rows: &[PostRecord]| rows.iter().map(|p| p.id).collect::<Vec<_>>();
    let newest_first: Vec<Uuid> = made.iter().rev().map(|p| p.id).collect();
    assert_eq!(
        ids(&store.list_posts(t, &all(100)).await.unwrap()),
        newest_first
    );
    let drafts = store
        .list_posts(
            t,
            &PostFilter {
                status: Some("draft".into()),
                limit: 100,
                ..PostFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&drafts), vec![made[4].id, made[2].id, made[0].id]);
    let first = store.list_posts(t, &all(2)).await.unwrap();
    let last = first.last().unwrap();
    let next = store
        .list_posts(
            t,
            &PostFilter {
                after: Some((last.created_at, last.id)),
                limit: 100,
                ..PostFilter::default()
            },
        )
        .await
        .unwrap();
    let mut paged = ids(&first);
    paged.extend(ids(&next));
    assert_eq!(paged, newest_first);
}

/// Another tenant neither sees nor changes a tenant's post.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let p = post("draft", t0());
    store.insert_post(a, &p).await.unwrap();
    assert!(store.post(b, p.id).await.unwrap().is_none());
    assert!(store.list_posts(b, &all(100)).await.unwrap().is_empty());
    let mut foreign = p.clone();
    foreign.status = "published".into();
    assert!(!store.update_post(b, &foreign).await.unwrap());
    assert_eq!(store.post(a, p.id).await.unwrap().unwrap().status, "draft");
}

/// Every call on a tenant that does not exist says so.
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let ghost = TenantId::new_random();
    let missing = |r: Result<(), StoreError>| {
        assert!(matches!(r, Err(StoreError::TenantNotFound(_))), "{r:?}");
    };
    missing(store.post(ghost, Uuid::new_v4()).await.map(|_| ()));
    missing(store.list_posts(ghost, &all(1)).await.map(|_| ()));
    missing(store.insert_post(ghost, &post("draft", t0())).await);
    missing(
        store
            .update_post(ghost, &post("draft", t0()))
            .await
            .map(|_| ()),
    );
}
