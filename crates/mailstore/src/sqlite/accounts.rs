//! Accounts and their addresses. `ensure_account` runs its lookup and its insert in one
//! `BEGIN IMMEDIATE` transaction on the single writer, so concurrent first logins of one
//! user (even from two processes) create one account; `user_oid` and `address` are UNIQUE
//! besides.

use super::codec::{self, backend, select_account};
use super::folders::insert_folder;
use super::{SqliteMailStore, commit};
use crate::{Account, NewAccount, Result, SpecialUse, StoreError};
use mailward_types::clock;
use uuid::Uuid;

pub(super) async fn ensure_account(store: &SqliteMailStore, new: NewAccount) -> Result<Account> {
    let address = new.address.trim().to_lowercase();
    if address.is_empty() || !address.contains('@') {
        return Err(StoreError::Invalid(format!(
            "{:?} is not a mail address",
            new.address
        )));
    }
    // Every fresh-token login comes here: an existing account is answered from the read
    // pool, so logins never queue on the single writer connection behind appends.
    if let Some(account) = account_by_user(store, new.user_oid).await? {
        return Ok(account);
    }
    let mut tx = store.begin().await?;
    let existing = sqlx::query(concat!(select_account!(), "WHERE a.user_oid = $1"))
        .bind(new.user_oid.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    if let Some(row) = existing {
        return codec::account(&row);
    }
    let taken = sqlx::query("SELECT 1 FROM addresses WHERE address = $1")
        .bind(&address)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    if taken.is_some() {
        return Err(StoreError::Exists("address"));
    }
    let account = Account {
        id: Uuid::new_v4(),
        user_oid: new.user_oid,
        upn: new.upn,
        address,
        display_name: new.display_name,
        auth_policy: None,
        created: new.now,
    };
    sqlx::query(
        "INSERT INTO accounts (id, user_oid, upn, address, display_name, auth_policy, created) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6)",
    )
    .bind(account.id.to_string())
    .bind(account.user_oid.to_string())
    .bind(&account.upn)
    .bind(&account.address)
    .bind(&account.display_name)
    .bind(clock::millis(account.created))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    sqlx::query("INSERT INTO addresses (address, account) VALUES ($1, $2)")
        .bind(&account.address)
        .bind(account.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    // UIDVALIDITY derives from the creation time (and stays above every value handed out).
    sqlx::query(
        "UPDATE organization SET next_uid_validity = MAX(next_uid_validity, $1) WHERE id = 1",
    )
    .bind(clock::secs(account.created))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    for role in SpecialUse::ALL {
        insert_folder(&mut tx, account.id, role.default_name(), Some(role), true).await?;
    }
    commit(tx).await?;
    Ok(account)
}

pub(super) async fn account(store: &SqliteMailStore, id: Uuid) -> Result<Option<Account>> {
    sqlx::query(concat!(select_account!(), "WHERE a.id = $1"))
        .bind(id.to_string())
        .fetch_optional(store.reader())
        .await
        .map_err(backend)?
        .map(|row| codec::account(&row))
        .transpose()
}

pub(super) async fn account_by_address(
    store: &SqliteMailStore,
    address: &str,
) -> Result<Option<Account>> {
    sqlx::query(concat!(
        select_account!(),
        "WHERE a.id = (SELECT account FROM addresses WHERE address = $1)"
    ))
    .bind(address.trim().to_lowercase())
    .fetch_optional(store.reader())
    .await
    .map_err(backend)?
    .map(|row| codec::account(&row))
    .transpose()
}

pub(super) async fn account_by_upn(store: &SqliteMailStore, upn: &str) -> Result<Option<Account>> {
    // `accounts_upn` (migration 2) is on `upn COLLATE NOCASE`. The newest account wins if
    // a UPN was moved from one identity user to another.
    sqlx::query(concat!(
        select_account!(),
        "WHERE a.upn = $1 COLLATE NOCASE ORDER BY a.created DESC LIMIT 1"
    ))
    .bind(upn.trim())
    .fetch_optional(store.reader())
    .await
    .map_err(backend)?
    .map(|row| codec::account(&row))
    .transpose()
}

pub(super) async fn account_by_user(
    store: &SqliteMailStore,
    user_oid: Uuid,
) -> Result<Option<Account>> {
    sqlx::query(concat!(select_account!(), "WHERE a.user_oid = $1"))
        .bind(user_oid.to_string())
        .fetch_optional(store.reader())
        .await
        .map_err(backend)?
        .map(|row| codec::account(&row))
        .transpose()
}

pub(super) async fn list_accounts(store: &SqliteMailStore) -> Result<Vec<Account>> {
    sqlx::query(concat!(select_account!(), "ORDER BY a.address"))
        .fetch_all(store.reader())
        .await
        .map_err(backend)?
        .iter()
        .map(codec::account)
        .collect()
}

/// Deletes the account; folders, messages and addresses go with it by `ON DELETE CASCADE`,
/// and the message triggers release the bodies' references (the files go at the next
/// garbage collection).
pub(super) async fn delete_account(store: &SqliteMailStore, id: Uuid) -> Result<()> {
    let mut tx = store.begin().await?;
    let deleted = sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound("account"));
    }
    commit(tx).await?;
    store.bump(id);
    Ok(())
}
