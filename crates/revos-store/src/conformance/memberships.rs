//! Memberships: grant, replace, list and remove; every tenant of a
//! subject; tenant isolation; missing tenants; invalid subjects.

use super::{t0, tenant};
use crate::identity::{Membership, Role};
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use uuid::Uuid;

fn member(tenant: TenantId, subject: &str, role: Role, at: DateTime<Utc>) -> Membership {
    Membership {
        tenant_id: tenant,
        subject: subject.into(),
        role,
        granted_at: at,
    }
}

/// The subjects of a listing, in its order.
fn subjects(members: &[Membership]) -> Vec<&str> {
    members.iter().map(|m| m.subject.as_str()).collect()
}

/// Grants are stored and listed by subject; a second grant replaces the
/// role and time; every role reads back as itself; removal reports whether
/// a row went.
pub async fn grant_replace_list_and_remove(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    assert!(store.list_memberships(acme).await.unwrap().is_empty());

    // A time with nanoseconds comes back at the microseconds both
    // databases keep, from the write and from a read alike.
    let nanos = t0() + Duration::nanoseconds(789);
    let granted = store
        .put_membership(acme, "user|bob", Role::Viewer, nanos)
        .await
        .unwrap();
    assert_eq!(granted, member(acme, "user|bob", Role::Viewer, t0()));

    // Ordered by subject, byte for byte (upper case sorts first).
    for (i, subject) in ["user|carol", "Zed", "user|alice"].into_iter().enumerate() {
        store
            .put_membership(
                acme,
                subject,
                Role::Operator,
                t0() + Duration::minutes(i as i64),
            )
            .await
            .unwrap();
    }
    let listed = store.list_memberships(acme).await.unwrap();
    assert_eq!(
        subjects(&listed),
        ["Zed", "user|alice", "user|bob", "user|carol"]
    );
    assert_eq!(listed[2], granted);

    // A second grant replaces the role and the time; it adds no row.
    let later = t0() + Duration::hours(1);
    let promoted = store
        .put_membership(acme, "user|bob", Role::Owner, later)
        .await
        .unwrap();
    assert_eq!(promoted, member(acme, "user|bob", Role::Owner, later));
    let listed = store.list_memberships(acme).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[2], promoted);

    // Every role is stored and read back as itself.
    for role in [
        Role::Viewer,
        Role::Approver,
        Role::Operator,
        Role::Admin,
        Role::Owner,
    ] {
        let put = store
            .put_membership(acme, "user|roles", role, t0())
            .await
            .unwrap();
        assert_eq!(put.role, role);
        assert_eq!(store.memberships_of("user|roles").await.unwrap(), [put]);
    }

    assert!(store.remove_membership(acme, "user|bob").await.unwrap());
    assert!(!store.remove_membership(acme, "user|bob").await.unwrap());
    assert!(!store.remove_membership(acme, "user|nobody").await.unwrap());
    assert_eq!(
        subjects(&store.list_memberships(acme).await.unwrap()),
        ["Zed", "user|alice", "user|carol", "user|roles"]
    );
    assert!(store.memberships_of("user|bob").await.unwrap().is_empty());
}

/// `memberships_of` finds a subject in every tenant, ordered by tenant
/// id, matching the subject exactly.
pub async fn memberships_of_spans_tenants(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let c = tenant(store, "C").await;
    store
        .put_membership(b, "user|alice", Role::Admin, t0())
        .await
        .unwrap();
    store
        .put_membership(a, "user|alice", Role::Viewer, t0())
        .await
        .unwrap();
    store
        .put_membership(c, "user|bob", Role::Owner, t0())
        .await
        .unwrap();

    // Ordered by tenant id, whichever was granted first.
    let mut want = vec![
        member(a, "user|alice", Role::Viewer, t0()),
        member(b, "user|alice", Role::Admin, t0()),
    ];
    want.sort_by_key(|m| *m.tenant_id.as_uuid());
    assert_eq!(store.memberships_of("user|alice").await.unwrap(), want);
    assert_eq!(
        store.memberships_of("user|bob").await.unwrap(),
        [member(c, "user|bob", Role::Owner, t0())]
    );
    // Subjects match exactly: no other case, no prefix.
    assert!(store.memberships_of("User|alice").await.unwrap().is_empty());
    assert!(store.memberships_of("user|ali").await.unwrap().is_empty());
    assert!(
        store
            .memberships_of("user|nobody")
            .await
            .unwrap()
            .is_empty()
    );
}

/// One tenant's memberships are invisible to, and untouched by, another's
/// calls.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    store
        .put_membership(a, "user|alice", Role::Owner, t0())
        .await
        .unwrap();
    store
        .put_membership(a, "user|shared", Role::Admin, t0())
        .await
        .unwrap();
    assert!(store.list_memberships(b).await.unwrap().is_empty());

    // The same subject in B is B's own row; changing or removing it leaves
    // A's alone.
    store
        .put_membership(b, "user|shared", Role::Viewer, t0())
        .await
        .unwrap();
    assert_eq!(
        store.list_memberships(b).await.unwrap(),
        [member(b, "user|shared", Role::Viewer, t0())]
    );
    assert!(!store.remove_membership(b, "user|alice").await.unwrap());
    assert!(store.remove_membership(b, "user|shared").await.unwrap());
    assert!(store.list_memberships(b).await.unwrap().is_empty());
    assert_eq!(
        store.list_memberships(a).await.unwrap(),
        [
            member(a, "user|alice", Role::Owner, t0()),
            member(a, "user|shared", Role::Admin, t0()),
        ]
    );
    assert_eq!(
        store.memberships_of("user|shared").await.unwrap(),
        [member(a, "user|shared", Role::Admin, t0())]
    );
}

/// Tenant-scoped membership calls on a missing tenant answer
/// `TenantNotFound`.
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    let missing = |err: StoreError| matches!(err, StoreError::TenantNotFound(t) if t == ghost);
    assert!(missing(
        store
            .put_membership(ghost, "user|alice", Role::Viewer, t0())
            .await
            .unwrap_err()
    ));
    assert!(missing(
        store
            .remove_membership(ghost, "user|alice")
            .await
            .unwrap_err()
    ));
    assert!(missing(store.list_memberships(ghost).await.unwrap_err()));
    assert!(store.memberships_of("user|alice").await.unwrap().is_empty());
}

/// Blank, padded, control-character and over-long subjects are refused by
/// every call; 200 characters are accepted.
pub async fn invalid_subjects_are_refused(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let longest = "é".repeat(200);
    let too_long = "x".repeat(201);
    for bad in [
        "",
        "   ",
        " user|alice",
        "user|alice\t",
        "user\n|alice",
        "user\u{0}",
        &too_long,
    ] {
        let invalid = |err: StoreError| matches!(err, StoreError::Invalid(_));
        assert!(
            invalid(
                store
                    .put_membership(acme, bad, Role::Viewer, t0())
                    .await
                    .unwrap_err()
            ),
            "put {bad:?}"
        );
        assert!(
            invalid(store.remove_membership(acme, bad).await.unwrap_err()),
            "remove {bad:?}"
        );
        assert!(
            invalid(store.memberships_of(bad).await.unwrap_err()),
            "memberships_of {bad:?}"
        );
    }
    assert!(store.list_memberships(acme).await.unwrap().is_empty());

    // The longest subject, in characters, not bytes.
    let put = store
        .put_membership(acme, &longest, Role::Viewer, t0())
        .await
        .unwrap();
    assert_eq!(put.subject, longest);
    assert_eq!(store.memberships_of(&longest).await.unwrap(), [put]);
}
