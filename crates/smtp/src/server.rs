//! [`SmtpServer`]: the submission socket loop. Accepts connections (implicit TLS or
//! plaintext with STARTTLS), drives a [`Session`] line by line, and carries out its
//! actions: authentication through the pipeline, recipient classification (an account of
//! this instance, a local domain without such an account, or another domain), and
//! delivery — local recipients into their INBOX with [`MailStore::deliver`], the others
//! into the relay queue with [`MailStore::enqueue`]. Input buffered before STARTTLS is
//! discarded (RFC 3207 §6).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailward_authpolicy::Protocol;
use mailward_mailauth::{AuthFailure, AuthRequest, Authenticator};
use mailward_mailstore::{MailStore, NewOutbound, StoreError};
use mailward_sasl::Credentials;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use uuid::Uuid;

use crate::line::LineBuffer;
use crate::session::{
    Action, AuthOutcome, DeliverOutcome, Envelope, MAX_COMMAND_LINE, RcptOutcome, Session,
    SessionConfig,
};

/// Submission settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// This server's name (greeting, EHLO, `Received:`).
    pub hostname: String,
    /// Domains this instance serves: a recipient there without an account is refused
    /// (`550 5.1.1`) instead of relayed. Compared case-insensitively.
    pub local_domains: Vec<String>,
    /// Largest message, in octets (advertised as `SIZE`).
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// Inactivity before the server closes the connection (RFC 5321 §4.5.3.2.7: 5 min).
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    /// Concurrent connections per listener.
    pub max_connections: usize,
}

impl SmtpConfig {
    pub fn new(hostname: impl Into<String>, local_domains: Vec<String>) -> SmtpConfig {
        SmtpConfig {
            hostname: hostname.into(),
            local_domains,
            max_message_size: 35 * 1024 * 1024,
            max_recipients: 100,
            idle_timeout: Duration::from_secs(300),
            tls_handshake_timeout: Duration::from_secs(30),
            max_connections: 1000,
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

enum Ended<S> {
    Closed,
    StartTls(S),
}

/// Per-connection facts the loop keeps beside the session.
struct Conn {
    remote: SocketAddr,
    /// Local recipients resolved in this transaction: lowercase address → account.
    locals: HashMap<String, Uuid>,
    /// `ESMTPSA` once authenticated over TLS.
    authenticated: bool,
}

impl SmtpServer {
    /// Accepts connections forever (until the listener fails).
    pub async fn run(self: Arc<Self>, listener: TcpListener, implicit_tls: bool) -> io::Result<()> {
        let permits = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        loop {
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("connection limiter closed"))?;
            let (tcp, remote) = listener.accept().await?;
            let server = self.clone();
            tokio::spawn(async move {
                if let Err(e) = server.serve_connection(tcp, remote, implicit_tls).await {
                    tracing::debug!(%remote, error = %e, "SMTP connection ended with an error");
                }
                drop(permit);
            });
        }
    }

    /// Serves one connection to its end.
    pub async fn serve_connection(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
        implicit_tls: bool,
    ) -> io::Result<()> {
        let _ = tcp.set_nodelay(true);
        let acceptor = TlsAcceptor::from(self.tls.clone());
        let mut session = Session::new(SessionConfig {
            hostname: self.config.hostname.clone(),
            max_message_size: self.config.max_message_size,
            max_recipients: self.config.max_recipients,
            tls: implicit_tls,
            starttls_available: true,
            basic_possible: self.auth.basic_possible(Protocol::Smtp).await,
        });
        let mut lines = LineBuffer::new(MAX_COMMAND_LINE);
        let mut conn = Conn {
            remote,
            locals: HashMap::new(),
            authenticated: false,
        };
        if implicit_tls {
            let tls = self.handshake(&acceptor, tcp).await?;
            self.session_loop(tls, &mut session, &mut lines, &mut conn, true)
                .await?;
            return Ok(());
        }
        match self
            .session_loop(tcp, &mut session, &mut lines, &mut conn, true)
            .await?
        {
            Ended::Closed => Ok(()),
            Ended::StartTls(tcp) => {
                let tls = self.handshake(&acceptor, tcp).await?;
                lines.clear();
                session.tls_started();
                session.set_basic_possible(self.auth.basic_possible(Protocol::Smtp).await);
                self.session_loop(tls, &mut session, &mut lines, &mut conn, false)
                    .await?;
                Ok(())
            }
        }
    }

    async fn handshake(
        &self,
        acceptor: &TlsAcceptor,
        tcp: TcpStream,
    ) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
        tokio::time::timeout(self.config.tls_handshake_timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
    }

    async fn session_loop<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        session: &mut Session,
        lines: &mut LineBuffer,
        conn: &mut Conn,
        greet: bool,
    ) -> io::Result<Ended<S>> {
        if greet {
            stream.write_all(&session.greeting()).await?;
            stream.flush().await?;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            loop {
                lines.set_max(session.max_line());
                let Some(line) = lines.next_line() else { break };
                let mut action = session.handle(line);
                loop {
                    action = match action {
                        Action::Send(bytes) => {
                            if !bytes.is_empty() {
                                stream.write_all(&bytes).await?;
                            }
                            break;
                        }
                        Action::Close(bytes) => {
                            stream.write_all(&bytes).await?;
                            stream.flush().await?;
                            let _ = stream.shutdown().await;
                            return Ok(Ended::Closed);
                        }
                        Action::StartTls(bytes) => {
                            stream.write_all(&bytes).await?;
                            stream.flush().await?;
                            lines.clear();
                            return Ok(Ended::StartTls(stream));
                        }
                        Action::Authenticate(credentials) => {
                            let outcome = self
                                .authenticate(&credentials, conn, session.is_tls())
                                .await;
                            session.auth_result(outcome)
                        }
                        Action::CheckRecipient(address) => {
                            let outcome = self.classify(&address, conn).await;
                            session.rcpt_result(outcome)
                        }
                        Action::Deliver(envelope) => {
                            let outcome = self
                                .deliver(envelope, conn, mailward_types::clock::now())
                                .await;
                            conn.locals.clear();
                            session.deliver_result(outcome)
                        }
                    };
                }
            }
            stream.flush().await?;
            let n = match tokio::time::timeout(self.config.idle_timeout, stream.read(&mut chunk))
                .await
            {
                Ok(r) => r?,
                Err(_) => {
                    let _ = stream
                        .write_all(b"421 4.4.2 Idle for too long, closing connection\r\n")
                        .await;
                    let _ = stream.shutdown().await;
                    return Ok(Ended::Closed);
                }
            };
            if n == 0 {
                // Disconnected: an unfinished DATA is simply dropped.
                return Ok(Ended::Closed);
            }
            lines.feed(&chunk[..n]);
        }
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
                } else {
                    RcptOutcome::Remote
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
