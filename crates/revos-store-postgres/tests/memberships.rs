//! Memberships on the PostgreSQL backend: grant, replace, list and remove;
//! every tenant of a subject; tenant isolation; missing tenants; invalid
//! subjects, each test on a throw-away database of its own. The same story
//! runs on SQLite in that crate's `tests/memberships.rs`. Then what only
//! this backend has: the store reaches the table as `revos_app`, bound by
//! row-level security, and `memberships_of` goes through the SECURITY
//! DEFINER function `revos_memberships_of` of migration 0007, also when the
//! tables' owner is no superuser.
//!
//! Needs a running server: see `REVOS_TEST_POSTGRES_URL` in
//! `revos_store_postgres::testing`.

use revos_store_postgres::testing::TestDatabase;
use revos_store_postgres::{APP_ROLE, PostgresStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use revos_store::identity::{Membership, MembershipStore, Role};
use revos_store::{NewTenant, Store, StoreError};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()
}

async fn tenant(store: &dyn Store, name: &str) -> TenantId {
    store
        .create_tenant(NewTenant {
            id: None,
            name: name.into(),
        })
        .await
        .unwrap()
        .id
}

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

async fn grant_replace_list_and_remove(store: &dyn Store) {
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

async fn memberships_of_spans_tenants(store: &dyn Store) {
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

async fn tenants_are_isolated(store: &dyn Store) {
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

async fn a_missing_tenant_is_reported(store: &dyn Store) {
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

async fn invalid_subjects_are_refused(store: &dyn Store) {
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

#[tokio::test]
async fn grant_replace_list_and_remove_on_postgres() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    grant_replace_list_and_remove(&store).await;
}

#[tokio::test]
async fn memberships_of_spans_tenants_on_postgres() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    memberships_of_spans_tenants(&store).await;
}

#[tokio::test]
async fn tenants_are_isolated_on_postgres() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    tenants_are_isolated(&store).await;
}

#[tokio::test]
async fn a_missing_tenant_is_reported_on_postgres() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    a_missing_tenant_is_reported(&store).await;
}

#[tokio::test]
async fn invalid_subjects_are_refused_on_postgres() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    invalid_subjects_are_refused(&store).await;
}

// ---- row-level security and the definer function ---------------------------

/// A raw connection as the test's superuser.
async fn superuser(db: &TestDatabase) -> PgConnection {
    PgConnection::connect(db.url()).await.unwrap()
}

/// Runs one statement on a raw connection.
async fn run(conn: &mut PgConnection, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_app_role_sees_only_its_tenant_and_looks_up_subjects_through_the_function() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    store
        .put_membership(a, "user|alice", Role::Owner, t0())
        .await
        .unwrap();
    store
        .put_membership(b, "user|alice", Role::Viewer, t0())
        .await
        .unwrap();

    // A connection that is what the store's pool connections are: with no
    // tenant set the table shows nothing, yet the function finds both rows;
    // with tenant A set, only A's row, and B's cannot be written.
    let mut app = superuser(&db).await;
    run(&mut app, format!("set role {APP_ROLE}")).await;
    let seen: i64 = sqlx::query_scalar("select count(*) from memberships")
        .fetch_one(&mut app)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    let found: i64 = sqlx::query_scalar("select count(*) from revos_memberships_of($1)")
        .bind("user|alice")
        .fetch_one(&mut app)
        .await
        .unwrap();
    assert_eq!(found, 2);
    run(&mut app, format!("set app.tenant_id = '{a}'")).await;
    let seen: Vec<uuid::Uuid> = sqlx::query_scalar("select tenant_id from memberships")
        .fetch_all(&mut app)
        .await
        .unwrap();
    assert_eq!(seen, [*a.as_uuid()]);
    let intrude = sqlx::query(
        "insert into memberships (tenant_id, subject, role, granted_at)
         values ($1, 'user|mallory', 'owner', now())",
    )
    .bind(b.as_uuid())
    .execute(&mut app)
    .await
    .unwrap_err();
    assert!(
        intrude.to_string().contains("row-level security"),
        "{intrude}"
    );
    app.close().await.unwrap();

    // The store really uses the app role's privileges, and the function
    // for `memberships_of`: take either away and that call fails.
    let mut root = superuser(&db).await;
    run(
        &mut root,
        format!("revoke execute on function revos_memberships_of(text) from {APP_ROLE}"),
    )
    .await;
    let err = store.memberships_of("user|alice").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(msg) if msg.contains("permission denied")),
        "{err:?}"
    );
    assert_eq!(store.list_memberships(a).await.unwrap().len(), 1);
    run(
        &mut root,
        format!("revoke select on memberships from {APP_ROLE}"),
    )
    .await;
    let err = store.list_memberships(a).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend(msg) if msg.contains("permission denied")),
        "{err:?}"
    );
    root.close().await.unwrap();
}

/// The production set-up: the URL's user owns the tables but is no
/// superuser, so the forced row-level security binds it too, and
/// `revos_memberships_of` (which runs as it) needs the `owner_functions`
/// policy of migration 0007 to see any row.
#[tokio::test]
async fn memberships_of_works_when_the_owner_is_no_superuser() {
    // `revos_app` exists once any database of the cluster is migrated.
    let first = TestDatabase::create().await;
    let _ = first.store().await;

    let owner = format!("revos_owner_{}", Uuid::new_v4().simple());
    let password = Uuid::new_v4().simple().to_string();
    let mut admin = superuser(&first).await;
    run(
        &mut admin,
        format!("create role {owner} login nosuperuser nobypassrls password '{password}'"),
    )
    .await;
    admin.close().await.unwrap();
    // Declared before `db`, so dropped after it: the role owns its tables.
    let _role = RoleGuard {
        url: first.url().to_owned(),
        name: owner.clone(),
    };

    let db = TestDatabase::create().await;
    let mut root = superuser(&db).await;
    run(
        &mut root,
        format!("grant create on schema public to {owner}"),
    )
    .await;
    run(&mut root, format!("grant {APP_ROLE} to {owner}")).await;
    root.close().await.unwrap();
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_username(&owner).unwrap();
    url.set_password(Some(&password)).unwrap();

    let store = PostgresStore::connect(url.as_str()).await.unwrap();
    store.migrate().await.unwrap();
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let in_a = store
        .put_membership(a, "user|alice", Role::Admin, t0())
        .await
        .unwrap();
    let in_b = store
        .put_membership(b, "user|alice", Role::Viewer, t0())
        .await
        .unwrap();
    let mut want = vec![in_a.clone(), in_b];
    want.sort_by_key(|m| *m.tenant_id.as_uuid());
    assert_eq!(store.memberships_of("user|alice").await.unwrap(), want);
    assert_eq!(store.list_memberships(a).await.unwrap(), [in_a]);

    // It is that policy which lets the function see the rows: without it
    // the forced row-level security shows the owner none.
    let mut root = superuser(&db).await;
    run(
        &mut root,
        "drop policy owner_functions on memberships".into(),
    )
    .await;
    root.close().await.unwrap();
    assert!(store.memberships_of("user|alice").await.unwrap().is_empty());
    assert_eq!(store.list_memberships(a).await.unwrap().len(), 1);
}

/// Drops a role made by a test when dropped, pass or fail (roles outlive
/// the test's database: they belong to the cluster).
struct RoleGuard {
    /// A superuser URL on a database other than the role's.
    url: String,
    name: String,
}

impl Drop for RoleGuard {
    /// From a thread with a runtime of its own, as `TestDatabase` does.
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await.unwrap();
                run(&mut conn, format!("drop role if exists {name}")).await;
                conn.close().await.unwrap();
            });
        });
        if dropper.join().is_err() {
            eprintln!("cannot drop test role {}", self.name);
        }
    }
}
