//! The listener side: [`ImapServer`] with its [`Limits`], the accept loop with a
//! connection limit, the implicit-TLS handshake, and the stream type a session reads and
//! writes (plain TCP until STARTTLS, then TLS).

use mailward_mailauth::Authenticator;
use mailward_mailstore::MailStore;
use mailward_net::ConnectionLimiter;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::cache::SummaryCache;
use crate::framing::FrameLimits;
use crate::session::Session;

/// Protocol and resource limits of an IMAP server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest command line, CR LF included (`BAD` and discarded beyond).
    pub max_line: usize,
    /// Largest literal in commands other than APPEND (login names, search strings...).
    pub max_literal: u32,
    /// Largest message APPEND takes (`NO [TOOBIG]` before the literal is sent).
    pub max_message_size: u32,
    /// An authenticated connection with no command for this long is logged out (RFC 3501
    /// §5.4: at least 30 minutes).
    pub idle_timeout: Duration,
    /// A connection not authenticated this long after it opened is closed (`* BYE`).
    pub login_timeout: Duration,
    /// Failed authentication attempts allowed per connection before `BYE`.
    pub max_auth_failures: u32,
    /// Simultaneous connections per listener; more are greeted with `BYE` and closed.
    pub max_connections: usize,
    /// Simultaneous connections per listener from one client address (an IPv6 /64);
    /// more are greeted with `BYE` and closed. 0: no cap.
    pub max_connections_per_address: usize,
    /// Time allowed for a TLS handshake (implicit TLS or STARTTLS).
    pub tls_handshake_timeout: Duration,
    /// Byte budget of the shared ENVELOPE/BODYSTRUCTURE cache.
    pub summary_cache_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_message_size: 50 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            login_timeout: Duration::from_secs(60),
            max_auth_failures: 3,
            max_connections: 20_000,
            max_connections_per_address: 500,
            tls_handshake_timeout: Duration::from_secs(15),
            summary_cache_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Limits {
    pub(crate) fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_line: self.max_line,
            max_literal: self.max_literal,
            max_append_literal: self.max_message_size,
            max_message: (self.max_line + 4 * self.max_literal as usize).max(self.max_line),
        }
    }

    /// The limits before authentication: a line long enough for `AUTHENTICATE` with an
    /// initial response (the SASL limit), literals only as large as `LOGIN` needs, none
    /// for `APPEND`, so an unauthenticated client can make the server hold little.
    pub(crate) fn login_frame_limits(&self) -> FrameLimits {
        let max_line = self.max_line.min(LOGIN_MAX_LINE);
        let max_literal = self.max_literal.min(LOGIN_MAX_LITERAL);
        FrameLimits {
            max_line,
            max_literal,
            max_append_literal: 0,
            max_message: max_line + 2 * max_literal as usize,
        }
    }
}

/// Longest command line before authentication: `AUTHENTICATE XOAUTH2` with the largest
/// initial response the SASL layer takes.
pub const LOGIN_MAX_LINE: usize = mailward_sasl::MAX_ENCODED_LEN + 128;
/// Largest literal before authentication (a `LOGIN` user name or password).
pub const LOGIN_MAX_LITERAL: u32 = 8 * 1024;
/// Refusals (over a connection cap) in progress at once; beyond, the socket is just closed.
const MAX_REFUSALS: usize = 64;

/// The IMAP4rev1 server of the mail role. Cheap to share: wrap it in an [`Arc`] and call
/// [`ImapServer::run`] per listener (or [`ImapServer::serve_connection`] per accepted
/// connection).
#[derive(Debug)]
pub struct ImapServer {
    pub(crate) store: Arc<dyn MailStore>,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) tls: Arc<rustls::ServerConfig>,
    pub(crate) limits: Limits,
    pub(crate) cache: SummaryCache,
    connections: Arc<ConnectionLimiter>,
    refusals: Arc<Semaphore>,
}

impl ImapServer {
    pub fn new(
        store: Arc<dyn MailStore>,
        auth: Arc<dyn Authenticator>,
        tls: Arc<rustls::ServerConfig>,
        limits: Limits,
    ) -> Arc<ImapServer> {
        Arc::new(ImapServer {
            store,
            auth,
            tls,
            cache: SummaryCache::new(limits.summary_cache_bytes),
            connections: ConnectionLimiter::new(
                limits.max_connections,
                limits.max_connections_per_address,
            ),
            refusals: Arc::new(Semaphore::new(MAX_REFUSALS)),
            limits,
        })
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.tls.clone())
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Connections being served now (over every listener of this server).
    pub fn open_connections(&self) -> usize {
        self.connections.open()
    }

    /// Accepts connections until the listener fails for good. Each connection runs in its
    /// own task; beyond [`Limits::max_connections`] or
    /// [`Limits::max_connections_per_address`] a client gets `* BYE` at once.
    pub async fn run(
        self: &Arc<Self>,
        listener: TcpListener,
        implicit_tls: bool,
    ) -> io::Result<()> {
        self.run_until(listener, implicit_tls, std::future::pending())
            .await
    }

    /// Like [`ImapServer::run`], stopping when `shutdown` resolves (open sessions go on).
    pub async fn run_until(
        self: &Arc<Self>,
        listener: TcpListener,
        implicit_tls: bool,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (tcp, remote) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "IMAP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let server = self.clone();
            match self.connections.try_admit(remote.ip()) {
                Ok(slot) => {
                    tokio::spawn(async move {
                        server.serve_connection(tcp, remote, implicit_tls).await;
                        drop(slot);
                    });
                }
                Err(why) => {
                    tracing::warn!(%remote, "IMAP connection refused: {why}");
                    if let Ok(permit) = self.refusals.clone().try_acquire_owned() {
                        tokio::spawn(async move {
                            server.refuse(tcp, implicit_tls).await;
                            drop(permit);
                        });
                    }
                }
            }
        }
    }

    async fn refuse(&self, tcp: TcpStream, implicit_tls: bool) {
        const BYE: &[u8] = b"* BYE Too many connections, try again later\r\n";
        let t = self.limits.tls_handshake_timeout;
        if implicit_tls {
            if let Ok(Ok(mut s)) = tokio::time::timeout(t, self.acceptor().accept(tcp)).await {
                let _ = tokio::time::timeout(t, async {
                    let _ = s.write_all(BYE).await;
                    let _ = s.shutdown().await;
                })
                .await;
            }
        } else {
            let mut tcp = tcp;
            let _ = tokio::time::timeout(t, tcp.write_all(BYE)).await;
        }
    }

    /// Serves one accepted connection to its end (LOGOUT, disconnect, autologout or a
    /// fatal error): TLS handshake when `implicit_tls`, greeting, STARTTLS, the session.
    pub async fn serve_connection(
        self: &Arc<Self>,
        tcp: TcpStream,
        remote: SocketAddr,
        implicit_tls: bool,
    ) {
        let _ = tcp.set_nodelay(true);
        let stream = if implicit_tls {
            match tokio::time::timeout(
                self.limits.tls_handshake_timeout,
                self.acceptor().accept(tcp),
            )
            .await
            {
                Ok(Ok(s)) => Stream::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "IMAP TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "IMAP TLS handshake timed out");
                    return;
                }
            }
        } else {
            Stream::Plain(tcp)
        };
        Session::new(self.clone(), stream, remote).run().await;
    }
}

/// The connection's byte stream: plain TCP (before STARTTLS) or TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between taking the TCP stream for a handshake and getting it back.
    Closed,
}

impl Stream {
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Runs the server side of a TLS handshake on a plain stream (STARTTLS).
    pub(crate) async fn upgrade(
        &mut self,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> io::Result<()> {
        let Stream::Plain(tcp) = std::mem::replace(self, Stream::Closed) else {
            return Err(io::Error::other("TLS is already active"));
        };
        match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
            Ok(Ok(s)) => {
                *self = Stream::Tls(Box::new(s));
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}
