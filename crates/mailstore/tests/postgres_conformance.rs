//! Runs the conformance suite against [`PgMailStore`] on the PostgreSQL server at
//! `postgres://postgres@127.0.0.1:5432/test` (`MAILWARD_TEST_POSTGRES_URL` overrides):
//! every check on a fresh schema, then the whole suite twice on one schema, plus what
//! several nodes on one database rely on: two stores appending to one folder at once,
//! a watcher on one store woken by an append through the other (and by a lost and
//! re-established notification connection), outbound claims that never overlap, and
//! blob garbage collection.
//!
//! Each test works in a schema of its own (`mw_mail_test_<random>`, selected through the
//! connection's `search_path`) and drops it afterwards, even when the check fails, so runs
//! never see each other's data. An unreachable server fails the tests: it is never a skip.

use futures::future::join_all;
use mailward_mailstore::conformance::{self, flags, folder_id, message, new_account, t};
use mailward_mailstore::postgres::PgMailStore;
use mailward_mailstore::{Flags, MailStore, NewMessage, NewOutbound, StoreError};
use mailward_types::clock;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long a watcher may take to hear another node's change before the test fails (an
/// upper bound for a failure, not a wait the test depends on).
const NOTIFY_BOUND: Duration = Duration::from_secs(10);

fn server_url() -> String {
    std::env::var("MAILWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn admin() -> PgConnection {
    let url = server_url();
    match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "PostgreSQL is unreachable at {url} ({e}); the PostgreSQL conformance tests need a \
             server (set MAILWARD_TEST_POSTGRES_URL to use another one)"
        ),
    }
}

/// Runs `test` on a fresh scratch schema (its URL as argument), drops the schema whatever
/// happens, then passes a failure of the test on.
async fn with_schema<F, Fut>(test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = format!("mw_mail_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = admin().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut conn)
        .await
        .expect("create the test schema");
    let base = server_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={name}");
    let outcome = tokio::spawn(test(url)).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
        .execute(&mut conn)
        .await
        .expect("drop the test schema");
    conn.close().await.expect("close the admin connection");
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

async fn open(url: &str) -> PgMailStore {
    match PgMailStore::connect(url).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open the PostgreSQL mail store at {url}: {e}"),
    }
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        mod fresh_schema {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::with_schema(|url| async move {
                        let store = super::open(&url).await;
                        mailward_mailstore::conformance::$check(&store).await;
                        store.close().await;
                    })
                    .await;
                }
            )*
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_suite_twice_on_one_schema() {
    with_schema(|url| async move {
        let store = open(&url).await;
        conformance::run_all(&store).await;
        conformance::run_all(&store).await;
        store.close().await;
    })
    .await;
}

/// Two suites at once on one schema, through two stores, as two mail nodes sharing a
/// database would run them (the second without the checks of shared state: the queue
/// check claims every due entry, the policy check sets the organization default;
/// `outbound_claims_never_overlap` covers two claimers).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_suites_on_one_schema() {
    with_schema(|url| async move {
        let mut runs = Vec::new();
        for first in [true, false] {
            let store = Arc::new(open(&url).await);
            runs.push(tokio::spawn(async move {
                if first {
                    conformance::run_all(store.as_ref()).await;
                } else {
                    conformance::run_beside(store.as_ref()).await;
                }
                store.close().await;
            }));
        }
        for run in runs {
            run.await.expect("suite run");
        }
    })
    .await;
}

/// Waits (bounded) for the receiver to change.
async fn changed(rx: &mut tokio::sync::watch::Receiver<u64>, what: &str) {
    match tokio::time::timeout(NOTIFY_BOUND, rx.changed()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{what}: watcher closed: {e}"),
        Err(_) => panic!("{what}: no change within {NOTIFY_BOUND:?}"),
    }
}

/// Two nodes append to one folder at once (and deliver to it): UIDs unique and
/// contiguous, UIDNEXT, modseq and counters exact; a watcher on node B hears appends made
/// through node A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_append_to_one_folder() {
    with_schema(|url| async move {
        const EACH: u32 = 30;
        let a = open(&url).await;
        let b = open(&url).await;
        let account = new_account(&a, "nodes").await;
        let inbox = folder_id(&b, account.id, "INBOX").await;
        let mut on_b = b.watch(account.id);

        let bodies: Vec<Vec<u8>> = (0..2 * EACH).map(|i| message(&format!("n{i}"))).collect();
        let appends = bodies.iter().enumerate().map(|(i, raw)| {
            let store: &PgMailStore = if i % 2 == 0 { &a } else { &b };
            let seen = i % 3 == 0;
            async move {
                if i % 5 == 4 {
                    store
                        .deliver(&[account.id], raw, t(1))
                        .await
                        .map(|mut v| v.pop().expect("one delivery").uid)
                } else {
                    store
                        .append(
                            inbox,
                            NewMessage {
                                raw,
                                flags: if seen {
                                    flags(&["seen"], &[])
                                } else {
                                    Flags::default()
                                },
                                internal_date: t(1),
                            },
                        )
                        .await
                        .map(|x| x.uid)
                }
            }
        });
        let mut uids: Vec<u32> = join_all(appends)
            .await
            .into_iter()
            .map(|r| r.expect("concurrent append"))
            .collect();
        uids.sort_unstable();
        let n = 2 * EACH;
        assert_eq!(uids, (1..=n).collect::<Vec<_>>(), "unique and contiguous");
        let listed: Vec<u32> = a
            .messages(inbox)
            .await
            .expect("messages")
            .iter()
            .map(|m| m.uid)
            .collect();
        assert_eq!(listed, (1..=n).collect::<Vec<_>>());
        let seen = (0..n).filter(|i| i % 3 == 0 && i % 5 != 4).count() as u32;
        let size: u64 = bodies.iter().map(|b| b.len() as u64).sum();
        for store in [&a, &b] {
            let s = store.status(inbox).await.expect("status");
            assert_eq!(
                (s.messages, s.unseen, s.uid_next, s.highest_modseq, s.size),
                (n, n - seen, n + 1, u64::from(n) + 1, size)
            );
        }

        // B's watcher heard the appends; a later append through A alone wakes it again.
        changed(&mut on_b, "appends through both nodes").await;
        on_b.mark_unchanged();
        a.append(
            inbox,
            NewMessage {
                raw: &message("from a"),
                flags: Flags::default(),
                internal_date: t(2),
            },
        )
        .await
        .expect("append on a");
        changed(&mut on_b, "an append through node A").await;
        on_b.mark_unchanged();
        // Flags and expunge through A reach B too.
        a.store_flags(
            inbox,
            &[1],
            mailward_mailstore::FlagOp::Add,
            &flags(&["deleted"], &[]),
            None,
        )
        .await
        .expect("flags");
        changed(&mut on_b, "a flag change through node A").await;
        on_b.mark_unchanged();
        assert_eq!(a.expunge(inbox, None).await.expect("expunge"), vec![1]);
        changed(&mut on_b, "an expunge through node A").await;
        // Either node serves every body.
        for m in b.messages(inbox).await.expect("messages") {
            assert!(a.body(&m.blob).await.is_ok() && b.body(&m.blob).await.is_ok());
        }
        a.close().await;
        b.close().await;
    })
    .await;
}

/// Writers that touch several folders at once, on two nodes, in opposite orders
/// (deliveries to the same inboxes listed crosswise, moves between two folders both ways,
/// expunges of shared bodies): every call succeeds (no deadlock aborts one) and the
/// counters add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crosswise_writers_on_two_nodes_never_deadlock() {
    with_schema(|url| async move {
        const ROUNDS: usize = 12;
        let a = open(&url).await;
        let b = open(&url).await;
        let x = new_account(&a, "cross-x").await;
        let y = new_account(&a, "cross-y").await;
        let raw = message("crosswise");
        let deliveries = (0..ROUNDS).map(|i| {
            let (store, order) = if i % 2 == 0 {
                (&a, [x.id, y.id])
            } else {
                (&b, [y.id, x.id])
            };
            let raw = &raw;
            async move { store.deliver(&order, raw, t(1)).await }
        });
        for r in join_all(deliveries).await {
            assert_eq!(r.expect("crosswise delivery").len(), 2);
        }
        let (x_inbox, x_archive) = (
            folder_id(&a, x.id, "INBOX").await,
            folder_id(&a, x.id, "Archive").await,
        );
        for account in [x.id, y.id] {
            let inbox = folder_id(&b, account, "INBOX").await;
            let s = b.status(inbox).await.expect("status");
            assert_eq!((s.messages, s.uid_next), (ROUNDS as u32, ROUNDS as u32 + 1));
        }

        // Moves both ways between two folders, and expunges, on both nodes at once.
        let half = (ROUNDS / 2) as u32;
        let (first, rest): (Vec<u32>, Vec<u32>) =
            ((1..=half).collect(), ((half + 1)..=ROUNDS as u32).collect());
        let deleted = flags(&["deleted"], &[]);
        let there = a.move_messages(x_inbox, &first, x_archive);
        let flagged = b.store_flags(
            x_inbox,
            &rest,
            mailward_mailstore::FlagOp::Add,
            &deleted,
            None,
        );
        let (moved, flagged) = tokio::join!(there, flagged);
        let moved = moved.expect("move");
        flagged.expect("flags");
        let archived: Vec<u32> = moved.pairs.iter().map(|p| p.1).collect();
        let back = b.move_messages(x_archive, &archived, x_inbox);
        let gone = a.expunge(x_inbox, None);
        let (back, gone) = tokio::join!(back, gone);
        back.expect("move back");
        gone.expect("expunge");
        let inbox = a.status(x_inbox).await.expect("inbox");
        let archive = a.status(x_archive).await.expect("archive");
        let listed = a.messages(x_inbox).await.expect("messages").len() as u32;
        assert_eq!(inbox.messages, listed, "counter matches the rows");
        assert_eq!(archive.messages, 0);
        assert!(inbox.messages >= half && inbox.messages <= ROUNDS as u32);
        a.close().await;
        b.close().await;
    })
    .await;
}

/// When the listening connection is cut, the store reconnects and wakes every watcher (a
/// notification may have been missed); notifications flow again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_notification_connection_wakes_every_watcher() {
    with_schema(|url| async move {
        let a = open(&url).await;
        let b = open(&url).await;
        let account = new_account(&a, "cut").await;
        let inbox = folder_id(&a, account.id, "INBOX").await;
        let mut on_b = b.watch(account.id);
        let pid = b.listener_pid().expect("listening");
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(i32::try_from(pid).expect("pid"))
            .fetch_one(&mut conn)
            .await
            .expect("terminate the listener");
        assert!(cut, "the listener's connection was terminated");
        changed(&mut on_b, "reconnecting").await;
        on_b.mark_unchanged();
        let new_pid = b.listener_pid();
        assert!(new_pid.is_some_and(|p| p != pid), "{new_pid:?} after {pid}");
        a.append(
            inbox,
            NewMessage {
                raw: &message("after the cut"),
                flags: Flags::default(),
                internal_date: t(2),
            },
        )
        .await
        .expect("append");
        changed(&mut on_b, "an append after reconnecting").await;
        conn.close().await.expect("close");
        a.close().await;
        b.close().await;
    })
    .await;
}

/// Relay workers on two nodes claiming at once never get the same entry; together they
/// get every due entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbound_claims_never_overlap() {
    with_schema(|url| async move {
        let a = open(&url).await;
        let b = open(&url).await;
        let mut queued = BTreeSet::new();
        for i in 0..40 {
            let id = a
                .enqueue(NewOutbound {
                    from: "sender@example.com",
                    recipients: &["r@example.net".to_owned()],
                    raw: &message(&format!("out{i}")),
                    now: t(0),
                })
                .await
                .expect("enqueue");
            queued.insert(id);
        }
        let mut claimed = BTreeSet::new();
        for _ in 0..10 {
            let (x, y) = tokio::join!(a.due(t(1), 3), b.due(t(1), 3));
            for o in x.expect("due a").into_iter().chain(y.expect("due b")) {
                assert!(claimed.insert(o.id), "{} handed out twice", o.id);
            }
        }
        let rest = a.due(t(1), 100).await.expect("rest");
        for o in rest {
            assert!(claimed.insert(o.id), "{} handed out twice", o.id);
        }
        assert_eq!(claimed, queued);
        a.close().await;
        b.close().await;
    })
    .await;
}

/// Bodies are rows: kept while referenced, marked when released, deleted after the
/// grace period (by either node), and stored again when needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_released_bodies_after_the_grace_period() {
    with_schema(|url| async move {
        let a = open(&url).await;
        let b = open(&url).await;
        let grace = time::Duration::try_from(a.config().blob_grace).expect("grace");
        let account = new_account(&a, "gc").await;
        let inbox = folder_id(&a, account.id, "INBOX").await;
        let shared = message("shared");
        let single = message("single");
        conformance::put(&a, inbox, &shared, Flags::default()).await;
        conformance::put(&a, inbox, &shared, Flags::default()).await;
        conformance::put(&a, inbox, &single, Flags::default()).await;
        let metas = a.messages(inbox).await.expect("messages");
        let (shared_blob, single_blob) = (metas[0].blob.clone(), metas[2].blob.clone());
        let now = clock::now();
        let far = now + grace * 10;
        assert_eq!(a.gc_blobs(far).await.expect("gc"), Default::default());

        a.remove(inbox, &[1, 3]).await.expect("remove");
        assert_eq!(b.gc_blobs(now).await.expect("mark").blobs, 0);
        let within = now + grace - time::Duration::seconds(1);
        assert_eq!(a.gc_blobs(within).await.expect("within").blobs, 0);
        assert_eq!(b.body(&single_blob).await.expect("body"), single);
        let report = b.gc_blobs(now + grace).await.expect("sweep");
        assert_eq!((report.blobs, report.bytes), (1, single.len() as u64));
        assert!(matches!(
            a.body(&single_blob).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(a.body(&shared_blob).await.expect("shared"), shared);

        // Used again after being marked: unmarked.
        a.remove(inbox, &[2]).await.expect("remove last");
        a.gc_blobs(now).await.expect("mark");
        conformance::put(&b, inbox, &shared, Flags::default()).await;
        assert_eq!(a.gc_blobs(far).await.expect("gc").blobs, 0);
        // A collected body is stored again.
        conformance::put(&a, inbox, &single, Flags::default()).await;
        assert_eq!(b.body(&single_blob).await.expect("again"), single);

        a.delete_account(account.id).await.expect("delete account");
        a.gc_blobs(now).await.expect("mark");
        assert_eq!(b.gc_blobs(far).await.expect("sweep").blobs, 2);
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connects_migrate_once() {
    with_schema(|url| async move {
        let (a, b, c) = tokio::join!(
            PgMailStore::connect(&url),
            PgMailStore::connect(&url),
            PgMailStore::connect(&url)
        );
        let (a, b, c) = (a.expect("open a"), b.expect("open b"), c.expect("open c"));
        let account = new_account(&a, "migrate").await;
        assert!(b.account(account.id).await.expect("lookup").is_some());
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        let (versions, distinct): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM mail_schema_migrations")
                .fetch_one(&mut conn)
                .await
                .expect("count migrations");
        assert_eq!(versions, distinct, "a migration was recorded twice");
        conn.close().await.expect("close");
        for store in [a, b, c] {
            store.close().await;
        }
    })
    .await;
}
