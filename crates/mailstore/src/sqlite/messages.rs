//! Message metadata: listing, flag changes with CONDSTORE's `UNCHANGEDSINCE`, copy, move,
//! expunge and remove.
//!
//! UID sets reach SQL as one JSON parameter of ranges read with `json_each`, joined to the
//! `(folder, uid)` primary key (`CROSS JOIN` keeps the ranges as the outer loop, so each range
//! is one index seek), whatever the set's size. Bulk changes are set statements over JSON
//! too (`uid IN (SELECT value FROM json_each(…))`, `INSERT … SELECT`), not a statement per
//! message; `UPDATE … FROM json_each` is avoided because SQLite plans it as a scan of the
//! folder per JSON element.

use super::codec::{self, backend, to_u32, uid_list, uid_ranges};
use super::{SqliteMailStore, commit};
use crate::flags;
use crate::{Copied, FlagOp, FlagUpdate, Flags, FolderId, MessageMeta, Result, StoreError};
use sqlx::SqliteConnection;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The statements over UID sets, named so the test below can check their query plans.
/// `$1` is the folder, `$2` the JSON set (ranges from [`uid_ranges`] or a list from
/// [`uid_list`]).
pub(super) mod sql {
    use super::super::codec::message_line;

    pub const LIST: &str = concat!(
        "SELECT group_concat(",
        message_line!(),
        ", char(10)) FROM messages m WHERE m.folder = $1"
    );
    pub const LIST_RANGES: &str = concat!(
        "SELECT group_concat(",
        message_line!(),
        ", char(10)) FROM json_each($2) r CROSS JOIN messages m \
         ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1"
    );
    pub const FLAGS_IN_RANGES: &str = "SELECT m.uid, m.flags, m.keywords, m.modseq \
         FROM json_each($2) r CROSS JOIN messages m \
         ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1 ORDER BY m.uid";
    pub const UIDS_IN_RANGES: &str = "SELECT m.uid FROM json_each($2) r CROSS JOIN messages m \
         ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1 ORDER BY m.uid";
    pub const DELETED_IN_RANGES: &str = "SELECT m.uid FROM json_each($2) r \
         CROSS JOIN messages m ON m.folder = $1 AND m.uid BETWEEN r.value ->> 0 \
         AND r.value ->> 1 WHERE (m.flags & 8) != 0 ORDER BY m.uid";
    pub const DELETED: &str =
        "SELECT uid FROM messages WHERE folder = $1 AND (flags & 8) != 0 ORDER BY uid";
    /// `$3` flags, `$4` keywords, `$5` modseq; `$2` a UID list.
    pub const SET_FLAGS: &str = "UPDATE messages SET flags = $3, keywords = $4, modseq = $5 \
         WHERE folder = $1 AND uid IN (SELECT value FROM json_each($2))";
    /// `$1` target folder, `$2` `[[source, target], …]`, `$3` source folder, `$4` modseq.
    pub const COPY: &str = "INSERT INTO messages \
         (folder, uid, blob, size, internal_date, flags, keywords, modseq) \
         SELECT $1, p.value ->> 1, m.blob, m.size, m.internal_date, m.flags, m.keywords, $4 \
         FROM json_each($2) p CROSS JOIN messages m ON m.folder = $3 AND m.uid = p.value ->> 0";
    /// `$2` a UID list.
    pub const DELETE: &str =
        "DELETE FROM messages WHERE folder = $1 AND uid IN (SELECT value FROM json_each($2))";
}

pub(super) async fn messages(
    store: &SqliteMailStore,
    folder: FolderId,
) -> Result<Vec<MessageMeta>> {
    let text: Option<String> = sqlx::query_scalar(sql::LIST)
        .bind(folder)
        .fetch_one(store.reader())
        .await
        .map_err(backend)?;
    codec::parse_listing(text.as_deref())
}

pub(super) async fn messages_by_uid(
    store: &SqliteMailStore,
    folder: FolderId,
    uids: &[u32],
) -> Result<Vec<MessageMeta>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let text: Option<String> = sqlx::query_scalar(sql::LIST_RANGES)
        .bind(folder)
        .bind(uid_ranges(uids))
        .fetch_one(store.reader())
        .await
        .map_err(backend)?;
    codec::parse_listing(text.as_deref())
}

pub(super) async fn store_flags(
    store: &SqliteMailStore,
    folder: FolderId,
    uids: &[u32],
    op: FlagOp,
    given: &Flags,
    unchanged_since: Option<u64>,
) -> Result<FlagUpdate> {
    let given = flags::normalize(given)?;
    let mut tx = store.begin().await?;
    let account = folder_account(&mut tx, folder).await?;
    let rows = sqlx::query(sql::FLAGS_IN_RANGES)
        .bind(folder)
        .bind(uid_ranges(uids))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;

    let mut result = FlagUpdate::default();
    // (index into result.updated, uid) of the messages whose flags change.
    let mut changed: Vec<(usize, u32)> = Vec::new();
    for row in &rows {
        let uid = to_u32(codec::get(row, 0)?, "UID")?;
        let keywords: Option<&str> = codec::get(row, 2)?;
        let old = flags::decode(codec::get(row, 1)?, keywords);
        let modseq = codec::to_u64(codec::get(row, 3)?, "modseq")?;
        if unchanged_since.is_some_and(|since| modseq > since) {
            result.conflicts.push(uid);
            continue;
        }
        let new = flags::apply(op, &old, &given)?;
        if new != old {
            changed.push((result.updated.len(), uid));
        }
        result.updated.push((uid, new, modseq));
    }
    if changed.is_empty() {
        return Ok(result);
    }
    let modseq = bump_modseq(&mut tx, folder, 0).await?.modseq;
    // One UPDATE per distinct outcome (a `STORE +FLAGS` over a folder has a handful), each
    // a primary-key lookup per UID.
    let mut groups: BTreeMap<(i64, Option<String>), Vec<u32>> = BTreeMap::new();
    for &(i, uid) in &changed {
        let entry = &mut result.updated[i];
        entry.2 = codec::to_u64(modseq, "modseq")?;
        groups
            .entry((
                flags::bits(&entry.1),
                flags::join_keywords(&entry.1.keywords),
            ))
            .or_default()
            .push(uid);
    }
    for ((bits, keywords), uids) in groups {
        sqlx::query(sql::SET_FLAGS)
            .bind(folder)
            .bind(uid_list(&uids))
            .bind(bits)
            .bind(keywords)
            .bind(modseq)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    commit(tx).await?;
    store.bump(account);
    Ok(result)
}

/// Copy, or move when `remove_source`, within one account.
pub(super) async fn copy(
    store: &SqliteMailStore,
    from: FolderId,
    uids: &[u32],
    to: FolderId,
    remove_source: bool,
) -> Result<Copied> {
    let mut tx = store.begin().await?;
    let source_account = folder_account(&mut tx, from).await?;
    let target_account = folder_account(&mut tx, to).await?;
    if source_account != target_account {
        return Err(StoreError::Invalid(
            "messages can only be copied between folders of one account".to_owned(),
        ));
    }
    let sources: Vec<u32> = sqlx::query(sql::UIDS_IN_RANGES)
        .bind(from)
        .bind(uid_ranges(uids))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| to_u32(codec::get(row, 0)?, "UID"))
        .collect::<Result<_>>()?;
    let copied = copy_uids(&mut tx, from, &sources, to, remove_source).await?;
    commit(tx).await?;
    if !copied.pairs.is_empty() {
        store.bump(source_account);
    }
    Ok(copied)
}

/// Moves every message of `from` into `to` (the rename of INBOX).
pub(super) async fn move_all(
    conn: &mut SqliteConnection,
    from: FolderId,
    to: FolderId,
) -> Result<()> {
    let sources: Vec<u32> = sqlx::query("SELECT uid FROM messages WHERE folder = $1 ORDER BY uid")
        .bind(from)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| to_u32(codec::get(row, 0)?, "UID"))
        .collect::<Result<_>>()?;
    copy_uids(conn, from, &sources, to, true).await?;
    Ok(())
}

/// Copies the existing, ascending `sources` of `from` to `to` with new UIDs, then removes
/// them from `from` if asked.
async fn copy_uids(
    conn: &mut SqliteConnection,
    from: FolderId,
    sources: &[u32],
    to: FolderId,
    remove_source: bool,
) -> Result<Copied> {
    if sources.is_empty() {
        let row = sqlx::query("SELECT uid_validity FROM folders WHERE id = $1")
            .bind(to)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound("folder"))?;
        return Ok(Copied {
            uid_validity: to_u32(codec::get(&row, 0)?, "UIDVALIDITY")?,
            pairs: Vec::new(),
        });
    }
    let count = u32::try_from(sources.len())
        .map_err(|_| StoreError::Invalid("too many messages".to_owned()))?;
    let target = bump_modseq(conn, to, count).await?;
    let pairs: Vec<(u32, u32)> = sources.iter().copied().zip(target.first_uid..).collect();
    let json = serde_json::to_string(&pairs).map_err(|e| StoreError::Backend(e.to_string()))?;
    sqlx::query(sql::COPY)
        .bind(to)
        .bind(json)
        .bind(from)
        .bind(target.modseq)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    if remove_source {
        delete_uids(conn, from, sources).await?;
        bump_modseq(conn, from, 0).await?;
    }
    Ok(Copied {
        uid_validity: target.uid_validity,
        pairs,
    })
}

pub(super) async fn expunge(
    store: &SqliteMailStore,
    folder: FolderId,
    uids: Option<&[u32]>,
) -> Result<Vec<u32>> {
    let mut tx = store.begin().await?;
    let account = folder_account(&mut tx, folder).await?;
    let rows = match uids {
        None => sqlx::query(sql::DELETED)
            .bind(folder)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?,
        Some(uids) => sqlx::query(sql::DELETED_IN_RANGES)
            .bind(folder)
            .bind(uid_ranges(uids))
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?,
    };
    let doomed: Vec<u32> = rows
        .iter()
        .map(|row| to_u32(codec::get(row, 0)?, "UID"))
        .collect::<Result<_>>()?;
    finish_removal(store, tx, account, folder, doomed).await
}

pub(super) async fn remove(
    store: &SqliteMailStore,
    folder: FolderId,
    uids: &[u32],
) -> Result<Vec<u32>> {
    let mut tx = store.begin().await?;
    let account = folder_account(&mut tx, folder).await?;
    let doomed: Vec<u32> = sqlx::query(sql::UIDS_IN_RANGES)
        .bind(folder)
        .bind(uid_ranges(uids))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| to_u32(codec::get(row, 0)?, "UID"))
        .collect::<Result<_>>()?;
    finish_removal(store, tx, account, folder, doomed).await
}

async fn finish_removal(
    store: &SqliteMailStore,
    mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    account: Uuid,
    folder: FolderId,
    doomed: Vec<u32>,
) -> Result<Vec<u32>> {
    if doomed.is_empty() {
        return Ok(doomed);
    }
    delete_uids(&mut tx, folder, &doomed).await?;
    bump_modseq(&mut tx, folder, 0).await?;
    commit(tx).await?;
    store.bump(account);
    Ok(doomed)
}

/// Deletes messages by UID.
async fn delete_uids(conn: &mut SqliteConnection, folder: FolderId, uids: &[u32]) -> Result<()> {
    sqlx::query(sql::DELETE)
        .bind(folder)
        .bind(uid_list(uids))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// What [`bump_modseq`] hands out.
struct Bumped {
    /// The first of the reserved UIDs (the old `uid_next`).
    first_uid: u32,
    uid_validity: u32,
    /// The folder's new `highest_modseq`.
    modseq: i64,
}

/// Gives the folder a new `highest_modseq` and reserves `uids` UIDs.
async fn bump_modseq(conn: &mut SqliteConnection, folder: FolderId, uids: u32) -> Result<Bumped> {
    let row = sqlx::query(
        "UPDATE folders SET uid_next = uid_next + $2, highest_modseq = highest_modseq + 1 \
         WHERE id = $1 RETURNING uid_next - $2, uid_validity, highest_modseq, uid_next",
    )
    .bind(folder)
    .bind(i64::from(uids))
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("folder"))?;
    // The last UID handed out must still fit in 32 bits.
    let next: i64 = codec::get(&row, 3)?;
    if next - 1 > i64::from(u32::MAX) {
        return Err(StoreError::Invalid(
            "the folder has run out of UIDs".to_owned(),
        ));
    }
    Ok(Bumped {
        first_uid: to_u32(codec::get(&row, 0)?, "UID")?,
        uid_validity: to_u32(codec::get(&row, 1)?, "UIDVALIDITY")?,
        modseq: codec::get(&row, 2)?,
    })
}

async fn folder_account(conn: &mut SqliteConnection, folder: FolderId) -> Result<Uuid> {
    let row = sqlx::query("SELECT account FROM folders WHERE id = $1")
        .bind(folder)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound("folder"))?;
    codec::get_uuid(&row, 0)
}
