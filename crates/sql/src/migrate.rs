//! [`migrate`]: the versioned migration runner of every store.

use crate::dialect::Dialect;
use crate::query::query;
use sqlx::Pool;

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
/// version recorded in `table`, recording `applied_at_ms`. Each migration runs in its own
/// write transaction that first takes the dialect's migration lock and re-reads the
/// version, so processes starting at once apply each migration exactly once; a database
/// newer than the build is refused.
pub async fn migrate<D: Dialect>(
    pool: &Pool<D::DB>,
    table: &'static str,
    migrations: &[(i64, &'static str)],
    applied_at_ms: i64,
) -> Result<(), MigrateError> {
    {
        let mut tx = D::begin_write(pool).await?;
        D::lock_migrations(&mut tx, table).await?;
        query::<D>(sqlx::AssertSqlSafe(D::version_table_ddl(table)))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let known = migrations.last().map(|(v, _)| *v).unwrap_or(0);
    let select = format!("SELECT COALESCE(MAX(version), 0) AS v FROM {table}");
    let insert = format!("INSERT INTO {table} (version, applied_at) VALUES ($1, $2)");
    for &(version, sql) in migrations {
        let mut tx = D::begin_write(pool).await?;
        D::lock_migrations(&mut tx, table).await?;
        let current: i64 = query::<D>(sqlx::AssertSqlSafe(select.clone()))
            .fetch_one(&mut *tx)
            .await?
            .get("v")?;
        if current > known {
            return Err(MigrateError::Newer { current, known });
        }
        if current >= version {
            continue;
        }
        D::execute_script(sql, &mut tx)
            .await
            .map_err(|source| MigrateError::Failed { version, source })?;
        query::<D>(sqlx::AssertSqlSafe(insert.clone()))
            .bind(version)
            .bind(applied_at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}
