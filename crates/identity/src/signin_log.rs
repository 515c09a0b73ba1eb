//! The sign-in log: every attempt, successful or not, is recorded with its steps, policy
//! results and correlation id. Writes go through a background writer so a burst of
//! sign-ins does not wait on the database; readers call [`SignInLog::flush`] first so
//! they always see what happened before their request.
//!
//! Failed sign-ins are what an anonymous client can cause at will, so they are written at
//! most `[identity.limits] signin_log_failures` per client address (IPv6 per /64) and
//! window on each node; further failures in the window are only counted, and the count is
//! reported in the service log when the address's window ends. Successful and interrupted
//! sign-ins (a password was verified) are always written.

use crate::config::LimitsConfig;
use mailward_store::DynStore;
use mailward_types::model::{Amr, ClientAppType};
use mailward_types::records::{AuthStep, LocationClass, PolicyOutcome, SignInEvent, SignInResult};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most events written in one transaction.
const MAX_BATCH: usize = 512;
/// How long a batch that is not full waits for more events before it is written.
const LINGER: std::time::Duration = std::time::Duration::from_millis(50);

enum Msg {
    Event(Box<SignInEvent>),
    Flush(oneshot::Sender<()>),
}

/// Addresses whose failure counts are kept at once; beyond it failures from new addresses
/// are written without counting until windows end (memory stays bounded either way).
const MAX_TRACKED_ADDRESSES: usize = 16_384;

/// Handle to the log writer.
#[derive(Clone, Debug)]
pub struct SignInLog {
    tx: mpsc::Sender<Msg>,
    failures: Arc<FailureLimit>,
}

/// Per-address count of failed sign-ins written in the current window.
#[derive(Debug)]
struct FailureLimit {
    per_window: u32,
    window: Duration,
    counts: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    ends: OffsetDateTime,
    written: u32,
    suppressed: u64,
}

impl FailureLimit {
    /// Whether a failure from `address` at `now` may be written.
    fn admit(&self, address: &str, now: OffsetDateTime) -> bool {
        let mut counts = match self.counts.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if counts.len() >= MAX_TRACKED_ADDRESSES && !counts.contains_key(address) {
            counts.retain(|addr, w| {
                let live = w.ends > now;
                if !live {
                    report(addr, w);
                }
                live
            });
            if counts.len() >= MAX_TRACKED_ADDRESSES {
                return true;
            }
        }
        let w = counts.entry(address.to_string()).or_insert(Window {
            ends: now + self.window,
            written: 0,
            suppressed: 0,
        });
        if w.ends <= now {
            report(address, w);
            *w = Window {
                ends: now + self.window,
                written: 0,
                suppressed: 0,
            };
        }
        if w.written < self.per_window {
            w.written += 1;
            true
        } else {
            w.suppressed += 1;
            false
        }
    }
}

fn report(address: &str, w: &Window) {
    if w.suppressed > 0 {
        tracing::warn!(
            address,
            written = w.written,
            not_written = w.suppressed,
            "failed sign-ins over the sign-in log limit were not written"
        );
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl SignInLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: DynStore, limits: &LimitsConfig) -> SignInLog {
        let failures = Arc::new(FailureLimit {
            per_window: limits.signin_log_failures,
            window: Duration::seconds(limits.window_secs),
            counts: Mutex::new(HashMap::new()),
        });
        let (tx, mut rx) = mpsc::channel::<Msg>(4096);
        tokio::spawn(async move {
            // Bursts are written as one transaction: whatever queued while the previous
            // batch was being written goes in the next one.
            let mut batch: Vec<SignInEvent> = Vec::with_capacity(MAX_BATCH);
            let mut waiters: Vec<oneshot::Sender<()>> = vec![];
            while let Some(first) = rx.recv().await {
                // A small batch waits up to LINGER for more, unless someone asked for a
                // flush: under load the log then commits a few times a second instead of
                // after every request, which would rewrite the table's last pages each time.
                let deadline = tokio::time::Instant::now() + LINGER;
                let mut next = Some(first);
                loop {
                    while let Some(msg) = next.take() {
                        match msg {
                            Msg::Event(ev) => batch.push(*ev),
                            Msg::Flush(done) => waiters.push(done),
                        }
                        if batch.len() < MAX_BATCH {
                            next = rx.try_recv().ok();
                        }
                    }
                    if !waiters.is_empty() || batch.len() >= MAX_BATCH {
                        break;
                    }
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(msg)) => next = Some(msg),
                        // The deadline, or the log is shutting down: write what there is.
                        Ok(None) | Err(_) => break,
                    }
                }
                if let Err(e) = store.append_signins(&batch).await {
                    tracing::error!(error = %e, events = batch.len(), "sign-in log write failed");
                }
                batch.clear();
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
        });
        SignInLog { tx, failures }
    }

    /// Queues an event (waits only if the queue is full).
    pub async fn record(&self, event: SignInEvent) {
        tracing::info!(
            target: "signin",
            correlation_id = %event.correlation_id,
            user = event.user_principal_name.as_deref().unwrap_or("-"),
            app = event.app_id.as_deref().unwrap_or("-"),
            client_app = event.client_app_used.as_str(),
            flow = %event.flow,
            result = event.result.as_str(),
            error_code = event.error_code.unwrap_or(0),
            "sign-in"
        );
        if event.result == SignInResult::Failure {
            let ip = event
                .ip_address
                .as_deref()
                .and_then(|a| a.parse::<IpAddr>().ok());
            let address = crate::limits::address_key(ip);
            if !self.failures.admit(&address, event.created_date_time) {
                return;
            }
        }
        if self.tx.send(Msg::Event(Box::new(event))).await.is_err() {
            tracing::error!("sign-in log writer has stopped");
        }
    }

    /// Waits until everything queued so far is written.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Collects the facts of one sign-in attempt.
#[derive(Debug, Clone)]
pub struct Entry {
    pub event: SignInEvent,
}

impl Entry {
    pub fn new(
        flow: &str,
        client_app: ClientAppType,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
        correlation_id: Uuid,
        now: OffsetDateTime,
    ) -> Entry {
        Entry {
            event: SignInEvent {
                id: Uuid::now_v7(),
                created_date_time: now,
                user_id: None,
                user_principal_name: None,
                app_id: None,
                app_display_name: None,
                resource: None,
                client_app_used: client_app,
                ip_address: ip.map(|i| i.to_string()),
                user_agent: user_agent.map(|u| u.chars().take(512).collect()),
                protocol: None,
                flow: flow.to_string(),
                steps: vec![],
                result: SignInResult::Failure,
                error_code: None,
                failure_reason: None,
                policies: vec![],
                amr: vec![],
                location_class: None,
                correlation_id,
            },
        }
    }

    pub fn user(&mut self, id: Option<Uuid>, upn: &str) -> &mut Self {
        self.event.user_id = id;
        self.event.user_principal_name = Some(upn.chars().take(256).collect());
        self
    }

    pub fn app(&mut self, id: &str, name: Option<&str>) -> &mut Self {
        self.event.app_id = Some(id.chars().take(128).collect());
        self.event.app_display_name = name.map(str::to_string);
        self
    }

    pub fn resource(&mut self, uri: Option<&str>) -> &mut Self {
        self.event.resource = uri.map(str::to_string);
        self
    }

    pub fn protocol(&mut self, p: &str) -> &mut Self {
        self.event.protocol = Some(p.to_string());
        self
    }

    pub fn steps(&mut self, steps: impl IntoIterator<Item = AuthStep>) -> &mut Self {
        self.event.steps.extend(steps);
        self
    }

    pub fn policies(&mut self, p: Vec<PolicyOutcome>) -> &mut Self {
        self.event.policies = p;
        self
    }

    pub fn location(&mut self, class: Option<LocationClass>) -> &mut Self {
        self.event.location_class = class;
        self
    }

    pub fn success(mut self, amr: &[Amr]) -> SignInEvent {
        self.event.result = SignInResult::Success;
        self.event.amr = amr.to_vec();
        self.event
    }

    pub fn failure(mut self, code: mailward_types::ErrorCode) -> SignInEvent {
        self.event.result = SignInResult::Failure;
        self.event.error_code = Some(code.number());
        self.event.failure_reason = Some(code.description().to_string());
        self.event
    }

    pub fn interrupted(mut self, code: mailward_types::ErrorCode) -> SignInEvent {
        self.event.result = SignInResult::Interrupted;
        self.event.error_code = Some(code.number());
        self.event.failure_reason = Some(code.description().to_string());
        self.event
    }
}
