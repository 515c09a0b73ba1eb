//! Tests of the SQLite backend's internals: the query plans of the statements over UID sets
//! (each must seek the `(folder, uid)` primary key, never scan a folder per element), and
//! the appender's refusal to commit a row for a body whose file has gone.

use super::appender::AppendJob;
use super::*;
use crate::MailStore;
use crate::conformance::{folder_id, message, new_account, put};
use crate::sql::{Dest, Target};
use sqlx::AssertSqlSafe;

async fn open() -> (tempfile::TempDir, SqliteMailStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteMailStore::open(dir.path()).await.expect("open");
    (dir, store)
}

async fn plan(store: &SqliteMailStore, statement: &str, json: &str) -> String {
    let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {statement}")))
        .bind(1_i64)
        .bind(json.to_owned())
        .bind(1_i64)
        .bind(1_i64)
        .bind(1_i64)
        .fetch_all(&store.reader)
        .await
        .expect("explain");
    rows.iter()
        .map(|r| sqlx::Row::try_get::<String, _>(r, "detail").expect("detail"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn uid_set_statements_seek_the_primary_key() {
    let (_dir, store) = open().await;
    for (name, statement, json) in [
        ("LIST", Sqlite::LIST, "[]"),
        ("LIST_RANGES", Sqlite::LIST_RANGES, "[[1,5]]"),
        ("FLAGS_IN_RANGES", Sqlite::FLAGS_IN_RANGES, "[[1,5]]"),
        ("UIDS_IN_RANGES", Sqlite::UIDS_IN_RANGES, "[[1,5]]"),
        ("DELETED_IN_RANGES", Sqlite::DELETED_IN_RANGES, "[[1,5]]"),
        ("DELETED", crate::sql::messages::DELETED, "[]"),
        ("SET_FLAGS", Sqlite::SET_FLAGS, "[1,2]"),
        ("COPY", Sqlite::COPY, "[[1,2]]"),
        ("DELETE", Sqlite::DELETE, "[1,2]"),
    ] {
        let plan = plan(&store, statement, json).await;
        assert!(
            plan.contains("USING PRIMARY KEY (folder=?"),
            "{name} does not seek the primary key:\n{plan}"
        );
        for line in plan.lines() {
            assert!(
                !(line.starts_with("SCAN") && (line.contains("messages") || line.contains(" m"))),
                "{name} scans messages:\n{plan}"
            );
        }
    }
}

#[tokio::test]
async fn a_body_removed_before_its_commit_is_sent_back_and_written_again() {
    let (dir, store) = open().await;
    let account = new_account(&store, "vanish").await;
    let inbox = folder_id(&store, account.id, "INBOX").await;
    let raw = message("vanishing body");
    let data: Arc<[u8]> = Arc::from(raw.as_slice());
    let hash = Sqlite::prepare_body(&store, data.clone(), None)
        .await
        .expect("write");
    // As if garbage collection removed the (then unreferenced) file right after.
    std::fs::remove_file(dir.path().join("blobs").join(&hash[..2]).join(&hash)).expect("rm");
    let (reply, answer) = oneshot::channel();
    store
        .backend()
        .appender
        .send(AppendJob {
            job: Job {
                hash: hash.clone(),
                size: u32::try_from(raw.len()).expect("size"),
                data,
                targets: vec![Target {
                    dest: Dest::Folder(inbox),
                    flags: 0,
                    keywords: None,
                    internal_date: 0,
                }],
            },
            reply,
        })
        .expect("send");
    assert!(matches!(
        answer.await.expect("answer"),
        Err(JobError::BlobMissing)
    ));
    assert_eq!(store.status(inbox).await.expect("status").messages, 0);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE hash = $1")
        .bind(&hash)
        .fetch_one(&store.reader)
        .await
        .expect("count");
    assert_eq!(rows, 0, "no row for a missing file");

    // The full path writes the body again.
    put(&store, inbox, &raw, crate::Flags::default()).await;
    assert_eq!(store.body(&crate::BlobId(hash)).await.expect("body"), raw);
}
