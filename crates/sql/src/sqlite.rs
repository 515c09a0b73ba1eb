//! SQLite specifics: opening a database file ([`open`]) and the background WAL
//! [`Checkpointer`].
//!
//! - [`open`]: WAL mode, foreign keys, a busy timeout, one writer connection that never
//!   checkpoints on commit, a pool of readers, migrations applied, the checkpointer started.
//! - [`Checkpointer`]: passive checkpoints ten times a second (they never wait for, or
//!   block, readers and the writer), so no committing request pays for the checkpoint's
//!   fsync; once the WAL has grown past [`WAL_TRUNCATE_FRAMES`] — sustained readers can keep
//!   it from ever restarting at its beginning — a `TRUNCATE` checkpoint resets it to zero
//!   length. That one holds the write lock while it waits for readers, so it waits at most
//!   20 ms and otherwise tries again next round.

use crate::dialect::Sqlite;
use crate::migrate::{MigrateError, migrate};
use crate::store::SqlStore;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Connections of the read pool.
const READERS: u32 = 8;
/// How long a statement waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection (a store uses about a hundred).
const STATEMENT_CACHE: usize = 256;

/// How a store opens its SQLite file.
#[derive(Debug, Clone, Copy)]
pub struct SqliteSettings {
    /// Its migrations, `(version, sql)` ascending.
    pub migrations: &'static [(i64, &'static str)],
    /// `synchronous=FULL` (a commit is on disk when it returns) rather than `NORMAL`
    /// (durable at the next checkpoint; a crash may lose the last commits, never corrupt).
    pub full_sync: bool,
    /// The database's name in logs.
    pub what: &'static str,
}

/// Why opening failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create directory {dir}: {source}")]
    Dir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

/// Opens (creating if missing) the database file at `path`, brings its schema up to date
/// (version table `schema_migrations`) and starts its checkpointer.
pub async fn open(
    path: &Path,
    settings: SqliteSettings,
    applied_at_ms: i64,
) -> Result<SqlStore<Sqlite>, OpenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Dir {
            dir: dir.display().to_string(),
            source,
        })?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .synchronous(if settings.full_sync {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .statement_cache_capacity(STATEMENT_CACHE);
    let open_err = |source: sqlx::Error| OpenError::Open {
        path: path.display().to_string(),
        source,
    };
    // WAL is a property of the file: the writer switches it on once, readers inherit it.
    // The writer never checkpoints on commit (that would put an fsync of the database file
    // in the path of whichever request committed); the checkpointer does, from a reader.
    let writer_options = options
        .clone()
        .journal_mode(SqliteJournalMode::Wal)
        .pragma("wal_autocheckpoint", "0");
    // Switching a new file to WAL takes an exclusive lock and does not wait for the busy
    // timeout, so two processes opening the same new file at once can see "database is
    // locked": retry briefly instead of failing the start.
    let mut attempt = 0;
    let writer = loop {
        match writer_pool().connect_with(writer_options.clone()).await {
            Ok(pool) => break pool,
            Err(e) if attempt < 50 && e.to_string().contains("locked") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(open_err(e)),
        }
    };
    migrate::<Sqlite>(
        &writer,
        "schema_migrations",
        settings.migrations,
        applied_at_ms,
    )
    .await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(READERS)
        // A local file cannot hang up; a ping before every statement only costs time.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(open_err)?;
    let checkpointer = Arc::new(Checkpointer::start(reader.clone(), settings.what));
    Ok(SqlStore {
        writer,
        reader,
        checkpointer: Some(checkpointer),
    })
}

/// A private in-memory database (for tests): one connection that lives as long as the
/// store, migrated with `migrations`.
pub async fn open_memory(
    migrations: &'static [(i64, &'static str)],
    applied_at_ms: i64,
) -> Result<SqlStore<Sqlite>, OpenError> {
    let open_err = |source: sqlx::Error| OpenError::Open {
        path: ":memory:".to_owned(),
        source,
    };
    let options = SqliteConnectOptions::from_str("sqlite::memory:")
        .map_err(open_err)?
        .foreign_keys(true)
        .statement_cache_capacity(STATEMENT_CACHE);
    let pool = writer_pool()
        .connect_with(options)
        .await
        .map_err(open_err)?;
    migrate::<Sqlite>(&pool, "schema_migrations", migrations, applied_at_ms).await?;
    Ok(SqlStore::single(pool))
}

/// One connection, kept open for the life of the store (so its prepared statements stay
/// warm, and an in-memory database is not lost).
fn writer_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
}

/// How often the checkpointer runs.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL length (frames, ~4 KiB each) beyond which the checkpointer truncates the WAL. Kept
/// small (16 MiB) and checked often, so a truncation has little left to copy while it
/// holds the write lock: under a refresh storm, 64 MiB every half second held writers for
/// ~100 ms each time (p99 114 ms), never truncating let the WAL grow without bound, and
/// this keeps it under ~30 MiB with p99 around 40–75 ms (BENCHMARKS.md).
pub const WAL_TRUNCATE_FRAMES: i64 = 4_096;
/// How long a truncating checkpoint waits for readers before giving up for this round.
const TRUNCATE_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 20";

/// The background checkpoint task of one database; stopped when dropped.
#[derive(Debug)]
pub struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    /// Starts checkpointing through `reader` (a pool of the same database); `what` names
    /// the database in logs.
    pub fn start(reader: SqlitePool, what: &'static str) -> Checkpointer {
        Checkpointer(tokio::spawn(checkpoint_loop(reader, what)))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn checkpoint_loop(reader: SqlitePool, what: &'static str) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if reader.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&reader).await {
            tracing::warn!(error = %e, database = what, "WAL checkpoint failed");
        }
    }
}

/// One round: a passive checkpoint, and a truncating one if the WAL is long. Returns the
/// WAL length (frames) the passive checkpoint saw.
pub async fn checkpoint(reader: &SqlitePool) -> Result<i64, sqlx::Error> {
    // (busy, frames in the WAL, frames checkpointed)
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(reader)
        .await?;
    let frames: i64 = row.try_get(1)?;
    if frames > WAL_TRUNCATE_FRAMES {
        // A truncating checkpoint holds the write lock while it waits for readers, so it
        // waits briefly (not the busy timeout of 5 s: that stalled every writer behind it
        // under a refresh storm) and, if readers are still there, gives up until the next
        // round.
        let mut conn = reader.acquire().await?;
        sqlx::query(TRUNCATE_BUSY_TIMEOUT)
            .execute(&mut *conn)
            .await?;
        let truncated = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *conn)
            .await;
        let restored = sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {}",
            BUSY_TIMEOUT.as_millis()
        )))
        .execute(&mut *conn)
        .await;
        if restored.is_err() {
            // Never hand a connection with the short timeout back to the pool.
            conn.detach();
        }
        let busy: i64 = truncated?.try_get(0)?;
        if busy != 0 {
            tracing::debug!(frames, "WAL truncation postponed: readers still in the WAL");
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    async fn pool(dir: &std::path::Path) -> SqlitePool {
        let opts = SqliteConnectOptions::new()
            .filename(dir.join("t.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .expect("open")
    }

    #[tokio::test]
    async fn migrations_apply_once_and_refuse_a_newer_database() {
        let dir = tempfile::tempdir().expect("dir");
        let p = pool(dir.path()).await;
        let m: &[(i64, &'static str)] =
            &[(1, "CREATE TABLE a (x INTEGER)"), (2, "CREATE TABLE b (y)")];
        migrate::<Sqlite>(&p, "schema_migrations", m, 1)
            .await
            .expect("first");
        migrate::<Sqlite>(&p, "schema_migrations", m, 2)
            .await
            .expect("again: nothing to do");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&p)
            .await
            .expect("count");
        assert_eq!(n, 2);
        let older = &m[..1];
        assert!(matches!(
            migrate::<Sqlite>(&p, "schema_migrations", older, 3).await,
            Err(MigrateError::Newer {
                current: 2,
                known: 1
            })
        ));
        let broken: &[(i64, &'static str)] = &[(1, "x"), (2, "y"), (3, "NOT SQL")];
        assert!(matches!(
            migrate::<Sqlite>(&p, "schema_migrations", broken, 4).await,
            Err(MigrateError::Failed { version: 3, .. })
        ));
    }

    #[tokio::test]
    async fn a_long_wal_is_truncated() {
        let dir = tempfile::tempdir().expect("dir");
        let p = pool(dir.path()).await;
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&p)
            .await
            .expect("table");
        // ~80 MiB of pages into the WAL (autocheckpoint is off).
        let blob = vec![7u8; 1 << 20];
        for _ in 0..80 {
            sqlx::query("INSERT INTO t (b) VALUES ($1)")
                .bind(&blob)
                .execute(&p)
                .await
                .expect("insert");
        }
        let wal = dir.path().join("t.db-wal");
        let before = std::fs::metadata(&wal).expect("wal").len();
        assert!(before > 64 << 20, "{before}");
        let frames = checkpoint(&p).await.expect("checkpoint");
        assert!(frames > WAL_TRUNCATE_FRAMES, "{frames}");
        assert_eq!(std::fs::metadata(&wal).expect("wal").len(), 0);
    }
}
