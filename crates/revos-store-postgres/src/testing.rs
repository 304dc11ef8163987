//! Throw-away PostgreSQL databases for tests (feature `testing`).
//!
//! [`TestDatabase::create`] makes a uniquely named, empty database on the
//! server named by `REVOS_TEST_POSTGRES_URL` (default
//! [`DEFAULT_ADMIN_URL`]) and drops it again when the guard is dropped, so
//! every test gets a database of its own and leaves nothing behind. Used by
//! this crate's conformance tests and by the tests of the crates above it.
//!
//! A test that needs PostgreSQL and cannot reach it fails, with a message
//! saying how to start the server: it never skips silently.

use crate::PostgresStore;
pub use crate::scratch::DEFAULT_ADMIN_URL;
use crate::scratch::ScratchDatabase;
use revos_store::Store;
use sqlx::{Connection, PgConnection};
use std::time::Duration;

/// The environment variable naming the server's admin URL.
pub const ADMIN_URL_ENV: &str = "REVOS_TEST_POSTGRES_URL";

/// How long reaching the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A test's own database, dropped with the guard.
#[derive(Debug)]
pub struct TestDatabase(ScratchDatabase);

impl TestDatabase {
    /// Creates a new, empty database `revos_test_<uuid>`.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached or refuses to create the
    /// database; the message says how to start PostgreSQL.
    pub async fn create() -> TestDatabase {
        let admin_url = std::env::var(ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
        let attempt =
            tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&admin_url)).await;
        match attempt {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(err)) => unreachable_server(&admin_url, &err.to_string()),
            Err(_) => unreachable_server(&admin_url, "timed out"),
        }
        match ScratchDatabase::create_on(&admin_url, "revos_test").await {
            Ok(db) => TestDatabase(db),
            Err(err) => panic!("{err}"),
        }
    }

    /// The URL of the test database.
    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// The database's name (`revos_test_…`).
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// A migrated [`PostgresStore`] on the test database.
    ///
    /// # Panics
    ///
    /// When connecting or migrating fails.
    pub async fn store(&self) -> PostgresStore {
        let store = match PostgresStore::connect(self.url()).await {
            Ok(store) => store,
            Err(err) => panic!("cannot connect to test database {}: {err}", self.name()),
        };
        if let Err(err) = store.migrate().await {
            panic!("cannot migrate test database {}: {err}", self.name());
        }
        store
    }
}

fn unreachable_server(admin_url: &str, why: &str) -> ! {
    panic!(
        "PostgreSQL is not reachable at {admin_url} ({why}).\n\
         These tests need a running server. Start the local one with\n\
         \n    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
         \nor set {ADMIN_URL_ENV} to the admin URL of a server you can use \
         (a role allowed to create databases)."
    )
}
