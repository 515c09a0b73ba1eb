//! PostgreSQL specifics: connecting a store to a database ([`connect`]).

use crate::dialect::Postgres;
use crate::migrate::{MigrateError, migrate};
use crate::store::SqlStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// How long `connect` and each later checkout wait for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid PostgreSQL URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

/// Connects to the database at `url` (a `postgres://` URL; `options[search_path]=...`
/// selects the schema) with a pool of `max_connections`, and applies `migrations`
/// recording them in `table`.
pub async fn connect(
    url: &str,
    max_connections: u32,
    table: &'static str,
    migrations: &'static [(i64, &'static str)],
    applied_at_ms: i64,
) -> Result<SqlStore<Postgres>, ConnectError> {
    let options = PgConnectOptions::from_str(url).map_err(ConnectError::Url)?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(ConnectError::Connect)?;
    migrate::<Postgres>(&pool, table, migrations, applied_at_ms).await?;
    Ok(SqlStore::single(pool))
}
