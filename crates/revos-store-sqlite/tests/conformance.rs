//! The SQLite backend against the conformance suite, plus the connection
//! forms only this backend has (relative and absolute paths, in-memory).
//!
//! Each test gets its own database file in a fresh temporary directory.

use revos_store::{Backend, NewTenant, Page, Store};
use revos_store_sqlite::SqliteStore;
use tempfile::TempDir;

/// A store on a new database file; the directory goes when the test ends.
async fn fresh_store() -> (SqliteStore, TempDir) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("cannot create a temporary directory: {err}"),
    };
    let url = format!("sqlite://{}", dir.path().join("revos.db").display());
    match SqliteStore::connect(&url).await {
        Ok(store) => (store, dir),
        Err(err) => panic!("cannot open {url}: {err}"),
    }
}

revos_store::conformance_tests!(fresh_store());

#[tokio::test]
async fn absolute_path_is_created_and_reopened() {
    let (store, dir) = fresh_store().await;
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.unwrap();
    let tenant = store
        .create_tenant(NewTenant {
            id: None,
            name: "Persisted".into(),
        })
        .await
        .unwrap();
    drop(store);
    let path = dir.path().join("revos.db");
    assert!(path.exists(), "the database file is created");

    let reopened = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(reopened.get_tenant(tenant.id).await.unwrap(), Some(tenant));
}

#[tokio::test]
async fn memory_database_keeps_its_data_across_calls() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    for name in ["One", "Two", "Three"] {
        store
            .create_tenant(NewTenant {
                id: None,
                name: name.into(),
            })
            .await
            .unwrap();
    }
    assert_eq!(store.list_tenants(Page::first()).await.unwrap().len(), 3);
    // A second in-memory store is a different, empty database.
    let other = SqliteStore::connect("sqlite::memory:").await.unwrap();
    other.migrate().await.unwrap();
    assert!(other.list_tenants(Page::first()).await.unwrap().is_empty());
}

#[tokio::test]
async fn relative_path_resolves_against_the_working_directory() {
    // The process-wide working directory is not changed (tests run in
    // parallel); a relative path into the temporary directory is built
    // from the current one instead.
    let dir = tempfile::tempdir_in(".").unwrap();
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let url = format!("sqlite://{name}/relative.db");
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    assert!(dir.path().join("relative.db").exists());
}

#[tokio::test]
async fn a_non_sqlite_url_is_refused() {
    let err = SqliteStore::connect("postgres://localhost/revos")
        .await
        .unwrap_err();
    assert!(
        matches!(err, revos_store::StoreError::Invalid(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unopenable_file_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/missing-dir/revos.db", dir.path().display());
    let err = SqliteStore::connect(&url).await.unwrap_err();
    assert!(
        matches!(err, revos_store::StoreError::Unavailable(_)),
        "{err:?}"
    );
}
