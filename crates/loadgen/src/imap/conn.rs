//! One IMAP client connection for the load: TCP with implicit TLS, STARTTLS or neither,
//! whole responses read with their literals (RFC 3501 §4.3), and the few commands the load
//! sends (AUTHENTICATE with SASL-IR, SELECT, FETCH, APPEND with LITERAL+, IDLE, LOGOUT).

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// Longest response line accepted (a FETCH line with a long ENVELOPE stays far below).
const MAX_LINE: usize = 1 << 20;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// TLS from the first byte (port 993 style, RFC 8314).
    Implicit,
    /// Plaintext greeting, then `STARTTLS` (RFC 3501 §6.2.1).
    Starttls,
    /// No TLS at all.
    None,
}

/// Where and how to connect: shared by every connection of a run.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub tls: TlsMode,
    pub server_name: ServerName<'static>,
    pub connector: TlsConnector,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Builds the TLS client: roots from `ca` (PEM), session resumption only if asked, no
    /// ALPN (neither server needs it for IMAP).
    pub fn new(
        addr: SocketAddr,
        tls: TlsMode,
        sni: &str,
        ca: Option<&std::path::Path>,
        resumption: bool,
    ) -> Result<Self> {
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        use tokio_rustls::rustls::{ClientConfig, RootCertStore, client::Resumption};
        let mut roots = RootCertStore::empty();
        if let Some(path) = ca {
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading {}", path.display()))?
            {
                roots
                    .add(cert.context("CA certificate")?)
                    .context("adding the CA certificate")?;
            }
        }
        if tls != TlsMode::None && roots.is_empty() {
            bail!("TLS needs --ca with the server's CA certificate");
        }
        // aws-lc-rs, the tree's only crypto provider, named so no process default is needed.
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        if !resumption {
            config.resumption = Resumption::disabled();
        }
        Ok(Endpoint {
            addr,
            tls,
            server_name: ServerName::try_from(sni.to_string()).context("--sni")?,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

/// Plain TCP or TLS over TCP.
#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How the client authenticates.
#[derive(Debug, Clone)]
pub enum Credentials<'a> {
    /// `AUTHENTICATE XOAUTH2` with a bearer token.
    XOAuth2 { user: &'a str, token: &'a str },
    /// `AUTHENTICATE OAUTHBEARER` (RFC 7628) with a bearer token.
    OAuthBearer { user: &'a str, token: &'a str },
    /// `AUTHENTICATE PLAIN` (RFC 4616).
    Plain { user: &'a str, password: &'a str },
}

impl Credentials<'_> {
    fn mechanism(&self) -> &'static str {
        match self {
            Credentials::XOAuth2 { .. } => "XOAUTH2",
            Credentials::OAuthBearer { .. } => "OAUTHBEARER",
            Credentials::Plain { .. } => "PLAIN",
        }
    }

    /// The initial response, base64 (RFC 4959 SASL-IR).
    fn initial_response(&self) -> String {
        let raw = match self {
            Credentials::XOAuth2 { user, token } => {
                format!("user={user}\x01auth=Bearer {token}\x01\x01")
            }
            Credentials::OAuthBearer { user, token } => {
                format!("n,a={user},\x01auth=Bearer {token}\x01\x01")
            }
            Credentials::Plain { user, password } => format!("\0{user}\0{password}"),
        };
        base64::engine::general_purpose::STANDARD.encode(raw)
    }
}

/// What a tagged completion said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// An open IMAP connection.
#[derive(Debug)]
pub struct Conn {
    io: BufReader<Stream>,
    /// The current response, literals included.
    line: Vec<u8>,
    next_tag: u32,
}

impl Conn {
    /// Connects, secures the connection as configured and reads the greeting.
    pub async fn open(ep: &Endpoint) -> Result<Conn> {
        let tcp = TcpStream::connect(ep.addr)
            .await
            .with_context(|| format!("connect {}", ep.addr))?;
        tcp.set_nodelay(true)?;
        let stream = match ep.tls {
            TlsMode::Implicit => Stream::Tls(Box::new(
                ep.connector
                    .connect(ep.server_name.clone(), tcp)
                    .await
                    .context("TLS handshake")?,
            )),
            TlsMode::Starttls | TlsMode::None => Stream::Plain(tcp),
        };
        let mut conn = Conn {
            io: BufReader::with_capacity(32 * 1024, stream),
            line: Vec::with_capacity(4096),
            next_tag: 0,
        };
        conn.read_response().await?;
        if !conn.line.starts_with(b"* OK") {
            bail!("greeting: {}", conn.line_text());
        }
        if ep.tls == TlsMode::Starttls {
            let (status, _) = conn.command("STARTTLS", |_| {}).await?;
            if status != Status::Ok {
                bail!("STARTTLS refused: {}", conn.line_text());
            }
            // Nothing may be buffered past the tagged OK (RFC 3501 §6.2.1).
            if !conn.io.buffer().is_empty() {
                bail!("data after the STARTTLS completion");
            }
            let Stream::Plain(tcp) = conn.io.into_inner() else {
                bail!("STARTTLS on a TLS connection");
            };
            let tls = ep
                .connector
                .connect(ep.server_name.clone(), tcp)
                .await
                .context("TLS handshake after STARTTLS")?;
            conn = Conn {
                io: BufReader::with_capacity(32 * 1024, Stream::Tls(Box::new(tls))),
                line: conn.line,
                next_tag: conn.next_tag,
            };
        }
        Ok(conn)
    }

    /// The current response as text, shortened for error messages.
    pub fn line_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.line);
        text.trim_end().chars().take(300).collect()
    }

    /// Reads one whole response into `self.line`: a line, and when it ends in a literal
    /// announcement `{n}` (or `{n+}`), the literal and the rest of the line after it.
    pub async fn read_response(&mut self) -> Result<()> {
        self.line.clear();
        loop {
            let start = self.line.len();
            let n = (&mut self.io)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut self.line)
                .await?;
            if n == 0 {
                bail!("connection closed by the server");
            }
            if !self.line.ends_with(b"\n") {
                bail!("response line longer than {MAX_LINE} bytes");
            }
            match literal_len(&self.line[start..]) {
                Some(len) if len <= MAX_LINE => {
                    let at = self.line.len();
                    self.line.resize(at + len, 0);
                    self.io.read_exact(&mut self.line[at..]).await?;
                }
                Some(len) => bail!("literal of {len} bytes"),
                None => return Ok(()),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let w = self.io.get_mut();
        w.write_all(bytes).await?;
        w.flush().await?;
        Ok(())
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("a{}", self.next_tag)
    }

    /// Sends `tag SP command CRLF` and reads to its tagged completion, handing every
    /// untagged response to `untagged`. Returns the status and the bytes read.
    pub async fn command(
        &mut self,
        command: &str,
        mut untagged: impl FnMut(&[u8]),
    ) -> Result<(Status, usize)> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.complete(&tag, &mut untagged).await
    }

    /// Reads responses until the completion tagged `tag`.
    async fn complete(
        &mut self,
        tag: &str,
        untagged: &mut impl FnMut(&[u8]),
    ) -> Result<(Status, usize)> {
        let mut bytes = 0;
        loop {
            self.read_response().await?;
            bytes += self.line.len();
            if let Some(status) = tagged_status(&self.line, tag) {
                return Ok((status, bytes));
            }
            if self.line.starts_with(b"+") {
                bail!("unexpected continuation: {}", self.line_text());
            }
            untagged(&self.line);
        }
    }

    /// `AUTHENTICATE` with an initial response. A refusal sent as a challenge (the JSON
    /// error of XOAUTH2 and OAUTHBEARER) is answered with an empty line, as clients do.
    pub async fn authenticate(&mut self, creds: &Credentials<'_>) -> Result<Status> {
        let tag = self.tag();
        let cmd = format!(
            "{tag} AUTHENTICATE {} {}\r\n",
            creds.mechanism(),
            creds.initial_response()
        );
        self.send(cmd.as_bytes()).await?;
        loop {
            self.read_response().await?;
            if let Some(status) = tagged_status(&self.line, &tag) {
                return Ok(status);
            }
            if self.line.starts_with(b"+") {
                self.send(b"\r\n").await?;
            }
        }
    }

    /// `SELECT mailbox`; returns the `EXISTS` count.
    pub async fn select(&mut self, mailbox: &str) -> Result<u32> {
        let mut exists = None;
        let (status, _) = self
            .command(&format!("SELECT {}", quote(mailbox)), |line| {
                if let Some(n) = untagged_number(line, b"EXISTS") {
                    exists = Some(n);
                }
            })
            .await?;
        if status != Status::Ok {
            bail!("SELECT {mailbox}: {}", self.line_text());
        }
        exists.context("SELECT answered without EXISTS")
    }

    /// `APPEND mailbox (flags) {n+}` with the message as a non-synchronizing literal
    /// (RFC 7888), so the whole command goes out in one write.
    pub async fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> Result<Status> {
        let tag = self.tag();
        let mut buf = Vec::with_capacity(message.len() + 64);
        buf.extend_from_slice(
            format!(
                "{tag} APPEND {} ({flags}) {{{}+}}\r\n",
                quote(mailbox),
                message.len()
            )
            .as_bytes(),
        );
        buf.extend_from_slice(message);
        buf.extend_from_slice(b"\r\n");
        self.send(&buf).await?;
        let (status, _) = self.complete(&tag, &mut |_| {}).await?;
        Ok(status)
    }

    /// Starts `IDLE` (RFC 2177) and waits for the continuation; returns the tag.
    pub async fn idle(&mut self) -> Result<String> {
        let tag = self.tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        loop {
            self.read_response().await?;
            if self.line.starts_with(b"+") {
                return Ok(tag);
            }
            if tagged_status(&self.line, &tag).is_some() {
                bail!("IDLE refused: {}", self.line_text());
            }
        }
    }

    /// `LOGOUT`, then waits for the server to close.
    pub async fn logout(mut self) -> Result<()> {
        let (status, _) = self.command("LOGOUT", |_| {}).await?;
        if status != Status::Ok {
            bail!("LOGOUT: {}", self.line_text());
        }
        // Read to end of stream so the server is the side that closes first.
        let mut rest = Vec::new();
        let _ = self.io.read_to_end(&mut rest).await;
        Ok(())
    }
}

/// `{n}` or `{n+}` at the end of a line (before CRLF): the literal's length.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let line = line.strip_suffix(b"+").unwrap_or(line);
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The status of a completion tagged `tag`, or `None` for any other response.
fn tagged_status(line: &[u8], tag: &str) -> Option<Status> {
    let rest = line.strip_prefix(tag.as_bytes())?.strip_prefix(b" ")?;
    let word = rest.split(|&b| b == b' ' || b == b'\r').next()?;
    Some(if word.eq_ignore_ascii_case(b"OK") {
        Status::Ok
    } else if word.eq_ignore_ascii_case(b"NO") {
        Status::No
    } else {
        Status::Bad
    })
}

/// `* <n> <word>`: the number, when the word matches.
pub fn untagged_number(line: &[u8], word: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let n = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
    let after = &rest[sp + 1..];
    let w = after
        .split(|&b| b == b' ' || b == b'\r' || b == b'(')
        .next()?;
    w.eq_ignore_ascii_case(word).then_some(n)
}

/// A mailbox name as an IMAP quoted string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12}\r\n"), Some(12));
        assert_eq!(literal_len(b"a APPEND x {5+}\r\n"), Some(5));
        assert_eq!(literal_len(b"* OK done\r\n"), None);
        assert_eq!(literal_len(b"* OK {}\r\n"), None);
        assert_eq!(literal_len(b"* OK {1a}\r\n"), None);
    }

    #[test]
    fn tagged_and_untagged() {
        assert_eq!(tagged_status(b"a1 OK done\r\n", "a1"), Some(Status::Ok));
        assert_eq!(
            tagged_status(b"a1 NO [AUTHENTICATIONFAILED] x\r\n", "a1"),
            Some(Status::No)
        );
        assert_eq!(tagged_status(b"a12 OK\r\n", "a1"), None);
        assert_eq!(tagged_status(b"* OK\r\n", "a1"), None);
        assert_eq!(
            untagged_number(b"* 10000 EXISTS\r\n", b"EXISTS"),
            Some(10000)
        );
        assert_eq!(
            untagged_number(b"* 7 FETCH (FLAGS ())\r\n", b"FETCH"),
            Some(7)
        );
        assert_eq!(untagged_number(b"* 7 RECENT\r\n", b"EXISTS"), None);
        assert_eq!(untagged_number(b"* OK [UIDNEXT 5]\r\n", b"EXISTS"), None);
    }

    #[test]
    fn initial_responses() {
        let x = Credentials::XOAuth2 {
            user: "u@d",
            token: "t",
        }
        .initial_response();
        let raw = base64::engine::general_purpose::STANDARD.decode(x).unwrap();
        assert_eq!(raw, b"user=u@d\x01auth=Bearer t\x01\x01");
        let p = Credentials::Plain {
            user: "u",
            password: "p",
        }
        .initial_response();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.decode(p).unwrap(),
            b"\0u\0p"
        );
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    /// A scripted server on a real socket: each expected client line gets a canned reply.
    async fn scripted(script: Vec<(&'static str, &'static str)>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let mut io = BufReader::new(sock);
            io.get_mut().write_all(b"* OK ready\r\n").await.unwrap();
            for (expect, reply) in script {
                let mut line = String::new();
                io.read_line(&mut line).await.unwrap();
                assert_eq!(line, expect);
                io.get_mut().write_all(reply.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    fn plain_endpoint(addr: SocketAddr) -> Endpoint {
        Endpoint::new(addr, TlsMode::None, "localhost", None, false).unwrap()
    }

    #[tokio::test]
    async fn login_select_fetch_with_literals_and_logout() {
        let addr = scripted(vec![
            ("a1 AUTHENTICATE PLAIN AHUAcA==\r\n", "a1 OK [CAPABILITY IMAP4rev1] done\r\n"),
            (
                "a2 SELECT \"INBOX\"\r\n",
                "* FLAGS (\\Seen)\r\n* 2 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\na2 OK [READ-WRITE] done\r\n",
            ),
            (
                "a3 FETCH 1:* (FLAGS ENVELOPE)\r\n",
                "* 1 FETCH (FLAGS () ENVELOPE (NIL {7}\r\na3 OK\r\n NIL))\r\n* 2 FETCH (FLAGS (\\Seen))\r\na3 OK done\r\n",
            ),
            ("a4 LOGOUT\r\n", "* BYE bye\r\na4 OK done\r\n"),
        ])
        .await;
        let mut c = Conn::open(&plain_endpoint(addr)).await.unwrap();
        let creds = Credentials::Plain {
            user: "u",
            password: "p",
        };
        assert_eq!(c.authenticate(&creds).await.unwrap(), Status::Ok);
        assert_eq!(c.select("INBOX").await.unwrap(), 2);
        let mut fetched = 0;
        let (status, _) = c
            .command("FETCH 1:* (FLAGS ENVELOPE)", |line| {
                if untagged_number(line, b"FETCH").is_some() {
                    fetched += 1;
                }
            })
            .await
            .unwrap();
        // The literal held text that looks like the completion; it must not end the command.
        assert_eq!((status, fetched), (Status::Ok, 2));
        c.logout().await.unwrap();
    }

    #[tokio::test]
    async fn refused_bearer_answers_the_challenge_and_reports_no() {
        let addr = scripted(vec![
            (
                "a1 AUTHENTICATE XOAUTH2 dXNlcj11AWF1dGg9QmVhcmVyIHQBAQ==\r\n",
                "+ eyJzdGF0dXMiOiI0MDAifQ==\r\n",
            ),
            ("\r\n", "a1 NO [AUTHENTICATIONFAILED] failed\r\n"),
        ])
        .await;
        let mut c = Conn::open(&plain_endpoint(addr)).await.unwrap();
        let creds = Credentials::XOAuth2 {
            user: "u",
            token: "t",
        };
        assert_eq!(c.authenticate(&creds).await.unwrap(), Status::No);
    }

    #[tokio::test]
    async fn a_close_mid_response_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            sock.write_all(b"* OK ready\r\n").await.unwrap();
            let mut buf = [0u8; 256];
            let _ = sock.read(&mut buf).await;
            // Announce a literal, then hang up before it arrives.
            sock.write_all(b"* 1 FETCH (BODY[] {100}\r\nshort")
                .await
                .unwrap();
        });
        let mut c = Conn::open(&plain_endpoint(addr)).await.unwrap();
        assert!(c.command("FETCH 1 BODY[]", |_| {}).await.is_err());
    }

    #[test]
    fn tls_without_a_ca_is_refused() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        assert!(Endpoint::new(addr, TlsMode::Implicit, "localhost", None, false).is_err());
    }
}
