//! The kernel over a fresh database of either backend, for the kernel's
//! integration tests. The tests pick the backend the way the program does:
//! they open the store themselves and hand it to [`Kernel::start`].

#![allow(dead_code)]

use revos_kernel::{Config, Kernel};
use revos_store::Store;
use std::sync::Arc;

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A kernel and the database it lives on, removed when dropped.
pub struct Harness {
    pub kernel: Kernel,
    _sqlite: Option<tempfile::TempDir>,
    _postgres: Option<revos_store_postgres::testing::TestDatabase>,
}

/// A migrated kernel with `config` on a new, empty database of `db`.
pub async fn start(db: Db, config: Config) -> Harness {
    let (store, url, sqlite, postgres): (Arc<dyn Store>, _, _, _) = match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("x.db").display());
            let store = revos_store_sqlite::SqliteStore::connect(&url)
                .await
                .unwrap();
            (Arc::new(store), url, Some(dir), None)
        }
        Db::Postgres => {
            let pg = revos_store_postgres::testing::TestDatabase::create().await;
            let store = revos_store_postgres::PostgresStore::connect(pg.url())
                .await
                .unwrap();
            (Arc::new(store), pg.url().to_owned(), None, Some(pg))
        }
    };
    let config = Config {
        database_url: url,
        ..config
    };
    let kernel = Kernel::start(store, config).await.unwrap();
    Harness {
        kernel,
        _sqlite: sqlite,
        _postgres: postgres,
    }
}
