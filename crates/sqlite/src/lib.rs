//! What mailward's SQLite stores (identity's and the mail role's) share: the versioned
//! migration runner and the background WAL checkpointer.
//!
//! - [`migrate`]: each migration runs in a `BEGIN IMMEDIATE` transaction that re-reads the
//!   schema version first, so two processes opening one file at once apply each migration
//!   exactly once; a database newer than the build is refused.
//! - [`Checkpointer`]: passive checkpoints every half second (they never wait for, or
//!   block, readers and the writer), so no committing request pays for the checkpoint's
//!   fsync; once the WAL has grown past [`WAL_TRUNCATE_FRAMES`] — sustained readers can keep
//!   it from ever restarting at its beginning — a `TRUNCATE` checkpoint (brief wait for
//!   readers, writer held meanwhile) resets it to zero length.

use sqlx::{Row, SqlitePool};
use std::time::Duration;

/// How often the checkpointer runs.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// WAL length (frames, ~4 KiB each) beyond which the checkpointer truncates the WAL.
pub const WAL_TRUNCATE_FRAMES: i64 = 16_384;

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "database schema version {current} is newer than this build supports ({known}); upgrade mailward"
    )]
    Newer { current: i64, known: i64 },
    #[error("migration {version} failed: {source}")]
    Failed {
        version: i64,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0}")]
    Db(#[from] sqlx::Error),
}

/// Applies every migration of `migrations` (`(version, sql)`, ascending) newer than the
/// database's current version, recording `applied_at_ms`.
pub async fn migrate(
    pool: &SqlitePool,
    migrations: &[(i64, &'static str)],
    applied_at_ms: i64,
) -> Result<(), MigrateError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at INTEGER NOT NULL
        )",
    )
    .execute(pool)
    .await?;
    let known = migrations.last().map(|(v, _)| *v).unwrap_or(0);
    for &(version, sql) in migrations {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let current: i64 =
            sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
                .fetch_one(&mut *tx)
                .await
                .and_then(|row| row.try_get("v"))?;
        if current > known {
            return Err(MigrateError::Newer { current, known });
        }
        if current >= version {
            continue;
        }
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|source| MigrateError::Failed { version, source })?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(applied_at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

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
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(reader)
            .await?;
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
        migrate(&p, m, 1).await.expect("first");
        migrate(&p, m, 2).await.expect("again: nothing to do");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&p)
            .await
            .expect("count");
        assert_eq!(n, 2);
        let older = &m[..1];
        assert!(matches!(
            migrate(&p, older, 3).await,
            Err(MigrateError::Newer {
                current: 2,
                known: 1
            })
        ));
        let broken: &[(i64, &'static str)] = &[(1, "x"), (2, "y"), (3, "NOT SQL")];
        assert!(matches!(
            migrate(&p, broken, 4).await,
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
