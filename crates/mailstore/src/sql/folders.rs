//! Folders: listing, lookup by name (canonical `INBOX`) or role, create with missing parents,
//! delete, rename of a subtree, the special rename of INBOX, subscriptions and `STATUS`.
//!
//! Invariant kept here: every folder's parents exist (create makes them, rename makes the
//! target's, delete refuses a folder with children). Children of `a` are found with the
//! index range `name > 'a/' AND name < 'a0'` (`0` follows `/` in byte order), never `LIKE`,
//! which would treat `_` and `%` in names as wildcards and ignore case.
//!
//! A folder's row is locked (`find_locked`) before its messages change; a new folder takes
//! its UIDVALIDITY from the `organization` row, which serialises folder creation (and
//! makes two creations of one name meet at the UNIQUE key: the loser reports `Exists`).

use super::codec::{self, backend, folder_columns, get, role_name, to_u32, to_u64};
use super::{MailDb, MailDialect, commit_change, messages};
use crate::names::{self, INBOX};
use crate::{Folder, FolderId, FolderStatus, Result, SpecialUse, StoreError};
use mailward_sql::{Conn, Lock, query, query_locked};
use uuid::Uuid;

pub(super) async fn folders<D: MailDialect>(s: &MailDb<D>, account: Uuid) -> Result<Vec<Folder>> {
    query::<D>(concat!(
        "SELECT ",
        folder_columns!(),
        " FROM folders WHERE account = $1 ORDER BY name"
    ))
    .bind(account.to_string())
    .fetch_all(&s.reader)
    .await
    .map_err(backend)?
    .iter()
    .map(codec::folder)
    .collect()
}

pub(super) async fn folder<D: MailDialect>(
    s: &MailDb<D>,
    account: Uuid,
    name: &str,
) -> Result<Option<Folder>> {
    query::<D>(concat!(
        "SELECT ",
        folder_columns!(),
        " FROM folders WHERE account = $1 AND name = $2"
    ))
    .bind(account.to_string())
    .bind(names::canonical(name))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|row| codec::folder(&row))
    .transpose()
}

pub(super) async fn folder_by_role<D: MailDialect>(
    s: &MailDb<D>,
    account: Uuid,
    role: SpecialUse,
) -> Result<Option<Folder>> {
    query::<D>(concat!(
        "SELECT ",
        folder_columns!(),
        " FROM folders WHERE account = $1 AND role = $2"
    ))
    .bind(account.to_string())
    .bind(role_name(role))
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .map(|row| codec::folder(&row))
    .transpose()
}

pub(super) async fn create_folder<D: MailDialect>(
    s: &MailDb<D>,
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
    let mut tx = s.begin().await?;
    require_account::<D>(&mut tx, account).await?;
    if find::<D>(&mut tx, account, &name).await?.is_some() {
        return Err(StoreError::Exists("folder"));
    }
    if let Some(role) = role {
        let taken = query::<D>("SELECT 1 FROM folders WHERE account = $1 AND role = $2")
            .bind(account.to_string())
            .bind(role_name(role))
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::Exists("folder with that special use"));
        }
    }
    create_parents::<D>(&mut tx, account, &name).await?;
    let folder = insert_folder::<D>(&mut tx, account, &name, role, false).await?;
    commit_change(s, tx, account).await?;
    Ok(folder)
}

pub(super) async fn delete_folder<D: MailDialect>(
    s: &MailDb<D>,
    account: Uuid,
    name: &str,
) -> Result<()> {
    let name = names::canonical(name);
    if name == INBOX {
        return Err(StoreError::Invalid("INBOX cannot be deleted".to_owned()));
    }
    let mut tx = s.begin().await?;
    let Some((id, _)) = find_locked::<D>(&mut tx, account, &name).await? else {
        return Err(StoreError::NotFound("folder"));
    };
    let children = query::<D>(
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
    query::<D>("DELETE FROM folders WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    commit_change(s, tx, account).await
}

pub(super) async fn rename_folder<D: MailDialect>(
    s: &MailDb<D>,
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
    let mut tx = s.begin().await?;
    let Some((source, subscribed)) = find_locked::<D>(&mut tx, account, &from).await? else {
        return Err(StoreError::NotFound("folder"));
    };
    if find::<D>(&mut tx, account, &to).await?.is_some() {
        return Err(StoreError::Exists("folder"));
    }
    create_parents::<D>(&mut tx, account, &to).await?;
    if from == INBOX {
        // RFC 3501 §6.3.5: a new folder receives INBOX's messages; INBOX stays, empty, and
        // its children are not affected.
        let target = insert_folder::<D>(&mut tx, account, &to, None, subscribed).await?;
        messages::move_all::<D>(&mut tx, source, target.id).await?;
    } else {
        query::<D>(
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
    commit_change(s, tx, account).await
}

pub(super) async fn set_subscribed<D: MailDialect>(
    s: &MailDb<D>,
    account: Uuid,
    name: &str,
    subscribed: bool,
) -> Result<()> {
    let mut tx = s.begin().await?;
    let changed = query::<D>("UPDATE folders SET subscribed = $3 WHERE account = $1 AND name = $2")
        .bind(account.to_string())
        .bind(names::canonical(name))
        .bind(subscribed)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound("folder"));
    }
    commit_change(s, tx, account).await
}

pub(super) async fn status<D: MailDialect>(
    s: &MailDb<D>,
    folder: FolderId,
) -> Result<FolderStatus> {
    let row = query::<D>(
        "SELECT messages, unseen, uid_next, uid_validity, highest_modseq, size \
         FROM folders WHERE id = $1",
    )
    .bind(folder)
    .fetch_optional(&s.reader)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("folder"))?;
    Ok(FolderStatus {
        messages: to_u32(get(&row, "messages")?, "message count")?,
        unseen: to_u32(get(&row, "unseen")?, "unseen count")?,
        recent: 0,
        // A folder whose UIDs are used up reports the last value UIDNEXT can take.
        uid_next: u32::try_from(get::<i64, _>(&row, "uid_next")?).unwrap_or(u32::MAX),
        uid_validity: to_u32(get(&row, "uid_validity")?, "UIDVALIDITY")?,
        highest_modseq: to_u64(get(&row, "highest_modseq")?, "modseq")?,
        size: to_u64(get(&row, "size")?, "folder size")?,
    })
}

/// Inserts a folder with a fresh UIDVALIDITY from the store-wide counter.
pub(super) async fn insert_folder<D: MailDialect>(
    conn: &mut Conn<D>,
    account: Uuid,
    name: &str,
    role: Option<SpecialUse>,
    subscribed: bool,
) -> Result<Folder> {
    let uid_validity: i64 = query::<D>(
        "UPDATE organization SET next_uid_validity = next_uid_validity + 1 WHERE id = 1 \
         RETURNING next_uid_validity - 1 AS uid_validity",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)
    .and_then(|row| get(&row, "uid_validity"))?;
    let uid_validity = u32::try_from(uid_validity)
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| StoreError::Backend("UIDVALIDITY counter exhausted".to_owned()))?;
    let id: i64 = query::<D>(
        "INSERT INTO folders (account, name, role, uid_validity, subscribed) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(account.to_string())
    .bind(name)
    .bind(role.map(role_name))
    .bind(i64::from(uid_validity))
    .bind(subscribed)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match e.as_database_error() {
        // Another node created the name (or took the role) since this one looked.
        Some(db) if db.is_unique_violation() => StoreError::Exists("folder"),
        _ => backend(e),
    })
    .and_then(|row| get(&row, "id"))?;
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
async fn create_parents<D: MailDialect>(
    conn: &mut Conn<D>,
    account: Uuid,
    name: &str,
) -> Result<()> {
    for parent in names::ancestors(name) {
        if find::<D>(conn, account, parent).await?.is_none() {
            insert_folder::<D>(conn, account, parent, None, false).await?;
        }
    }
    Ok(())
}

/// A folder's id and subscription by canonical name.
async fn find<D: MailDialect>(
    conn: &mut Conn<D>,
    account: Uuid,
    name: &str,
) -> Result<Option<(FolderId, bool)>> {
    query::<D>("SELECT id, subscribed FROM folders WHERE account = $1 AND name = $2")
        .bind(account.to_string())
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|row| Ok((get(&row, "id")?, codec::get_bool(&row, "subscribed")?)))
        .transpose()
}

/// [`find`], locking the folder's row for the rest of the transaction (its messages are
/// about to change).
async fn find_locked<D: MailDialect>(
    conn: &mut Conn<D>,
    account: Uuid,
    name: &str,
) -> Result<Option<(FolderId, bool)>> {
    query_locked::<D>(
        "SELECT id, subscribed FROM folders WHERE account = $1 AND name = $2",
        Lock::NoKeyUpdate,
    )
    .bind(account.to_string())
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .map(|row| Ok((get(&row, "id")?, codec::get_bool(&row, "subscribed")?)))
    .transpose()
}

async fn require_account<D: MailDialect>(conn: &mut Conn<D>, account: Uuid) -> Result<()> {
    query::<D>("SELECT 1 FROM accounts WHERE id = $1")
        .bind(account.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .map(|_| ())
        .ok_or(StoreError::NotFound("account"))
}
