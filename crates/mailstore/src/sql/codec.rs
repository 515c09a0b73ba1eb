//! Conversions between rows and the model, for every dialect: timestamps as unix
//! milliseconds, ids as hyphenated UUID text, roles as stable names, flags in their compact
//! form ([`crate::flags`]), bodies named by their SHA-256, UID sets as JSON text, message
//! listings as one text value, and the mapping of database errors to [`StoreError`].

use crate::flags;
use crate::{Account, BlobId, Folder, MessageMeta, Result, SpecialUse, StoreError};
use mailward_sql::{Column, Dialect, Row};
use mailward_types::clock;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// `SELECT` of an account with its policy's display name; columns as [`account`] reads them.
macro_rules! select_account {
    () => {
        "SELECT a.id, a.user_oid, a.upn, a.address, a.display_name, p.name AS policy, \
         a.created FROM accounts a LEFT JOIN auth_policies p ON p.name_key = a.auth_policy "
    };
}
pub(crate) use select_account;

/// Columns of a folder, as [`folder`] reads them.
macro_rules! folder_columns {
    () => {
        "id, account, name, role, uid_validity, subscribed"
    };
}
pub(crate) use folder_columns;

/// Columns of an outbound entry, as `queue::outbound` reads them.
macro_rules! outbound_columns {
    () => {
        "id, sender, recipients, blob, size, queued, attempts, next_attempt, last_error, state"
    };
}
pub(crate) use outbound_columns;

/// Whether `s` can name a blob: 64 lowercase hex digits (anything else could point outside
/// the blob directory).
pub(crate) fn valid_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The SHA-256 of a body, lowercase hex.
pub(crate) fn hash(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    clock::millis(t)
}

pub(crate) fn get<'r, T: Column<'r>, D: Dialect>(row: &'r Row<D>, col: &str) -> Result<T> {
    row.get(col).map_err(backend)
}

pub(crate) fn get_bool<D: Dialect>(row: &Row<D>, col: &str) -> Result<bool> {
    row.get_bool(col).map_err(backend)
}

pub(crate) fn get_uuid<D: Dialect>(row: &Row<D>, col: &str) -> Result<Uuid> {
    let s: String = get(row, col)?;
    Uuid::parse_str(&s).map_err(|e| StoreError::Backend(format!("bad id {s:?} in database: {e}")))
}

pub(crate) fn get_time<D: Dialect>(row: &Row<D>, col: &str) -> Result<OffsetDateTime> {
    Ok(clock::from_millis(get(row, col)?))
}

pub(crate) fn get_u32<D: Dialect>(row: &Row<D>, col: &str) -> Result<u32> {
    to_u32(get(row, col)?, col)
}

pub(crate) fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("{what} {v} out of range")))
}

pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("{what} {v} out of range")))
}

pub(crate) fn account<D: Dialect>(row: &Row<D>) -> Result<Account> {
    Ok(Account {
        id: get_uuid(row, "id")?,
        user_oid: get_uuid(row, "user_oid")?,
        upn: get(row, "upn")?,
        address: get(row, "address")?,
        display_name: get(row, "display_name")?,
        auth_policy: get(row, "policy")?,
        created: get_time(row, "created")?,
    })
}

pub(crate) fn folder<D: Dialect>(row: &Row<D>) -> Result<Folder> {
    let role: Option<String> = get(row, "role")?;
    Ok(Folder {
        id: get(row, "id")?,
        account: get_uuid(row, "account")?,
        name: get(row, "name")?,
        role: role.as_deref().map(parse_role).transpose()?,
        uid_validity: to_u32(get(row, "uid_validity")?, "UIDVALIDITY")?,
        subscribed: get_bool(row, "subscribed")?,
    })
}

/// Messages from a listing ([`crate::MailDialect::LIST`]: lines separated by newlines,
/// `None` when no row matched), in UID order.
pub(crate) fn parse_listing(text: Option<&str>) -> Result<Vec<MessageMeta>> {
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

pub(crate) fn role_name(role: SpecialUse) -> &'static str {
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
/// the range joins read (`json_each` / `jsonb_array_elements`): `1:*` over ten thousand
/// messages is one range.
pub(crate) fn uid_ranges(uids: &[u32]) -> String {
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
pub(crate) fn uid_list(uids: &[u32]) -> String {
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
