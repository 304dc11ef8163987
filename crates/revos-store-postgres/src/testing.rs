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
use revos_store::Store;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::time::Duration;

/// The environment variable naming the server's admin URL.
pub const ADMIN_URL_ENV: &str = "REVOS_TEST_POSTGRES_URL";

/// The admin URL used when [`ADMIN_URL_ENV`] is not set: the local
/// server's `postgres` database, as the `postgres` user (trust auth).
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long creating or dropping a test database may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A database that exists for as long as this guard does.
///
/// Dropping the guard drops the database `with (force)`, ending any
/// connection still open to it (a store's pool, for instance).
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

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
        match TestDatabase::create_on(&admin_url, "revos_test").await {
            Ok(db) => db,
            Err(err) => panic!("{err}"),
        }
    }

    /// Creates a new, empty database `<prefix>_<uuid>` on the server of
    /// `admin_url` (a role allowed to create databases), dropped with the
    /// guard; `prefix` must be letters, digits and `_`. Used by the tests
    /// and by `revos bench`.
    pub async fn create_on(admin_url: &str, prefix: &str) -> Result<TestDatabase, String> {
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("`{prefix}` is not a database name prefix"));
        }
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut url =
            url::Url::parse(admin_url).map_err(|e| format!("`{admin_url}` is not a URL: {e}"))?;
        url.set_path(&name);
        let mut admin = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(admin_url))
            .await
            .map_err(|_| format!("PostgreSQL at {admin_url} did not answer"))?
            .map_err(|e| format!("cannot connect to PostgreSQL at {admin_url}: {e}"))?;
        // The name is generated above (letters, digits and `_`), never input.
        let create = format!("create database {name}");
        admin
            .execute(AssertSqlSafe(create))
            .await
            .map_err(|e| format!("cannot create database {name}: {e}"))?;
        let _ = admin.close().await;
        Ok(TestDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    /// The URL of the test database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name (`revos_test_…`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A migrated [`PostgresStore`] on the test database.
    ///
    /// # Panics
    ///
    /// When connecting or migrating fails.
    pub async fn store(&self) -> PostgresStore {
        let store = match PostgresStore::connect(&self.url).await {
            Ok(store) => store,
            Err(err) => panic!("cannot connect to test database {}: {err}", self.name),
        };
        if let Err(err) = store.migrate().await {
            panic!("cannot migrate test database {}: {err}", self.name);
        }
        store
    }
}

impl Drop for TestDatabase {
    /// Drops the database from a thread of its own with its own runtime, so
    /// that this works at the end of a `#[tokio::test]` (whose runtime may
    /// be single-threaded and cannot be blocked on from inside).
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("cannot drop test database {name}: no runtime: {err}");
                    return;
                }
            };
            runtime.block_on(async {
                let Ok(Ok(mut admin)) =
                    tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&admin_url)).await
                else {
                    eprintln!("cannot drop test database {name}: server unreachable");
                    return;
                };
                let drop = format!("drop database if exists {name} with (force)");
                if let Err(err) = admin.execute(AssertSqlSafe(drop)).await {
                    eprintln!("cannot drop test database {name}: {err}");
                }
                let _ = admin.close().await;
            });
        });
        let _ = dropper.join();
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
