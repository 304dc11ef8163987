//! Scratch databases: a uniquely named, empty PostgreSQL database that is
//! dropped again with its guard. `revos bench` runs on one, and the tests'
//! [`TestDatabase`](crate::testing::TestDatabase) (feature `testing`) is one.
//! Creating one needs a role allowed to create databases; nothing here
//! touches any other database on the server.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::time::Duration;

/// The admin URL of the local server: its `postgres` database, as the
/// `postgres` user (trust auth).
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long creating or dropping a scratch database may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A database that exists for as long as this guard does.
///
/// Dropping the guard drops the database `with (force)`, ending any
/// connection still open to it (a store's pool, for instance).
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates a new, empty database `<prefix>_<uuid>` on the server of
    /// `admin_url` (a role allowed to create databases), dropped with the
    /// guard; `prefix` must be letters, digits and `_`.
    pub async fn create_on(admin_url: &str, prefix: &str) -> Result<ScratchDatabase, String> {
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
        Ok(ScratchDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name (`<prefix>_<uuid>`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchDatabase {
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
                    eprintln!("cannot drop scratch database {name}: no runtime: {err}");
                    return;
                }
            };
            runtime.block_on(async {
                let Ok(Ok(mut admin)) =
                    tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&admin_url)).await
                else {
                    eprintln!("cannot drop scratch database {name}: server unreachable");
                    return;
                };
                let drop = format!("drop database if exists {name} with (force)");
                if let Err(err) = admin.execute(AssertSqlSafe(drop)).await {
                    eprintln!("cannot drop scratch database {name}: {err}");
                }
                let _ = admin.close().await;
            });
        });
        let _ = dropper.join();
    }
}
