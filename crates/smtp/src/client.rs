//! A small SMTP client for the relay worker (RFC 5321 §3–§4 client side, RFC 3207
//! STARTTLS): one message per connection, EHLO (HELO fallback), optional STARTTLS,
//! MAIL, RCPT per recipient, DATA with dot-stuffing, QUIT. Replies are classified the
//! RFC 5321 §4.2.1 way: 4yz and network trouble are temporary, 5yz permanent.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Why a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again later (4yz, connection or TLS trouble, timeouts).
    Temporary(String),
    /// Do not try again (5yz).
    Permanent(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Temporary(s) => write!(f, "temporary failure: {s}"),
            SendError::Permanent(s) => write!(f, "permanent failure: {s}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Peer {
    pub host: String,
    pub port: u16,
    /// Name sent in EHLO.
    pub helo: String,
    /// Require STARTTLS with this client configuration.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Per-step timeout (connect, each reply, the data transfer).
    pub timeout: Duration,
}

/// One message to send.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub from: &'a str,
    pub recipients: &'a [String],
    pub data: &'a [u8],
}

/// What the peer did with the recipients of a delivered message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    pub accepted: Vec<String>,
    /// Refused permanently at RCPT, with the reply.
    pub rejected: Vec<(String, String)>,
}

/// A reply: code and the text of its lines.
#[derive(Debug, Clone)]
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn error(&self, step: &str) -> SendError {
        let msg = format!("{step}: {} {}", self.code, self.text);
        if (500..600).contains(&self.code) {
            SendError::Permanent(msg)
        } else {
            SendError::Temporary(msg)
        }
    }
}

fn temp(step: &str, e: impl std::fmt::Display) -> SendError {
    SendError::Temporary(format!("{step}: {e}"))
}

struct Conn<S> {
    io: BufReader<S>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn reply(&mut self, step: &str) -> Result<Reply, SendError> {
        let mut text = String::new();
        for _ in 0..100 {
            let mut line = Vec::new();
            let n = tokio::time::timeout(self.timeout, async {
                let mut limited = (&mut self.io).take(4096);
                limited.read_until(b'\n', &mut line).await
            })
            .await
            .map_err(|_| temp(step, "timed out"))?
            .map_err(|e| temp(step, e))?;
            if n == 0 {
                return Err(temp(step, "connection closed"));
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end();
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| temp(step, format!("malformed reply {line:?}")))?;
            let rest = line.get(4..).unwrap_or("");
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(rest);
            match line.as_bytes().get(3) {
                Some(b'-') => continue,
                _ => return Ok(Reply { code, text }),
            }
        }
        Err(temp(step, "reply too long"))
    }

    async fn send(&mut self, bytes: &[u8], step: &str) -> Result<(), SendError> {
        tokio::time::timeout(self.timeout, async {
            self.io.get_mut().write_all(bytes).await?;
            self.io.get_mut().flush().await
        })
        .await
        .map_err(|_| temp(step, "timed out"))?
        .map_err(|e| temp(step, e))
    }

    async fn command(&mut self, line: &str, step: &str) -> Result<Reply, SendError> {
        self.send(format!("{line}\r\n").as_bytes(), step).await?;
        self.reply(step).await
    }

    async fn expect(&mut self, line: &str, step: &str, ok: u16) -> Result<Reply, SendError> {
        let r = self.command(line, step).await?;
        if r.code == ok {
            Ok(r)
        } else {
            Err(r.error(step))
        }
    }

    async fn ehlo(&mut self, helo: &str) -> Result<Reply, SendError> {
        let r = self.command(&format!("EHLO {helo}"), "EHLO").await?;
        if r.code == 250 {
            return Ok(r);
        }
        self.expect(&format!("HELO {helo}"), "HELO", 250).await
    }

    /// MAIL, RCPT, DATA, QUIT.
    async fn transaction(&mut self, msg: Message<'_>) -> Result<Delivered, SendError> {
        self.expect(&format!("MAIL FROM:<{}>", msg.from), "MAIL", 250)
            .await?;
        let mut delivered = Delivered::default();
        let mut temporary = None;
        for rcpt in msg.recipients {
            let r = self.command(&format!("RCPT TO:<{rcpt}>"), "RCPT").await?;
            match r.code {
                250 | 251 => delivered.accepted.push(rcpt.clone()),
                500..=599 => delivered
                    .rejected
                    .push((rcpt.clone(), format!("{} {}", r.code, r.text))),
                _ => temporary = Some(r.error("RCPT")),
            }
        }
        if let Some(e) = temporary {
            // Retry the whole message later rather than deliver it twice to some.
            let _ = self.command("RSET", "RSET").await;
            let _ = self.command("QUIT", "QUIT").await;
            return Err(e);
        }
        if delivered.accepted.is_empty() {
            let _ = self.command("QUIT", "QUIT").await;
            let reasons: Vec<String> = delivered
                .rejected
                .iter()
                .map(|(r, e)| format!("{r}: {e}"))
                .collect();
            return Err(SendError::Permanent(format!(
                "every recipient refused: {}",
                reasons.join("; ")
            )));
        }
        self.expect("DATA", "DATA", 354).await?;
        self.send(&stuff(msg.data), "DATA").await?;
        let r = self.reply("end of data").await?;
        if r.code != 250 {
            return Err(r.error("end of data"));
        }
        let _ = self.command("QUIT", "QUIT").await;
        Ok(delivered)
    }
}

/// The message with CR LF line ends, dot-stuffed (RFC 5321 §4.5.2), and the terminator.
fn stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut rest = data;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        rest = next;
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Delivers one message to `peer`.
pub async fn send(peer: &Peer, msg: Message<'_>) -> Result<Delivered, SendError> {
    let tcp = tokio::time::timeout(
        peer.timeout,
        TcpStream::connect((peer.host.as_str(), peer.port)),
    )
    .await
    .map_err(|_| temp("connect", "timed out"))?
    .map_err(|e| temp("connect", e))?;
    let _ = tcp.set_nodelay(true);
    let mut conn = Conn {
        io: BufReader::new(tcp),
        timeout: peer.timeout,
    };
    let greeting = conn.reply("greeting").await?;
    if greeting.code != 220 {
        return Err(greeting.error("greeting"));
    }
    conn.ehlo(&peer.helo).await?;
    let Some(tls) = &peer.tls else {
        return conn.transaction(msg).await;
    };
    conn.expect("STARTTLS", "STARTTLS", 220).await?;
    if !conn.io.buffer().is_empty() {
        return Err(temp("STARTTLS", "peer sent data before the TLS handshake"));
    }
    let name = ServerName::try_from(peer.host.clone()).map_err(|e| temp("TLS", e))?;
    let tcp = conn.io.into_inner();
    let stream = tokio::time::timeout(
        peer.timeout,
        TlsConnector::from(tls.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| temp("TLS", "handshake timed out"))?
    .map_err(|e| temp("TLS", e))?;
    let mut conn = Conn {
        io: BufReader::new(stream),
        timeout: peer.timeout,
    };
    conn.ehlo(&peer.helo).await?;
    conn.transaction(msg).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        assert_eq!(stuff(b"a\n.b\r\n.\r\nc"), b"a\r\n..b\r\n..\r\nc\r\n.\r\n");
        assert_eq!(stuff(b""), b".\r\n");
    }
}
