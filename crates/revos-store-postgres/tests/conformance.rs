//! The PostgreSQL backend against the conformance suite, each test on a
//! throw-away database of its own (`testing::TestDatabase`), plus what only
//! this backend has (the transaction-local tenant setting, URL checks).
//!
//! Needs a running server: see `REVOS_TEST_POSTGRES_URL` in
//! `revos_store_postgres::testing`.

use revos_store::{Backend, NewTenant, Store, StoreError};
use revos_store_postgres::PostgresStore;
use revos_store_postgres::testing::TestDatabase;

/// A store on a new, empty database; the database goes when the test ends.
async fn fresh_store() -> (PostgresStore, TestDatabase) {
    let db = TestDatabase::create().await;
    match PostgresStore::connect(db.url()).await {
        Ok(store) => (store, db),
        Err(err) => panic!("cannot connect to {}: {err}", db.name()),
    }
}

revos_store::conformance_tests!(fresh_store());

#[tokio::test]
async fn backend_and_ping() {
    let db = TestDatabase::create().await;
    let store = db.store().await;
    assert_eq!(store.backend(), Backend::Postgres);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_non_postgres_url_is_refused() {
    let err = PostgresStore::connect("sqlite://revos.db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Port 1 on localhost: nothing listens there.
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/postgres")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_missing_database_is_unavailable() {
    let db = TestDatabase::create().await;
    let missing = db.url().replace(db.name(), "revos_test_no_such_database");
    let err = PostgresStore::connect(&missing).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn the_test_database_is_dropped_with_its_guard() {
    let db = TestDatabase::create().await;
    let name = db.name().to_owned();
    let url = db.url().to_owned();
    let store = db.store().await;
    store
        .create_tenant(NewTenant {
            id: None,
            name: "Doomed".into(),
        })
        .await
        .unwrap();
    drop(db);
    // The pool's connections were ended by `drop database … with (force)`.
    assert!(store.ping().await.is_err(), "{name} should be gone");
    assert!(PostgresStore::connect(&url).await.is_err());
}
