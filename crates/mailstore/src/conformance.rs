//! The conformance suite every [`MailStore`] implementation must pass.
//!
//! Each check is a `pub async fn(&dyn MailStore)` that panics on the first difference from
//! the contract; [`run_all`] runs them in order. A backend's test file calls each against a
//! fresh store (one test per check) and [`run_all`] twice against one store.
//!
//! The checks never assume an empty store: every account, address and policy name carries
//! a random part, and lists are checked for what the check itself created. The organization
//! default authentication policy is the one piece of shared state; only [`auth_policies`]
//! touches it. [`queue_lifecycle`] claims every due outbound entry (as a relay worker
//! would). Neither can run beside another suite on the same database: [`run_beside`] is the
//! suite without those two, for a second suite running on the same database at once.
//!
//! Contract details pinned here beyond the trait's doc comments:
//! - Folder names are canonical (`INBOX` upper case at the first level), folders list in
//!   name order, new folders (and created parents) are unsubscribed, the six default
//!   folders subscribed; a folder with children cannot be deleted (`Invalid`); a special-use
//!   role belongs to at most one folder of an account (`Exists`).
//! - A new folder has `highest_modseq` 1 and `uid_next` 1; every call that changes messages
//!   of a folder raises its `highest_modseq` by exactly one, and messages changed by one call
//!   share the new value. Calls that change nothing leave it alone.
//! - `store_flags` reports every matched, non-conflicting message in `updated` (with its
//!   unchanged modseq when its flags did not change); missing UIDs are skipped silently.
//! - `\Recent` is not stored: `FolderStatus::recent` is 0.
//! - `messages` / `messages_by_uid` of a folder that does not exist are empty (one query,
//!   no existence check); calls that change a missing folder are `NotFound`.
//! - Keywords come back sorted and deduplicated ignoring case; a keyword that is not an
//!   IMAP atom is `Invalid`.
//! - Outbound entries are due when `next_attempt <= now`; a new one is due at its `now`.
//! - An account's watch receiver changes before the changing call returns.

mod accounts;
mod folders;
mod messages;
mod policies;
mod queue;

pub use accounts::{
    account_lookup, accounts_concurrent, accounts_idempotent, default_folders, delete_account,
};
pub use folders::{
    folder_create, folder_delete, folder_rename, folder_subscribe, inbox_rename,
    uid_validity_not_reused,
};
pub use messages::{
    append_concurrent, append_status, copy_move, dedup, deliver, expunge_remove, failed_append,
    flags_condstore, flags_store, too_large, watch,
};
pub use policies::auth_policies;
pub use queue::queue_lifecycle;

use crate::{Account, Flags, MailStore, NewAccount, NewMessage, StoreError};
use std::fmt::Debug;
use time::OffsetDateTime;
use uuid::Uuid;

/// Runs every check, in order.
pub async fn run_all(store: &dyn MailStore) {
    run_beside(store).await;
    queue_lifecycle(store).await;
    auth_policies(store).await;
}

/// Every check but [`queue_lifecycle`] and [`auth_policies`], in order: safe to run beside
/// another suite on the same database.
pub async fn run_beside(store: &dyn MailStore) {
    accounts_idempotent(store).await;
    accounts_concurrent(store).await;
    account_lookup(store).await;
    default_folders(store).await;
    delete_account(store).await;
    folder_create(store).await;
    folder_rename(store).await;
    inbox_rename(store).await;
    folder_delete(store).await;
    folder_subscribe(store).await;
    uid_validity_not_reused(store).await;
    append_status(store).await;
    append_concurrent(store).await;
    dedup(store).await;
    flags_store(store).await;
    flags_condstore(store).await;
    copy_move(store).await;
    expunge_remove(store).await;
    deliver(store).await;
    watch(store).await;
    failed_append(store).await;
    too_large(store).await;
}

/// The base instant of the suite plus `secs`; the millisecond part checks exact round trips.
pub fn t(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_000_000).expect("valid base time")
        + time::Duration::seconds(secs)
}

/// A fresh account with a random user and address.
pub async fn new_account(store: &dyn MailStore, label: &str) -> Account {
    let id = Uuid::new_v4().simple().to_string();
    store
        .ensure_account(NewAccount {
            user_oid: Uuid::new_v4(),
            upn: format!("{label}.{id}@Example.COM"),
            address: format!("{label}.{id}@Example.COM"),
            display_name: format!("{label} user"),
            now: t(0),
        })
        .await
        .expect("create account")
}

/// A small, unique RFC 5322 message.
pub fn message(label: &str) -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: {label}\r\n\
         Message-ID: <{}@example.com>\r\n\r\nBody of {label}.\r\n",
        Uuid::new_v4()
    )
    .into_bytes()
}

/// Appends `raw` with `flags` to the folder, returning its UID.
pub async fn put(store: &dyn MailStore, folder: i64, raw: &[u8], flags: Flags) -> u32 {
    store
        .append(
            folder,
            NewMessage {
                raw,
                flags,
                internal_date: t(10),
            },
        )
        .await
        .expect("append")
        .uid
}

/// The id of the account's folder `name`, which must exist.
pub async fn folder_id(store: &dyn MailStore, account: Uuid, name: &str) -> i64 {
    store
        .folder(account, name)
        .await
        .expect("folder lookup")
        .unwrap_or_else(|| panic!("folder {name:?} exists"))
        .id
}

/// Flags with only the named system flags (`seen`, `answered`, `flagged`, `deleted`,
/// `draft`) and the given keywords.
pub fn flags(system: &[&str], keywords: &[&str]) -> Flags {
    let has = |f: &str| system.contains(&f);
    Flags {
        seen: has("seen"),
        answered: has("answered"),
        flagged: has("flagged"),
        deleted: has("deleted"),
        draft: has("draft"),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

#[track_caller]
fn expect_err<T: Debug>(result: Result<T, StoreError>, want: fn(&StoreError) -> bool, what: &str) {
    match result {
        Err(e) if want(&e) => {}
        other => panic!("{what}: unexpected {other:?}"),
    }
}
