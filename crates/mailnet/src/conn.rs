//! Connection plumbing for line-based mail protocols: [`accept_loop`] accepts connections
//! under a concurrency limit and spawns one task each; [`serve`] runs one connection
//! (implicit TLS, or plaintext with an upgrade through STARTTLS / STLS), reads with an idle
//! timeout, frames the input with a [`LineBuffer`] and hands each line to a
//! [`Conversation`], which writes its replies. Input buffered before a STARTTLS upgrade is
//! discarded, so plaintext pipelined behind the command is never executed inside TLS. A
//! connection whose user's access is revoked ends between lines
//! ([`Conversation::revoked`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
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

    /// Sent, best effort, before closing an idle connection.
    fn idle_reply(&self) -> &'static [u8];

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
    /// Inactivity before the server closes the connection.
    pub idle_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Size of the socket read buffer.
    pub read_chunk: usize,
}

/// How one phase (before or after STARTTLS) of a connection ended.
enum Ended<S> {
    Closed,
    StartTls(S),
}

/// Accepts connections forever (until the listener fails), at most `max_connections` at
/// once (further ones wait in the accept queue), running `serve` for each on its own task.
/// `protocol` names the front in the log line of a connection that ends with an error.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    protocol: &'static str,
    serve: F,
) -> io::Result<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| io::Error::other("connection limiter closed"))?;
        let (tcp, remote) = listener.accept().await?;
        let connection = serve(tcp, remote);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%remote, error = %e, "{protocol} connection ended with an error");
            }
            drop(permit);
        });
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
    let acceptor = TlsAcceptor::from(tls);
    let mut lines = LineBuffer::new(conversation.max_line());
    if settings.implicit_tls {
        let tls = handshake(&acceptor, tcp, settings.tls_handshake_timeout).await?;
        phase(tls, conversation, &mut lines, settings, true).await?;
        return Ok(());
    }
    match phase(tcp, conversation, &mut lines, settings, true).await? {
        Ended::Closed => Ok(()),
        Ended::StartTls(tcp) => {
            let tls = handshake(&acceptor, tcp, settings.tls_handshake_timeout).await?;
            lines.clear();
            conversation.tls_started().await;
            phase(tls, conversation, &mut lines, settings, false).await?;
            Ok(())
        }
    }
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
    let mut chunk = vec![0u8; settings.read_chunk.max(1)];
    loop {
        loop {
            lines.set_max(conversation.max_line());
            let Some(line) = lines.next_line() else { break };
            match conversation.handle(line, &mut stream).await? {
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
        stream.flush().await?;
        let read = tokio::select! {
            biased;
            reply = conversation.revoked() => {
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
                return Ok(Ended::Closed);
            }
            r = tokio::time::timeout(settings.idle_timeout, stream.read(&mut chunk)) => r,
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
