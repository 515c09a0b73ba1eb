//! [`Relay`]: drains the outbound queue ([`MailStore::due`]) to a configured smarthost
//! with the [`crate::client`], retrying temporary failures with exponential backoff and
//! giving up on permanent ones (the entry stays in the queue as `failed` for the admin).

use std::path::PathBuf;
use std::sync::Arc;

use mailward_mailstore::{MailStore, Outbound};
use time::{Duration, OffsetDateTime};

use crate::client::{self, Message, Peer, SendError};

/// Where to relay and how persistently.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Smarthost name (also the TLS server name) and port.
    pub host: String,
    pub port: u16,
    /// Require STARTTLS.
    pub starttls: bool,
    /// Trusted CA certificates (PEM) for the smarthost; without it the public web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Our name in EHLO.
    pub helo: String,
    /// Messages taken from the queue per round.
    pub batch: u32,
    /// Attempts before a temporarily failing message is given up.
    pub max_attempts: u32,
    /// Delay after the first failure; doubles per attempt up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Network timeout per step.
    pub timeout: std::time::Duration,
    /// Pause between rounds when the queue is empty.
    pub poll_interval: std::time::Duration,
}

impl RelayConfig {
    pub fn new(host: impl Into<String>, port: u16, helo: impl Into<String>) -> RelayConfig {
        RelayConfig {
            host: host.into(),
            port,
            starttls: true,
            ca_file: None,
            helo: helo.into(),
            batch: 50,
            max_attempts: 10,
            initial_backoff: Duration::minutes(1),
            max_backoff: Duration::hours(4),
            timeout: std::time::Duration::from_secs(60),
            poll_interval: std::time::Duration::from_secs(5),
        }
    }
}

/// Why the relay could not be set up.
#[derive(Debug)]
pub enum RelayError {
    /// The CA file could not be read or holds no certificate.
    CaFile(String),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::CaFile(s) => write!(f, "relay CA file: {s}"),
        }
    }
}

impl std::error::Error for RelayError {}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    pub delivered: u32,
    pub retried: u32,
    pub failed: u32,
}

/// The queue worker.
#[derive(Debug)]
pub struct Relay {
    store: Arc<dyn MailStore>,
    cfg: RelayConfig,
    peer: Peer,
}

/// The delay before attempt `attempts + 1` after `attempts` failures (1 → initial).
pub fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let factor = 1i64 << exp;
    let secs = initial.whole_seconds().saturating_mul(factor);
    Duration::seconds(secs).min(max)
}

impl Relay {
    pub fn new(store: Arc<dyn MailStore>, cfg: RelayConfig) -> Result<Relay, RelayError> {
        let tls = if cfg.starttls {
            let mut roots = rustls::RootCertStore::empty();
            match &cfg.ca_file {
                Some(path) => {
                    use rustls::pki_types::pem::PemObject;
                    let pem = std::fs::read(path)
                        .map_err(|e| RelayError::CaFile(format!("{}: {e}", path.display())))?;
                    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                        let cert = cert
                            .map_err(|e| RelayError::CaFile(format!("{}: {e}", path.display())))?;
                        roots
                            .add(cert)
                            .map_err(|e| RelayError::CaFile(format!("{}: {e}", path.display())))?;
                    }
                    if roots.is_empty() {
                        return Err(RelayError::CaFile(format!(
                            "{}: no certificate",
                            path.display()
                        )));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        } else {
            None
        };
        let peer = Peer {
            host: cfg.host.clone(),
            port: cfg.port,
            helo: cfg.helo.clone(),
            tls,
            timeout: cfg.timeout,
        };
        Ok(Relay { store, cfg, peer })
    }

    /// One round at `now`: every due message is tried once.
    pub async fn run_once(&self, now: OffsetDateTime) -> RelayReport {
        let mut report = RelayReport::default();
        let due = match self.store.due(now, self.cfg.batch).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "relay: reading the queue failed");
                return report;
            }
        };
        for msg in due {
            match self.attempt(&msg).await {
                Ok(()) => {
                    report.delivered += 1;
                    if let Err(e) = self.store.outbound_done(msg.id).await {
                        tracing::error!(id = %msg.id, error = %e, "relay: dequeuing failed");
                    }
                }
                Err(e) => {
                    let attempts = msg.attempts + 1;
                    let next = match &e {
                        SendError::Temporary(_) if attempts < self.cfg.max_attempts => Some(
                            now + backoff(attempts, self.cfg.initial_backoff, self.cfg.max_backoff),
                        ),
                        _ => None,
                    };
                    if next.is_some() {
                        report.retried += 1;
                    } else {
                        report.failed += 1;
                    }
                    tracing::warn!(id = %msg.id, attempts, error = %e, retry_at = ?next, "relay attempt failed");
                    if let Err(e) = self
                        .store
                        .outbound_retry(msg.id, &e.to_string(), next)
                        .await
                    {
                        tracing::error!(id = %msg.id, error = %e, "relay: recording the failure failed");
                    }
                }
            }
        }
        report
    }

    async fn attempt(&self, msg: &Outbound) -> Result<(), SendError> {
        let data = self
            .store
            .body(&msg.blob)
            .await
            .map_err(|e| SendError::Temporary(format!("reading the message: {e}")))?;
        let delivered = client::send(
            &self.peer,
            Message {
                from: &msg.from,
                recipients: &msg.recipients,
                data: &data,
            },
        )
        .await?;
        for (rcpt, reason) in &delivered.rejected {
            tracing::warn!(id = %msg.id, recipient = %rcpt, %reason, "smarthost refused a recipient");
        }
        Ok(())
    }

    /// Runs rounds until `shutdown` resolves.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let report = self.run_once(mailward_types::clock::now()).await;
            if report.delivered + report.retried + report.failed > 0 {
                tracing::info!(?report, "relay round");
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let i = Duration::minutes(1);
        let m = Duration::hours(4);
        assert_eq!(backoff(1, i, m), Duration::minutes(1));
        assert_eq!(backoff(2, i, m), Duration::minutes(2));
        assert_eq!(backoff(5, i, m), Duration::minutes(16));
        assert_eq!(backoff(9, i, m), Duration::hours(4));
        assert_eq!(backoff(200, i, m), Duration::hours(4));
        assert_eq!(backoff(0, i, m), Duration::minutes(1));
    }
}
