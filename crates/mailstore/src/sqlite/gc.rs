//! Blob garbage collection of the SQLite store (see [`BlobGc::gc_blobs`]): rows, then
//! body files without a row, then leftover temporary files.
//!
//! [`BlobGc::gc_blobs`]: crate::BlobGc::gc_blobs
//!
//! Every deletion happens while holding the single writer connection, and a row is always
//! deleted (and committed) before its file. The appender checks a new blob row's file on
//! that same connection before committing, so a body can never be deleted between that
//! check and the commit that references it: either GC ran first (the appender sees the file
//! gone and has the caller write it again) or the reference is committed first (GC sees
//! it and keeps the blob).
//!
//! Work is done in chunks of [`CHUNK`] bodies, each holding the writer only for its own
//! statements and unlinks, and the directory is walked one fan-out directory at a time, so
//! a large store neither stalls appends nor needs its whole listing in memory.

use super::SqliteMailStore;
use super::blobs::BlobDir;
use crate::sql::codec::{backend, get};
use crate::sql::gc;
use crate::{GcReport, Result, StoreError};
use mailward_sql::{Sqlite, query};
use sqlx::Connection;
use std::collections::HashSet;
use std::time::SystemTime;
use time::OffsetDateTime;

/// Bodies handled per writer turn.
const CHUNK: usize = 1000;

pub(super) async fn gc_blobs(store: &SqliteMailStore, now: OffsetDateTime) -> Result<GcReport> {
    let grace = time::Duration::try_from(store.config().blob_grace)
        .map_err(|e| StoreError::Invalid(format!("blob grace period: {e}")))?;
    let cutoff = now - grace;
    let mut report = GcReport::default();
    sweep_rows(store, now, cutoff, &mut report).await?;
    sweep_files(store, SystemTime::from(cutoff), &mut report).await?;
    Ok(report)
}

/// Marks newly unreferenced blobs with `now`; deletes those marked at or before `cutoff`,
/// rows first, then files.
async fn sweep_rows(
    store: &SqliteMailStore,
    now: OffsetDateTime,
    cutoff: OffsetDateTime,
    report: &mut GcReport,
) -> Result<()> {
    gc::mark_unreferenced::<Sqlite>(&store.writer, now).await?;
    loop {
        let mut conn = store.writer.acquire().await.map_err(backend)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
        let doomed = gc::delete_unreferenced::<Sqlite>(&mut *tx, cutoff, CHUNK).await?;
        tx.commit().await.map_err(backend)?;
        report.blobs += doomed.len() as u64;
        report.bytes += doomed.iter().map(|(_, size)| *size as u64).sum::<u64>();
        let done = doomed.len() < CHUNK;
        remove_files(
            &store.backend().blobs,
            doomed.into_iter().map(|(h, _)| h).collect(),
        )
        .await?;
        drop(conn);
        if done {
            return Ok(());
        }
    }
}

/// Deletes body files older than `cutoff` that have no row, and old temporary files. The
/// directory walk runs without the writer; the check against the table and the deletion
/// with it.
async fn sweep_files(
    store: &SqliteMailStore,
    cutoff: SystemTime,
    report: &mut GcReport,
) -> Result<()> {
    let blobs = &store.backend().blobs;
    for fan in 0..=255u8 {
        let walker = blobs.clone();
        let files = blocking(
            move || walker.scan_fanout(fan, cutoff),
            "scan blob directory",
        )
        .await?;
        for chunk in files.chunks(CHUNK) {
            let candidates =
                serde_json::to_string(&chunk.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>())
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
            let mut conn = store.writer.acquire().await.map_err(backend)?;
            let orphans: Vec<String> = query::<Sqlite>(
                "SELECT j.value AS hash FROM json_each($1) j \
                 WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = j.value)",
            )
            .bind(candidates)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| get(row, "hash"))
            .collect::<Result<_>>()?;
            let set: HashSet<&str> = orphans.iter().map(String::as_str).collect();
            report.orphan_files += orphans.len() as u64;
            report.bytes += chunk
                .iter()
                .filter(|(h, _)| set.contains(h.as_str()))
                .map(|(_, len)| len)
                .sum::<u64>();
            remove_files(blobs, orphans).await?;
            drop(conn);
        }
    }
    let walker = blobs.clone();
    let temporary = blocking(move || walker.scan_temporary(cutoff), "scan blob directory").await?;
    report.temporary_files = temporary.len() as u64;
    blocking(
        move || {
            for path in temporary {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        },
        "remove temporary body",
    )
    .await
}

async fn remove_files(blobs: &BlobDir, hashes: Vec<String>) -> Result<()> {
    if hashes.is_empty() {
        return Ok(());
    }
    let blobs = blobs.clone();
    blocking(
        move || hashes.iter().try_for_each(|hash| blobs.remove(hash)),
        "remove message body",
    )
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    what: &str,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(|e| StoreError::Backend(format!("cannot {what}: {e}")))
}
