//! The program picks the storage backend: the kernel knows only the
//! `Store` trait, and this module is the one place that names the two
//! backends, by the scheme of the database URL.

use revos_contracts::ErrorKind;
use revos_kernel::config::redact_url;
use revos_kernel::{Config, Failure, Kernel};
use revos_store::Store;
use std::sync::Arc;

/// Opens the store a database URL names, picked by its scheme:
/// `sqlite:` (the embedded default) or `postgres:`/`postgresql:`.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, Failure> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(Arc::new(
            revos_store_sqlite::SqliteStore::connect(url)
                .await
                .map_err(Failure::opening)?,
        )),
        "postgres" | "postgresql" => Ok(Arc::new(
            revos_store_postgres::PostgresStore::connect(url)
                .await
                .map_err(Failure::opening)?,
        )),
        _ => Err(Failure::of(
            ErrorKind::Configuration,
            format!(
                "unsupported database URL `{}`: use sqlite://FILE (default sqlite://revos.db) \
                 or postgres://USER@HOST:PORT/DB",
                redact_url(url)
            ),
        )),
    }
}

/// Opens the configured database, applies its migrations and builds the
/// kernel over it.
pub async fn start(config: Config) -> Result<Kernel, Failure> {
    let store = open_store(&config.database_url).await?;
    Kernel::start(store, config).await
}
