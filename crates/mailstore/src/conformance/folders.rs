//! Conformance checks for folders: create with parents, rename of a subtree, the rename of
//! INBOX, delete, subscriptions, name rules, and UIDVALIDITY of recreated folders.

use super::*;
use crate::SpecialUse;

fn names(folders: &[crate::Folder]) -> Vec<&str> {
    folders.iter().map(|f| f.name.as_str()).collect()
}

/// Create makes missing parents (unsubscribed), refuses duplicates, bad names and a second
/// folder with a role already taken; a trailing delimiter is accepted.
pub async fn folder_create(store: &dyn MailStore) {
    let account = new_account(store, "create").await;
    let deep = store
        .create_folder(account.id, "Projects/2026/Q1", None)
        .await
        .expect("create with parents");
    assert_eq!(deep.name, "Projects/2026/Q1");
    assert_eq!(deep.role, None);
    assert!(!deep.subscribed);
    assert_eq!(deep.account, account.id);
    let folders = store.folders(account.id).await.expect("folders");
    for name in ["Projects", "Projects/2026", "Projects/2026/Q1"] {
        let f = folders
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} created"));
        assert!(!f.subscribed);
    }
    assert_eq!(
        store
            .folder(account.id, "Projects/2026/Q1")
            .await
            .expect("lookup"),
        Some(deep.clone())
    );
    let status = store.status(deep.id).await.expect("status");
    assert_eq!(
        (status.messages, status.uid_next, status.highest_modseq),
        (0, 1, 1)
    );
    assert_eq!(status.uid_validity, deep.uid_validity);

    expect_err(
        store
            .create_folder(account.id, "Projects/2026/Q1", None)
            .await,
        |e| matches!(e, StoreError::Exists(_)),
        "duplicate",
    );
    expect_err(
        store.create_folder(account.id, "inbox", None).await,
        |e| matches!(e, StoreError::Exists(_)),
        "INBOX in another case",
    );
    for bad in ["", "/lead", "a//b", "wild*", "ctl\u{1}"] {
        expect_err(
            store.create_folder(account.id, bad, None).await,
            |e| matches!(e, StoreError::Invalid(_)),
            bad,
        );
    }
    expect_err(
        store
            .create_folder(account.id, "Sent 2", Some(SpecialUse::Sent))
            .await,
        |e| matches!(e, StoreError::Exists(_)),
        "role already taken",
    );
    expect_err(
        store
            .create_folder(account.id, "Other inbox", Some(SpecialUse::Inbox))
            .await,
        |e| matches!(e, StoreError::Invalid(_)),
        "inbox role",
    );
    expect_err(
        store.create_folder(Uuid::new_v4(), "Orphan", None).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "unknown account",
    );

    let trailing = store
        .create_folder(account.id, "Lists/", None)
        .await
        .expect("trailing delimiter");
    assert_eq!(trailing.name, "Lists");
    let child = store
        .create_folder(account.id, "Inbox/Receipts", None)
        .await
        .expect("INBOX child");
    assert_eq!(child.name, "INBOX/Receipts");

    // A role freed by deleting its folder can be given to a new one.
    store
        .delete_folder(account.id, "Archive")
        .await
        .expect("delete Archive");
    let archive = store
        .create_folder(account.id, "Old mail", Some(SpecialUse::Archive))
        .await
        .expect("role reassigned");
    assert_eq!(
        store
            .folder_by_role(account.id, SpecialUse::Archive)
            .await
            .expect("by role"),
        Some(archive)
    );
}

/// Rename moves a folder with its children, keeps messages, UIDs, UIDVALIDITY and role,
/// creates the target's parents, and refuses existing targets and renames into itself.
pub async fn folder_rename(store: &dyn MailStore) {
    let account = new_account(store, "rename").await;
    let work = store
        .create_folder(account.id, "Work", None)
        .await
        .expect("create");
    store
        .create_folder(account.id, "Work/Clients/Acme", None)
        .await
        .expect("create child");
    store
        .create_folder(account.id, "Workshop", None)
        .await
        .expect("create sibling with a common prefix");
    let uid = put(store, work.id, &message("work"), flags(&["seen"], &[])).await;

    store
        .rename_folder(account.id, "Work", "Archive/2025/Work")
        .await
        .expect("rename");
    let folders = store.folders(account.id).await.expect("folders");
    let listed = names(&folders);
    for name in [
        "Archive/2025",
        "Archive/2025/Work",
        "Archive/2025/Work/Clients",
        "Archive/2025/Work/Clients/Acme",
        "Workshop",
    ] {
        assert!(listed.contains(&name), "{name} in {listed:?}");
    }
    assert!(
        !listed
            .iter()
            .any(|n| *n == "Work" || n.starts_with("Work/"))
    );
    let moved = store
        .folder(account.id, "Archive/2025/Work")
        .await
        .expect("lookup")
        .expect("renamed folder");
    assert_eq!(moved.id, work.id);
    assert_eq!(moved.uid_validity, work.uid_validity);
    let msgs = store.messages(moved.id).await.expect("messages");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].uid, uid);
    assert!(msgs[0].flags.seen);

    // A special-use folder keeps its role.
    store
        .rename_folder(account.id, "Sent", "Sent Items")
        .await
        .expect("rename Sent");
    let sent = store
        .folder_by_role(account.id, SpecialUse::Sent)
        .await
        .expect("by role")
        .expect("sent");
    assert_eq!(sent.name, "Sent Items");

    expect_err(
        store.rename_folder(account.id, "Nope", "Elsewhere").await,
        |e| matches!(e, StoreError::NotFound(_)),
        "missing source",
    );
    expect_err(
        store.rename_folder(account.id, "Workshop", "Drafts").await,
        |e| matches!(e, StoreError::Exists(_)),
        "existing target",
    );
    expect_err(
        store.rename_folder(account.id, "Workshop", "INBOX").await,
        |e| matches!(e, StoreError::Exists(_)),
        "onto INBOX",
    );
    expect_err(
        store
            .rename_folder(account.id, "Archive/2025", "Archive/2025/Deeper")
            .await,
        |e| matches!(e, StoreError::Invalid(_)),
        "into itself",
    );
    expect_err(
        store
            .rename_folder(account.id, "Workshop", "bad//name")
            .await,
        |e| matches!(e, StoreError::Invalid(_)),
        "bad target name",
    );
}

/// Renaming INBOX moves its messages (in UID order, flags kept) into a new folder and leaves
/// INBOX in place, empty, with its children untouched (RFC 3501 §6.3.5).
pub async fn inbox_rename(store: &dyn MailStore) {
    let account = new_account(store, "inboxrename").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    let child = store
        .create_folder(account.id, "INBOX/Child", None)
        .await
        .expect("child");
    put(store, child.id, &message("child"), Flags::default()).await;
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| message(&format!("in {i}"))).collect();
    put(store, inbox, &bodies[0], flags(&["seen"], &["Work"])).await;
    put(store, inbox, &bodies[1], Flags::default()).await;
    put(store, inbox, &bodies[2], flags(&["flagged"], &[])).await;
    let before = store.status(inbox).await.expect("status");

    store
        .rename_folder(account.id, "inbox", "Old Inbox")
        .await
        .expect("rename INBOX");
    let after = store.status(inbox).await.expect("INBOX still there");
    assert_eq!(after.messages, 0);
    assert_eq!(after.size, 0);
    assert_eq!(after.uid_validity, before.uid_validity);
    assert!(after.uid_next >= before.uid_next, "UIDs are not reused");
    assert!(after.highest_modseq > before.highest_modseq);

    let old = store
        .folder(account.id, "Old Inbox")
        .await
        .expect("lookup")
        .expect("new folder");
    assert_ne!(old.id, inbox);
    assert_eq!(old.role, None);
    let moved = store.messages(old.id).await.expect("messages");
    assert_eq!(
        moved.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(moved[0].flags.seen);
    assert_eq!(moved[0].flags.keywords, vec!["Work"]);
    assert!(moved[2].flags.flagged);
    for (meta, raw) in moved.iter().zip(&bodies) {
        assert_eq!(&store.body(&meta.blob).await.expect("body"), raw);
        assert_eq!(meta.internal_date, t(10));
    }
    let child_after = store
        .folder(account.id, "INBOX/Child")
        .await
        .expect("lookup")
        .expect("INBOX children stay");
    assert_eq!(
        store.status(child_after.id).await.expect("status").messages,
        1
    );
    assert_eq!(
        store
            .folder_by_role(account.id, SpecialUse::Inbox)
            .await
            .expect("by role")
            .map(|f| f.id),
        Some(inbox)
    );
}

/// Delete removes a folder and its messages; INBOX and folders with children are refused.
pub async fn folder_delete(store: &dyn MailStore) {
    let account = new_account(store, "delete").await;
    let folder = store
        .create_folder(account.id, "Temp", None)
        .await
        .expect("create");
    put(store, folder.id, &message("temp"), Flags::default()).await;
    store
        .create_folder(account.id, "Parent/Child", None)
        .await
        .expect("create nested");
    for spelling in ["INBOX", "inbox"] {
        expect_err(
            store.delete_folder(account.id, spelling).await,
            |e| matches!(e, StoreError::Invalid(_)),
            "delete INBOX",
        );
    }
    expect_err(
        store.delete_folder(account.id, "Parent").await,
        |e| matches!(e, StoreError::Invalid(_)),
        "delete a folder with children",
    );
    store
        .delete_folder(account.id, "Temp")
        .await
        .expect("delete");
    assert_eq!(
        store.folder(account.id, "Temp").await.expect("lookup"),
        None
    );
    expect_err(
        store.status(folder.id).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "status of a deleted folder",
    );
    assert!(
        store
            .messages(folder.id)
            .await
            .expect("messages of a deleted folder")
            .is_empty()
    );
    expect_err(
        store.delete_folder(account.id, "Temp").await,
        |e| matches!(e, StoreError::NotFound(_)),
        "second delete",
    );
    store
        .delete_folder(account.id, "Parent/Child")
        .await
        .expect("delete child");
    store
        .delete_folder(account.id, "Parent")
        .await
        .expect("then the parent");
    store
        .delete_folder(account.id, "Junk")
        .await
        .expect("special-use folders can be deleted");
}

/// Subscriptions are stored per folder and survive a rename.
pub async fn folder_subscribe(store: &dyn MailStore) {
    let account = new_account(store, "subscribe").await;
    store
        .create_folder(account.id, "News", None)
        .await
        .expect("create");
    store
        .set_subscribed(account.id, "News", true)
        .await
        .expect("subscribe");
    assert!(
        store
            .folder(account.id, "News")
            .await
            .expect("lookup")
            .expect("folder")
            .subscribed
    );
    store
        .rename_folder(account.id, "News", "Newsletters")
        .await
        .expect("rename");
    assert!(
        store
            .folder(account.id, "Newsletters")
            .await
            .expect("lookup")
            .expect("folder")
            .subscribed
    );
    store
        .set_subscribed(account.id, "inbox", false)
        .await
        .expect("unsubscribe INBOX in any case");
    assert!(
        !store
            .folder(account.id, "INBOX")
            .await
            .expect("lookup")
            .expect("folder")
            .subscribed
    );
    expect_err(
        store.set_subscribed(account.id, "Nope", true).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "missing folder",
    );
}

/// A folder deleted and created again under the same name (or renamed away and created
/// again) gets a new, higher UIDVALIDITY and starts at UID 1.
pub async fn uid_validity_not_reused(store: &dyn MailStore) {
    let account = new_account(store, "validity").await;
    let first = store
        .create_folder(account.id, "Again", None)
        .await
        .expect("create");
    put(store, first.id, &message("again"), Flags::default()).await;
    store
        .delete_folder(account.id, "Again")
        .await
        .expect("delete");
    let second = store
        .create_folder(account.id, "Again", None)
        .await
        .expect("create again");
    assert!(second.uid_validity > first.uid_validity);
    assert_ne!(second.id, first.id, "folder ids are not reused");
    assert_eq!(store.status(second.id).await.expect("status").uid_next, 1);
    store
        .rename_folder(account.id, "Again", "Moved")
        .await
        .expect("rename away");
    let third = store
        .create_folder(account.id, "Again", None)
        .await
        .expect("create a third time");
    assert!(third.uid_validity > second.uid_validity);
}
