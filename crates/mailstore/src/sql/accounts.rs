//! Accounts and their addresses. `ensure_account` runs its lookup and its insert in one
//! write transaction that first locks the `organization` row (SQLite: the write lock of
//! `BEGIN IMMEDIATE` already serialises it), so concurrent first logins of one user, from
//! any number of processes or nodes, create one account; `user_oid` and `address` are
//! UNIQUE besides.

use super::codec::{self, backend, select_account};
use super::folders::insert_folder;
use super::{MailDb, MailDialect, commit, commit_change};
use crate::{Account, NewAccount, Result, SpecialUse, StoreError};
use mailward_sql::{Lock, query, query_locked};
use mailward_types::clock;
use uuid::Uuid;

pub(super) async fn ensure_account<D: MailDialect>(
    s: &MailDb<D>,
    new: NewAccount,
) -> Result<Account> {
    let address = new.address.trim().to_lowercase();
    if address.is_empty() || !address.contains('@') {
        return Err(StoreError::Invalid(format!(
            "{:?} is not a mail address",
            new.address
        )));
    }
    // Every fresh-token login comes here: an existing account is answered from the read
    // pool, so logins never queue behind writers.
    if let Some(account) = account_by_user(s, new.user_oid).await? {
        return Ok(account);
    }
    let mut tx = s.begin().await?;
    query_locked::<D>("SELECT id FROM organization WHERE id = 1", Lock::Update)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let existing = query::<D>(concat!(select_account!(), "WHERE a.user_oid = $1"))
        .bind(new.user_oid.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    if let Some(row) = existing {
        return codec::account(&row);
    }
    let taken = query::<D>("SELECT 1 FROM addresses WHERE address = $1")
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
    query::<D>(
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
    query::<D>("INSERT INTO addresses (address, account) VALUES ($1, $2)")
        .bind(&account.address)
        .bind(account.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    // UIDVALIDITY derives from the creation time (and stays above every value handed out).
    query::<D>(
        "UPDATE organization SET next_uid_validity = $1 WHERE id = 1 AND next_uid_validity < $1",
    )
    .bind(clock::secs(account.created))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    for role in SpecialUse::ALL {
        insert_folder::<D>(&mut tx, account.id, role.default_name(), Some(role), true).await?;
    }
    commit(tx).await?;
    Ok(account)
}

pub(super) async fn account<D: MailDialect>(s: &MailDb<D>, id: Uuid) -> Result<Option<Account>> {
    query::<D>(concat!(select_account!(), "WHERE a.id = $1"))
        .bind(id.to_string())
        .fetch_optional(&s.reader)
        .await
        .map_err(backend)?
        .map(|row| codec::account(&row))
        .transpose()
}

pub(super) async fn account_by_address<D: MailDialect>(
    s: &MailDb<D>,
    address: &str,
) -> Result<Option<Account>> {
    query::<D>(concat!(
        select_account!(),
        "WHERE a.id = (SELECT account FROM addresses WHERE address = $1)"
    ))
    .bind(address.trim().to_lowercase())
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|row| codec::account(&row))
    .transpose()
}

pub(super) async fn account_by_upn<D: MailDialect>(
    s: &MailDb<D>,
    upn: &str,
) -> Result<Option<Account>> {
    // The newest account wins if a UPN was moved from one identity user to another.
    query::<D>(D::ACCOUNT_BY_UPN)
        .bind(upn.trim())
        .fetch_optional(&s.reader)
        .await
        .map_err(backend)?
        .map(|row| codec::account(&row))
        .transpose()
}

pub(super) async fn account_by_user<D: MailDialect>(
    s: &MailDb<D>,
    user_oid: Uuid,
) -> Result<Option<Account>> {
    query::<D>(concat!(select_account!(), "WHERE a.user_oid = $1"))
        .bind(user_oid.to_string())
        .fetch_optional(&s.reader)
        .await
        .map_err(backend)?
        .map(|row| codec::account(&row))
        .transpose()
}

pub(super) async fn list_accounts<D: MailDialect>(s: &MailDb<D>) -> Result<Vec<Account>> {
    query::<D>(concat!(select_account!(), "ORDER BY a.address"))
        .fetch_all(&s.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(codec::account)
        .collect()
}

/// Deletes the account; folders, messages and addresses go with it by `ON DELETE CASCADE`,
/// and the message triggers release the bodies' references (the bodies go at the next
/// garbage collection). The account's folders are locked first, in id order, like every
/// other writer of a folder locks them.
pub(super) async fn delete_account<D: MailDialect>(s: &MailDb<D>, id: Uuid) -> Result<()> {
    let mut tx = s.begin().await?;
    query_locked::<D>(
        "SELECT id FROM folders WHERE account = $1 ORDER BY id",
        Lock::Update,
    )
    .bind(id.to_string())
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let deleted = query::<D>("DELETE FROM accounts WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound("account"));
    }
    commit_change(s, tx, id).await
}
