//! The `LISTEN` task of a PostgreSQL store: other nodes' committed changes, announced with
//! `pg_notify('mailward_mail', <account id>)`, wake this process's watchers of that account.
//!
//! Notifications sent while the listening connection is down are lost, so whenever it comes
//! back (sqlx re-establishes a connection that dropped; this task opens a new one after any
//! other error, backing off up to [`MAX_BACKOFF`]) every watcher is woken: an IDLE session
//! then looks at its mailbox again instead of missing a change.

use crate::watchers::Watchers;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use uuid::Uuid;

/// The channel every mail node announces on and listens to.
pub(crate) const CHANNEL: &str = "mailward_mail";

/// First wait before reconnecting after an error; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The running task; stopped when dropped.
#[derive(Debug)]
pub(crate) struct Listener {
    task: tokio::task::JoinHandle<()>,
    /// The listening connection's server process id (0 while disconnected).
    pid: Arc<AtomicU32>,
}

impl Listener {
    /// Connects and starts listening before returning, so changes committed after the
    /// store is open are never missed; then runs in the background.
    pub async fn start(pool: PgPool, watchers: Arc<Watchers>) -> Result<Listener, sqlx::Error> {
        let pid = Arc::new(AtomicU32::new(0));
        let listener = connect(&pool, &pid).await?;
        let task = tokio::spawn(run(pool, listener, watchers, pid.clone()));
        Ok(Listener { task, pid })
    }

    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::Relaxed)).filter(|&p| p != 0)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connect(pool: &PgPool, pid: &AtomicU32) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    record_pid(&mut listener, pid).await?;
    Ok(listener)
}

async fn record_pid(listener: &mut PgListener, pid: &AtomicU32) -> Result<(), sqlx::Error> {
    let id: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *listener)
        .await?;
    pid.store(u32::try_from(id).unwrap_or(0), Ordering::Relaxed);
    Ok(())
}

async fn run(pool: PgPool, first: PgListener, watchers: Arc<Watchers>, pid: Arc<AtomicU32>) {
    let mut listener = Some(first);
    let mut backoff = MIN_BACKOFF;
    loop {
        let Some(current) = listener.as_mut() else {
            if pool.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match connect(&pool, &pid).await {
                Ok(l) => {
                    tracing::info!("mail change notifications: listening again");
                    listener = Some(l);
                    backoff = MIN_BACKOFF;
                    watchers.bump_every();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "mail change notifications: cannot reconnect");
                }
            }
            continue;
        };
        match current.try_recv().await {
            Ok(Some(note)) => match Uuid::parse_str(note.payload()) {
                Ok(account) => watchers.bump(account),
                Err(_) => tracing::warn!(payload = note.payload(), "unexpected mail notification"),
            },
            // The connection dropped and sqlx has opened a new one: notifications in between
            // are lost.
            Ok(None) => {
                tracing::warn!("mail change notifications: connection lost and re-established");
                if let Err(e) = record_pid(current, &pid).await {
                    tracing::warn!(error = %e, "mail change notifications: connection lost");
                    pid.store(0, Ordering::Relaxed);
                    listener = None;
                }
                watchers.bump_every();
            }
            Err(e) => {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "mail change notifications: connection lost");
                pid.store(0, Ordering::Relaxed);
                listener = None;
            }
        }
    }
}
