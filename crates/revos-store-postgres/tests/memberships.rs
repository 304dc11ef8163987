//! Memberships on the PostgreSQL backend, as far as only this backend has
//! them: the store reaches the table as `revos_app`, bound by row-level
//! security, and `memberships_of` goes through the SECURITY DEFINER
//! function `revos_memberships_of` of migration 0007, also when the tables'
//! owner is no superuser. The behaviour every backend shares is in
//! `revos_store::conformance::memberships`.
//!
//! Needs a running server: see `REVOS_TEST_POSTGRES_URL` in
//! `revos_store_postgres::testing`.

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use revos_store::identity::{MembershipStore, Role};
use revos_store::{NewTenant, Store, StoreError};
use revos_store_postgres::testing::TestDatabase;
use revos_store_postgres::{APP_ROLE, PostgresStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
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
