//! [`SmtpServer`]: the socket side of submission. The connection plumbing (accept loop,
//! implicit TLS or plaintext with STARTTLS, idle timeout, line framing) is
//! `mailward_mailnet::conn`; this module drives a [`Session`] line by line and carries out
//! its actions: authentication through the pipeline, recipient classification (an account
//! of this instance, a local domain without such an account, or another domain — refused
//! when nothing relays), and
//! delivery — local recipients into their INBOX with [`MailStore::deliver`], the others
//! into the relay queue with [`MailStore::enqueue`]. Input buffered before STARTTLS is
//! discarded (RFC 3207 §6).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailward_authpolicy::Protocol;
use mailward_mailauth::{AuthFailure, AuthRequest, Authenticator, RevocationWatch};
use mailward_mailnet::conn::{self, Conversation, Step};
use mailward_mailnet::line::Line;
use mailward_mailstore::{MailStore, NewOutbound, StoreError};
use mailward_sasl::Credentials;
use time::OffsetDateTime;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::session::{
    Action, AuthOutcome, DeliverOutcome, Envelope, RcptOutcome, Session, SessionConfig,
};

/// Submission settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// This server's name (greeting, EHLO, `Received:`).
    pub hostname: String,
    /// Domains this instance serves: a recipient there without an account is refused
    /// (`550 5.1.1`) instead of relayed. Compared case-insensitively.
    pub local_domains: Vec<String>,
    /// Mail for other domains has a route (a smarthost and the relay worker). Without
    /// one such recipients are refused at `RCPT TO` (`550 5.4.4`) instead of queued.
    pub relay: bool,
    /// Largest message, in octets (advertised as `SIZE`).
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// Inactivity before the server closes an authenticated connection (RFC 5321
    /// §4.5.3.2.7: 5 min).
    pub idle_timeout: Duration,
    /// A connection not authenticated this long after it opened is closed (`421`).
    pub login_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    /// Concurrent connections per listener; further ones get `421 4.7.0` and are closed.
    pub max_connections: usize,
    /// Concurrent connections per listener from one client address (an IPv6 /64); 0: no
    /// cap.
    pub max_connections_per_address: usize,
}

impl SmtpConfig {
    pub fn new(hostname: impl Into<String>, local_domains: Vec<String>) -> SmtpConfig {
        SmtpConfig {
            hostname: hostname.into(),
            local_domains,
            relay: false,
            max_message_size: 35 * 1024 * 1024,
            max_recipients: 100,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(30),
            max_connections: 1000,
            max_connections_per_address: 100,
        }
    }
}

/// The SMTP submission front.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub store: Arc<dyn MailStore>,
    pub auth: Arc<dyn Authenticator>,
    pub tls: Arc<rustls::ServerConfig>,
    pub config: SmtpConfig,
}

/// Per-connection facts the loop keeps beside the session.
struct Conn {
    remote: SocketAddr,
    /// Local recipients resolved in this transaction: lowercase address → account.
    locals: HashMap<String, Uuid>,
    /// `ESMTPSA` once authenticated over TLS.
    authenticated: bool,
    /// Set once authenticated: fires when identity revokes the user's access.
    revocation: Option<RevocationWatch>,
}

/// One connection: the session and the facts kept beside it.
struct Connection<'a> {
    server: &'a SmtpServer,
    session: Session,
    conn: Conn,
}

impl SmtpServer {
    /// Accepts connections forever (until the listener fails).
    pub async fn run(self: Arc<Self>, listener: TcpListener, implicit_tls: bool) -> io::Result<()> {
        let admission = conn::Admission {
            max_connections: self.config.max_connections,
            max_connections_per_address: self.config.max_connections_per_address,
            refusal: format!(
                "421 4.7.0 {} Too many connections, try again later\r\n",
                self.config.hostname
            )
            .into_bytes(),
            tls: implicit_tls.then(|| (self.tls.clone(), self.config.tls_handshake_timeout)),
        };
        conn::accept_loop(listener, admission, "SMTP", move |tcp, remote| {
            let server = self.clone();
            async move { server.serve_connection(tcp, remote, implicit_tls).await }
        })
        .await
    }

    /// Serves one connection to its end.
    pub async fn serve_connection(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
        implicit_tls: bool,
    ) -> io::Result<()> {
        let session = Session::new(SessionConfig {
            hostname: self.config.hostname.clone(),
            max_message_size: self.config.max_message_size,
            max_recipients: self.config.max_recipients,
            tls: implicit_tls,
            starttls_available: true,
            basic_possible: self.auth.basic_possible(Protocol::Smtp).await,
        });
        let settings = conn::Settings {
            implicit_tls,
            idle_timeout: self.config.idle_timeout,
            login_timeout: self.config.login_timeout,
            tls_handshake_timeout: self.config.tls_handshake_timeout,
            read_chunk: 64 * 1024,
        };
        let mut connection = Connection {
            server: self,
            session,
            conn: Conn {
                remote,
                locals: HashMap::new(),
                authenticated: false,
                revocation: None,
            },
        };
        conn::serve(tcp, self.tls.clone(), &settings, &mut connection).await
    }

    async fn authenticate(
        &self,
        credentials: &Credentials,
        conn: &mut Conn,
        tls: bool,
    ) -> AuthOutcome {
        let result = self
            .auth
            .authenticate(AuthRequest {
                protocol: Protocol::Smtp,
                credentials,
                remote_ip: conn.remote.ip(),
                tls,
                user_agent: None,
            })
            .await;
        match result {
            Ok(p) => {
                conn.authenticated = true;
                conn.revocation = Some(p.revocation.clone());
                let mut senders = vec![p.account.address.clone()];
                if !p.account.upn.eq_ignore_ascii_case(&p.account.address) {
                    senders.push(p.account.upn.clone());
                }
                AuthOutcome::Success { senders }
            }
            Err(AuthFailure::Bearer(e)) => AuthOutcome::Bearer(e),
            Err(AuthFailure::Denied) => AuthOutcome::Denied,
            Err(AuthFailure::Unavailable) => AuthOutcome::Unavailable,
        }
    }

    async fn classify(&self, address: &str, conn: &mut Conn) -> RcptOutcome {
        match self.store.account_by_address(address).await {
            Ok(Some(account)) => {
                conn.locals.insert(address.to_ascii_lowercase(), account.id);
                RcptOutcome::Local
            }
            Ok(None) => {
                let domain = address.rsplit('@').next().unwrap_or_default();
                if self
                    .config
                    .local_domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(domain))
                {
                    RcptOutcome::Unknown
                } else if self.config.relay {
                    RcptOutcome::Remote
                } else {
                    RcptOutcome::NoRoute
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "SMTP: recipient lookup failed");
                RcptOutcome::Unavailable
            }
        }
    }

    async fn deliver(&self, env: Envelope, conn: &Conn, now: OffsetDateTime) -> DeliverOutcome {
        let mut data = self.received_header(&env, conn, now).into_bytes();
        data.extend_from_slice(&env.data);
        let mut locals: Vec<Uuid> = Vec::new();
        let mut remotes: Vec<String> = Vec::new();
        for (address, local) in &env.recipients {
            match (local, conn.locals.get(&address.to_ascii_lowercase())) {
                (true, Some(id)) => {
                    if !locals.contains(id) {
                        locals.push(*id);
                    }
                }
                _ => remotes.push(address.clone()),
            }
        }
        let failed = |e: StoreError| {
            tracing::error!(error = %e, "SMTP: storing a message failed");
            match e {
                StoreError::TooLarge => DeliverOutcome::TooLarge,
                _ => DeliverOutcome::Failed,
            }
        };
        if !remotes.is_empty() {
            let queued = self
                .store
                .enqueue(NewOutbound {
                    from: &env.from,
                    recipients: &remotes,
                    raw: &data,
                    now,
                })
                .await;
            if let Err(e) = queued {
                return failed(e);
            }
        }
        if !locals.is_empty()
            && let Err(e) = self.store.deliver(&locals, &data, now).await
        {
            return failed(e);
        }
        tracing::info!(from = %env.from, local = locals.len(), remote = remotes.len(), size = data.len(), "message accepted");
        DeliverOutcome::Stored
    }

    /// RFC 5321 §4.4 trace field.
    fn received_header(&self, env: &Envelope, conn: &Conn, now: OffsetDateTime) -> String {
        let date = now
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let with = if conn.authenticated {
            "ESMTPSA"
        } else {
            "ESMTP"
        };
        let helo: String = env
            .helo
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        format!(
            "Received: from {helo} ([{}])\r\n\tby {} (mailward) with {with};\r\n\t{date}\r\n",
            conn.remote.ip(),
            self.config.hostname
        )
    }
}

impl Conversation for Connection<'_> {
    fn greeting(&self) -> Vec<u8> {
        self.session.greeting()
    }

    fn max_line(&self) -> usize {
        self.session.max_line()
    }

    fn idle_reply(&self) -> &'static [u8] {
        b"421 4.4.2 Idle for too long, closing connection\r\n"
    }

    fn authenticated(&self) -> bool {
        self.session.is_authenticated()
    }

    async fn handle<S>(&mut self, line: Line, stream: &mut S) -> io::Result<Step>
    where
        S: AsyncWrite + Unpin + Send,
    {
        let mut action = self.session.handle(line);
        loop {
            action = match action {
                Action::Send(bytes) => {
                    if !bytes.is_empty() {
                        stream.write_all(&bytes).await?;
                    }
                    return Ok(Step::Continue);
                }
                Action::Close(bytes) => return Ok(Step::Close(bytes)),
                Action::StartTls(bytes) => return Ok(Step::StartTls(bytes)),
                Action::Authenticate(credentials) => {
                    let tls = self.session.is_tls();
                    let outcome = self
                        .server
                        .authenticate(&credentials, &mut self.conn, tls)
                        .await;
                    self.session.auth_result(outcome)
                }
                Action::CheckRecipient(address) => {
                    let outcome = self.server.classify(&address, &mut self.conn).await;
                    self.session.rcpt_result(outcome)
                }
                Action::Deliver(envelope) => {
                    let outcome = self
                        .server
                        .deliver(envelope, &self.conn, mailward_types::clock::now())
                        .await;
                    self.conn.locals.clear();
                    self.session.deliver_result(outcome)
                }
            };
        }
    }

    async fn tls_started(&mut self) {
        self.session.tls_started();
        let possible = self.server.auth.basic_possible(Protocol::Smtp).await;
        self.session.set_basic_possible(possible);
    }

    async fn revoked(&mut self) -> &'static [u8] {
        match &mut self.conn.revocation {
            Some(w) => w.revoked().await,
            None => std::future::pending().await,
        }
        tracing::info!(remote = %self.conn.remote, "SMTP session ended: access revoked");
        b"421 4.7.0 Access revoked; sign in again\r\n"
    }
}
