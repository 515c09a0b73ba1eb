//! Memory before authentication: 200 unauthenticated connections announce 34 MB literals
//! (100 synchronizing, 100 non-synchronizing) and push 1 MiB each; the process's resident
//! memory (server and clients share it) must stay within a generous bound and fall back
//! once they close. The allocator is mimalloc, as in the `mailward` binary. The figures
//! are printed (`--no-capture`) for BENCHMARKS.md.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONNECTIONS: usize = 200;
const PUSHED: usize = 1024 * 1024;
const DEADLINE: Duration = Duration::from_secs(120);

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Reads until a line starting with `prefix` arrived (or the connection ended); returns
/// everything read.
async fn read_until(tcp: &mut TcpStream, prefix: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got);
        if text.lines().any(|l| l.starts_with(prefix)) {
            return text.into_owned();
        }
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return text.into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_literals_do_not_make_the_server_hold_memory() {
    let e = env().await;
    // Warm up: one connection through the whole path, so lazily built state is counted
    // in the baseline.
    {
        let mut c = e.connect().await;
        c.ok("w1", "CAPABILITY").await;
    }
    let before = rss_kib();
    let junk = std::sync::Arc::new(vec![b'x'; PUSHED]);
    let mut held = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CONNECTIONS {
        let addr = e.plain;
        let junk = junk.clone();
        tasks.spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            let greeting = read_until(&mut tcp, "* OK").await;
            assert!(greeting.starts_with("* OK"), "{greeting}");
            if i % 2 == 0 {
                // Synchronizing: refused before any data, no "+".
                tcp.write_all(format!("a{i} APPEND INBOX {{34000000}}\r\n").as_bytes())
                    .await
                    .expect("send");
                let r = read_until(&mut tcp, &format!("a{i} ")).await;
                assert!(!r.contains("\n+") && !r.starts_with('+'), "{r}");
                assert!(r.contains(&format!("a{i} BAD Literal of 34000000")), "{r}");
                // A client that sends the data anyway: it is read as one over-long line
                // and thrown away.
                tcp.write_all(&junk).await.expect("send");
                tcp.write_all(format!("\r\nz{i} NOOP\r\n").as_bytes())
                    .await
                    .expect("send");
                let r = read_until(&mut tcp, &format!("z{i} ")).await;
                assert!(r.contains(&format!("z{i} OK")), "{r}");
                Some(tcp)
            } else {
                // Non-synchronizing: the connection is closed, nothing is read.
                tcp.write_all(format!("b{i} APPEND INBOX {{34000000+}}\r\n").as_bytes())
                    .await
                    .expect("send");
                let _ = tcp.write_all(&junk).await;
                let r = read_until(&mut tcp, "* BYE").await;
                assert!(
                    r.contains("* BYE Literal too large before authentication"),
                    "{r}"
                );
                None
            }
        });
    }
    tokio::time::timeout(DEADLINE, async {
        while let Some(r) = tasks.join_next().await {
            if let Some(tcp) = r.expect("client task") {
                held.push(tcp);
            }
        }
    })
    .await
    .expect("clients finish");
    let during = rss_kib();
    assert_eq!(held.len(), CONNECTIONS / 2);
    drop(held);
    tokio::time::timeout(DEADLINE, async {
        while e.server.open_connections() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every session ends");
    // Give the allocator's delayed purge (mimalloc: 10 ms by default) a chance to run on
    // a fresh allocation cycle; memory is measured, never timing.
    for _ in 0..10 {
        drop(vec![0u8; 64 * 1024]);
        tokio::task::yield_now().await;
    }
    let after = rss_kib();
    eprintln!(
        "RSS before {} MiB, with {} connections {} MiB, after they closed {} MiB",
        before / 1024,
        CONNECTIONS,
        during / 1024,
        after / 1024
    );
    // Before the limits, each of these connections buffered what it sent (and a 34 MB
    // literal once the client had it all): 20 of them took 1.4 GiB.
    assert!(
        during.saturating_sub(before) < 64 * 1024,
        "{before} KiB before, {during} KiB with the connections open"
    );
    assert!(
        after.saturating_sub(before) < 32 * 1024,
        "{before} KiB before, {after} KiB after the connections closed"
    );
}
