//! Authentication policies (Exchange's model): stored by case-folded name as their JSON
//! export, which [`AuthenticationPolicy::from_json`] reads back losslessly; the per-account
//! assignment and the organization default are foreign keys to that name, and deleting a
//! policy still in use is refused before the key constraint would be.

use super::codec::{backend, get};
use super::{MailDb, MailDialect, commit, commit_change};
use crate::{EffectivePolicy, Result, StoreError};
use mailward_authpolicy::AuthenticationPolicy;
use mailward_sql::{Conn, query};
use uuid::Uuid;

/// The lookup key of a policy name (names are unique ignoring case).
fn key(name: &str) -> String {
    name.to_lowercase()
}

fn decode(json: &str) -> Result<AuthenticationPolicy> {
    AuthenticationPolicy::from_json(json)
        .map_err(|e| StoreError::Backend(format!("bad authentication policy in database: {e}")))
}

pub(super) async fn put_auth_policy<D: MailDialect>(
    s: &MailDb<D>,
    policy: &AuthenticationPolicy,
) -> Result<()> {
    let mut tx = s.begin().await?;
    query::<D>(
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

pub(super) async fn auth_policy<D: MailDialect>(
    s: &MailDb<D>,
    name: &str,
) -> Result<Option<AuthenticationPolicy>> {
    query::<D>("SELECT policy FROM auth_policies WHERE name_key = $1")
        .bind(key(name))
        .fetch_optional(&s.reader)
        .await
        .map_err(backend)?
        .map(|row| decode(&get::<String, _>(&row, "policy")?))
        .transpose()
}

pub(super) async fn auth_policies<D: MailDialect>(
    s: &MailDb<D>,
) -> Result<Vec<AuthenticationPolicy>> {
    query::<D>("SELECT policy FROM auth_policies ORDER BY name_key")
        .fetch_all(&s.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| decode(&get::<String, _>(row, "policy")?))
        .collect()
}

pub(super) async fn delete_auth_policy<D: MailDialect>(s: &MailDb<D>, name: &str) -> Result<()> {
    let key = key(name);
    let mut tx = s.begin().await?;
    let row = query::<D>(
        "SELECT p.name, \
         (SELECT COUNT(*) FROM accounts WHERE auth_policy = p.name_key) AS assigned, \
         (SELECT COUNT(*) FROM organization WHERE default_auth_policy = p.name_key) AS is_default \
         FROM auth_policies p WHERE p.name_key = $1",
    )
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("authentication policy"))?;
    let display: String = get(&row, "name")?;
    let assigned: i64 = get(&row, "assigned")?;
    let is_default: i64 = get(&row, "is_default")?;
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
    query::<D>("DELETE FROM auth_policies WHERE name_key = $1")
        .bind(&key)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    commit(tx).await
}

pub(super) async fn default_auth_policy<D: MailDialect>(s: &MailDb<D>) -> Result<Option<String>> {
    query::<D>(
        "SELECT p.name FROM organization o JOIN auth_policies p \
         ON p.name_key = o.default_auth_policy WHERE o.id = 1",
    )
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|row| get(&row, "name"))
    .transpose()
}

pub(super) async fn set_default_auth_policy<D: MailDialect>(
    s: &MailDb<D>,
    name: Option<&str>,
) -> Result<()> {
    let mut tx = s.begin().await?;
    let key = match name {
        Some(name) => Some(existing_key::<D>(&mut tx, name).await?),
        None => None,
    };
    query::<D>("UPDATE organization SET default_auth_policy = $1 WHERE id = 1")
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    commit(tx).await
}

pub(super) async fn set_account_policy<D: MailDialect>(
    s: &MailDb<D>,
    account: Uuid,
    name: Option<&str>,
) -> Result<()> {
    let mut tx = s.begin().await?;
    let key = match name {
        Some(name) => Some(existing_key::<D>(&mut tx, name).await?),
        None => None,
    };
    let changed = query::<D>("UPDATE accounts SET auth_policy = $2 WHERE id = $1")
        .bind(account.to_string())
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound("account"));
    }
    commit_change(s, tx, account).await
}

pub(super) async fn effective_auth_policy<D: MailDialect>(
    s: &MailDb<D>,
    account: Uuid,
) -> Result<EffectivePolicy> {
    let row = query::<D>(
        "SELECT up.policy AS user_policy, dp.policy AS default_policy FROM accounts a \
         LEFT JOIN auth_policies up ON up.name_key = a.auth_policy \
         LEFT JOIN organization o ON o.id = 1 \
         LEFT JOIN auth_policies dp ON dp.name_key = o.default_auth_policy \
         WHERE a.id = $1",
    )
    .bind(account.to_string())
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("account"))?;
    let user: Option<String> = get(&row, "user_policy")?;
    let default: Option<String> = get(&row, "default_policy")?;
    Ok(EffectivePolicy {
        user: user.as_deref().map(decode).transpose()?,
        default: default.as_deref().map(decode).transpose()?,
    })
}

async fn existing_key<D: MailDialect>(conn: &mut Conn<D>, name: &str) -> Result<String> {
    let key = key(name);
    query::<D>("SELECT 1 FROM auth_policies WHERE name_key = $1")
        .bind(&key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|_| key)
        .ok_or(StoreError::NotFound("authentication policy"))
}
