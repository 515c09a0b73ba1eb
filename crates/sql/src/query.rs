//! Statements with their arguments ([`Q`]), where they run ([`Ex`]) and the rows they
//! return ([`Row`]), generic over the [`Dialect`].

use crate::dialect::{Dialect, Lock};
use sqlx::{Database, Pool, Postgres, Sqlite};
use std::borrow::Cow;

/// sqlx's query of dialect `D`.
pub type RawQuery<D> =
    sqlx::query::Query<'static, <D as Dialect>::DB, <<D as Dialect>::DB as Database>::Arguments>;
/// The connection type of dialect `D`.
pub type Conn<D> = <<D as Dialect>::DB as Database>::Connection;
/// sqlx's row type of dialect `D`.
pub type DbRow<D> = <<D as Dialect>::DB as Database>::Row;

/// A value both backends can bind (integers, text, booleans, bytes, and `Option`s and
/// references of them).
pub trait Value<'t>:
    Send
    + sqlx::Encode<'t, Sqlite>
    + sqlx::Type<Sqlite>
    + sqlx::Encode<'t, Postgres>
    + sqlx::Type<Postgres>
{
}
impl<'t, T> Value<'t> for T where
    T: Send
        + sqlx::Encode<'t, Sqlite>
        + sqlx::Type<Sqlite>
        + sqlx::Encode<'t, Postgres>
        + sqlx::Type<Postgres>
{
}

/// A value both backends can read from a row.
pub trait Column<'r>:
    sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}
impl<'r, T> Column<'r> for T where
    T: sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
{
}

/// Where a statement runs: a pool (one checkout for the statement) or a connection the
/// caller holds, usually a transaction's (`&mut *tx`).
pub enum Ex<'e, D: Dialect> {
    Pool(&'e Pool<D::DB>),
    Conn(&'e mut Conn<D>),
}

impl<D: Dialect> std::fmt::Debug for Ex<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ex::Pool(_) => "Ex::Pool",
            Ex::Conn(_) => "Ex::Conn",
        })
    }
}

impl<'e, D: Dialect> From<&'e Pool<D::DB>> for Ex<'e, D> {
    fn from(p: &'e Pool<D::DB>) -> Self {
        Ex::Pool(p)
    }
}

impl<'e, D: Dialect> From<&'e mut Conn<D>> for Ex<'e, D> {
    fn from(c: &'e mut Conn<D>) -> Self {
        Ex::Conn(c)
    }
}

/// What a statement run with [`Q::execute`] did.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows: u64,
}

impl Done {
    /// Rows inserted, updated or deleted.
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// A row of dialect `D`.
pub struct Row<D: Dialect>(pub DbRow<D>);

impl<D: Dialect> std::fmt::Debug for Row<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Row<{}>", D::NAME)
    }
}

impl<D: Dialect> Row<D> {
    /// Column `col`, decoded as `T`.
    pub fn get<'r, T: Column<'r>>(&'r self, col: &str) -> Result<T, sqlx::Error> {
        D::get(&self.0, col)
    }

    /// Boolean column `col`, in the dialect's encoding.
    pub fn get_bool(&self, col: &str) -> Result<bool, sqlx::Error> {
        D::get_bool(&self.0, col)
    }
}

/// A statement of dialect `D` with its arguments.
#[must_use = "a statement does nothing until it is run"]
pub struct Q<D: Dialect> {
    inner: RawQuery<D>,
}

impl<D: Dialect> std::fmt::Debug for Q<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Q<{}>", D::NAME)
    }
}

/// A statement (`$1`, `$2`, ... placeholders).
pub fn query<D: Dialect>(sql: impl sqlx::SqlSafeStr) -> Q<D> {
    Q {
        inner: sqlx::query(sql),
    }
}

/// A `SELECT` that locks the rows it reads as `lock` says until the transaction ends: the
/// dialect's suffix (`FOR UPDATE`, ...) is appended to `sql`.
pub fn query_locked<D: Dialect>(sql: &'static str, lock: Lock) -> Q<D> {
    let suffix = D::lock_suffix(lock);
    if suffix.is_empty() {
        query(sql)
    } else {
        query(sqlx::AssertSqlSafe(Cow::<'static, str>::Owned(format!(
            "{sql}{suffix}"
        ))))
    }
}

impl<D: Dialect> Q<D> {
    /// Adds the next argument.
    pub fn bind<'t, V: Value<'t>>(self, v: V) -> Self {
        Q {
            inner: D::bind(self.inner, v),
        }
    }

    /// Runs the statement.
    pub async fn execute<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<Done, sqlx::Error> {
        let rows = D::execute(self.inner, ex.into()).await?;
        Ok(Done { rows })
    }

    /// Runs the statement, returning every row.
    pub async fn fetch_all<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<Vec<Row<D>>, sqlx::Error> {
        Ok(D::fetch_all(self.inner, ex.into())
            .await?
            .into_iter()
            .map(Row)
            .collect())
    }

    /// Runs the statement, returning its first row if any.
    pub async fn fetch_optional<'e>(
        self,
        ex: impl Into<Ex<'e, D>>,
    ) -> Result<Option<Row<D>>, sqlx::Error> {
        Ok(D::fetch_optional(self.inner, ex.into()).await?.map(Row))
    }

    /// Runs the statement, which must return a row.
    pub async fn fetch_one<'e>(self, ex: impl Into<Ex<'e, D>>) -> Result<Row<D>, sqlx::Error> {
        D::fetch_optional(self.inner, ex.into())
            .await?
            .map(Row)
            .ok_or(sqlx::Error::RowNotFound)
    }
}
