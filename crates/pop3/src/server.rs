//! [`Pop3Server`]: the socket loop. Accepts connections (implicit TLS or plaintext with
//! STLS), drives a [`Session`] line by line and carries out its actions against the mail
//! store and the authentication pipeline. Responses are written in command order, so
//! pipelined commands (RFC 2449 PIPELINING) are answered correctly; input buffered before
//! STLS is discarded.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailward_authpolicy::Protocol;
use mailward_mailauth::{AuthFailure, AuthRequest, Authenticator};
use mailward_mailstore::{BlobId, FolderId, MailStore, SpecialUse};
use mailward_sasl::Credentials;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::line::LineBuffer;
use crate::session::{
    Action, AuthOutcome, DropEntry, MAX_COMMAND_LINE, Maildrop, Session, SessionConfig,
    retrieve_reply,
};

/// Connection limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Inactivity before the server closes the connection (RFC 1939 §3: at least 10
    /// minutes).
    pub idle_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Concurrent connections per listener; further ones wait in the accept queue.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(600),
            tls_handshake_timeout: Duration::from_secs(30),
            max_connections: 1000,
        }
    }
}

/// The POP3 front.
#[derive(Debug, Clone)]
pub struct Pop3Server {
    pub store: Arc<dyn MailStore>,
    pub auth: Arc<dyn Authenticator>,
    pub tls: Arc<rustls::ServerConfig>,
    pub limits: Limits,
}

/// How a session loop ended.
enum Ended<S> {
    Closed,
    StartTls(S),
}

/// The maildrop's storage handles, kept by the loop (the session only sees UIDs).
#[derive(Default)]
struct Mailbox {
    folder: Option<FolderId>,
    blobs: HashMap<u32, BlobId>,
}

impl Pop3Server {
    /// Accepts connections forever (until the listener fails).
    pub async fn run(self: Arc<Self>, listener: TcpListener, implicit_tls: bool) -> io::Result<()> {
        let permits = Arc::new(Semaphore::new(self.limits.max_connections.max(1)));
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
                    tracing::debug!(%remote, error = %e, "POP3 connection ended with an error");
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
            tls: implicit_tls,
            stls_available: true,
            basic_possible: self.auth.basic_possible(Protocol::Pop).await,
        });
        let mut lines = LineBuffer::new(MAX_COMMAND_LINE);
        let mut mailbox = Mailbox::default();
        if implicit_tls {
            let tls = self.handshake(&acceptor, tcp).await?;
            self.session_loop(tls, remote, &mut session, &mut lines, &mut mailbox, true)
                .await?;
            return Ok(());
        }
        match self
            .session_loop(tcp, remote, &mut session, &mut lines, &mut mailbox, true)
            .await?
        {
            Ended::Closed => Ok(()),
            Ended::StartTls(tcp) => {
                let tls = self.handshake(&acceptor, tcp).await?;
                lines.clear();
                session.tls_started();
                session.set_basic_possible(self.auth.basic_possible(Protocol::Pop).await);
                self.session_loop(tls, remote, &mut session, &mut lines, &mut mailbox, false)
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
        tokio::time::timeout(self.limits.tls_handshake_timeout, acceptor.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
    }

    async fn session_loop<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        remote: SocketAddr,
        session: &mut Session,
        lines: &mut LineBuffer,
        mailbox: &mut Mailbox,
        greet: bool,
    ) -> io::Result<Ended<S>> {
        if greet {
            stream.write_all(&session.greeting()).await?;
            stream.flush().await?;
        }
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            loop {
                lines.set_max(session.max_line());
                let Some(line) = lines.next_line() else { break };
                let mut action = session.handle(line);
                loop {
                    action = match action {
                        Action::Send(bytes) => {
                            stream.write_all(&bytes).await?;
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
                                .authenticate(&credentials, remote, session.is_tls(), mailbox)
                                .await;
                            session.auth_result(outcome)
                        }
                        Action::Retrieve { uid, top, .. } => {
                            let body = match mailbox.blobs.get(&uid) {
                                Some(blob) => self.store.body(blob).await.map_err(|e| {
                                    tracing::error!(error = %e, "POP3: reading a message failed");
                                }),
                                None => Err(()),
                            };
                            let reply = match body {
                                Ok(b) => retrieve_reply(&b, top),
                                Err(()) => {
                                    b"-ERR [SYS/TEMP] The message cannot be read now\r\n".to_vec()
                                }
                            };
                            stream.write_all(&reply).await?;
                            break;
                        }
                        Action::Update { remove } => {
                            let ok = match (mailbox.folder, remove.is_empty()) {
                                (_, true) => true,
                                (Some(folder), false) => {
                                    match self.store.remove(folder, &remove).await {
                                        Ok(_) => true,
                                        Err(e) => {
                                            tracing::error!(error = %e, "POP3: removing deleted messages failed");
                                            false
                                        }
                                    }
                                }
                                (None, false) => false,
                            };
                            session.update_result(ok)
                        }
                    };
                }
            }
            stream.flush().await?;
            let n = match tokio::time::timeout(self.limits.idle_timeout, stream.read(&mut chunk))
                .await
            {
                Ok(r) => r?,
                Err(_) => {
                    let _ = stream
                        .write_all(b"-ERR Autologout: idle for too long\r\n")
                        .await;
                    let _ = stream.shutdown().await;
                    return Ok(Ended::Closed);
                }
            };
            if n == 0 {
                // Disconnected: nothing is applied outside the UPDATE state.
                return Ok(Ended::Closed);
            }
            lines.feed(&chunk[..n]);
        }
    }

    async fn authenticate(
        &self,
        credentials: &Credentials,
        remote: SocketAddr,
        tls: bool,
        mailbox: &mut Mailbox,
    ) -> AuthOutcome {
        let result = self
            .auth
            .authenticate(AuthRequest {
                protocol: Protocol::Pop,
                credentials,
                remote_ip: remote.ip(),
                tls,
                user_agent: None,
            })
            .await;
        let principal = match result {
            Ok(p) => p,
            Err(AuthFailure::Bearer(e)) => return AuthOutcome::Bearer(e),
            Err(AuthFailure::Denied) => return AuthOutcome::Denied,
            Err(AuthFailure::Unavailable) => return AuthOutcome::Unavailable,
        };
        let account = principal.account.id;
        let loaded = async {
            let inbox = self
                .store
                .folder_by_role(account, SpecialUse::Inbox)
                .await?
                .ok_or(mailward_mailstore::StoreError::NotFound("INBOX"))?;
            let messages = self.store.messages(inbox.id).await?;
            Ok::<_, mailward_mailstore::StoreError>((inbox, messages))
        }
        .await;
        match loaded {
            Ok((inbox, messages)) => {
                mailbox.folder = Some(inbox.id);
                mailbox.blobs = messages.iter().map(|m| (m.uid, m.blob.clone())).collect();
                let entries = messages
                    .iter()
                    .map(|m| DropEntry {
                        uid: m.uid,
                        size: u64::from(m.size),
                    })
                    .collect();
                AuthOutcome::Success(Maildrop::new(inbox.uid_validity, entries))
            }
            Err(e) => {
                tracing::error!(error = %e, "POP3: loading the maildrop failed");
                AuthOutcome::Unavailable
            }
        }
    }
}
