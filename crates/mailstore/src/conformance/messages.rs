//! Conformance checks for messages: append, UID order and `STATUS` counters, bodies stored
//! once, flags and CONDSTORE conflicts, copy and move, expunge and remove, local delivery,
//! change notification, failed appends leaving nothing behind, and the size limit.

use super::*;
use crate::{FlagOp, FolderStatus, MessageMeta};
use futures::future::join_all;
use sha2::{Digest, Sha256};

/// The size limit stores run the suite with (the contract's default).
const DEFAULT_SIZE_LIMIT: usize = 50 * 1024 * 1024;

async fn status(store: &dyn MailStore, folder: i64) -> FolderStatus {
    store.status(folder).await.expect("status")
}

async fn uids(store: &dyn MailStore, folder: i64) -> Vec<u32> {
    store
        .messages(folder)
        .await
        .expect("messages")
        .iter()
        .map(|m| m.uid)
        .collect()
}

async fn meta(store: &dyn MailStore, folder: i64, uid: u32) -> MessageMeta {
    store
        .messages_by_uid(folder, &[uid])
        .await
        .expect("messages_by_uid")
        .pop()
        .unwrap_or_else(|| panic!("message {uid}"))
}

/// Appends get increasing UIDs from 1; metadata, body and every `STATUS` counter follow.
pub async fn append_status(store: &dyn MailStore) {
    let account = new_account(store, "append").await;
    let folder = store
        .create_folder(account.id, "Append", None)
        .await
        .expect("create");
    let bodies = [
        message("one"),
        message("two two"),
        message("three three three"),
    ];
    let mut last_modseq = status(store, folder.id).await.highest_modseq;
    let mut appended = Vec::new();
    for (i, raw) in bodies.iter().enumerate() {
        let result = store
            .append(
                folder.id,
                NewMessage {
                    raw,
                    flags: if i == 1 {
                        flags(&["seen"], &["Zeta", "alpha", "ALPHA"])
                    } else {
                        Flags::default()
                    },
                    internal_date: t(100 + i as i64),
                },
            )
            .await
            .expect("append");
        assert_eq!(result.folder, folder.id);
        assert_eq!(result.uid_validity, folder.uid_validity);
        assert_eq!(result.uid, i as u32 + 1);
        let s = status(store, folder.id).await;
        assert_eq!(
            s.highest_modseq,
            last_modseq + 1,
            "append bumps modseq by one"
        );
        last_modseq = s.highest_modseq;
        appended.push(result);
    }
    let s = status(store, folder.id).await;
    assert_eq!(s.messages, 3);
    assert_eq!(s.unseen, 2);
    assert_eq!(s.recent, 0);
    assert_eq!(s.uid_next, 4);
    assert_eq!(s.uid_validity, folder.uid_validity);
    assert_eq!(s.size, bodies.iter().map(|b| b.len() as u64).sum::<u64>());

    let listed = store.messages(folder.id).await.expect("messages");
    assert_eq!(listed.len(), 3);
    let mut previous_modseq = 0;
    for (i, (m, raw)) in listed.iter().zip(&bodies).enumerate() {
        assert_eq!(m.uid, i as u32 + 1);
        assert_eq!(m.size as usize, raw.len());
        assert_eq!(m.internal_date, t(100 + i as i64));
        assert_eq!(m.blob.0, hex::encode(Sha256::digest(raw)));
        assert!(m.modseq > previous_modseq);
        previous_modseq = m.modseq;
        assert_eq!(&store.body(&m.blob).await.expect("body"), raw);
    }
    assert_eq!(listed[2].modseq, s.highest_modseq);
    assert!(listed[1].flags.seen);
    assert_eq!(listed[1].flags.keywords, vec!["alpha", "Zeta"]);
    assert_eq!(listed[0].flags, Flags::default());

    let some = store
        .messages_by_uid(folder.id, &[3, 1, 99, 1])
        .await
        .expect("by uid");
    assert_eq!(some.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(some[0], listed[0]);
    assert!(
        store
            .messages_by_uid(folder.id, &[])
            .await
            .expect("empty set")
            .is_empty()
    );

    expect_err(
        store
            .body(&crate::BlobId(hex::encode(Sha256::digest(b"never stored"))))
            .await,
        |e| matches!(e, StoreError::NotFound(_)),
        "unknown body",
    );
    expect_err(
        store.body(&crate::BlobId("../../mail.db".to_owned())).await,
        |e| matches!(e, StoreError::Invalid(_) | StoreError::NotFound(_)),
        "a blob id that is not a hash",
    );
    expect_err(
        store
            .append(
                folder.id,
                NewMessage {
                    raw: &message("bad keyword"),
                    flags: flags(&[], &["two words"]),
                    internal_date: t(0),
                },
            )
            .await,
        |e| matches!(e, StoreError::Invalid(_)),
        "keyword that is not an atom",
    );
    assert_eq!(
        status(store, folder.id).await,
        s,
        "a refused append changes nothing"
    );
}

/// Concurrent appends to one folder get distinct, gapless UIDs.
pub async fn append_concurrent(store: &dyn MailStore) {
    const N: u32 = 40;
    let account = new_account(store, "concurrent").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    let bodies: Vec<Vec<u8>> = (0..N).map(|i| message(&format!("c{i}"))).collect();
    let results = join_all(bodies.iter().map(|raw| {
        store.append(
            inbox,
            NewMessage {
                raw,
                flags: Flags::default(),
                internal_date: t(1),
            },
        )
    }))
    .await;
    let mut got: Vec<u32> = results
        .into_iter()
        .map(|r| r.expect("concurrent append").uid)
        .collect();
    got.sort_unstable();
    assert_eq!(got, (1..=N).collect::<Vec<_>>());
    assert_eq!(uids(store, inbox).await, (1..=N).collect::<Vec<_>>());
    let s = status(store, inbox).await;
    assert_eq!(
        (s.messages, s.uid_next, s.highest_modseq),
        (N, N + 1, u64::from(N) + 1)
    );
}

/// Identical bodies share one blob, wherever and however they arrive.
pub async fn dedup(store: &dyn MailStore) {
    let account = new_account(store, "dedup").await;
    let other = new_account(store, "dedup2").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    let drafts = folder_id(store, account.id, "Drafts").await;
    let raw = message("same");
    put(store, inbox, &raw, Flags::default()).await;
    put(store, inbox, &raw, flags(&["seen"], &[])).await;
    put(store, drafts, &raw, Flags::default()).await;
    store
        .deliver(&[other.id], &raw, t(3))
        .await
        .expect("deliver");
    let mut blobs = store.messages(inbox).await.expect("messages");
    blobs.extend(store.messages(drafts).await.expect("messages"));
    blobs.extend(
        store
            .messages(folder_id(store, other.id, "INBOX").await)
            .await
            .expect("messages"),
    );
    assert_eq!(blobs.len(), 4);
    assert!(blobs.iter().all(|m| m.blob == blobs[0].blob), "{blobs:?}");
    assert_eq!(store.body(&blobs[0].blob).await.expect("body"), raw);
    // Deleting one reference keeps the body for the others.
    store.remove(inbox, &[1]).await.expect("remove");
    assert_eq!(store.body(&blobs[0].blob).await.expect("body"), raw);
}

/// `store_flags` add, remove and replace; keywords; `\Seen` drives the unseen count; one
/// modseq per call that changes something, none for a call that changes nothing.
pub async fn flags_store(store: &dyn MailStore) {
    let account = new_account(store, "flags").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    for i in 0..3 {
        put(store, inbox, &message(&format!("f{i}")), Flags::default()).await;
    }
    let before = status(store, inbox).await;
    assert_eq!(before.unseen, 3);

    let added = store
        .store_flags(
            inbox,
            &[1, 2, 7],
            FlagOp::Add,
            &flags(&["seen", "flagged"], &["Work", "$Label1"]),
            None,
        )
        .await
        .expect("add");
    assert!(added.conflicts.is_empty());
    let s = status(store, inbox).await;
    assert_eq!(s.highest_modseq, before.highest_modseq + 1);
    assert_eq!(s.unseen, 1);
    assert_eq!(added.updated.len(), 2, "missing UID 7 skipped");
    for (uid, f, modseq) in &added.updated {
        assert!(f.seen && f.flagged && !f.deleted);
        assert_eq!(f.keywords, vec!["$Label1", "Work"]);
        assert_eq!(*modseq, s.highest_modseq);
        assert_eq!(&meta(store, inbox, *uid).await.flags, f);
    }

    let removed = store
        .store_flags(
            inbox,
            &[1],
            FlagOp::Remove,
            &flags(&["seen"], &["work"]),
            None,
        )
        .await
        .expect("remove");
    let one = meta(store, inbox, 1).await;
    assert_eq!(removed.updated, vec![(1, one.flags.clone(), one.modseq)]);
    assert!(!one.flags.seen && one.flags.flagged);
    assert_eq!(
        one.flags.keywords,
        vec!["$Label1"],
        "keywords removed ignoring case"
    );
    assert_eq!(status(store, inbox).await.unseen, 2);

    let replaced = store
        .store_flags(
            inbox,
            &[2, 3],
            FlagOp::Replace,
            &flags(&["draft", "answered"], &[]),
            None,
        )
        .await
        .expect("replace");
    assert_eq!(replaced.updated.len(), 2);
    for uid in [2, 3] {
        let m = meta(store, inbox, uid).await;
        assert_eq!(m.flags, flags(&["draft", "answered"], &[]));
    }
    assert_eq!(status(store, inbox).await.unseen, 3);

    // Nothing changes: reported, no modseq bump.
    let modseq = status(store, inbox).await.highest_modseq;
    let noop = store
        .store_flags(inbox, &[2], FlagOp::Add, &flags(&["draft"], &[]), None)
        .await
        .expect("no-op add");
    let two = meta(store, inbox, 2).await;
    assert_eq!(noop.updated, vec![(2, two.flags.clone(), two.modseq)]);
    assert!(two.modseq <= modseq);
    assert_eq!(status(store, inbox).await.highest_modseq, modseq);
    let none = store
        .store_flags(inbox, &[50, 60], FlagOp::Add, &flags(&["seen"], &[]), None)
        .await
        .expect("only missing UIDs");
    assert_eq!(none, crate::FlagUpdate::default());

    expect_err(
        store
            .store_flags(inbox, &[1], FlagOp::Add, &flags(&[], &["bad(kw"]), None)
            .await,
        |e| matches!(e, StoreError::Invalid(_)),
        "bad keyword",
    );
    expect_err(
        store
            .store_flags(i64::MAX, &[1], FlagOp::Add, &flags(&["seen"], &[]), None)
            .await,
        |e| matches!(e, StoreError::NotFound(_)),
        "missing folder",
    );
}

/// CONDSTORE: messages changed since `unchanged_since` are reported as conflicts and left
/// alone; the others are changed.
pub async fn flags_condstore(store: &dyn MailStore) {
    let account = new_account(store, "condstore").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    put(store, inbox, &message("c1"), Flags::default()).await;
    put(store, inbox, &message("c2"), Flags::default()).await;
    let m1 = meta(store, inbox, 1).await.modseq;
    let m2 = meta(store, inbox, 2).await.modseq;
    assert!(m2 > m1);

    // UID 2 changed after m1: conflict; UID 1 did not: updated.
    let update = store
        .store_flags(
            inbox,
            &[1, 2],
            FlagOp::Add,
            &flags(&["seen"], &[]),
            Some(m1),
        )
        .await
        .expect("conditional store");
    assert_eq!(update.conflicts, vec![2]);
    assert_eq!(update.updated.len(), 1);
    assert_eq!(update.updated[0].0, 1);
    let new = update.updated[0].2;
    assert!(new > m2);
    assert!(
        !meta(store, inbox, 2).await.flags.seen,
        "conflict left alone"
    );

    let again = store
        .store_flags(
            inbox,
            &[1],
            FlagOp::Add,
            &flags(&["flagged"], &[]),
            Some(new - 1),
        )
        .await
        .expect("stale modseq");
    assert_eq!(again.conflicts, vec![1]);
    assert!(again.updated.is_empty());
    assert_eq!(
        status(store, inbox).await.highest_modseq,
        new,
        "no bump on conflict"
    );

    let ok = store
        .store_flags(
            inbox,
            &[1],
            FlagOp::Add,
            &flags(&["flagged"], &[]),
            Some(new),
        )
        .await
        .expect("current modseq");
    assert!(ok.conflicts.is_empty());
    assert_eq!(ok.updated[0].2, new + 1);
}

/// Copy keeps flags, dates and bodies and gives new ascending UIDs in the target; move does
/// the same and removes the sources; both stay within one account.
pub async fn copy_move(store: &dyn MailStore) {
    let account = new_account(store, "copy").await;
    let source = folder_id(store, account.id, "INBOX").await;
    let target = store
        .create_folder(account.id, "Target", None)
        .await
        .expect("create");
    put(
        store,
        target.id,
        &message("already there"),
        Flags::default(),
    )
    .await;
    put(store, source, &message("s1"), flags(&["seen"], &["K1"])).await;
    put(store, source, &message("s2"), flags(&["flagged"], &[])).await;
    put(
        store,
        source,
        &message("s3"),
        flags(&["answered", "deleted"], &[]),
    )
    .await;
    let source_before = status(store, source).await;
    let target_before = status(store, target.id).await;

    let copied = store
        .copy(source, &[3, 1, 99], target.id)
        .await
        .expect("copy");
    assert_eq!(copied.uid_validity, target.uid_validity);
    assert_eq!(copied.pairs, vec![(1, 2), (3, 3)]);
    assert_eq!(
        status(store, source).await,
        source_before,
        "copy leaves the source"
    );
    let target_after = status(store, target.id).await;
    assert_eq!(target_after.messages, 3);
    assert_eq!(
        target_after.highest_modseq,
        target_before.highest_modseq + 1
    );
    for (src, dst) in &copied.pairs {
        let a = meta(store, source, *src).await;
        let b = meta(store, target.id, *dst).await;
        assert_eq!(a.flags, b.flags);
        assert_eq!(a.internal_date, b.internal_date);
        assert_eq!(a.blob, b.blob);
        assert_eq!(a.size, b.size);
        assert_eq!(b.modseq, target_after.highest_modseq);
    }

    let moved = store
        .move_messages(source, &[2], target.id)
        .await
        .expect("move");
    assert_eq!(moved.pairs, vec![(2, 4)]);
    assert_eq!(uids(store, source).await, vec![1, 3]);
    assert!(meta(store, target.id, 4).await.flags.flagged);
    let source_after = status(store, source).await;
    assert_eq!(source_after.messages, 2);
    assert_eq!(
        source_after.highest_modseq,
        source_before.highest_modseq + 1
    );
    assert_eq!(source_after.unseen, 1);

    let target_now = status(store, target.id).await;
    let nothing = store
        .copy(source, &[42], target.id)
        .await
        .expect("copy of missing UIDs");
    assert!(nothing.pairs.is_empty());
    assert_eq!(nothing.uid_validity, target.uid_validity);
    assert_eq!(
        status(store, target.id).await,
        target_now,
        "copying nothing changes nothing"
    );

    let stranger = new_account(store, "stranger").await;
    let foreign = folder_id(store, stranger.id, "INBOX").await;
    expect_err(
        store.copy(source, &[1], foreign).await,
        |e| matches!(e, StoreError::Invalid(_)),
        "copy across accounts",
    );
    expect_err(
        store.move_messages(source, &[1], foreign).await,
        |e| matches!(e, StoreError::Invalid(_)),
        "move across accounts",
    );
    assert!(store.messages(foreign).await.expect("messages").is_empty());
    expect_err(
        store.copy(source, &[1], i64::MAX).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "copy to a missing folder",
    );
}

/// Expunge removes only `\Deleted` messages (within the UID set when given) and returns
/// their UIDs ascending; remove ignores flags; UIDs are never reused.
pub async fn expunge_remove(store: &dyn MailStore) {
    let account = new_account(store, "expunge").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    for i in 1..=5 {
        let f = if [2, 4, 5].contains(&i) {
            flags(&["deleted"], &[])
        } else {
            Flags::default()
        };
        put(store, inbox, &message(&format!("e{i}")), f).await;
    }
    let before = status(store, inbox).await;
    let gone = store
        .expunge(inbox, Some(&[4, 1, 2]))
        .await
        .expect("UID EXPUNGE");
    assert_eq!(gone, vec![2, 4]);
    assert_eq!(uids(store, inbox).await, vec![1, 3, 5]);
    let s = status(store, inbox).await;
    assert_eq!(s.highest_modseq, before.highest_modseq + 1);
    assert_eq!(s.messages, 3);

    assert_eq!(store.expunge(inbox, None).await.expect("EXPUNGE"), vec![5]);
    let s = status(store, inbox).await;
    assert_eq!(
        store.expunge(inbox, None).await.expect("nothing left"),
        Vec::<u32>::new()
    );
    assert_eq!(
        status(store, inbox).await,
        s,
        "expunging nothing changes nothing"
    );

    assert_eq!(
        store.remove(inbox, &[3, 99]).await.expect("remove"),
        vec![3]
    );
    assert_eq!(uids(store, inbox).await, vec![1]);
    let s = status(store, inbox).await;
    assert_eq!((s.messages, s.unseen, s.uid_next), (1, 1, 6));
    assert_eq!(
        s.size,
        meta(store, inbox, 1).await.size as u64,
        "size follows removals"
    );
    assert_eq!(
        put(store, inbox, &message("after"), Flags::default()).await,
        6
    );
    expect_err(
        store.expunge(i64::MAX, None).await,
        |e| matches!(e, StoreError::NotFound(_)),
        "missing folder",
    );
}

/// Delivery appends one body to the INBOX of every account in one transaction: an unknown
/// account fails the whole delivery.
pub async fn deliver(store: &dyn MailStore) {
    let accounts = [
        new_account(store, "rcpt1").await,
        new_account(store, "rcpt2").await,
        new_account(store, "rcpt3").await,
    ];
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
    let mut inboxes = Vec::new();
    for a in &accounts {
        inboxes.push(
            store
                .folder(a.id, "INBOX")
                .await
                .expect("lookup")
                .expect("INBOX"),
        );
    }
    put(store, inboxes[1].id, &message("earlier"), Flags::default()).await;
    let raw = message("delivered");
    let appended = store.deliver(&ids, &raw, t(42)).await.expect("deliver");
    assert_eq!(appended.len(), 3);
    for (i, (result, inbox)) in appended.iter().zip(&inboxes).enumerate() {
        assert_eq!(result.folder, inbox.id);
        assert_eq!(result.uid_validity, inbox.uid_validity);
        assert_eq!(result.uid, if i == 1 { 2 } else { 1 });
        let m = meta(store, inbox.id, result.uid).await;
        assert_eq!(m.internal_date, t(42));
        assert!(!m.flags.seen);
        assert_eq!(store.body(&m.blob).await.expect("body"), raw);
    }

    let before: Vec<FolderStatus> = join_all(inboxes.iter().map(|f| store.status(f.id)))
        .await
        .into_iter()
        .map(|s| s.expect("status"))
        .collect();
    expect_err(
        store
            .deliver(
                &[ids[0], Uuid::new_v4(), ids[2]],
                &message("partial"),
                t(43),
            )
            .await,
        |e| matches!(e, StoreError::NotFound(_)),
        "unknown recipient",
    );
    for (inbox, was) in inboxes.iter().zip(&before) {
        assert_eq!(&status(store, inbox.id).await, was, "nothing delivered");
    }
    assert!(
        store
            .deliver(&[], &message("nobody"), t(44))
            .await
            .expect("no recipients")
            .is_empty()
    );
}

/// The watch receiver of an account changes with each change to that account, and not
/// with changes to another.
pub async fn watch(store: &dyn MailStore) {
    let account = new_account(store, "watch").await;
    let other = new_account(store, "unwatched").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    let other_inbox = folder_id(store, other.id, "INBOX").await;
    let mut rx = store.watch(account.id);
    let mut second = store.watch(account.id);
    assert!(!rx.has_changed().expect("open"));

    put(store, other_inbox, &message("elsewhere"), Flags::default()).await;
    assert!(
        !rx.has_changed().expect("open"),
        "other accounts do not wake it"
    );

    put(store, inbox, &message("new mail"), Flags::default()).await;
    assert!(rx.has_changed().expect("open"), "append");
    assert!(second.has_changed().expect("open"), "every receiver");
    rx.mark_unchanged();
    second.mark_unchanged();

    store
        .store_flags(inbox, &[1], FlagOp::Add, &flags(&["deleted"], &[]), None)
        .await
        .expect("flags");
    assert!(rx.has_changed().expect("open"), "flags");
    rx.mark_unchanged();

    store.expunge(inbox, None).await.expect("expunge");
    assert!(rx.has_changed().expect("open"), "expunge");
    rx.mark_unchanged();

    store
        .deliver(&[account.id], &message("delivered"), t(1))
        .await
        .expect("deliver");
    assert!(rx.has_changed().expect("open"), "delivery");
    rx.mark_unchanged();

    let drafts = folder_id(store, account.id, "Drafts").await;
    store.copy(inbox, &[2], drafts).await.expect("copy");
    assert!(rx.has_changed().expect("open"), "copy");
    drop(second);
    drop(rx);
    // A watch taken again after everyone let go still works.
    let mut again = store.watch(account.id);
    put(store, inbox, &message("later"), Flags::default()).await;
    assert!(again.has_changed().expect("open"));
    again.mark_unchanged();
}

/// A failed append (the folder vanished) leaves no message and changes no counter.
pub async fn failed_append(store: &dyn MailStore) {
    let account = new_account(store, "failed").await;
    let folder = store
        .create_folder(account.id, "Vanishing", None)
        .await
        .expect("create");
    let inbox = folder_id(store, account.id, "INBOX").await;
    put(store, inbox, &message("kept"), Flags::default()).await;
    let before = status(store, inbox).await;
    store
        .delete_folder(account.id, "Vanishing")
        .await
        .expect("delete");
    let raw = message("lost");
    expect_err(
        store
            .append(
                folder.id,
                NewMessage {
                    raw: &raw,
                    flags: Flags::default(),
                    internal_date: t(0),
                },
            )
            .await,
        |e| matches!(e, StoreError::NotFound(_)),
        "append to a deleted folder",
    );
    assert_eq!(status(store, inbox).await, before);
    assert!(
        store
            .messages(folder.id)
            .await
            .expect("messages")
            .is_empty()
    );
    // The same body then goes in fine.
    assert_eq!(
        put(store, inbox, &raw, Flags::default()).await,
        before.uid_next
    );
}

/// Messages over the size limit (50 MiB by default) are refused by append, deliver and
/// enqueue with `TooLarge`, and leave nothing behind.
pub async fn too_large(store: &dyn MailStore) {
    let account = new_account(store, "large").await;
    let inbox = folder_id(store, account.id, "INBOX").await;
    let before = status(store, inbox).await;
    let huge = vec![b'x'; DEFAULT_SIZE_LIMIT + 1];
    expect_err(
        store
            .append(
                inbox,
                NewMessage {
                    raw: &huge,
                    flags: Flags::default(),
                    internal_date: t(0),
                },
            )
            .await,
        |e| matches!(e, StoreError::TooLarge),
        "append",
    );
    expect_err(
        store.deliver(&[account.id], &huge, t(0)).await,
        |e| matches!(e, StoreError::TooLarge),
        "deliver",
    );
    expect_err(
        store
            .enqueue(crate::NewOutbound {
                from: &account.address,
                recipients: &["x@example.net".to_owned()],
                raw: &huge,
                now: t(0),
            })
            .await,
        |e| matches!(e, StoreError::TooLarge),
        "enqueue",
    );
    assert_eq!(status(store, inbox).await, before);
}
