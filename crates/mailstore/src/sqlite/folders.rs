//! Folders: listing, lookup by name (canonical `INBOX`) or role, create with missing parents,
//! delete, rename of a subtree, the special rename of INBOX, subscriptions and `STATUS`.
//!
//! Invariant kept here: every folder's parents exist (create makes them, rename makes the
//! target's, delete refuses a folder with children). Children of `a` are found with the
//! index range `name > 'a/' AND name < 'a0'` (`0` follows `/` in byte order), never `LIKE`,
//! which would treat `_` and `%` in names as wildcards and ignore case.

use super::codec::{self, backend, folder_columns, role_name, to_u32, to_u64};
use super::{SqliteMailStore, commit, messages};
use crate::names::{self, INBOX};
use crate::{Folder, FolderId, FolderStatus, Result, SpecialUse, StoreError};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

pub(super) async fn folders(store: &SqliteMailStore, account: Uuid) -> Result<Vec<Folder>> {
    sqlx::query(concat!(
        "SELECT ",
        folder_columns!(),
        " FROM folders WHERE account = $1 ORDER BY name"
    ))
    .bind(account.to_string())
    .fetch_all(store.reader())
    .await
    .map_err(backend)?
    .iter()
    .map(codec::folder)
    .collect()
}

pub(super) async fn folder(
    store: &SqliteMailStore,
    account: Uuid,
    name: &str,
) -> Result<Option<Folder>> {
    sqlx::query(concat!(
        "SELECT ",
        folder_columns!(),
        " FROM folders WHERE account = $1 AND name = $2"
    ))
    .bind(account.to_string())
    .bind(names::canonical(name))
    .fetch_optional(store.reader())
    .await
    .map_err(backend)?
    .map(|row| codec::folder(&row))
    .transpose()
}

pub(super) async fn folder_by_role(
    store: &SqliteMailStore,
    account: Uuid,
    role: SpecialUse,
) -> Result<Option<Folder>> {
    sqlx::query(concat!(
        "SELECT ",
        folder_columns!(),
        " FROM folders WHERE account = $1 AND role = $2"
    ))
    .bind(account.to_string())
    .bind(role_name(role))
    .fetch_optional(store.reader())
    .await
    .map_err(backend)?
    .map(|row| codec::folder(&row))
    .transpose()
}

pub(super) async fn create_folder(
    store: &SqliteMailStore,
    account: Uuid,
    name: &str,
    role: Option<SpecialUse>,
) -> Result<Folder> {
    // A trailing delimiter only declares the intent to create children (RFC 3501 §6.3.3).
    let name = names::canonical(name.strip_suffix(names::DELIMITER).unwrap_or(name));
    names::validate(&name)?;
    if role == Some(SpecialUse::Inbox) {
        return Err(StoreError::Invalid(
            "only INBOX has the inbox role".to_owned(),
        ));
    }
    let mut tx = store.begin().await?;
    require_account(&mut tx, account).await?;
    if find(&mut tx, account, &name).await?.is_some() {
        return Err(StoreError::Exists("folder"));
    }
    if let Some(role) = role {
        let taken = sqlx::query("SELECT 1 FROM folders WHERE account = $1 AND role = $2")
            .bind(account.to_string())
            .bind(role_name(role))
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::Exists("folder with that special use"));
        }
    }
    create_parents(&mut tx, account, &name).await?;
    let folder = insert_folder(&mut tx, account, &name, role, false).await?;
    commit(tx).await?;
    store.bump(account);
    Ok(folder)
}

pub(super) async fn delete_folder(
    store: &SqliteMailStore,
    account: Uuid,
    name: &str,
) -> Result<()> {
    let name = names::canonical(name);
    if name == INBOX {
        return Err(StoreError::Invalid("INBOX cannot be deleted".to_owned()));
    }
    let mut tx = store.begin().await?;
    let Some((id, _)) = find(&mut tx, account, &name).await? else {
        return Err(StoreError::NotFound("folder"));
    };
    let children = sqlx::query(
        "SELECT 1 FROM folders WHERE account = $1 AND name > $2 || '/' AND name < $2 || '0' \
         LIMIT 1",
    )
    .bind(account.to_string())
    .bind(&name)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?;
    if children.is_some() {
        return Err(StoreError::Invalid(format!(
            "folder {name:?} has subfolders; delete them first"
        )));
    }
    sqlx::query("DELETE FROM folders WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    commit(tx).await?;
    store.bump(account);
    Ok(())
}

pub(super) async fn rename_folder(
    store: &SqliteMailStore,
    account: Uuid,
    from: &str,
    to: &str,
) -> Result<()> {
    let from = names::canonical(from);
    let to = names::canonical(to);
    names::validate(&to)?;
    if from != INBOX && names::is_within(&to, &from) {
        return Err(StoreError::Invalid(format!(
            "cannot rename {from:?} into itself ({to:?})"
        )));
    }
    let mut tx = store.begin().await?;
    let Some((source, subscribed)) = find(&mut tx, account, &from).await? else {
        return Err(StoreError::NotFound("folder"));
    };
    if find(&mut tx, account, &to).await?.is_some() {
        return Err(StoreError::Exists("folder"));
    }
    create_parents(&mut tx, account, &to).await?;
    if from == INBOX {
        // RFC 3501 §6.3.5: a new folder receives INBOX's messages; INBOX stays, empty, and
        // its children are not affected.
        let target = insert_folder(&mut tx, account, &to, None, subscribed).await?;
        messages::move_all(&mut tx, source, target.id).await?;
    } else {
        sqlx::query(
            "UPDATE folders SET name = $3 || substr(name, length($2) + 1) \
             WHERE account = $1 AND (name = $2 OR (name > $2 || '/' AND name < $2 || '0'))",
        )
        .bind(account.to_string())
        .bind(&from)
        .bind(&to)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    commit(tx).await?;
    store.bump(account);
    Ok(())
}

pub(super) async fn set_subscribed(
    store: &SqliteMailStore,
    account: Uuid,
    name: &str,
    subscribed: bool,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let changed =
        sqlx::query("UPDATE folders SET subscribed = $3 WHERE account = $1 AND name = $2")
            .bind(account.to_string())
            .bind(names::canonical(name))
            .bind(i64::from(subscribed))
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound("folder"));
    }
    commit(tx).await?;
    store.bump(account);
    Ok(())
}

pub(super) async fn status(store: &SqliteMailStore, folder: FolderId) -> Result<FolderStatus> {
    let row = sqlx::query(
        "SELECT messages, unseen, uid_next, uid_validity, highest_modseq, size \
         FROM folders WHERE id = $1",
    )
    .bind(folder)
    .fetch_optional(store.reader())
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("folder"))?;
    Ok(FolderStatus {
        messages: to_u32(codec::get(&row, 0)?, "message count")?,
        unseen: to_u32(codec::get(&row, 1)?, "unseen count")?,
        recent: 0,
        // A folder whose UIDs are used up reports the last value UIDNEXT can take.
        uid_next: u32::try_from(codec::get::<i64>(&row, 2)?).unwrap_or(u32::MAX),
        uid_validity: to_u32(codec::get(&row, 3)?, "UIDVALIDITY")?,
        highest_modseq: to_u64(codec::get(&row, 4)?, "modseq")?,
        size: to_u64(codec::get(&row, 5)?, "folder size")?,
    })
}

/// Inserts a folder with a fresh UIDVALIDITY from the store-wide counter.
pub(super) async fn insert_folder(
    conn: &mut SqliteConnection,
    account: Uuid,
    name: &str,
    role: Option<SpecialUse>,
    subscribed: bool,
) -> Result<Folder> {
    let uid_validity: i64 = sqlx::query(
        "UPDATE organization SET next_uid_validity = next_uid_validity + 1 WHERE id = 1 \
         RETURNING next_uid_validity - 1",
    )
    .fetch_one(&mut *conn)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(backend)?;
    let uid_validity = u32::try_from(uid_validity)
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| StoreError::Backend("UIDVALIDITY counter exhausted".to_owned()))?;
    let id: i64 = sqlx::query(
        "INSERT INTO folders (account, name, role, uid_validity, subscribed) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(account.to_string())
    .bind(name)
    .bind(role.map(role_name))
    .bind(i64::from(uid_validity))
    .bind(i64::from(subscribed))
    .fetch_one(&mut *conn)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(backend)?;
    Ok(Folder {
        id,
        account,
        name: name.to_owned(),
        role,
        uid_validity,
        subscribed,
    })
}

/// Creates the missing levels above `name` (unsubscribed, no role).
async fn create_parents(conn: &mut SqliteConnection, account: Uuid, name: &str) -> Result<()> {
    for parent in names::ancestors(name) {
        if find(conn, account, parent).await?.is_none() {
            insert_folder(conn, account, parent, None, false).await?;
        }
    }
    Ok(())
}

/// A folder's id and subscription by canonical name.
async fn find(
    conn: &mut SqliteConnection,
    account: Uuid,
    name: &str,
) -> Result<Option<(FolderId, bool)>> {
    sqlx::query("SELECT id, subscribed FROM folders WHERE account = $1 AND name = $2")
        .bind(account.to_string())
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|row| Ok((codec::get(&row, 0)?, codec::get::<i64>(&row, 1)? != 0)))
        .transpose()
}

async fn require_account(conn: &mut SqliteConnection, account: Uuid) -> Result<()> {
    sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|_| ())
        .ok_or(StoreError::NotFound("account"))
}
