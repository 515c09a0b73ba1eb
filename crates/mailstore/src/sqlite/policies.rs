//! Authentication policies (Exchange's model): stored by case-folded name as their JSON
//! export, which [`AuthenticationPolicy::from_json`] reads back losslessly; the per-account
//! assignment and the organization default are foreign keys to that name, and deleting a
//! policy still in use is refused before the key constraint would be.

use super::codec::{backend, get};
use super::{SqliteMailStore, commit};
use crate::{EffectivePolicy, Result, StoreError};
use mailward_authpolicy::AuthenticationPolicy;
use uuid::Uuid;

/// The lookup key of a policy name (names are unique ignoring case).
fn key(name: &str) -> String {
    name.to_lowercase()
}

fn decode(json: &str) -> Result<AuthenticationPolicy> {
    AuthenticationPolicy::from_json(json)
        .map_err(|e| StoreError::Backend(format!("bad authentication policy in database: {e}")))
}

pub(super) async fn put_auth_policy(
    store: &SqliteMailStore,
    policy: &AuthenticationPolicy,
) -> Result<()> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO auth_policies (name_key, name, policy) VALUES ($1, $2, $3) \
         ON CONFLICT (name_key) DO UPDATE SET name = excluded.name, policy = excluded.policy",
    )
    .bind(policy.name().key())
    .bind(policy.name().as_str())
    .bind(policy.to_json())
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    commit(tx).await
}

pub(super) async fn auth_policy(
    store: &SqliteMailStore,
    name: &str,
) -> Result<Option<AuthenticationPolicy>> {
    sqlx::query("SELECT policy FROM auth_policies WHERE name_key = $1")
        .bind(key(name))
        .fetch_optional(store.reader())
        .await
        .map_err(backend)?
        .map(|row| decode(get(&row, 0)?))
        .transpose()
}

pub(super) async fn auth_policies(store: &SqliteMailStore) -> Result<Vec<AuthenticationPolicy>> {
    sqlx::query("SELECT policy FROM auth_policies ORDER BY name_key")
        .fetch_all(store.reader())
        .await
        .map_err(backend)?
        .iter()
        .map(|row| decode(get(row, 0)?))
        .collect()
}

pub(super) async fn delete_auth_policy(store: &SqliteMailStore, name: &str) -> Result<()> {
    let key = key(name);
    let mut tx = store.begin().await?;
    let row = sqlx::query(
        "SELECT p.name, \
         (SELECT COUNT(*) FROM accounts WHERE auth_policy = p.name_key), \
         (SELECT COUNT(*) FROM organization WHERE default_auth_policy = p.name_key) \
         FROM auth_policies p WHERE p.name_key = $1",
    )
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("authentication policy"))?;
    let display: String = get(&row, 0)?;
    let assigned: i64 = get(&row, 1)?;
    let is_default: i64 = get(&row, 2)?;
    if assigned > 0 {
        return Err(StoreError::Invalid(format!(
            "authentication policy {display:?} is assigned to {assigned} account(s)"
        )));
    }
    if is_default > 0 {
        return Err(StoreError::Invalid(format!(
            "authentication policy {display:?} is the organization default"
        )));
    }
    sqlx::query("DELETE FROM auth_policies WHERE name_key = $1")
        .bind(&key)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    commit(tx).await
}

pub(super) async fn default_auth_policy(store: &SqliteMailStore) -> Result<Option<String>> {
    sqlx::query(
        "SELECT p.name FROM organization o JOIN auth_policies p \
         ON p.name_key = o.default_auth_policy WHERE o.id = 1",
    )
    .fetch_optional(store.reader())
    .await
    .map_err(backend)?
    .map(|row| get(&row, 0))
    .transpose()
}

pub(super) async fn set_default_auth_policy(
    store: &SqliteMailStore,
    name: Option<&str>,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let key = match name {
        Some(name) => Some(existing_key(&mut tx, name).await?),
        None => None,
    };
    sqlx::query("UPDATE organization SET default_auth_policy = $1 WHERE id = 1")
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    commit(tx).await
}

pub(super) async fn set_account_policy(
    store: &SqliteMailStore,
    account: Uuid,
    name: Option<&str>,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let key = match name {
        Some(name) => Some(existing_key(&mut tx, name).await?),
        None => None,
    };
    let changed = sqlx::query("UPDATE accounts SET auth_policy = $2 WHERE id = $1")
        .bind(account.to_string())
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound("account"));
    }
    commit(tx).await?;
    store.bump(account);
    Ok(())
}

pub(super) async fn effective_auth_policy(
    store: &SqliteMailStore,
    account: Uuid,
) -> Result<EffectivePolicy> {
    let row = sqlx::query(
        "SELECT up.policy, dp.policy FROM accounts a \
         LEFT JOIN auth_policies up ON up.name_key = a.auth_policy \
         LEFT JOIN organization o ON o.id = 1 \
         LEFT JOIN auth_policies dp ON dp.name_key = o.default_auth_policy \
         WHERE a.id = $1",
    )
    .bind(account.to_string())
    .fetch_optional(store.reader())
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("account"))?;
    let user: Option<&str> = get(&row, 0)?;
    let default: Option<&str> = get(&row, 1)?;
    Ok(EffectivePolicy {
        user: user.map(decode).transpose()?,
        default: default.map(decode).transpose()?,
    })
}

async fn existing_key(conn: &mut sqlx::SqliteConnection, name: &str) -> Result<String> {
    let key = key(name);
    sqlx::query("SELECT 1 FROM auth_policies WHERE name_key = $1")
        .bind(&key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|_| key)
        .ok_or(StoreError::NotFound("authentication policy"))
}
