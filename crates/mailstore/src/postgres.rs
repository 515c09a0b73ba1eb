//! [`PgMailStore`]: the mail store on PostgreSQL, for several mail nodes on one database.
//! It is [`MailDb`] on [`Postgres`]: the statements are the shared ones (`sql/`); this
//! module holds the schema, the statements PostgreSQL needs of its own ([`MailDialect`]),
//! bodies as rows, and the task that hears other nodes' changes.
//!
//! - **Bodies** are rows of `blobs` (SHA-256 hex key, `BYTEA` body, reference count,
//!   `orphaned_at`), so any node serves any message. Storing a body that is already there
//!   writes nothing (`ON CONFLICT DO NOTHING`); the transaction that references it holds
//!   the row with `FOR KEY SHARE` until it commits, so garbage collection cannot delete it
//!   in between (if it did so just before, the body is inserted again).
//! - **Appends** commit one transaction each (no group commit: a batch would lock many
//!   folders at once, in an order other nodes' batches do not share). UIDs and modseqs come
//!   from `UPDATE folders … RETURNING` in that transaction, so two nodes appending to one
//!   folder queue on its row and get consecutive UIDs.
//! - **Change notification**: a transaction that changes an account's mail runs
//!   `pg_notify('mailward_mail', <account id>)`, delivered when (and only if) it commits.
//!   Each store runs a `LISTEN` task (`postgres/listener.rs`) that wakes this process's
//!   watchers for the account; after its connection was lost it reconnects (backing off)
//!   and wakes every watcher, since notifications may have been missed meanwhile.
//! - **Outbound queue**: [`MailStore::due`](crate::MailStore::due) claims entries with
//!   `FOR UPDATE SKIP LOCKED` and a `claimed_until` lease.
//! - **Garbage collection**: mark, then one conditional `DELETE` per chunk
//!   (`refs = 0 AND orphaned_at <= cutoff`), safe with any number of nodes running it.
//!
//! The schema lives in whatever schema the connection's `search_path` selects first
//! (`options[search_path]=...` in the URL), so several stores can share one database.

mod listener;
mod schema;

use crate::sql::append::{Job, JobError, insert_messages};
use crate::sql::codec::{self, backend, get, select_account};
use crate::sql::{MailDb, MailDialect, announce, gc};
use crate::watchers::Watchers;
use crate::{Appended, GcReport, MailStoreConfig, Result, StoreError};
use mailward_sql::{Conn, Lock, Postgres, query, query_locked};
use mailward_types::clock;
use std::sync::Arc;
use time::OffsetDateTime;

/// The PostgreSQL mail store. Cheap to clone.
pub type PgMailStore = MailDb<Postgres>;

/// Connections of the pool (one of them is held by the notification listener).
const MAX_CONNECTIONS: u32 = 16;
/// Blobs deleted per garbage-collection statement.
const GC_CHUNK: usize = 1000;

/// One message of `messages m` as a line of the listing (see [`MailDialect::LIST`]).
macro_rules! message_line {
    () => {
        "format('%s %s %s %s %s %s %s', m.uid, m.blob, m.size, m.internal_date, m.flags, \
         m.modseq, coalesce(m.keywords, ''))"
    };
}

/// UID sets are read with `jsonb_array_elements` (ranges joined to the `(folder, uid)`
/// primary key, one index range scan each); bulk changes use
/// `uid IN (SELECT … jsonb_array_elements_text(…))`.
impl MailDialect for Postgres {
    const MIGRATIONS: &'static [(i64, &'static str)] = schema::MIGRATIONS;

    const LIST: &'static str = concat!(
        "SELECT string_agg(",
        message_line!(),
        ", chr(10) ORDER BY m.uid) AS listing FROM messages m WHERE m.folder = $1"
    );
    const LIST_RANGES: &'static str = concat!(
        "SELECT string_agg(",
        message_line!(),
        ", chr(10) ORDER BY m.uid) AS listing FROM jsonb_array_elements($2::jsonb) r \
         JOIN messages m ON m.folder = $1 \
         AND m.uid BETWEEN (r.value ->> 0)::bigint AND (r.value ->> 1)::bigint"
    );
    const FLAGS_IN_RANGES: &'static str = "SELECT m.uid, m.flags, m.keywords, m.modseq \
         FROM jsonb_array_elements($2::jsonb) r JOIN messages m ON m.folder = $1 \
         AND m.uid BETWEEN (r.value ->> 0)::bigint AND (r.value ->> 1)::bigint ORDER BY m.uid";
    const UIDS_IN_RANGES: &'static str = "SELECT m.uid \
         FROM jsonb_array_elements($2::jsonb) r JOIN messages m ON m.folder = $1 \
         AND m.uid BETWEEN (r.value ->> 0)::bigint AND (r.value ->> 1)::bigint ORDER BY m.uid";
    const DELETED_IN_RANGES: &'static str = "SELECT m.uid \
         FROM jsonb_array_elements($2::jsonb) r JOIN messages m ON m.folder = $1 \
         AND m.uid BETWEEN (r.value ->> 0)::bigint AND (r.value ->> 1)::bigint \
         WHERE (m.flags & 8) != 0 ORDER BY m.uid";
    const SET_FLAGS: &'static str = "UPDATE messages SET flags = $3, keywords = $4, modseq = $5 \
         WHERE folder = $1 AND uid IN \
         (SELECT value::bigint FROM jsonb_array_elements_text($2::jsonb))";
    const COPY: &'static str = "INSERT INTO messages \
         (folder, uid, blob, size, internal_date, flags, keywords, modseq) \
         SELECT $1, (p.value ->> 1)::bigint, m.blob, m.size, m.internal_date, m.flags, \
         m.keywords, $4 FROM jsonb_array_elements($2::jsonb) p \
         JOIN messages m ON m.folder = $3 AND m.uid = (p.value ->> 0)::bigint";
    const DELETE: &'static str = "DELETE FROM messages WHERE folder = $1 AND uid IN \
         (SELECT value::bigint FROM jsonb_array_elements_text($2::jsonb))";
    // `accounts_upn` is on `lower(upn)`.
    const ACCOUNT_BY_UPN: &'static str = concat!(
        select_account!(),
        "WHERE lower(a.upn) = lower($1) ORDER BY a.created DESC LIMIT 1"
    );
    // Rows another node is claiming right now are skipped, not waited for; a row claimed
    // and committed meanwhile is re-checked after its lock and left out.
    const CLAIM_DUE: &'static str = concat!(
        "UPDATE outbound SET claimed_until = $2 WHERE id IN (SELECT id FROM outbound \
         WHERE state = 'queued' AND next_attempt <= $1 \
         AND (claimed_until IS NULL OR claimed_until <= $1) \
         ORDER BY next_attempt, queued LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING ",
        crate::sql::codec::outbound_columns!()
    );
    const ANNOUNCE: Option<&'static str> = Some("SELECT pg_notify('mailward_mail', $1)");

    type Backend = PgBackend;

    async fn prepare_body(
        _: &PgMailStore,
        data: Arc<[u8]>,
        known: Option<String>,
    ) -> Result<String> {
        match known {
            Some(hash) => Ok(hash),
            None => tokio::task::spawn_blocking(move || codec::hash(&data))
                .await
                .map_err(|e| StoreError::Backend(e.to_string())),
        }
    }

    async fn put_body_row(
        _: &PgMailStore,
        conn: &mut Conn<Postgres>,
        hash: &str,
        data: &[u8],
    ) -> Result<bool, sqlx::Error> {
        // A body that is there already is only locked, not sent again.
        if hold_body(conn, hash).await? {
            return Ok(true);
        }
        query::<Postgres>(
            "INSERT INTO blobs (hash, size, body) VALUES ($1, $2, $3) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash)
        .bind(i64::try_from(data.len()).unwrap_or(i64::MAX))
        .bind(data)
        .execute(&mut *conn)
        .await?;
        hold_body(conn, hash).await
    }

    async fn commit_messages(db: &PgMailStore, job: Job) -> Result<Vec<Appended>, JobError> {
        let mut tx = db.begin().await?;
        if !Postgres::put_body_row(db, &mut tx, &job.hash, &job.data).await? {
            return Err(JobError::BlobMissing);
        }
        let (appended, accounts) = insert_messages::<Postgres>(&mut tx, &job).await?;
        for &account in &accounts {
            announce::<Postgres>(&mut tx, account).await?;
        }
        tx.commit().await?;
        for account in accounts {
            db.bump(account);
        }
        Ok(appended)
    }

    async fn read_body(db: &PgMailStore, hash: &str) -> Result<Vec<u8>> {
        let row = query::<Postgres>("SELECT body FROM blobs WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&db.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound("message body"))?;
        get(&row, "body")
    }

    async fn gc_blobs(db: &PgMailStore, now: OffsetDateTime) -> Result<GcReport> {
        let grace = time::Duration::try_from(db.config().blob_grace)
            .map_err(|e| StoreError::Invalid(format!("blob grace period: {e}")))?;
        let cutoff = now - grace;
        let mut report = GcReport::default();
        gc::mark_unreferenced::<Postgres>(&db.writer, now).await?;
        loop {
            let doomed = gc::delete_unreferenced::<Postgres>(&db.writer, cutoff, GC_CHUNK).await?;
            report.blobs += doomed.len() as u64;
            report.bytes += doomed
                .iter()
                .map(|(_, size)| u64::try_from(*size).unwrap_or(0))
                .sum::<u64>();
            if doomed.len() < GC_CHUNK {
                return Ok(report);
            }
        }
    }
}

/// Locks the body's row against deletion until the transaction ends; `false` if there is
/// none.
async fn hold_body(conn: &mut Conn<Postgres>, hash: &str) -> Result<bool, sqlx::Error> {
    Ok(
        query_locked::<Postgres>("SELECT hash FROM blobs WHERE hash = $1", Lock::KeyShare)
            .bind(hash)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// What the PostgreSQL store runs beside its pool (bodies are rows, so nothing else): the
/// notification listener, stopped with the store.
#[derive(Debug)]
pub struct PgBackend {
    listener: listener::Listener,
}

impl MailDb<Postgres> {
    /// Connects to the database at `url` (a `postgres://` URL; `options[search_path]=...`
    /// selects the schema) with the default [`MailStoreConfig`], brings the schema up to
    /// date and starts listening for other nodes' changes.
    pub async fn connect(url: &str) -> Result<PgMailStore> {
        PgMailStore::connect_with(url, MailStoreConfig::default()).await
    }

    /// [`PgMailStore::connect`] with explicit tunables.
    pub async fn connect_with(url: &str, config: MailStoreConfig) -> Result<PgMailStore> {
        let now = clock::now();
        let db = mailward_sql::postgres::connect(
            url,
            MAX_CONNECTIONS,
            // Its own version table: identity's store may share the schema (both roles'
            // tables have distinct names), and must not read the mail store's versions.
            "mail_schema_migrations",
            schema::MIGRATIONS,
            clock::millis(now),
        )
        .await
        .map_err(|e| StoreError::Backend(format!("mail store: {e}")))?;
        let watchers = Arc::new(Watchers::default());
        let listener = listener::Listener::start(db.writer.clone(), watchers.clone())
            .await
            .map_err(|e| StoreError::Backend(format!("mail store: cannot LISTEN: {e}")))?;
        MailDb::new(
            db,
            config,
            watchers,
            PgBackend { listener },
            clock::secs(now),
        )
        .await
    }

    /// The server process id of the notification listener's connection (for tests that
    /// cut it).
    pub fn listener_pid(&self) -> Option<u32> {
        self.backend().listener.pid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_go_to_the_channel_the_listener_hears() {
        let announce = Postgres::ANNOUNCE.expect("PostgreSQL announces changes");
        assert!(
            announce.contains(&format!("'{}'", listener::CHANNEL)),
            "{announce}"
        );
    }
}
