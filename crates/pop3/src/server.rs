//! [`Pop3Server`]: the socket side of POP3. The connection plumbing (accept loop, implicit
//! TLS or plaintext with STLS, idle timeout, line framing) is `mailward_mailnet::conn`;
//! this module drives a [`Session`] line by line and carries out its actions against the
//! mail store and the authentication pipeline. Responses are written in command order, so
//! pipelined commands (RFC 2449 PIPELINING) are answered correctly; input buffered before
//! STLS is discarded.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailward_authpolicy::Protocol;
use mailward_mailauth::{AuthFailure, AuthRequest, Authenticator, RevocationWatch};
use mailward_mailnet::conn::{self, Conversation, Step};
use mailward_mailnet::line::Line;
use mailward_mailstore::{BlobId, FolderId, MailStore, SpecialUse};
use mailward_sasl::Credentials;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::session::{
    Action, AuthOutcome, DropEntry, Maildrop, Session, SessionConfig, retrieve_reply,
};

/// Connection limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Inactivity before the server closes an authenticated connection (RFC 1939 §3: at
    /// least 10 minutes).
    pub idle_timeout: Duration,
    /// A connection not authenticated this long after it opened is closed.
    pub login_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Concurrent connections per listener; further ones get `-ERR [SYS/TEMP]` and are
    /// closed.
    pub max_connections: usize,
    /// Concurrent connections per listener from one client address (an IPv6 /64); 0: no
    /// cap.
    pub max_connections_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(600),
            login_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(30),
            max_connections: 1000,
            max_connections_per_address: 100,
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

/// The maildrop's storage handles, kept by the loop (the session only sees UIDs).
#[derive(Default)]
struct Mailbox {
    folder: Option<FolderId>,
    blobs: HashMap<u32, BlobId>,
}

/// One connection: the session and what the server keeps beside it.
struct Connection<'a> {
    server: &'a Pop3Server,
    remote: SocketAddr,
    session: Session,
    mailbox: Mailbox,
    /// Set once authenticated: fires when identity revokes the user's access.
    revocation: Option<RevocationWatch>,
}

impl Pop3Server {
    /// Accepts connections forever (until the listener fails).
    pub async fn run(self: Arc<Self>, listener: TcpListener, implicit_tls: bool) -> io::Result<()> {
        let admission = conn::Admission {
            max_connections: self.limits.max_connections,
            max_connections_per_address: self.limits.max_connections_per_address,
            refusal: b"-ERR [SYS/TEMP] Too many connections, try again later\r\n".to_vec(),
            tls: implicit_tls.then(|| (self.tls.clone(), self.limits.tls_handshake_timeout)),
        };
        conn::accept_loop(listener, admission, "POP3", move |tcp, remote| {
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
            tls: implicit_tls,
            stls_available: true,
            basic_possible: self.auth.basic_possible(Protocol::Pop).await,
        });
        let settings = conn::Settings {
            implicit_tls,
            idle_timeout: self.limits.idle_timeout,
            login_timeout: self.limits.login_timeout,
            tls_handshake_timeout: self.limits.tls_handshake_timeout,
            read_chunk: 16 * 1024,
        };
        let mut connection = Connection {
            server: self,
            remote,
            session,
            mailbox: Mailbox::default(),
            revocation: None,
        };
        conn::serve(tcp, self.tls.clone(), &settings, &mut connection).await
    }

    async fn authenticate(
        &self,
        credentials: &Credentials,
        remote: SocketAddr,
        tls: bool,
        mailbox: &mut Mailbox,
        revocation: &mut Option<RevocationWatch>,
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
                *revocation = Some(principal.revocation);
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

impl Conversation for Connection<'_> {
    fn greeting(&self) -> Vec<u8> {
        self.session.greeting()
    }

    fn max_line(&self) -> usize {
        self.session.max_line()
    }

    fn idle_reply(&self) -> &'static [u8] {
        b"-ERR Autologout: idle for too long\r\n"
    }

    fn authenticated(&self) -> bool {
        self.session.in_transaction()
    }

    async fn handle<S>(&mut self, line: Line, stream: &mut S) -> io::Result<Step>
    where
        S: AsyncWrite + Unpin + Send,
    {
        let mut action = self.session.handle(line);
        loop {
            action = match action {
                Action::Send(bytes) => {
                    stream.write_all(&bytes).await?;
                    return Ok(Step::Continue);
                }
                Action::Close(bytes) => return Ok(Step::Close(bytes)),
                Action::StartTls(bytes) => return Ok(Step::StartTls(bytes)),
                Action::Authenticate(credentials) => {
                    let outcome = self
                        .server
                        .authenticate(
                            &credentials,
                            self.remote,
                            self.session.is_tls(),
                            &mut self.mailbox,
                            &mut self.revocation,
                        )
                        .await;
                    self.session.auth_result(outcome)
                }
                Action::Retrieve { uid, top, .. } => {
                    let body = match self.mailbox.blobs.get(&uid) {
                        Some(blob) => self.server.store.body(blob).await.map_err(|e| {
                            tracing::error!(error = %e, "POP3: reading a message failed");
                        }),
                        None => Err(()),
                    };
                    let reply = match body {
                        Ok(b) => retrieve_reply(&b, top),
                        Err(()) => b"-ERR [SYS/TEMP] The message cannot be read now\r\n".to_vec(),
                    };
                    stream.write_all(&reply).await?;
                    return Ok(Step::Continue);
                }
                Action::Update { remove } => {
                    let ok = match (self.mailbox.folder, remove.is_empty()) {
                        (_, true) => true,
                        (Some(folder), false) => {
                            match self.server.store.remove(folder, &remove).await {
                                Ok(_) => true,
                                Err(e) => {
                                    tracing::error!(error = %e, "POP3: removing deleted messages failed");
                                    false
                                }
                            }
                        }
                        (None, false) => false,
                    };
                    self.session.update_result(ok)
                }
            };
        }
    }

    async fn tls_started(&mut self) {
        self.session.tls_started();
        let possible = self.server.auth.basic_possible(Protocol::Pop).await;
        self.session.set_basic_possible(possible);
    }

    async fn revoked(&mut self) -> &'static [u8] {
        match &mut self.revocation {
            Some(w) => w.revoked().await,
            None => std::future::pending().await,
        }
        tracing::info!(remote = %self.remote, "POP3 session ended: access revoked");
        // Nothing marked for deletion is removed: the session never reaches UPDATE.
        b"-ERR [AUTH] Access revoked; sign in again\r\n"
    }
}
