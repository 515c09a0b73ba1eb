//! [`Dialect`]: what differs between the SQL backends, and its two implementations.

use crate::query::{Column, Conn, DbRow, Ex, RawQuery, Value};
use sqlx::{Pool, Row as _, Transaction};
use std::fmt::Debug;
use std::future::Future;

/// The row lock a read-modify-write takes on the row it reads. SQLite needs none: every
/// write transaction already holds the database's write lock (`BEGIN IMMEDIATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The row will be updated or deleted (`FOR UPDATE`).
    Update,
    /// The row's non-key columns will be updated (`FOR NO KEY UPDATE`): serialises writers
    /// of one parent row without blocking inserts that reference it.
    NoKeyUpdate,
    /// The row must stay while a referencing row is inserted (`FOR KEY SHARE`).
    KeyShare,
}

/// A SQL backend. Implemented by [`Sqlite`] and [`Postgres`]; stores are generic over it.
///
/// The execution methods are the only places sqlx's backend-specific bounds are needed;
/// generic code reaches them through [`Q`](crate::Q).
pub trait Dialect: Debug + Clone + Copy + Default + Send + Sync + 'static {
    /// The sqlx database.
    type DB: sqlx::Database;

    /// The backend's name in messages and logs.
    const NAME: &'static str;

    /// The suffix a `SELECT` takes for `lock`.
    fn lock_suffix(lock: Lock) -> &'static str;

    /// The `n`-th (1-based) parameter of a statement built at run time (multi-row inserts).
    /// SQLite: `?`, positional (sqlx looks a `$n` up by name on every bind, a scan of every
    /// parameter name, so binding `$n` parameters is quadratic in their number);
    /// PostgreSQL: `$n`.
    fn placeholder(n: usize) -> String;

    /// Adds one argument to `q`.
    fn bind<'t, V: Value<'t>>(q: RawQuery<Self>, v: V) -> RawQuery<Self>;

    /// Runs `q`, returning the number of rows it changed.
    fn execute<'e>(
        q: RawQuery<Self>,
        ex: Ex<'e, Self>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'e;

    /// Runs `q`, returning every row.
    fn fetch_all<'e>(
        q: RawQuery<Self>,
        ex: Ex<'e, Self>,
    ) -> impl Future<Output = Result<Vec<DbRow<Self>>, sqlx::Error>> + Send + 'e;

    /// Runs `q`, returning its first row if any.
    fn fetch_optional<'e>(
        q: RawQuery<Self>,
        ex: Ex<'e, Self>,
    ) -> impl Future<Output = Result<Option<DbRow<Self>>, sqlx::Error>> + Send + 'e;

    /// Runs a script of several statements without arguments (migrations).
    fn execute_script<'e>(
        sql: &'static str,
        conn: &'e mut Conn<Self>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'e;

    /// Begins a transaction that will write: on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a read-modify-write never has to upgrade its lock.
    fn begin_write(
        pool: &Pool<Self::DB>,
    ) -> impl Future<Output = Result<Transaction<'static, Self::DB>, sqlx::Error>> + Send + '_;

    /// Serialises migrations of the store whose version table is `table` across
    /// processes, until the transaction on `conn` ends. (SQLite: the write lock taken by
    /// [`Dialect::begin_write`] already does.)
    fn lock_migrations<'e>(
        conn: &'e mut Conn<Self>,
        table: &'static str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'e;

    /// The DDL of a migration version table named `table`.
    fn version_table_ddl(table: &'static str) -> String;

    /// Reads column `col` of `row`.
    fn get<'r, T: Column<'r>>(row: &'r DbRow<Self>, col: &str) -> Result<T, sqlx::Error>;

    /// Reads a boolean column (SQLite stores 0/1 integers, PostgreSQL `BOOLEAN`).
    fn get_bool(row: &DbRow<Self>, col: &str) -> Result<bool, sqlx::Error>;
}

/// SQLite (the embedded default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sqlite;

/// PostgreSQL (several nodes on one database).
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

macro_rules! run_on {
    ($ex:expr, |$e:ident| $body:expr) => {
        match $ex {
            Ex::Pool($e) => $body,
            Ex::Conn($e) => $body,
        }
    };
}

/// The methods whose text is the same for every backend: written once, compiled in each
/// `impl` where the concrete sqlx types satisfy sqlx's bounds.
macro_rules! execution {
    () => {
        fn bind<'t, V: Value<'t>>(q: RawQuery<Self>, v: V) -> RawQuery<Self> {
            q.bind(v)
        }

        async fn execute(q: RawQuery<Self>, ex: Ex<'_, Self>) -> Result<u64, sqlx::Error> {
            Ok(run_on!(ex, |e| q.execute(e).await)?.rows_affected())
        }

        async fn fetch_all(
            q: RawQuery<Self>,
            ex: Ex<'_, Self>,
        ) -> Result<Vec<DbRow<Self>>, sqlx::Error> {
            run_on!(ex, |e| q.fetch_all(e).await)
        }

        async fn fetch_optional(
            q: RawQuery<Self>,
            ex: Ex<'_, Self>,
        ) -> Result<Option<DbRow<Self>>, sqlx::Error> {
            run_on!(ex, |e| q.fetch_optional(e).await)
        }

        async fn execute_script(
            sql: &'static str,
            conn: &mut Conn<Self>,
        ) -> Result<(), sqlx::Error> {
            sqlx::raw_sql(sql).execute(conn).await.map(drop)
        }

        fn get<'r, T: Column<'r>>(row: &'r DbRow<Self>, col: &str) -> Result<T, sqlx::Error> {
            row.try_get(col)
        }
    };
}

impl Dialect for Sqlite {
    type DB = sqlx::Sqlite;
    const NAME: &'static str = "SQLite";

    fn lock_suffix(_: Lock) -> &'static str {
        ""
    }

    fn placeholder(_: usize) -> String {
        "?".to_owned()
    }

    execution!();

    async fn begin_write(
        pool: &Pool<Self::DB>,
    ) -> Result<Transaction<'static, Self::DB>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn lock_migrations(_: &mut Conn<Self>, _: &'static str) -> Result<(), sqlx::Error> {
        Ok(())
    }

    fn version_table_ddl(table: &'static str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                version INTEGER PRIMARY KEY,
                applied_at INTEGER NOT NULL
            )"
        )
    }

    fn get_bool(row: &DbRow<Self>, col: &str) -> Result<bool, sqlx::Error> {
        Ok(row.try_get::<i64, _>(col)? != 0)
    }
}

impl Dialect for Postgres {
    type DB = sqlx::Postgres;
    const NAME: &'static str = "PostgreSQL";

    fn lock_suffix(lock: Lock) -> &'static str {
        match lock {
            Lock::Update => " FOR UPDATE",
            Lock::NoKeyUpdate => " FOR NO KEY UPDATE",
            Lock::KeyShare => " FOR KEY SHARE",
        }
    }

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    execution!();

    async fn begin_write(
        pool: &Pool<Self::DB>,
    ) -> Result<Transaction<'static, Self::DB>, sqlx::Error> {
        pool.begin().await
    }

    async fn lock_migrations(
        conn: &mut Conn<Self>,
        table: &'static str,
    ) -> Result<(), sqlx::Error> {
        // One lock per (schema, store): stores in separate schemas migrate independently.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext('mailward-migrate:' || current_schema() || ':' || $1))",
        )
        .bind(table)
        .execute(conn)
        .await
        .map(drop)
    }

    fn version_table_ddl(table: &'static str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                version BIGINT PRIMARY KEY,
                applied_at BIGINT NOT NULL
            )"
        )
    }

    fn get_bool(row: &DbRow<Self>, col: &str) -> Result<bool, sqlx::Error> {
        row.try_get(col)
    }
}
