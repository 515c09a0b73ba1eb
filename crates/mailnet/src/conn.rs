//! Connection plumbing for line-based mail protocols: [`accept_loop`] accepts connections
//! under caps per listener and per client address ([`Admission`]; a client over a cap gets
//! the protocol's refusal line) and spawns one task each; [`serve`] runs one connection
//! (implicit TLS, or plaintext with an upgrade through STARTTLS / STLS), reads with a
//! timeout (the login timeout, counted from the connection's start, until the
//! conversation is authenticated; the idle timeout after), frames the input with a
//! [`LineBuffer`] and hands each line to a [`Conversation`], which writes its replies.
//! Before authentication reads are small ([`LOGIN_READ_CHUNK`]), so an unauthenticated
//! client makes the server hold at most a line and a chunk. Input buffered before a
//! STARTTLS upgrade is discarded, so plaintext pipelined behind the command is never
//! executed inside TLS. A connection whose user's access is
//! revoked ends between lines ([`Conversation::revoked`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailward_net::ConnectionLimiter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::line::{Line, LineBuffer};

/// What the connection does after a line has been handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read the next line.
    Continue,
    /// Send these bytes and close the connection.
    Close(Vec<u8>),
    /// Send these bytes, drop buffered input and run the TLS handshake.
    StartTls(Vec<u8>),
}

/// One protocol's side of a connection: its state machine plus whatever the server keeps
/// beside it.
pub trait Conversation: Send {
    /// The greeting sent when the connection opens (not again after STARTTLS).
    fn greeting(&self) -> Vec<u8>;

    /// The longest line accepted in the current state.
    fn max_line(&self) -> usize;

    /// Sent, best effort, before closing an idle connection (or one that did not
    /// authenticate in time).
    fn idle_reply(&self) -> &'static [u8];

    /// Whether the client has authenticated (the login timeout and the small reads of the
    /// not-authenticated state no longer apply).
    fn authenticated(&self) -> bool;

    /// Handles one framed line; ordinary replies are written to `out` (flushed by the
    /// caller once no complete line is buffered).
    fn handle<S>(
        &mut self,
        line: Line,
        out: &mut S,
    ) -> impl Future<Output = io::Result<Step>> + Send
    where
        S: AsyncWrite + Unpin + Send;

    /// Called once the STARTTLS handshake has succeeded, before the next line is read.
    fn tls_started(&mut self) -> impl Future<Output = ()> + Send;

    /// Resolves, with the reply to send before closing, when the authenticated user's
    /// access has been revoked; the connection then ends. Never by default.
    fn revoked(&mut self) -> impl Future<Output = &'static [u8]> + Send {
        std::future::pending()
    }
}

/// Per-connection settings of [`serve`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// TLS from the first byte (otherwise plaintext, upgradable with STARTTLS).
    pub implicit_tls: bool,
    /// Inactivity before the server closes an authenticated connection.
    pub idle_timeout: Duration,
    /// Time from the connection's start within which the client must authenticate.
    pub login_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Size of the socket read buffer once authenticated.
    pub read_chunk: usize,
}

/// Size of the socket read buffer before authentication.
pub const LOGIN_READ_CHUNK: usize = 4096;

/// Who [`accept_loop`] admits, and what the others hear.
#[derive(Debug, Clone)]
pub struct Admission {
    /// Connections at once on this listener.
    pub max_connections: usize,
    /// Connections at once from one client address (an IPv6 /64); 0: no cap.
    pub max_connections_per_address: usize,
    /// The line sent to a client over a cap before the connection is closed.
    pub refusal: Vec<u8>,
    /// For an implicit-TLS listener: the configuration and time allowed for the handshake
    /// that precedes the refusal.
    pub tls: Option<(Arc<rustls::ServerConfig>, Duration)>,
}

/// Refusals in progress at once; beyond, the socket is just closed.
const MAX_REFUSALS: usize = 64;

/// How one phase (before or after STARTTLS) of a connection ended.
enum Ended<S> {
    Closed,
    StartTls(S),
}

/// Accepts connections forever (until the listener fails), running `serve` for each on
/// its own task. A connection over one of the [`Admission`] caps gets the refusal line and
/// is closed. `protocol` names the front in log lines.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    admission: Admission,
    protocol: &'static str,
    serve: F,
) -> io::Result<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let limiter = ConnectionLimiter::new(
        admission.max_connections,
        admission.max_connections_per_address,
    );
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let refusal: Arc<[u8]> = admission.refusal.into();
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "{protocol} accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match limiter.try_admit(remote.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::warn!(%remote, "{protocol} connection refused: {why}");
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    let refusal = refusal.clone();
                    let tls = admission.tls.clone();
                    tokio::spawn(async move {
                        refuse(tcp, &refusal, tls).await;
                        drop(permit);
                    });
                }
                continue;
            }
        };
        let connection = serve(tcp, remote);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%remote, error = %e, "{protocol} connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// Sends the refusal line (after the handshake on an implicit-TLS listener) and closes.
async fn refuse(
    tcp: TcpStream,
    refusal: &[u8],
    tls: Option<(Arc<rustls::ServerConfig>, Duration)>,
) {
    match tls {
        Some((cfg, timeout)) => {
            let Ok(mut s) = handshake(&TlsAcceptor::from(cfg), tcp, timeout).await else {
                return;
            };
            let _ = tokio::time::timeout(timeout, async {
                let _ = s.write_all(refusal).await;
                let _ = s.shutdown().await;
            })
            .await;
        }
        None => {
            let mut tcp = tcp;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                let _ = tcp.write_all(refusal).await;
                let _ = tcp.shutdown().await;
            })
            .await;
        }
    }
}

/// Serves one connection to its end.
pub async fn serve<C: Conversation>(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    settings: &Settings,
    conversation: &mut C,
) -> io::Result<()> {
    let _ = tcp.set_nodelay(true);
    let login_deadline = Instant::now() + settings.login_timeout;
    let acceptor = TlsAcceptor::from(tls);
    let mut lines = LineBuffer::new(conversation.max_line());
    if settings.implicit_tls {
        let tls = handshake(&acceptor, tcp, settings.tls_handshake_timeout).await?;
        phase(
            tls,
            conversation,
            &mut lines,
            settings,
            login_deadline,
            true,
        )
        .await?;
        return Ok(());
    }
    match phase(
        tcp,
        conversation,
        &mut lines,
        settings,
        login_deadline,
        true,
    )
    .await?
    {
        Ended::Closed => Ok(()),
        Ended::StartTls(tcp) => {
            let tls = handshake(&acceptor, tcp, settings.tls_handshake_timeout).await?;
            lines.clear();
            conversation.tls_started().await;
            phase(
                tls,
                conversation,
                &mut lines,
                settings,
                login_deadline,
                false,
            )
            .await?;
            Ok(())
        }
    }
}

fn login_timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "not authenticated in time")
}

async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    timeout: Duration,
) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    tokio::time::timeout(timeout, acceptor.accept(tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

async fn phase<S, C>(
    mut stream: S,
    conversation: &mut C,
    lines: &mut LineBuffer,
    settings: &Settings,
    login_deadline: Instant,
    greet: bool,
) -> io::Result<Ended<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    C: Conversation,
{
    if greet {
        stream.write_all(&conversation.greeting()).await?;
        stream.flush().await?;
    }
    let mut chunk = Vec::new();
    loop {
        loop {
            lines.set_max(conversation.max_line());
            let Some(line) = lines.next_line() else { break };
            let step = if conversation.authenticated() {
                conversation.handle(line, &mut stream).await?
            } else {
                // Before authentication a client that does not read its replies cannot
                // hold the connection past the login deadline either.
                match tokio::time::timeout_at(
                    login_deadline,
                    conversation.handle(line, &mut stream),
                )
                .await
                {
                    Ok(step) => step?,
                    Err(_) => return Err(login_timed_out()),
                }
            };
            match step {
                Step::Continue => {}
                Step::Close(bytes) => {
                    stream.write_all(&bytes).await?;
                    stream.flush().await?;
                    let _ = stream.shutdown().await;
                    return Ok(Ended::Closed);
                }
                Step::StartTls(bytes) => {
                    stream.write_all(&bytes).await?;
                    stream.flush().await?;
                    lines.clear();
                    return Ok(Ended::StartTls(stream));
                }
            }
        }
        if conversation.authenticated() {
            stream.flush().await?;
        } else {
            tokio::time::timeout_at(login_deadline, stream.flush())
                .await
                .map_err(|_| login_timed_out())??;
        }
        let authenticated = conversation.authenticated();
        let (deadline, size) = if authenticated {
            (
                Instant::now() + settings.idle_timeout,
                settings.read_chunk.max(1),
            )
        } else {
            (
                login_deadline,
                LOGIN_READ_CHUNK.min(settings.read_chunk.max(1)),
            )
        };
        chunk.resize(size, 0);
        let read = tokio::select! {
            biased;
            reply = conversation.revoked() => {
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
                return Ok(Ended::Closed);
            }
            r = tokio::time::timeout_at(deadline, stream.read(&mut chunk)) => r,
        };
        let n = match read {
            Ok(r) => r?,
            Err(_) => {
                let _ = stream.write_all(conversation.idle_reply()).await;
                let _ = stream.shutdown().await;
                return Ok(Ended::Closed);
            }
        };
        if n == 0 {
            // Disconnected: what the protocol had not committed is dropped with it.
            return Ok(Ended::Closed);
        }
        lines.feed(&chunk[..n]);
    }
}
