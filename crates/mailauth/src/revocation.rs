//! Revocation at the mail role: [`Revocations`], what this instance knows of users whose
//! tokens identity has revoked (disabled, signed out everywhere, password reset), and
//! [`RevocationFeed`], which keeps it current by polling identity's revocation feed
//! (`GET <identity>/mail/v1/revocations?since=<ms>`, authorized with this instance's own
//! client credentials, the `LegacyAuth.Relay` application) every
//! [`FeedConfig::poll_interval`].
//!
//! Each entry is a user and the instant (identity's `tokens_valid_from`, Unix ms) before
//! which nothing of theirs counts any more: a bearer token issued (`iat`) or a basic
//! sign-in made before it is refused at the next authentication
//! ([`Revocations::standing`]), and a session authenticated before it ends
//! ([`RevocationWatch::revoked`] resolves; every protocol front selects on it).
//!
//! Bound: a revocation applies on this instance within one poll interval plus one request
//! to identity. When no poll has succeeded for [`FeedConfig::max_staleness`] (counted
//! from start until the first success), new bearer authentications fail as temporarily
//! unavailable (fail closed); sessions already open continue and end at the first
//! successful poll that revokes their user.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mailward_types::Secret;
use mailward_types::clock::millis;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;
use uuid::Uuid;

use crate::bearer::ConfigError;

/// How long an entry is kept: longer than any access token lives (identity allows 24 h).
const KEEP: Duration = Duration::hours(48);

/// How far before identity's last cursor the next poll asks: a change is stamped with the
/// time its request started, which may be well before it was committed (a password reset
/// waits for the hash pool).
const OVERLAP: Duration = Duration::seconds(120);

/// Where the feed is and how this instance authenticates to it.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// Identity's base URL, e.g. `https://localhost:8443`.
    pub identity_url: String,
    /// Client id of this instance's confidential application.
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// Extra trusted CA certificates (PEM), e.g. mailward's local CA.
    pub ca_file: Option<PathBuf>,
    /// Time between polls.
    pub poll_interval: std::time::Duration,
    /// Timeout of each poll.
    pub http_timeout: std::time::Duration,
    /// Without a successful poll for this long, bearer authentications fail closed.
    pub max_staleness: Duration,
}

/// Whether a user's credentials of a given instant still count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Valid,
    /// Identity revoked everything of the user from before a later instant.
    Revoked,
    /// The feed has not been heard from for too long: nothing can be vouched for.
    Unknown,
}

/// The revocations this instance knows of.
#[derive(Debug)]
pub struct Revocations {
    state: Mutex<State>,
    /// Bumped whenever an entry is added or moves; sessions wait on it.
    generation: watch::Sender<u64>,
    polls: AtomicU64,
    /// `None`: no feed is followed, nothing fails closed.
    max_staleness: Option<Duration>,
}

#[derive(Debug)]
struct State {
    /// User → `tokens_valid_from` in Unix ms.
    valid_from: HashMap<Uuid, i64>,
    /// The last successful poll, else the start.
    heard: OffsetDateTime,
    /// Identity's cursor of the last successful poll.
    cursor: Option<i64>,
}

impl Revocations {
    /// An empty list that fails closed once no poll has succeeded for `max_staleness`
    /// (counted from `now` until the first success).
    pub fn new(max_staleness: Duration, now: OffsetDateTime) -> Revocations {
        Revocations::build(Some(max_staleness), now)
    }

    /// A list no feed fills (no identity credentials configured): nothing is ever revoked
    /// here before a token expires.
    pub fn unfed() -> Revocations {
        Revocations::build(None, OffsetDateTime::UNIX_EPOCH)
    }

    fn build(max_staleness: Option<Duration>, now: OffsetDateTime) -> Revocations {
        Revocations {
            state: Mutex::new(State {
                valid_from: HashMap::new(),
                heard: now,
                cursor: None,
            }),
            generation: watch::channel(0).0,
            polls: AtomicU64::new(0),
            max_staleness,
        }
    }

    /// Whether credentials of `user` obtained at `at_ms` (Unix ms: a token's `iat`, a basic
    /// sign-in's time) still count at `now`.
    pub fn standing(&self, user: Uuid, at_ms: i64, now: OffsetDateTime) -> Standing {
        let state = lock(&self.state);
        if state.valid_from.get(&user).is_some_and(|&v| at_ms < v) {
            return Standing::Revoked;
        }
        match self.max_staleness {
            Some(max) if now - state.heard > max => Standing::Unknown,
            _ => Standing::Valid,
        }
    }

    /// The known `tokens_valid_from` of `user` (Unix ms).
    pub fn valid_from(&self, user: Uuid) -> Option<i64> {
        lock(&self.state).valid_from.get(&user).copied()
    }

    /// Successful polls so far.
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Changes to the list (the value counts them).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// A watch for a session of `user` authenticated at `at_ms`.
    pub fn watch(self: &Arc<Self>, user: Uuid, at_ms: i64) -> RevocationWatch {
        RevocationWatch {
            inner: Some((self.clone(), self.subscribe())),
            user,
            at_ms,
        }
    }

    /// Applies one answer of the feed received at `now`.
    pub fn apply(&self, cursor: i64, entries: &[(Uuid, i64)], now: OffsetDateTime) {
        let changed = {
            let mut state = lock(&self.state);
            let mut changed = false;
            for &(user, at) in entries {
                let slot = state.valid_from.entry(user).or_insert(i64::MIN);
                if at > *slot {
                    *slot = at;
                    changed = true;
                }
            }
            let oldest = millis(now - KEEP);
            state.valid_from.retain(|_, v| *v >= oldest);
            state.heard = now;
            state.cursor = Some(state.cursor.map_or(cursor, |c| c.max(cursor)));
            changed
        };
        self.polls.fetch_add(1, Ordering::Relaxed);
        if changed {
            self.generation.send_modify(|g| *g += 1);
        }
    }

    /// The `since` of the next poll at `now`.
    fn since(&self, now: OffsetDateTime) -> i64 {
        match lock(&self.state).cursor {
            Some(c) => c - OVERLAP.whole_milliseconds() as i64,
            None => millis(now - KEEP),
        }
    }
}

/// Lets a session learn that its user's access was revoked after it authenticated.
#[derive(Debug, Clone)]
pub struct RevocationWatch {
    inner: Option<(Arc<Revocations>, watch::Receiver<u64>)>,
    user: Uuid,
    at_ms: i64,
}

impl RevocationWatch {
    /// A watch that never fires.
    pub fn never() -> RevocationWatch {
        RevocationWatch {
            inner: None,
            user: Uuid::nil(),
            at_ms: 0,
        }
    }

    /// Whether the session's user has been revoked since it authenticated.
    pub fn is_revoked(&self) -> bool {
        self.inner.as_ref().is_some_and(|(list, _)| {
            lock(&list.state)
                .valid_from
                .get(&self.user)
                .is_some_and(|&v| self.at_ms < v)
        })
    }

    /// Resolves once the session's user has been revoked (never, if that cannot happen).
    pub async fn revoked(&mut self) {
        loop {
            let Some((_, rx)) = &mut self.inner else {
                return std::future::pending().await;
            };
            rx.borrow_and_update();
            if self.is_revoked() {
                return;
            }
            let Some((_, rx)) = &mut self.inner else {
                return std::future::pending().await;
            };
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

/// Follows identity's revocation feed.
#[derive(Debug)]
pub struct RevocationFeed {
    url: String,
    client_id: String,
    client_secret: Secret<String>,
    poll_interval: std::time::Duration,
    http: reqwest::Client,
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("identity's revocation feed is unreachable: {0}")]
    Unreachable(String),
    #[error("identity refused the revocation feed request: HTTP {0}")]
    Refused(u16),
    #[error("identity's revocation feed answer is not understood: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct FeedAnswer {
    cursor: i64,
    value: Vec<FeedEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedEntry {
    id: Uuid,
    tokens_valid_from: i64,
}

impl RevocationFeed {
    pub fn new(cfg: FeedConfig) -> Result<RevocationFeed, ConfigError> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .timeout(cfg.http_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &cfg.ca_file {
            builder = builder.add_root_certificate(crate::bearer::load_ca(path)?);
        }
        Ok(RevocationFeed {
            url: format!(
                "{}/mail/v1/revocations",
                cfg.identity_url.trim_end_matches('/')
            ),
            client_id: cfg.client_id,
            client_secret: cfg.client_secret,
            poll_interval: cfg.poll_interval,
            http: builder
                .build()
                .map_err(|e| ConfigError::Http(e.to_string()))?,
        })
    }

    /// One poll at `now`, applied to `list`; returns the number of entries received.
    pub async fn poll(&self, list: &Revocations, now: OffsetDateTime) -> Result<usize, FeedError> {
        let res = self
            .http
            .get(format!("{}?since={}", self.url, list.since(now)))
            .basic_auth(
                form_encode(&self.client_id),
                Some(form_encode(self.client_secret.expose_secret())),
            )
            .send()
            .await
            .map_err(|e| FeedError::Unreachable(e.to_string()))?;
        if !res.status().is_success() {
            return Err(FeedError::Refused(res.status().as_u16()));
        }
        let answer: FeedAnswer = res
            .json()
            .await
            .map_err(|e| FeedError::Malformed(e.to_string()))?;
        let entries: Vec<(Uuid, i64)> = answer
            .value
            .iter()
            .map(|e| (e.id, e.tokens_valid_from))
            .collect();
        list.apply(answer.cursor, &entries, now);
        Ok(entries.len())
    }

    /// Polls every interval until `stop` resolves.
    pub async fn run(
        self,
        list: Arc<Revocations>,
        stop: impl std::future::Future<Output = ()> + Send,
    ) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(self.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {}
            }
            match self.poll(&list, mailward_types::clock::now()).await {
                Ok(n) => {
                    if failing {
                        tracing::info!("identity's revocation feed is reachable again");
                    }
                    failing = false;
                    tracing::trace!(entries = n, "revocation feed polled");
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "revocation feed poll failed");
                    }
                    failing = true;
                }
            }
        }
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::seconds(s)
    }

    #[test]
    fn credentials_from_before_the_instant_are_revoked() {
        let list = Revocations::new(Duration::seconds(60), at(0));
        let bob = Uuid::new_v4();
        let revoked_at = millis(at(10));
        assert_eq!(list.standing(bob, millis(at(5)), at(6)), Standing::Valid);
        list.apply(millis(at(11)), &[(bob, revoked_at)], at(11));
        assert_eq!(list.standing(bob, millis(at(5)), at(12)), Standing::Revoked);
        assert_eq!(list.standing(bob, revoked_at, at(12)), Standing::Valid);
        // An older instant arriving late does not move it back.
        list.apply(millis(at(12)), &[(bob, millis(at(1)))], at(12));
        assert_eq!(list.standing(bob, millis(at(5)), at(12)), Standing::Revoked);
        assert_eq!(list.valid_from(bob), Some(revoked_at));
    }

    #[test]
    fn a_silent_feed_fails_closed_after_the_staleness_bound() {
        let list = Revocations::new(Duration::seconds(60), at(0));
        let u = Uuid::new_v4();
        assert_eq!(list.standing(u, 0, at(60)), Standing::Valid);
        assert_eq!(list.standing(u, 0, at(61)), Standing::Unknown);
        list.apply(millis(at(61)), &[], at(61));
        assert_eq!(list.standing(u, 0, at(100)), Standing::Valid);
        assert_eq!(
            Revocations::unfed().standing(u, 0, at(10_000)),
            Standing::Valid
        );
    }

    #[test]
    fn the_next_poll_overlaps_the_last_cursor_and_old_entries_go() {
        let list = Revocations::new(Duration::seconds(60), at(0));
        assert_eq!(list.since(at(0)), millis(at(0) - KEEP));
        list.apply(millis(at(5)), &[(Uuid::new_v4(), millis(at(4)))], at(5));
        assert_eq!(list.since(at(6)), millis(at(5) - OVERLAP));
        list.apply(
            millis(at(5) + KEEP + Duration::seconds(10)),
            &[],
            at(5) + KEEP + Duration::seconds(10),
        );
        assert!(lock(&list.state).valid_from.is_empty());
    }

    #[tokio::test]
    async fn a_watch_fires_when_its_user_is_revoked_later() {
        let list = Arc::new(Revocations::new(Duration::seconds(60), at(0)));
        let (bob, alice) = (Uuid::new_v4(), Uuid::new_v4());
        let mut w = list.watch(bob, millis(at(1)));
        assert!(!w.is_revoked());
        list.apply(millis(at(2)), &[(alice, millis(at(2)))], at(2));
        assert!(!w.is_revoked());
        let waiter = tokio::spawn(async move {
            w.revoked().await;
            w.is_revoked()
        });
        list.apply(millis(at(3)), &[(bob, millis(at(3)))], at(3));
        assert!(waiter.await.expect("watch task"));
    }
}
