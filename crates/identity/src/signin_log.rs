//! The sign-in log: every attempt, successful or not, is recorded with its steps, policy
//! results and correlation id. Writes go through a background writer so a burst of
//! sign-ins does not wait on the database; readers call [`SignInLog::flush`] first so
//! they always see what happened before their request.

use mailward_store::DynStore;
use mailward_types::model::{Amr, ClientAppType};
use mailward_types::records::{AuthStep, LocationClass, PolicyOutcome, SignInEvent, SignInResult};
use std::net::IpAddr;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most events written in one transaction.
const MAX_BATCH: usize = 512;

enum Msg {
    Event(Box<SignInEvent>),
    Flush(oneshot::Sender<()>),
}

/// Handle to the log writer.
#[derive(Clone, Debug)]
pub struct SignInLog {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl SignInLog {
    /// Starts the writer task on the current runtime.
    pub fn start(store: DynStore) -> SignInLog {
        let (tx, mut rx) = mpsc::channel::<Msg>(4096);
        tokio::spawn(async move {
            // Bursts are written as one transaction: whatever queued while the previous
            // batch was being written goes in the next one.
            let mut batch: Vec<SignInEvent> = Vec::with_capacity(MAX_BATCH);
            let mut waiters: Vec<oneshot::Sender<()>> = vec![];
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Event(ev) => batch.push(*ev),
                        Msg::Flush(done) => waiters.push(done),
                    }
                    if batch.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
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
        SignInLog { tx }
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
