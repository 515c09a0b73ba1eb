//! Runs the conformance suite against [`SqliteMailStore`] (every check on a fresh store in a
//! temporary directory, then the whole suite twice on one store), plus what only the SQLite
//! backend has: the files under `blobs/`, blob garbage collection, a crash between writing a
//! body and committing it, reopening, the configurable size limit and concurrent opens.

use mailward_mailstore::conformance::{self, flags, folder_id, message, new_account, put, t};
use mailward_mailstore::sqlite::{MailStoreConfig, SqliteMailStore};
use mailward_mailstore::{Flags, MailStore, NewMessage, StoreError};
use mailward_types::clock;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

async fn open() -> (TempDir, SqliteMailStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteMailStore::open(dir.path()).await.expect("open store");
    (dir, store)
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let (_dir, store) = open().await;
                conformance::$check(&store).await;
                store.close().await;
            }
        )*
    };
}

conformance_tests!(
    accounts_idempotent,
    accounts_concurrent,
    account_lookup,
    default_folders,
    delete_account,
    folder_create,
    folder_rename,
    inbox_rename,
    folder_delete,
    folder_subscribe,
    uid_validity_not_reused,
    append_status,
    append_concurrent,
    dedup,
    flags_store,
    flags_condstore,
    copy_move,
    expunge_remove,
    deliver,
    watch,
    failed_append,
    too_large,
    queue_lifecycle,
    auth_policies,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_twice_on_one_store() {
    let (_dir, store) = open().await;
    conformance::run_all(&store).await;
    conformance::run_all(&store).await;
    store.close().await;
}

/// Every body file under `blobs/` (fan-out directories only).
fn body_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for fan in std::fs::read_dir(dir.join("blobs")).expect("blobs dir") {
        let fan = fan.expect("entry").path();
        if fan.file_name().is_some_and(|n| n == "tmp") {
            continue;
        }
        for f in std::fs::read_dir(&fan).expect("fan-out dir") {
            files.push(f.expect("entry").path());
        }
    }
    files.sort();
    files
}

fn blob_path(dir: &Path, hash: &str) -> PathBuf {
    dir.join("blobs").join(&hash[..2]).join(hash)
}

#[tokio::test]
async fn layout_and_one_file_per_distinct_body() {
    let (dir, store) = open().await;
    assert!(dir.path().join("mail.db").is_file());
    assert!(dir.path().join("blobs/tmp").is_dir());
    assert!(dir.path().join("blobs/00").is_dir() && dir.path().join("blobs/ff").is_dir());
    let account = new_account(&store, "layout").await;
    let inbox = folder_id(&store, account.id, "INBOX").await;
    let raw = message("stored once");
    put(&store, inbox, &raw, Flags::default()).await;
    put(&store, inbox, &raw, Flags::default()).await;
    store
        .deliver(&[account.id], &raw, t(1))
        .await
        .expect("deliver");
    let files = body_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let meta = &store.messages(inbox).await.expect("messages")[0];
    assert_eq!(files[0], blob_path(dir.path(), &meta.blob.0));
    assert_eq!(std::fs::read(&files[0]).expect("read"), raw);
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/tmp"))
            .expect("tmp")
            .count(),
        0,
        "no temporary file left"
    );
}

#[tokio::test]
async fn gc_keeps_referenced_bodies_and_removes_released_ones_after_the_grace_period() {
    let (dir, store) = open().await;
    let grace = time::Duration::try_from(store.config().blob_grace).expect("grace");
    let account = new_account(&store, "gc").await;
    let inbox = folder_id(&store, account.id, "INBOX").await;
    let shared = message("shared");
    let single = message("single");
    put(&store, inbox, &shared, Flags::default()).await; // uid 1
    put(&store, inbox, &shared, Flags::default()).await; // uid 2
    put(&store, inbox, &single, Flags::default()).await; // uid 3
    let queued = store
        .enqueue(mailward_mailstore::NewOutbound {
            from: "a@example.com",
            recipients: &["b@example.net".to_owned()],
            raw: &message("queued"),
            now: t(0),
        })
        .await
        .expect("enqueue");
    let metas = store.messages(inbox).await.expect("messages");
    let (shared_blob, single_blob) = (metas[0].blob.clone(), metas[2].blob.clone());

    // Nothing unreferenced yet: nothing goes, however late.
    let now = clock::now();
    let far = now + grace * 10;
    let report = store.gc_blobs(far).await.expect("gc");
    assert_eq!(report, Default::default());
    assert_eq!(body_files(dir.path()).len(), 3);

    store.remove(inbox, &[1, 3]).await.expect("remove");
    // The first run only marks the released body; the shared one is still referenced.
    let report = store.gc_blobs(now).await.expect("gc mark");
    assert_eq!(report.blobs, 0);
    assert!(blob_path(dir.path(), &single_blob.0).is_file());
    // Within the grace period it stays and can still be read.
    let report = store
        .gc_blobs(now + grace - time::Duration::seconds(1))
        .await
        .expect("gc within grace");
    assert_eq!(report.blobs, 0);
    assert_eq!(store.body(&single_blob).await.expect("body"), single);
    // After it, it goes; referenced bodies stay.
    let report = store.gc_blobs(now + grace).await.expect("gc sweep");
    assert_eq!(report.blobs, 1);
    assert_eq!(report.bytes, single.len() as u64);
    assert!(!blob_path(dir.path(), &single_blob.0).exists());
    assert!(matches!(
        store.body(&single_blob).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.body(&shared_blob).await.expect("shared body"), shared);
    assert_eq!(
        body_files(dir.path()).len(),
        2,
        "shared and queued bodies stay"
    );

    // A body used again after being marked is unmarked.
    store
        .remove(inbox, &[2])
        .await
        .expect("remove last reference");
    store.gc_blobs(now).await.expect("mark");
    put(&store, inbox, &shared, Flags::default()).await;
    let report = store.gc_blobs(far).await.expect("gc");
    assert_eq!(report.blobs, 0);
    assert_eq!(store.body(&shared_blob).await.expect("body"), shared);

    // A collected body can be stored again.
    put(&store, inbox, &single, flags(&["seen"], &[])).await;
    assert_eq!(store.body(&single_blob).await.expect("body again"), single);

    // Queue entries hold their body until done.
    store.outbound_done(queued).await.expect("done");
    store.gc_blobs(now).await.expect("mark");
    assert_eq!(store.gc_blobs(far).await.expect("sweep").blobs, 1);
    assert_eq!(body_files(dir.path()).len(), 2);

    // Deleting the account releases every body its messages held.
    store
        .delete_account(account.id)
        .await
        .expect("delete account");
    store.gc_blobs(now).await.expect("mark");
    assert_eq!(store.gc_blobs(far).await.expect("sweep").blobs, 2);
    assert!(body_files(dir.path()).is_empty());
}

#[tokio::test]
async fn a_body_written_without_its_transaction_leaves_no_row_and_is_collected() {
    let (dir, store) = open().await;
    let account = new_account(&store, "crash").await;
    let inbox = folder_id(&store, account.id, "INBOX").await;
    put(&store, inbox, &message("kept"), Flags::default()).await;
    let before = store.status(inbox).await.expect("status");

    // As if the process died after step 1 of the durability order: the body file is there,
    // its row never committed. (An append to a folder that no longer exists does exactly
    // that: the body is written first, then the transaction fails.)
    let folder = store
        .create_folder(account.id, "Gone", None)
        .await
        .expect("create");
    store
        .delete_folder(account.id, "Gone")
        .await
        .expect("delete");
    let raw = message("never committed");
    let err = store
        .append(
            folder.id,
            NewMessage {
                raw: &raw,
                flags: Flags::default(),
                internal_date: t(0),
            },
        )
        .await;
    assert!(matches!(err, Err(StoreError::NotFound(_))), "{err:?}");
    // A leftover temporary file of a write cut short.
    let tmp = dir.path().join("blobs/tmp/partial.write");
    std::fs::write(&tmp, b"half a message").expect("write tmp");
    store.close().await;
    drop(store);

    // After a restart: no row, counters unchanged, the file still there until GC.
    let store = SqliteMailStore::open(dir.path()).await.expect("reopen");
    assert_eq!(store.status(inbox).await.expect("status"), before);
    assert_eq!(store.messages(inbox).await.expect("messages").len(), 1);
    let hash = hex_sha256(&raw);
    let orphan = blob_path(dir.path(), &hash);
    assert!(orphan.is_file());

    let now = clock::now();
    let report = store.gc_blobs(now).await.expect("gc within grace");
    assert_eq!(report.orphan_files, 0, "young files are left alone");
    assert!(orphan.is_file());
    let grace = time::Duration::try_from(store.config().blob_grace).expect("grace");
    let report = store
        .gc_blobs(now + grace + time::Duration::minutes(1))
        .await
        .expect("gc after grace");
    assert_eq!(report.orphan_files, 1);
    assert_eq!(report.temporary_files, 1);
    assert_eq!(report.blobs, 0);
    assert!(!orphan.exists());
    assert!(!tmp.exists());
    assert_eq!(body_files(dir.path()).len(), 1, "the committed body stays");
    let kept = &store.messages(inbox).await.expect("messages")[0];
    assert!(store.body(&kept.blob).await.is_ok());

    // The same body appended later is written again.
    let uid = put(&store, inbox, &raw, Flags::default()).await;
    assert_eq!(uid, before.uid_next);
    assert_eq!(
        store
            .body(&mailward_mailstore::BlobId(hash))
            .await
            .expect("body"),
        raw
    );
}

fn hex_sha256(raw: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(raw))
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteMailStore::open(dir.path()).await.expect("open");
    let account = new_account(&store, "reopen").await;
    let inbox = folder_id(&store, account.id, "INBOX").await;
    put(
        &store,
        inbox,
        &message("persist"),
        flags(&["seen"], &["Kept"]),
    )
    .await;
    let status = store.status(inbox).await.expect("status");
    let folders = store.folders(account.id).await.expect("folders");
    store.close().await;
    drop(store);

    let store = SqliteMailStore::open(dir.path()).await.expect("reopen");
    assert_eq!(
        store.account(account.id).await.expect("get"),
        Some(account.clone())
    );
    assert_eq!(store.folders(account.id).await.expect("folders"), folders);
    assert_eq!(store.status(inbox).await.expect("status"), status);
    let msgs = store.messages(inbox).await.expect("messages");
    assert_eq!(msgs[0].flags, flags(&["seen"], &["Kept"]));
    assert_eq!(
        put(&store, inbox, &message("next"), Flags::default()).await,
        2
    );
    let newer = store
        .create_folder(account.id, "New", None)
        .await
        .expect("create");
    assert!(folders.iter().all(|f| f.uid_validity < newer.uid_validity));
}

#[tokio::test]
async fn size_limit_is_configurable_and_exact() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = MailStoreConfig {
        max_message_size: 1000,
        ..MailStoreConfig::default()
    };
    let store = SqliteMailStore::open_with(dir.path(), config)
        .await
        .expect("open");
    let account = new_account(&store, "limit").await;
    let inbox = folder_id(&store, account.id, "INBOX").await;
    let at_limit = vec![b'a'; 1000];
    put(&store, inbox, &at_limit, Flags::default()).await;
    let over = vec![b'b'; 1001];
    let err = store
        .append(
            inbox,
            NewMessage {
                raw: &over,
                flags: Flags::default(),
                internal_date: t(0),
            },
        )
        .await;
    assert!(matches!(err, Err(StoreError::TooLarge)), "{err:?}");
    assert_eq!(
        body_files(dir.path()).len(),
        1,
        "nothing written for a refused body"
    );
    assert_eq!(
        MailStoreConfig::default().max_message_size,
        50 * 1024 * 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_opening_one_new_directory_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = tokio::join!(
        SqliteMailStore::open(dir.path()),
        SqliteMailStore::open(dir.path())
    );
    let (a, b) = (a.expect("first"), b.expect("second"));
    let account = new_account(&a, "shared").await;
    assert_eq!(
        b.account(account.id).await.expect("seen by the other"),
        Some(account.clone())
    );
    let again = b
        .ensure_account(mailward_mailstore::NewAccount {
            user_oid: account.user_oid,
            upn: account.upn.clone(),
            address: account.address.clone(),
            display_name: account.display_name.clone(),
            now: t(9),
        })
        .await
        .expect("ensure from the other store");
    assert_eq!(again.id, account.id);
    a.close().await;
    b.close().await;
}
