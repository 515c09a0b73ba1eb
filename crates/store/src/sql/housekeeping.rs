//! The sign-in log and `purge_expired`.

use super::codec::*;
use super::{IdentityDb, IdentityDialect, REFRESH_TOKEN_RETENTION_MS};
use crate::Result;
use mailward_sql::{Ex, query};
use mailward_types::records::{SignInEvent, SignInFilter};
use time::OffsetDateTime;

/// Sign-in log page size when the filter names none, and the most a filter may ask for.
const SIGNIN_DEFAULT_LIMIT: u32 = 100;
const SIGNIN_MAX_LIMIT: u32 = 1000;

// ---- sign-in log ----

pub(super) async fn append_signin<D: IdentityDialect>(
    s: &IdentityDb<D>,
    event: &SignInEvent,
) -> Result<()> {
    insert_signin::<D>(&s.writer, event).await
}

/// Appends a batch in one transaction (one commit for the whole batch).
pub(super) async fn append_signins<D: IdentityDialect>(
    s: &IdentityDb<D>,
    events: &[SignInEvent],
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // One multi-row INSERT per chunk: a statement is one round trip to SQLite's worker
    // thread, so a burst costs a handful of statements instead of one per event. A chunk
    // is a single statement, hence atomic; chunks go in one transaction. Chunk lengths are
    // powers of two (a burst of 45 is 32 + 8 + 4 + 1), so only a few distinct statements
    // are ever prepared and the statement cache keeps them.
    let mut tx = s.begin().await?;
    let mut rest = events;
    while !rest.is_empty() {
        let len = D::SIGNIN_INSERT_CHUNK.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        let mut sql = String::from(
            "INSERT INTO signins (id, created_at, user_id, upn_key, app_id, result, error_code,
                                  client_app_type, ip, event) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            for j in 1..=10 {
                if j > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&D::placeholder(i * 10 + j));
            }
            sql.push(')');
        }
        let mut q = query::<D>(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            q = q
                .bind(id(event.id))
                .bind(ms(event.created_date_time))
                .bind(opt_id(event.user_id))
                .bind(event.user_principal_name.as_deref().map(name_key))
                .bind(event.app_id.clone())
                .bind(event.result.as_str())
                .bind(event.error_code.map(i64::from))
                .bind(event.client_app_used.as_str())
                .bind(event.ip_address.clone())
                .bind(signin_json(event)?);
        }
        q.execute(&mut *tx).await.map_err(|e| {
            write_err(
                e,
                |_| "sign-in event".to_owned(),
                || "sign-in event".to_owned(),
            )
        })?;
    }
    super::commit(tx).await
}

async fn insert_signin<'e, D: IdentityDialect>(
    ex: impl Into<Ex<'e, D>>,
    event: &SignInEvent,
) -> Result<()> {
    query::<D>(
        "INSERT INTO signins (id, created_at, user_id, upn_key, app_id, result, error_code,
                              client_app_type, ip, event)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id(event.id))
    .bind(ms(event.created_date_time))
    .bind(opt_id(event.user_id))
    .bind(event.user_principal_name.as_deref().map(name_key))
    .bind(&event.app_id)
    .bind(event.result.as_str())
    .bind(event.error_code.map(i64::from))
    .bind(event.client_app_used.as_str())
    .bind(&event.ip_address)
    .bind(signin_json(event)?)
    .execute(ex)
    .await
    .map_err(|e| {
        write_err(
            e,
            |_| format!("sign-in event {}", event.id),
            || format!("sign-in event {}", event.id),
        )
    })?;
    Ok(())
}

pub(super) async fn signins<D: IdentityDialect>(
    s: &IdentityDb<D>,
    filter: &SignInFilter,
) -> Result<Vec<SignInEvent>> {
    enum Arg {
        Int(i64),
        Text(String),
    }
    let mut sql = String::from("SELECT created_at, event FROM signins WHERE 1 = 1");
    let mut args = Vec::new();
    let mut cond = |column_test: &str, arg: Arg| {
        args.push(arg);
        sql.push_str(&format!(" AND {column_test} ${}", args.len()));
    };
    if let Some(t) = filter.since {
        cond("created_at >=", Arg::Int(ms(t)));
    }
    if let Some(t) = filter.until {
        cond("created_at <", Arg::Int(ms(t)));
    }
    if let Some(user) = &filter.user {
        cond("upn_key =", Arg::Text(name_key(user)));
    }
    if let Some(app) = &filter.app_id {
        cond("app_id =", Arg::Text(app.clone()));
    }
    if let Some(result) = filter.result {
        cond("result =", Arg::Text(result.as_str().to_owned()));
    }
    if let Some(code) = filter.error_code {
        cond("error_code =", Arg::Int(i64::from(code)));
    }
    if let Some(kind) = filter.client_app_type {
        cond("client_app_type =", Arg::Text(kind.as_str().to_owned()));
    }
    if let Some(ip) = &filter.ip {
        cond("ip =", Arg::Text(ip.clone()));
    }
    let limit = filter
        .limit
        .unwrap_or(SIGNIN_DEFAULT_LIMIT)
        .min(SIGNIN_MAX_LIMIT);
    args.push(Arg::Int(i64::from(limit)));
    sql.push_str(&format!(
        " ORDER BY created_at DESC, seq DESC LIMIT ${}",
        args.len()
    ));

    // The statement text is assembled only from the fixed fragments above; every value
    // is a bound parameter.
    let mut query = query::<D>(sqlx::AssertSqlSafe(sql));
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
        };
    }
    query
        .fetch_all(&s.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(signin_from_row)
        .collect()
}

// ---- housekeeping ----

pub(super) async fn purge_expired<D: IdentityDialect>(
    s: &IdentityDb<D>,
    now: OffsetDateTime,
) -> Result<u64> {
    let now_ms = ms(now);
    let mut removed = 0;
    for (sql, before) in [
        ("DELETE FROM auth_codes WHERE expires_at <= $1", now_ms),
        ("DELETE FROM device_codes WHERE expires_at <= $1", now_ms),
        ("DELETE FROM flows WHERE expires_at <= $1", now_ms),
        ("DELETE FROM sessions WHERE expires_at <= $1", now_ms),
        ("DELETE FROM rate_limits WHERE expires_at <= $1", now_ms),
        (
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            now_ms.saturating_sub(REFRESH_TOKEN_RETENTION_MS),
        ),
    ] {
        // Each table on its own, so a large purge never holds the write lock for long.
        removed += query::<D>(sql)
            .bind(before)
            .execute(&s.writer)
            .await
            .map_err(backend)?
            .rows_affected();
    }
    Ok(removed)
}
