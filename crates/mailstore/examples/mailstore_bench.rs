//! Throughput of the SQLite mail store: durable appends per second from concurrent writers,
//! and the time to list a 10,000-message folder.
//!
//! ```text
//! cargo run --release -p mailward-mailstore --example mailstore_bench -- \
//!     [--dir PATH] [--clients 1,8,32,64] [--appends 4000] [--size 4096] [--folder 10000]
//! ```
//!
//! Each client is one account appending unique bodies of `--size` octets to its INBOX, as
//! concurrent IMAP APPENDs from separate connections would. `--dir` puts the store on a
//! chosen disk (default: a temporary directory).

use mailward_mailstore::sqlite::SqliteMailStore;
use mailward_mailstore::{Flags, MailStore, NewAccount, NewMessage};
use mailward_types::clock;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

struct Args {
    dir: Option<PathBuf>,
    clients: Vec<usize>,
    appends: usize,
    size: usize,
    folder: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: None,
        clients: vec![1, 8, 32, 64],
        appends: 4000,
        size: 4096,
        folder: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.dir = Some(PathBuf::from(value)),
            "--clients" => {
                args.clients = value
                    .split(',')
                    .map(|n| n.parse().expect("--clients: numbers"))
                    .collect()
            }
            "--appends" => args.appends = value.parse().expect("--appends: a number"),
            "--size" => args.size = value.parse().expect("--size: a number"),
            "--folder" => args.folder = value.parse().expect("--folder: a number"),
            other => panic!("unknown option {other}"),
        }
    }
    args
}

fn body(size: usize) -> Vec<u8> {
    let header = format!(
        "From: bench@example.com\r\nTo: user@example.com\r\nSubject: bench\r\n\
         Message-ID: <{}@example.com>\r\n\r\n",
        Uuid::new_v4()
    );
    let header_len = header.len();
    let mut raw = header.into_bytes();
    while raw.len() < size {
        raw.extend_from_slice(b"The quick brown fox jumps over the lazy dog.\r\n");
    }
    raw.truncate(size.max(header_len));
    raw
}

async fn account(store: &SqliteMailStore, label: &str) -> i64 {
    let id = Uuid::new_v4();
    let account = store
        .ensure_account(NewAccount {
            user_oid: id,
            upn: format!("{label}.{id}@example.com"),
            address: format!("{label}.{id}@example.com"),
            display_name: label.to_owned(),
            now: clock::now(),
        })
        .await
        .expect("account");
    store
        .folder(account.id, "INBOX")
        .await
        .expect("lookup")
        .expect("INBOX")
        .id
}

/// `total` appends spread over `clients` concurrent writers; returns appends per second.
async fn appends(store: &SqliteMailStore, clients: usize, total: usize, size: usize) -> f64 {
    let mut inboxes = Vec::new();
    for i in 0..clients {
        inboxes.push(account(store, &format!("client{i}")).await);
    }
    let per_client = total / clients;
    let bodies: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
        (0..clients)
            .map(|_| (0..per_client).map(|_| body(size)).collect())
            .collect(),
    );
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (c, inbox) in inboxes.into_iter().enumerate() {
        let store = store.clone();
        let bodies = bodies.clone();
        tasks.spawn(async move {
            for raw in &bodies[c] {
                store
                    .append(
                        inbox,
                        NewMessage {
                            raw,
                            flags: Flags::default(),
                            internal_date: clock::now(),
                        },
                    )
                    .await
                    .expect("append");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("client task");
    }
    (per_client * clients) as f64 / start.elapsed().as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    let store = SqliteMailStore::open(&dir).await.expect("open store");
    println!("store in {}", dir.display());

    for &clients in &args.clients {
        let rate = appends(&store, clients, args.appends, args.size).await;
        println!(
            "append: {clients:>3} concurrent clients, {} x {} B: {rate:>8.0} durable appends/s",
            args.appends, args.size
        );
    }

    // A folder of `--folder` messages, filled by 32 concurrent writers.
    let inbox = account(&store, "big").await;
    let fill = Instant::now();
    let writers = 32.min(args.folder.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let store = store.clone();
        let n = args.folder / writers + usize::from(w < args.folder % writers);
        let size = args.size;
        tasks.spawn(async move {
            for _ in 0..n {
                store
                    .append(
                        inbox,
                        NewMessage {
                            raw: &body(size),
                            flags: Flags::default(),
                            internal_date: clock::now(),
                        },
                    )
                    .await
                    .expect("append");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("fill task");
    }
    println!(
        "filled a {}-message folder in {:.1} s",
        args.folder,
        fill.elapsed().as_secs_f64()
    );

    const RUNS: u32 = 50;
    let listed = store.messages(inbox).await.expect("warm-up");
    assert_eq!(listed.len(), args.folder);
    let mut best = Duration::MAX;
    let start = Instant::now();
    for _ in 0..RUNS {
        let one = Instant::now();
        let listed = store.messages(inbox).await.expect("messages");
        best = best.min(one.elapsed());
        assert_eq!(listed.len(), args.folder);
    }
    println!(
        "messages(): {} messages, mean {:.2} ms, best {:.2} ms ({RUNS} runs)",
        args.folder,
        ms(start.elapsed()) / f64::from(RUNS),
        ms(best)
    );
    let all: Vec<u32> = (1..=u32::try_from(args.folder).expect("folder size")).collect();
    let start = Instant::now();
    for _ in 0..RUNS {
        store.messages_by_uid(inbox, &all).await.expect("by uid");
    }
    println!(
        "messages_by_uid(1:*): mean {:.2} ms",
        ms(start.elapsed()) / f64::from(RUNS)
    );
    let start = Instant::now();
    for _ in 0..RUNS {
        store.status(inbox).await.expect("status");
    }
    println!(
        "status(): mean {:.3} ms",
        ms(start.elapsed()) / f64::from(RUNS)
    );
    let start = Instant::now();
    let seen = Flags {
        seen: true,
        ..Flags::default()
    };
    store
        .store_flags(inbox, &all, mailward_mailstore::FlagOp::Add, &seen, None)
        .await
        .expect("store flags");
    println!(
        "store_flags(1:* +\\Seen) on {} messages: {:.1} ms",
        args.folder,
        ms(start.elapsed())
    );
    store.close().await;
}
