//! Starting the mail role: [`start`] opens the store ([`open_store`]: SQLite under the data
//! directory, or PostgreSQL shared by several nodes; creating the secure organization
//! default on first start), builds the authentication pipeline and binds every listener;
//! [`Mail::run`] serves IMAP, POP3, SMTP submission and HTTPS, runs the relay worker,
//! follows identity's revocation feed and collects blobs hourly, and stops accepting when
//! shutdown resolves.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mailward_authpolicy::{AuthenticationPolicy, PolicyName, Protocol};
use mailward_mailauth::{
    AuthFailure, BearerConfig, BearerValidator, CheckedUser, CredentialCheck, FeedConfig, Pipeline,
    PipelineConfig, RelayConfig, RelayedCheck, RevocationFeed, Revocations,
};
use mailward_mailstore::postgres::PgMailStore;
use mailward_mailstore::sqlite::SqliteMailStore;
use mailward_mailstore::{BlobGc, MailStore, MailStoreConfig};
use mailward_types::Secret;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{LISTENERS, LimitsConfig, Listener, MailConfig};
use crate::http::{self, Endpoints, Shared};

/// The organization default created on first start: basic authentication on no protocol.
pub const DEFAULT_POLICY_NAME: &str = "Block Basic Auth";

/// How long a "could basic authentication work here?" answer (which SASL mechanisms
/// IMAP, POP3 and SMTP advertise) is reused: not at all. It is read from the store for
/// each connection and again after STARTTLS, like the decision itself, so a policy change
/// by the CLI in another process shows in the next greeting, not seconds later. The read
/// is two small indexed queries on the reader pool.
const BASIC_POSSIBLE_TTL: time::Duration = time::Duration::ZERO;

/// Why the mail role could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("mail.listen.{key}: cannot listen on {addr}: {source} (is another mailward running?)")]
    Bind {
        key: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("mail store: {0}")]
    Store(#[from] mailward_mailstore::StoreError),
    #[error("identity: {0}")]
    Identity(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How this instance reaches and trusts identity.
#[derive(Debug, Clone)]
pub struct IdentityLink {
    /// Identity's base URL.
    pub url: String,
    /// The exact `iss` of identity's tokens.
    pub issuer: String,
    /// Extra trusted CA certificates (PEM) for identity's TLS.
    pub ca_file: Option<PathBuf>,
    /// This instance's relay application (client id, secret), for relayed basic
    /// authentication.
    pub relay: Option<(String, Secret<String>)>,
}

/// What the mail role needs from the process that runs it.
#[derive(Debug, Clone)]
pub struct MailDeps {
    /// The mail role's state directory (`<data>/mail`): the SQLite store and its body
    /// files, unless `[mail.storage] url` names a PostgreSQL database.
    pub data_dir: PathBuf,
    /// TLS for every listener (certificate and key; ALPN is adjusted per protocol).
    pub tls: Arc<rustls::ServerConfig>,
    pub identity: IdentityLink,
}

/// A started mail role: store open, listeners bound, not serving yet.
#[derive(Debug)]
pub struct Mail {
    listeners: Vec<(Listener, TcpListener)>,
    addrs: BTreeMap<Listener, SocketAddr>,
    shared: Arc<Shared>,
    gc: Arc<dyn BlobGc>,
    tls: Arc<rustls::ServerConfig>,
    relay: Option<Arc<mailward_smtp::Relay>>,
    limits: LimitsConfig,
    https_limits: mailward_net::HttpLimits,
    feed: Option<RevocationFeed>,
}

/// Reads identity's issuer from `<url>/.well-known/openid-configuration`.
pub async fn discover_issuer(url: &str, ca_file: Option<&Path>) -> Result<String, MailError> {
    let http = http::https_client(ca_file).map_err(MailError::Identity)?;
    let doc: serde_json::Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            url.trim_end_matches('/')
        ))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| MailError::Identity(format!("discovery at {url}: {e}")))?
        .json()
        .await
        .map_err(|e| MailError::Identity(format!("discovery at {url}: {e}")))?;
    doc["issuer"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| MailError::Identity(format!("discovery at {url} names no issuer")))
}

/// Opens the store, creates the organization default on first start, builds the
/// pipeline and binds every configured listener.
pub async fn start(cfg: MailConfig, deps: MailDeps) -> Result<Mail, MailError> {
    let problems = cfg.validate();
    if !problems.is_empty() {
        return Err(MailError::Config(problems.join("; ")));
    }
    let flavour = cfg
        .flavour_value()
        .ok_or_else(|| MailError::Config("mail.flavour".into()))?;

    // Listeners first: a port in use is the most likely failure and costs nothing to find.
    let mut listeners = Vec::new();
    let mut addrs = BTreeMap::new();
    for l in LISTENERS {
        let addr = cfg.listen.get(l);
        if addr.is_empty() {
            continue;
        }
        let bind_err = |source| MailError::Bind {
            key: l.key(),
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
        addrs.insert(l, listener.local_addr().map_err(bind_err)?);
        listeners.push((l, listener));
    }
    let http_addr = addrs
        .get(&Listener::Http)
        .copied()
        .ok_or_else(|| MailError::Config("mail.listen.http is required".into()))?;
    let public_url = if cfg.public_url.is_empty() {
        format!("https://{}:{}", cfg.hostname, http_addr.port())
    } else {
        cfg.public_url.clone()
    };
    let resource_uri = if cfg.resource_uri.is_empty() {
        public_url.clone()
    } else {
        cfg.resource_uri.clone()
    };

    let opened = open_store(&cfg, &deps.data_dir).await?;
    if opened.first_start {
        bootstrap_policy(opened.store.as_ref()).await?;
    }
    let dyn_store = opened.store;

    let id = &deps.identity;
    let mut bearer = BearerConfig::new(id.issuer.clone(), resource_uri.clone());
    bearer.ca_file = id.ca_file.clone();
    let validator = BearerValidator::new(bearer).map_err(|e| MailError::Identity(e.to_string()))?;
    let credentials: Arc<dyn CredentialCheck> = match &id.relay {
        Some((client_id, secret)) => Arc::new(
            RelayedCheck::new(RelayConfig {
                identity_url: id.url.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                ca_file: id.ca_file.clone(),
                http_timeout: Duration::from_secs(15),
            })
            .map_err(|e| MailError::Identity(e.to_string()))?,
        ),
        None => Arc::new(NoRelay),
    };
    // Revocations reach this instance through identity's feed, read with the relay
    // application's credentials; without them nothing is revoked before a token expires.
    let (revocations, feed) = match &id.relay {
        Some((client_id, secret)) => {
            let feed = RevocationFeed::new(FeedConfig {
                identity_url: id.url.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                ca_file: id.ca_file.clone(),
                poll_interval: Duration::from_secs(cfg.identity.revocation_poll_secs),
                http_timeout: Duration::from_secs(cfg.identity.revocation_poll_secs.max(5)),
                max_staleness: time::Duration::seconds(
                    cfg.identity.revocation_max_staleness_secs as i64,
                ),
            })
            .map_err(|e| MailError::Identity(e.to_string()))?;
            let list = Revocations::new(
                time::Duration::seconds(cfg.identity.revocation_max_staleness_secs as i64),
                mailward_types::clock::now(),
            );
            (Arc::new(list), Some(feed))
        }
        None => {
            tracing::warn!(
                "no relay application (mail.identity.relay_client_id): identity's revocation feed cannot be read, so a disabled user's tokens work here until they expire"
            );
            (Arc::new(Revocations::unfed()), None)
        }
    };
    let pipeline = Arc::new(
        Pipeline::new(
            dyn_store.clone(),
            validator,
            credentials,
            PipelineConfig {
                flavour,
                basic_possible_ttl: BASIC_POSSIBLE_TTL,
                ..PipelineConfig::default()
            },
        )
        .with_revocations(revocations.clone()),
    );

    let relay = if cfg.smarthost.host.is_empty() {
        None
    } else {
        let mut rc = mailward_smtp::RelayConfig::new(
            cfg.smarthost.host.clone(),
            cfg.smarthost.port,
            cfg.hostname.clone(),
        );
        rc.starttls = cfg.smarthost.starttls;
        rc.ca_file =
            (!cfg.smarthost.ca_file.is_empty()).then(|| cfg.smarthost.ca_file.clone().into());
        Some(Arc::new(
            mailward_smtp::Relay::new(dyn_store.clone(), rc)
                .map_err(|e| MailError::Config(format!("mail.smarthost: {e}")))?,
        ))
    };

    let admin_tokens = http::admin::TokenCheck::new(id, &resource_uri, revocations)
        .map_err(MailError::Identity)?;
    let endpoints = Endpoints {
        public_url,
        resource_uri,
        hostname: cfg.hostname.clone(),
        identity_url: id.url.trim_end_matches('/').to_string(),
        issuer: id.issuer.clone(),
        local_domains: cfg
            .local_domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect(),
        ports: addrs.iter().map(|(l, a)| (*l, a.port())).collect(),
    };
    let shared = Arc::new(Shared {
        store: dyn_store,
        pipeline,
        endpoints,
        admin: Some(Arc::new(admin_tokens)),
        max_message_size: cfg.max_message_size,
        relay: relay.is_some(),
    });
    Ok(Mail {
        listeners,
        addrs,
        shared,
        gc: opened.gc,
        tls: deps.tls,
        relay,
        limits: cfg.limits.clone(),
        https_limits: mailward_net::HttpLimits::default(),
        feed,
    })
}

/// An open mail store: the handle every service shares, the same store's garbage
/// collection, and whether it was just created.
#[derive(Debug)]
pub struct OpenedStore {
    pub store: Arc<dyn MailStore>,
    pub gc: Arc<dyn BlobGc>,
    /// Nothing was stored yet: the role creates the organization default policy.
    pub first_start: bool,
}

/// Opens the mail store `cfg.storage` names: PostgreSQL when `mail.storage.url` is set
/// (several mail nodes share it), else SQLite and body files in `data_dir` (`<data>/mail`).
pub async fn open_store(cfg: &MailConfig, data_dir: &Path) -> Result<OpenedStore, MailError> {
    let tunables = MailStoreConfig {
        max_message_size: cfg.max_message_size,
        ..MailStoreConfig::default()
    };
    match cfg.storage.postgres_url() {
        Some(url) => {
            let store = Arc::new(PgMailStore::connect_with(url, tunables).await?);
            // No file tells a new database from an old one: one without any authentication
            // policy or default is taken as new (an organization that deleted them all gets
            // the secure default back at the next start). Two nodes starting on a new
            // database both create the same default, which is idempotent.
            let first_start = store.default_auth_policy().await?.is_none()
                && store.auth_policies().await?.is_empty();
            Ok(OpenedStore {
                store: store.clone(),
                gc: store,
                first_start,
            })
        }
        None => {
            std::fs::create_dir_all(data_dir)?;
            let first_start = !data_dir.join("mail.db").exists();
            let store = Arc::new(SqliteMailStore::open_with(data_dir, tunables).await?);
            Ok(OpenedStore {
                store: store.clone(),
                gc: store,
                first_start,
            })
        }
    }
}

fn login_timeout(limits: &LimitsConfig) -> Duration {
    Duration::from_secs(limits.login_timeout_secs)
}

/// First start: "Block Basic Auth" (basic allowed on no protocol, legacy blocked
/// everywhere an on-premises switch exists) becomes the organization default.
async fn bootstrap_policy(store: &dyn MailStore) -> Result<(), MailError> {
    if store.default_auth_policy().await?.is_some() {
        return Ok(());
    }
    let name =
        PolicyName::try_from(DEFAULT_POLICY_NAME).map_err(|e| MailError::Config(e.to_string()))?;
    if store.auth_policy(DEFAULT_POLICY_NAME).await?.is_none() {
        store
            .put_auth_policy(&AuthenticationPolicy::block_all_basic(name))
            .await?;
    }
    store
        .set_default_auth_policy(Some(DEFAULT_POLICY_NAME))
        .await?;
    tracing::info!(
        policy = DEFAULT_POLICY_NAME,
        "organization default authentication policy created"
    );
    Ok(())
}

impl Mail {
    /// The limits of the HTTPS listener (the process's `[https]` settings; defaults
    /// otherwise).
    pub fn set_https_limits(&mut self, limits: mailward_net::HttpLimits) {
        self.https_limits = limits;
    }

    /// The bound address of a listener (`None` when switched off).
    pub fn addr(&self, l: Listener) -> Option<SocketAddr> {
        self.addrs.get(&l).copied()
    }

    /// Where clients reach the HTTP front.
    pub fn public_url(&self) -> &str {
        &self.shared.endpoints.public_url
    }

    /// The audience of this instance's tokens.
    pub fn resource_uri(&self) -> &str {
        &self.shared.endpoints.resource_uri
    }

    pub fn store(&self) -> Arc<dyn MailStore> {
        self.shared.store.clone()
    }

    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.shared.pipeline.clone()
    }

    /// The HTTP front's router (what the HTTPS listener serves).
    pub fn router(&self) -> axum::Router {
        http::router(self.shared.clone())
    }

    /// Serves every listener until `shutdown` resolves; then stops accepting, stops the
    /// relay worker and returns (connections in progress end with the process).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), MailError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut mail_tls = (*self.tls).clone();
        mail_tls.alpn_protocols.clear();
        let mail_tls = Arc::new(mail_tls);
        let store = self.shared.store.clone();
        let auth: Arc<dyn mailward_mailauth::Authenticator> = self.shared.pipeline.clone();
        let imap = mailward_imap::ImapServer::new(
            store.clone(),
            auth.clone(),
            mail_tls.clone(),
            mailward_imap::Limits {
                max_message_size: self.shared.max_message_size,
                login_timeout: login_timeout(&self.limits),
                idle_timeout: Duration::from_secs(self.limits.imap_idle_timeout_secs),
                max_connections: self.limits.imap_max_connections,
                max_connections_per_address: self.limits.imap_max_connections_per_address,
                ..mailward_imap::Limits::default()
            },
        );
        let pop3 = Arc::new(mailward_pop3::Pop3Server {
            store: store.clone(),
            auth: auth.clone(),
            tls: mail_tls.clone(),
            limits: mailward_pop3::Limits {
                login_timeout: login_timeout(&self.limits),
                max_connections: self.limits.pop3_max_connections,
                max_connections_per_address: self.limits.pop3_max_connections_per_address,
                ..mailward_pop3::Limits::default()
            },
        });
        let mut smtp_cfg = mailward_smtp::SmtpConfig::new(
            self.shared.endpoints.hostname.clone(),
            self.shared.endpoints.local_domains.clone(),
        );
        smtp_cfg.max_message_size = u64::from(self.shared.max_message_size);
        smtp_cfg.login_timeout = login_timeout(&self.limits);
        smtp_cfg.max_connections = self.limits.smtp_max_connections;
        smtp_cfg.max_connections_per_address = self.limits.smtp_max_connections_per_address;
        smtp_cfg.relay = self.shared.relay;
        let smtp = Arc::new(mailward_smtp::SmtpServer {
            store: store.clone(),
            auth,
            tls: mail_tls,
            config: smtp_cfg,
        });
        let router = http::router(self.shared.clone());

        let mut tasks = tokio::task::JoinSet::new();
        for (l, listener) in self.listeners {
            let implicit = l.implicit_tls();
            let stop = stopped();
            match l {
                Listener::Http => {
                    let tls = self.tls.clone();
                    let router = router.clone();
                    let limits = self.https_limits.clone();
                    tasks.spawn(async move {
                        (
                            l,
                            mailward_net::serve_https_with(listener, tls, router, limits, stop)
                                .await,
                        )
                    });
                }
                Listener::Imap | Listener::Imaps => {
                    let imap = imap.clone();
                    tasks.spawn(async move { (l, imap.run_until(listener, implicit, stop).await) });
                }
                Listener::Pop3 | Listener::Pop3s => {
                    let pop3 = pop3.clone();
                    tasks.spawn(async move {
                        tokio::select! {
                            r = pop3.run(listener, implicit) => (l, r),
                            _ = stop => (l, Ok(())),
                        }
                    });
                }
                Listener::Submission | Listener::Submissions => {
                    let smtp = smtp.clone();
                    tasks.spawn(async move {
                        tokio::select! {
                            r = smtp.run(listener, implicit) => (l, r),
                            _ = stop => (l, Ok(())),
                        }
                    });
                }
            }
        }
        let mut background = tokio::task::JoinSet::new();
        if let Some(relay) = self.relay {
            background.spawn(relay.run(stopped()));
        }
        if let Some(feed) = self.feed {
            background.spawn(feed.run(self.shared.pipeline.revocations().clone(), stopped()));
        }
        let gc_store = self.gc.clone();
        let gc_stop = stopped();
        background.spawn(async move {
            tokio::pin!(gc_stop);
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = &mut gc_stop => return,
                    _ = tick.tick() => {}
                }
                match gc_store.gc_blobs(mailward_types::clock::now()).await {
                    Ok(report) => tracing::debug!(?report, "mail blob garbage collection"),
                    Err(e) => tracing::warn!(error = %e, "mail blob garbage collection failed"),
                }
            }
        });

        tracing::info!(addrs = ?self.addrs, public_url = %self.shared.endpoints.public_url, "mail role serving");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(done) = tasks.join_next() => match done {
                    Ok((l, Err(e))) => tracing::error!(listener = l.key(), error = %e, "mail listener stopped"),
                    Ok((l, Ok(()))) => tracing::warn!(listener = l.key(), "mail listener stopped"),
                    Err(e) => tracing::error!(error = %e, "mail listener task failed"),
                },
            }
        }
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        while background.join_next().await.is_some() {}
        tracing::info!("mail role stopped");
        Ok(())
    }
}

/// The credential check when no relay application is configured: basic authentication
/// that an authentication policy allowed still cannot be verified.
#[derive(Debug)]
struct NoRelay;

#[async_trait]
impl CredentialCheck for NoRelay {
    async fn check(
        &self,
        _username: &str,
        _password: &Secret<String>,
        protocol: Protocol,
        _client_ip: std::net::IpAddr,
        _user_agent: Option<&str>,
    ) -> Result<CheckedUser, AuthFailure> {
        tracing::error!(%protocol, "basic authentication allowed by policy, but no relay application is configured (mail.identity.relay_client_id)");
        Err(AuthFailure::Unavailable)
    }
}
