//! Measurements, not assertions (ignored; run with `--release -- --ignored --nocapture`):
//! - `fetch_10k`: `FETCH 1:* (FLAGS ENVELOPE)` over a 10,000-message INBOX, cold (bodies
//!   read and parsed) and warm (summaries cached), timed at the client over TLS.
//! - `idle_memory`: resident memory of the server process per idle authenticated TLS
//!   session; the clients run in a child process so only the server side is counted.
//!
//! The allocator is mimalloc, as in the `mailward` binary.

mod common;

use common::*;
use mailward_mailstore::{Flags, MailStore, NewMessage};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sample(i: usize) -> Vec<u8> {
    format!(
        "Return-Path: <sender{i}@example.com>\r\n\
Received: from mx.example.com by mail.contoso.test; Tue, 05 Mar 2024 10:00:00 +0000\r\n\
From: \"Sender {i}\" <sender{i}@example.com>\r\n\
To: Alice Example <alice@contoso.test>, team@contoso.test\r\n\
Cc: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>\r\n\
Subject: Status report number {i} for the weekly meeting\r\n\
Date: Tue, 05 Mar 2024 10:{:02}:00 +0000\r\n\
Message-ID: <{i}.report@example.com>\r\n\
In-Reply-To: <{}.report@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
{}\r\n",
        i % 60,
        i.saturating_sub(1),
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(20)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run in release with --ignored --nocapture"]
async fn fetch_10k() {
    let e = env().await;
    let alice = e.user("alice").await;
    let account = e.account(&alice).await;
    let inbox = e
        .store
        .folder(account.id, "INBOX")
        .await
        .expect("folder")
        .expect("INBOX");
    let t = Instant::now();
    for i in 0..10_000 {
        e.store
            .append(
                inbox.id,
                NewMessage {
                    raw: &sample(i),
                    flags: Flags {
                        seen: i % 3 == 0,
                        ..Flags::default()
                    },
                    internal_date: mailward_types::clock::now(),
                },
            )
            .await
            .expect("append");
    }
    println!("appended 10,000 messages in {:?}", t.elapsed());
    let mut c = e.login(&alice).await;
    let r = c.ok("s", "SELECT INBOX").await;
    assert!(r.contains(&"* 10000 EXISTS".to_owned()));
    for run in ["cold", "warm", "warm", "warm"] {
        let t = Instant::now();
        let raw = c.raw_ok("f", "FETCH 1:* (FLAGS ENVELOPE)").await;
        let elapsed = t.elapsed();
        let lines = raw.windows(8).filter(|w| w == b" FETCH (").count();
        assert_eq!(lines, 10_000);
        println!("FETCH 1:* (FLAGS ENVELOPE), 10,000 messages, {run}: {elapsed:?}");
    }
    // The same response checked with imap-codec's parser (not timed).
    let r = c.ok("f1", "FETCH 1:* (FLAGS ENVELOPE)").await;
    assert_eq!(r.len(), 10_001);
    let t = Instant::now();
    c.raw_ok("f2", "UID FETCH 1:* (UID FLAGS)").await;
    println!("UID FETCH 1:* (UID FLAGS): {:?}", t.elapsed());
    let t = Instant::now();
    c.raw_ok("q", "SEARCH UNSEEN FROM sender1").await;
    println!("SEARCH UNSEEN FROM sender1: {:?}", t.elapsed());
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmRSS")
}

const SESSIONS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run in release with --ignored --nocapture"]
async fn idle_memory() {
    if let Ok(spec) = std::env::var("IMAP_MEM_CLIENT") {
        return client_side(&spec).await;
    }
    // Every session comes from 127.0.0.1.
    let e = env_with(|l| l.max_connections_per_address = 0).await;
    let alice = e.user("alice").await;
    let token = e.token(&alice).await;
    // One session first, so everything lazily initialised is in the baseline.
    let mut warm = e.login(&alice).await;
    warm.ok("n", "NOOP").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib();
    let spec = format!("{}|{}|{}|{}", e.tls, e.ca_pem.display(), alice.upn, token);
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--ignored", "--exact", "idle_memory", "--nocapture"])
        .env("IMAP_MEM_CLIENT", spec)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn client process");
    let stdout = child.stdout.take().expect("stdout");
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("READY"))
    })
    .await
    .expect("join");
    assert!(ready, "client process failed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    let _ = child.kill();
    let _ = child.wait();
    let delta = after.saturating_sub(before);
    println!(
        "{SESSIONS} idle authenticated TLS sessions: server RSS {before} KiB -> {after} KiB, \
         +{delta} KiB ({:.1} KiB per session, {:.1} MiB total)",
        delta as f64 / SESSIONS as f64,
        delta as f64 / 1024.0
    );
}

async fn client_side(spec: &str) {
    let mut parts = spec.split('|');
    let addr: std::net::SocketAddr = parts.next().expect("addr").parse().expect("addr");
    let ca: std::path::PathBuf = parts.next().expect("ca").into();
    let upn = parts.next().expect("upn").to_owned();
    let token = parts.next().expect("token").to_owned();
    let ir = mailward_sasl::encode(&mailward_sasl::client::xoauth2(&upn, &token));
    let mut clients = Vec::with_capacity(SESSIONS);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..SESSIONS {
        let ca = ca.clone();
        let ir = ir.clone();
        tasks.spawn(async move {
            let mut c = Client::tls(addr, &ca).await;
            c.ok("a", &format!("AUTHENTICATE XOAUTH2 {ir}")).await;
            c
        });
        if i % 200 == 199 {
            while let Some(c) = tasks.join_next().await {
                clients.push(c.expect("client"));
            }
        }
    }
    while let Some(c) = tasks.join_next().await {
        clients.push(c.expect("client"));
    }
    println!("READY {}", clients.len());
    tokio::time::sleep(Duration::from_secs(600)).await;
}
