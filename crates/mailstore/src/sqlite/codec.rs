//! Conversions between SQLite rows and the model: timestamps as unix milliseconds, ids as
//! hyphenated UUID text, roles as stable names, flags in their compact form
//! ([`crate::flags`]), UID sets as JSON ranges for `json_each`, and the mapping of database
//! errors to [`StoreError`].

use crate::flags;
use crate::{Account, BlobId, Folder, MessageMeta, Result, SpecialUse, StoreError};
use mailward_types::clock;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// `SELECT` of an account with its policy's display name; columns in [`account`]'s order.
macro_rules! select_account {
    () => {
        "SELECT a.id, a.user_oid, a.upn, a.address, a.display_name, p.name, a.created \
         FROM accounts a LEFT JOIN auth_policies p ON p.name_key = a.auth_policy "
    };
}
pub(super) use select_account;

/// Columns of a folder, in [`folder`]'s order.
macro_rules! folder_columns {
    () => {
        "id, account, name, role, uid_validity, subscribed"
    };
}
pub(super) use folder_columns;

/// One message of `messages m` as a line of text for [`parse_listing`]:
/// `uid blob size internal_date flags modseq keywords…` (keywords last, space-separated,
/// possibly none). A listing is these lines `group_concat`enated into one value: sqlx hands
/// rows over one by one (a few microseconds each, which is most of the time for a ten
/// thousand message folder), one aggregated value costs a single hand-over.
macro_rules! message_line {
    () => {
        "printf('%d %s %d %d %d %d %s', m.uid, m.blob, m.size, m.internal_date, m.flags, \
         m.modseq, ifnull(m.keywords, ''))"
    };
}
pub(super) use message_line;

pub(super) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(super) fn millis(t: OffsetDateTime) -> i64 {
    clock::millis(t)
}

pub(super) fn get<'r, T>(row: &'r SqliteRow, i: usize) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(i).map_err(backend)
}

pub(super) fn get_uuid(row: &SqliteRow, i: usize) -> Result<Uuid> {
    let s: &str = get(row, i)?;
    Uuid::parse_str(s).map_err(|e| StoreError::Backend(format!("bad id {s:?} in database: {e}")))
}

pub(super) fn get_time(row: &SqliteRow, i: usize) -> Result<OffsetDateTime> {
    Ok(clock::from_millis(get(row, i)?))
}

pub(super) fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("{what} {v} out of range")))
}

pub(super) fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("{what} {v} out of range")))
}

pub(super) fn account(row: &SqliteRow) -> Result<Account> {
    Ok(Account {
        id: get_uuid(row, 0)?,
        user_oid: get_uuid(row, 1)?,
        upn: get(row, 2)?,
        address: get(row, 3)?,
        display_name: get(row, 4)?,
        auth_policy: get(row, 5)?,
        created: get_time(row, 6)?,
    })
}

pub(super) fn folder(row: &SqliteRow) -> Result<Folder> {
    let role: Option<&str> = get(row, 3)?;
    Ok(Folder {
        id: get(row, 0)?,
        account: get_uuid(row, 1)?,
        name: get(row, 2)?,
        role: role.map(parse_role).transpose()?,
        uid_validity: to_u32(get(row, 4)?, "UIDVALIDITY")?,
        subscribed: get::<i64>(row, 5)? != 0,
    })
}

/// Messages from a `group_concat` of [`message_line`]s separated by newlines (`None` when
/// no row matched), in UID order.
pub(super) fn parse_listing(text: Option<&str>) -> Result<Vec<MessageMeta>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let mut messages = text
        .split('\n')
        .map(parse_line)
        .collect::<Result<Vec<_>>>()?;
    // The scan yields primary-key order already; aggregates do not promise it.
    if !messages.is_sorted_by_key(|m| m.uid) {
        messages.sort_unstable_by_key(|m| m.uid);
    }
    Ok(messages)
}

fn parse_line(line: &str) -> Result<MessageMeta> {
    let bad = || StoreError::Backend(format!("bad message line {line:?} from database"));
    let mut parts = line.splitn(7, ' ');
    let mut next = || parts.next().ok_or_else(bad);
    let uid = next()?.parse().map_err(|_| bad())?;
    let blob = BlobId(next()?.to_owned());
    let size = next()?.parse().map_err(|_| bad())?;
    let internal_date = clock::from_millis(next()?.parse().map_err(|_| bad())?);
    let bits = next()?.parse().map_err(|_| bad())?;
    let modseq = next()?.parse().map_err(|_| bad())?;
    let keywords = next()?;
    Ok(MessageMeta {
        uid,
        blob,
        size,
        internal_date,
        flags: flags::decode(bits, (!keywords.is_empty()).then_some(keywords)),
        modseq,
    })
}

pub(super) fn role_name(role: SpecialUse) -> &'static str {
    match role {
        SpecialUse::Inbox => "inbox",
        SpecialUse::Sent => "sent",
        SpecialUse::Drafts => "drafts",
        SpecialUse::Trash => "trash",
        SpecialUse::Junk => "junk",
        SpecialUse::Archive => "archive",
    }
}

fn parse_role(name: &str) -> Result<SpecialUse> {
    SpecialUse::ALL
        .into_iter()
        .find(|r| role_name(*r) == name)
        .ok_or_else(|| StoreError::Backend(format!("unknown folder role {name:?} in database")))
}

/// A UID list as sorted, disjoint, inclusive ranges in JSON (`[[1,5],[9,9]]`), the form
/// the range joins read with `json_each`: `1:*` over ten thousand messages is one range.
pub(super) fn uid_ranges(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(uid) => *end = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    let mut json = String::with_capacity(ranges.len() * 12 + 2);
    json.push('[');
    for (i, (a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!("[{a},{b}]"));
    }
    json.push(']');
    json
}

/// A list of UIDs as a JSON array.
pub(super) fn uid_list(uids: &[u32]) -> String {
    serde_json::to_string(uids).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(uid_ranges(&[]), "[]");
        assert_eq!(
            uid_ranges(&[5, 1, 2, 3, 3, 9, u32::MAX]),
            "[[1,3],[5,5],[9,9],[4294967295,4294967295]]"
        );
        let all: Vec<u32> = (1..=10_000).collect();
        assert_eq!(uid_ranges(&all), "[[1,10000]]");
    }

    #[test]
    fn listing_lines() {
        let h = "ab".repeat(32);
        let text = format!("2 {h} 10 1767225600123 9 7 $Junk Work\n1 {h} 5 0 0 3 ");
        let list = parse_listing(Some(&text)).unwrap();
        assert_eq!(list.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(list[1].flags.keywords, vec!["$Junk", "Work"]);
        assert!(list[1].flags.seen && list[1].flags.deleted);
        assert_eq!(list[1].modseq, 7);
        assert_eq!(list[1].internal_date, clock::from_millis(1_767_225_600_123));
        assert_eq!(list[0].flags, crate::Flags::default());
        assert!(parse_listing(None).unwrap().is_empty());
        assert!(parse_listing(Some("x")).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in SpecialUse::ALL {
            assert_eq!(parse_role(role_name(role)).unwrap(), role);
        }
    }
}
