//! Message metadata: listing, flag changes with CONDSTORE's `UNCHANGEDSINCE`, copy, move,
//! expunge and remove.
//!
//! UID sets reach SQL as one JSON parameter of ranges, joined to the `(folder, uid)` primary
//! key, whatever the set's size; bulk changes are set statements over JSON too, not a
//! statement per message. Those statements are the dialect's ([`MailDialect`]): the JSON
//! table functions differ. Every change first locks the folder's row ([`lock_folder`]).

use super::codec::{self, backend, get, get_u32, to_u32, uid_list, uid_ranges};
use super::{MailDb, MailDialect, commit_change};
use crate::flags;
use crate::{Copied, FlagOp, FlagUpdate, Flags, FolderId, MessageMeta, Result, StoreError};
use mailward_sql::{Conn, Lock, query, query_locked};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The `\Deleted` messages of folder `$1` (`EXPUNGE` without a UID set).
pub(crate) const DELETED: &str =
    "SELECT uid FROM messages WHERE folder = $1 AND (flags & 8) != 0 ORDER BY uid";

pub(super) async fn messages<D: MailDialect>(
    s: &MailDb<D>,
    folder: FolderId,
) -> Result<Vec<MessageMeta>> {
    let row = query::<D>(D::LIST)
        .bind(folder)
        .fetch_one(&s.reader)
        .await
        .map_err(backend)?;
    let text: Option<String> = get(&row, "listing")?;
    codec::parse_listing(text.as_deref())
}

pub(super) async fn messages_by_uid<D: MailDialect>(
    s: &MailDb<D>,
    folder: FolderId,
    uids: &[u32],
) -> Result<Vec<MessageMeta>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let row = query::<D>(D::LIST_RANGES)
        .bind(folder)
        .bind(uid_ranges(uids))
        .fetch_one(&s.reader)
        .await
        .map_err(backend)?;
    let text: Option<String> = get(&row, "listing")?;
    codec::parse_listing(text.as_deref())
}

pub(super) async fn store_flags<D: MailDialect>(
    s: &MailDb<D>,
    folder: FolderId,
    uids: &[u32],
    op: FlagOp,
    given: &Flags,
    unchanged_since: Option<u64>,
) -> Result<FlagUpdate> {
    let given = flags::normalize(given)?;
    let mut tx = s.begin().await?;
    let account = lock_folder::<D>(&mut tx, folder).await?;
    let rows = query::<D>(D::FLAGS_IN_RANGES)
        .bind(folder)
        .bind(uid_ranges(uids))
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;

    let mut result = FlagUpdate::default();
    // (index into result.updated, uid) of the messages whose flags change.
    let mut changed: Vec<(usize, u32)> = Vec::new();
    for row in &rows {
        let uid = get_u32(row, "uid")?;
        let keywords: Option<String> = get(row, "keywords")?;
        let old = flags::decode(get(row, "flags")?, keywords.as_deref());
        let modseq = codec::to_u64(get(row, "modseq")?, "modseq")?;
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
    let modseq = bump_modseq::<D>(&mut tx, folder, 0).await?.modseq;
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
        query::<D>(D::SET_FLAGS)
            .bind(folder)
            .bind(uid_list(&uids))
            .bind(bits)
            .bind(keywords)
            .bind(modseq)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    commit_change(s, tx, account).await?;
    Ok(result)
}

/// Copy, or move when `remove_source`, within one account.
pub(super) async fn copy<D: MailDialect>(
    s: &MailDb<D>,
    from: FolderId,
    uids: &[u32],
    to: FolderId,
    remove_source: bool,
) -> Result<Copied> {
    let mut tx = s.begin().await?;
    // Both folders locked in id order, as every writer locks several folders.
    let (first, second) = (from.min(to), from.max(to));
    let first_account = lock_folder::<D>(&mut tx, first).await?;
    let second_account = lock_folder::<D>(&mut tx, second).await?;
    if first_account != second_account {
        return Err(StoreError::Invalid(
            "messages can only be copied between folders of one account".to_owned(),
        ));
    }
    let sources = uids_of::<D>(&mut tx, D::UIDS_IN_RANGES, from, Some(uid_ranges(uids))).await?;
    let copied = copy_uids::<D>(&mut tx, from, &sources, to, remove_source).await?;
    if copied.pairs.is_empty() {
        super::commit(tx).await?;
    } else {
        commit_change(s, tx, first_account).await?;
    }
    Ok(copied)
}

/// Moves every message of `from` into `to` (the rename of INBOX; `from` already locked,
/// `to` just created).
pub(super) async fn move_all<D: MailDialect>(
    conn: &mut Conn<D>,
    from: FolderId,
    to: FolderId,
) -> Result<()> {
    let sources = uids_of::<D>(
        conn,
        "SELECT uid FROM messages WHERE folder = $1 ORDER BY uid",
        from,
        None,
    )
    .await?;
    copy_uids::<D>(conn, from, &sources, to, true).await?;
    Ok(())
}

/// The `uid` column of `sql` run with the folder (and the JSON set, if any).
async fn uids_of<D: MailDialect>(
    conn: &mut Conn<D>,
    sql: &'static str,
    folder: FolderId,
    set: Option<String>,
) -> Result<Vec<u32>> {
    let mut q = query::<D>(sql).bind(folder);
    if let Some(set) = set {
        q = q.bind(set);
    }
    q.fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| get_u32(row, "uid"))
        .collect()
}

/// Copies the existing, ascending `sources` of `from` to `to` with new UIDs, then removes
/// them from `from` if asked.
async fn copy_uids<D: MailDialect>(
    conn: &mut Conn<D>,
    from: FolderId,
    sources: &[u32],
    to: FolderId,
    remove_source: bool,
) -> Result<Copied> {
    if sources.is_empty() {
        let row = query::<D>("SELECT uid_validity FROM folders WHERE id = $1")
            .bind(to)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound("folder"))?;
        return Ok(Copied {
            uid_validity: to_u32(get(&row, "uid_validity")?, "UIDVALIDITY")?,
            pairs: Vec::new(),
        });
    }
    let count = u32::try_from(sources.len())
        .map_err(|_| StoreError::Invalid("too many messages".to_owned()))?;
    let target = bump_modseq::<D>(conn, to, count).await?;
    let pairs: Vec<(u32, u32)> = sources.iter().copied().zip(target.first_uid..).collect();
    let json = serde_json::to_string(&pairs).map_err(|e| StoreError::Backend(e.to_string()))?;
    query::<D>(D::COPY)
        .bind(to)
        .bind(json)
        .bind(from)
        .bind(target.modseq)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    if remove_source {
        delete_uids::<D>(conn, from, sources).await?;
        bump_modseq::<D>(conn, from, 0).await?;
    }
    Ok(Copied {
        uid_validity: target.uid_validity,
        pairs,
    })
}

pub(super) async fn expunge<D: MailDialect>(
    s: &MailDb<D>,
    folder: FolderId,
    uids: Option<&[u32]>,
) -> Result<Vec<u32>> {
    let mut tx = s.begin().await?;
    let account = lock_folder::<D>(&mut tx, folder).await?;
    let doomed = match uids {
        None => uids_of::<D>(&mut tx, DELETED, folder, None).await?,
        Some(uids) => {
            uids_of::<D>(
                &mut tx,
                D::DELETED_IN_RANGES,
                folder,
                Some(uid_ranges(uids)),
            )
            .await?
        }
    };
    finish_removal(s, tx, account, folder, doomed).await
}

pub(super) async fn remove<D: MailDialect>(
    s: &MailDb<D>,
    folder: FolderId,
    uids: &[u32],
) -> Result<Vec<u32>> {
    let mut tx = s.begin().await?;
    let account = lock_folder::<D>(&mut tx, folder).await?;
    let doomed = uids_of::<D>(&mut tx, D::UIDS_IN_RANGES, folder, Some(uid_ranges(uids))).await?;
    finish_removal(s, tx, account, folder, doomed).await
}

async fn finish_removal<D: MailDialect>(
    s: &MailDb<D>,
    mut tx: sqlx::Transaction<'static, D::DB>,
    account: Uuid,
    folder: FolderId,
    doomed: Vec<u32>,
) -> Result<Vec<u32>> {
    if doomed.is_empty() {
        return Ok(doomed);
    }
    delete_uids::<D>(&mut tx, folder, &doomed).await?;
    bump_modseq::<D>(&mut tx, folder, 0).await?;
    commit_change(s, tx, account).await?;
    Ok(doomed)
}

/// Deletes messages by UID.
async fn delete_uids<D: MailDialect>(
    conn: &mut Conn<D>,
    folder: FolderId,
    uids: &[u32],
) -> Result<()> {
    query::<D>(D::DELETE)
        .bind(folder)
        .bind(uid_list(uids))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// What [`bump_modseq`] hands out.
#[derive(Debug, Clone)]
pub(crate) struct Bumped {
    pub account: Uuid,
    /// The first of the reserved UIDs (the old `uid_next`).
    pub first_uid: u32,
    pub uid_validity: u32,
    /// The folder's new `highest_modseq`.
    pub modseq: i64,
}

/// Gives the folder a new `highest_modseq` and reserves `uids` UIDs. The `UPDATE` holds
/// the folder's row until the transaction ends, so a concurrent writer (another node) waits
/// and then reads the bumped values.
pub(crate) async fn bump_modseq<D: MailDialect>(
    conn: &mut Conn<D>,
    folder: FolderId,
    uids: u32,
) -> Result<Bumped> {
    let row = query::<D>(
        "UPDATE folders SET uid_next = uid_next + $2, highest_modseq = highest_modseq + 1 \
         WHERE id = $1 RETURNING account, uid_next - $2 AS first_uid, uid_validity, \
         highest_modseq, uid_next",
    )
    .bind(folder)
    .bind(i64::from(uids))
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("folder"))?;
    // The last UID handed out must still fit in 32 bits.
    let next: i64 = get(&row, "uid_next")?;
    if next - 1 > i64::from(u32::MAX) {
        return Err(StoreError::Invalid(
            "the folder has run out of UIDs".to_owned(),
        ));
    }
    Ok(Bumped {
        account: codec::get_uuid(&row, "account")?,
        first_uid: to_u32(get(&row, "first_uid")?, "UID")?,
        uid_validity: to_u32(get(&row, "uid_validity")?, "UIDVALIDITY")?,
        modseq: get(&row, "highest_modseq")?,
    })
}

/// Locks the folder's row for the rest of the transaction (on PostgreSQL; SQLite's write
/// transaction holds the whole database already) and returns its account. Every
/// transaction that changes a folder's messages starts here, so writers of one folder
/// queue instead of deadlocking over its message and blob rows.
pub(crate) async fn lock_folder<D: MailDialect>(
    conn: &mut Conn<D>,
    folder: FolderId,
) -> Result<Uuid> {
    let row = query_locked::<D>(
        "SELECT account FROM folders WHERE id = $1",
        Lock::NoKeyUpdate,
    )
    .bind(folder)
    .fetch_optional(&mut *conn)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound("folder"))?;
    codec::get_uuid(&row, "account")
}
