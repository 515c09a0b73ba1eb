//! Shared setup of the IMAP integration tests: a real identity (MFA rule "none" so the
//! password grant and relayed basic authentication work), a real SQLite mail store, the
//! real authentication pipeline, and the IMAP server on 127.0.0.1 port 0 (STARTTLS and
//! implicit TLS listeners) with a certificate from mailward's local CA. [`Client`] speaks
//! raw IMAP and checks every response it receives with imap-codec's response parser.

#![allow(dead_code)]

use imap_codec::decode::Decoder;
use imap_codec::{GreetingCodec, ResponseCodec};
use mailward_authpolicy::Protocol;
use mailward_imap::{ImapServer, Limits};
use mailward_mailstore::sqlite::SqliteMailStore;
use mailward_mailstore::{Account, MailStore, NewAccount};
use mailward_testkit::mailnet::{self, connector};
use mailward_testkit::{TestIdentity, mail};
use mailward_types::model::User;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const SCOPE: &str = "IMAP.AccessAsUser.All";

pub struct Env {
    pub t: TestIdentity,
    pub store: Arc<SqliteMailStore>,
    pub server: Arc<ImapServer>,
    pub plain: SocketAddr,
    pub tls: SocketAddr,
    pub ca_pem: PathBuf,
    pub ropc_client: String,
    pub dir: tempfile::TempDir,
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub async fn env_with(f: impl FnOnce(&mut Limits)) -> Env {
    let t = mail::start_identity().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteMailStore::open(dir.path())
            .await
            .expect("open mail store"),
    );
    let relay = mail::relay_client(&t).await;
    let ropc_client = mail::password_client(&t).await;
    let pipeline = mailnet::pipeline(&t, store.clone(), &relay);
    let ca = mailward_net::ca::ensure(
        &dir.path().join("imap-tls"),
        &[],
        mailward_types::clock::now(),
    )
    .expect("CA");
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key).expect("TLS config");
    let mut limits = Limits::default();
    f(&mut limits);
    let server = ImapServer::new(store.clone(), pipeline, tls, limits);
    let plain_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tls_l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let plain = plain_l.local_addr().expect("addr");
    let tls_addr = tls_l.local_addr().expect("addr");
    let s = server.clone();
    tokio::spawn(async move { s.run(plain_l, false).await });
    let s = server.clone();
    tokio::spawn(async move { s.run(tls_l, true).await });
    Env {
        t,
        store,
        server,
        plain,
        tls: tls_addr,
        ca_pem: ca.ca_cert,
        ropc_client,
        dir,
    }
}

/// A policy allowing basic authentication for IMAP, as the organization default.
pub async fn allow_basic_imap(store: &SqliteMailStore) {
    let p = mailnet::allow_basic("Allow IMAP", &[Protocol::Imap]);
    mailnet::set_default_policy(store, &p).await;
}

/// A block-all-basic policy as the organization default.
pub async fn block_basic_by_default(store: &SqliteMailStore) {
    mailnet::block_by_default(store).await;
}

impl Env {
    pub async fn user(&self, local: &str) -> User {
        mail::add_user(&self.t, local).await
    }

    pub async fn token(&self, user: &User) -> String {
        mail::user_token(
            &self.t,
            &self.ropc_client,
            user.upn.as_str(),
            mail::PASSWORD,
            &[SCOPE],
        )
        .await
    }

    pub async fn account(&self, user: &User) -> Account {
        self.store
            .ensure_account(NewAccount {
                user_oid: user.id,
                upn: user.upn.to_string(),
                address: user.upn.to_string(),
                display_name: user.display_name.clone(),
                now: mailward_types::clock::now(),
            })
            .await
            .expect("ensure_account")
    }

    pub async fn connect(&self) -> Client {
        Client::plain(self.plain, &self.ca_pem).await
    }

    pub async fn connect_tls(&self) -> Client {
        Client::tls(self.tls, &self.ca_pem).await
    }

    /// Returns once every session of the server has ended (its connection slot is freed
    /// only after the session has finished, including any command in progress), so a test
    /// can check what a disconnected client left behind.
    pub async fn sessions_ended(&self) {
        tokio::time::timeout(TIMEOUT, async {
            while self.server.open_connections() > 0 {
                tokio::time::sleep(Duration::from_millis(2)).await; // polling interval
            }
        })
        .await
        .expect("every session ends");
    }

    /// A TLS client authenticated with XOAUTH2 (SASL-IR), greeting consumed.
    pub async fn login(&self, user: &User) -> Client {
        let token = self.token(user).await;
        let mut c = self.connect_tls().await;
        let ir = mailward_sasl::encode(&mailward_sasl::client::xoauth2(user.upn.as_str(), &token));
        let r = c.cmd("auth", &format!("AUTHENTICATE XOAUTH2 {ir}")).await;
        assert!(r.last().expect("reply").starts_with("auth OK"), "{r:?}");
        c
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A raw IMAP client.
pub struct Client {
    io: Option<Box<dyn Io>>,
    tcp: Option<TcpStream>,
    buf: Vec<u8>,
    ca_pem: PathBuf,
    pub greeting: String,
}

const TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    pub async fn plain(addr: SocketAddr, ca_pem: &Path) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut c = Client {
            io: None,
            tcp: Some(tcp),
            buf: Vec::new(),
            ca_pem: ca_pem.to_path_buf(),
            greeting: String::new(),
        };
        c.greeting = c.read_greeting().await;
        c
    }

    pub async fn tls(addr: SocketAddr, ca_pem: &Path) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let s = connector(ca_pem)
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        let mut c = Client {
            io: Some(Box::new(s)),
            tcp: None,
            buf: Vec::new(),
            ca_pem: ca_pem.to_path_buf(),
            greeting: String::new(),
        };
        c.greeting = c.read_greeting().await;
        c
    }

    /// Upgrades after the server's `OK` to STARTTLS.
    pub async fn handshake(&mut self) {
        let tcp = self.tcp.take().expect("plain connection");
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let s = connector(&self.ca_pem)
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        self.io = Some(Box::new(s));
        self.buf.clear();
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        let r = match (&mut self.io, &mut self.tcp) {
            (Some(io), _) => io.write_all(bytes).await,
            (None, Some(t)) => t.write_all(bytes).await,
            _ => panic!("no connection"),
        };
        r.expect("send");
        let _ = match (&mut self.io, &mut self.tcp) {
            (Some(io), _) => io.flush().await,
            (None, Some(t)) => t.flush().await,
            _ => Ok(()),
        };
    }

    /// More bytes from the server; `false` at end of stream.
    async fn more(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        let fut = async {
            match (&mut self.io, &mut self.tcp) {
                (Some(io), _) => io.read(&mut chunk).await,
                (None, Some(t)) => t.read(&mut chunk).await,
                _ => Ok(0),
            }
        };
        let n = match tokio::time::timeout(TIMEOUT, fut).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => panic!(
                "timed out waiting for the server; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        };
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// One complete response (with its literals), raw. `None` at end of stream.
    pub async fn read_raw(&mut self) -> Option<Vec<u8>> {
        let mut scanned = 0;
        loop {
            // Find the end of the response: a CRLF not followed by literal data.
            let mut i = scanned;
            let mut end = None;
            while let Some(p) = self.buf[i..].windows(2).position(|w| w == b"\r\n") {
                let line_end = i + p;
                let line = &self.buf[..line_end];
                if let Some(n) = literal_len(line) {
                    let data_end = line_end + 2 + n;
                    if self.buf.len() < data_end {
                        break;
                    }
                    i = data_end;
                    continue;
                }
                end = Some(line_end + 2);
                break;
            }
            if let Some(e) = end {
                return Some(self.buf.drain(..e).collect());
            }
            scanned = 0;
            if !self.more().await {
                return None;
            }
        }
    }

    async fn read_greeting(&mut self) -> String {
        let raw = self.read_raw().await.expect("greeting");
        let (rest, _) = GreetingCodec::default().decode(&raw).unwrap_or_else(|e| {
            panic!(
                "greeting does not parse: {e:?} {}",
                String::from_utf8_lossy(&raw)
            )
        });
        assert!(rest.is_empty());
        String::from_utf8_lossy(&raw).trim_end().to_owned()
    }

    /// One response, checked with imap-codec's parser, as text without the final CR LF.
    pub async fn read(&mut self) -> Option<String> {
        let raw = self.read_raw().await?;
        check_response(&raw);
        Some(
            String::from_utf8_lossy(&raw)
                .trim_end_matches("\r\n")
                .to_owned(),
        )
    }

    /// Responses until the tagged one (included).
    pub async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            let line = self
                .read()
                .await
                .unwrap_or_else(|| panic!("connection closed; got {out:?}"));
            let done = line.starts_with(&prefix);
            out.push(line);
            if done {
                return out;
            }
        }
    }

    /// Sends `tag command` and returns the responses up to the tagged one.
    pub async fn cmd(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until_tagged(tag).await
    }

    /// Like [`Client::cmd`], asserting the tagged response is `OK`.
    pub async fn ok(&mut self, tag: &str, command: &str) -> Vec<String> {
        let r = self.cmd(tag, command).await;
        assert!(
            r.last().expect("tagged").starts_with(&format!("{tag} OK")),
            "{command}: {r:?}"
        );
        r
    }

    /// APPEND with a synchronizing literal, waiting for the continuation.
    pub async fn append(
        &mut self,
        tag: &str,
        mailbox: &str,
        extra: &str,
        msg: &[u8],
    ) -> Vec<String> {
        self.send(format!("{tag} APPEND {mailbox}{extra} {{{}}}\r\n", msg.len()).as_bytes())
            .await;
        let cont = self.read().await.expect("continuation");
        assert!(cont.starts_with("+ "), "{cont}");
        self.send(msg).await;
        self.send(b"\r\n").await;
        self.until_tagged(tag).await
    }

    /// Sends `tag command` and reads raw bytes until the tagged `OK` line, without parsing
    /// (for timing); returns everything received.
    pub async fn raw_ok(&mut self, tag: &str, command: &str) -> Vec<u8> {
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        let marker = format!("\r\n{tag} OK");
        let mut from = 0;
        loop {
            if let Some(p) = self.buf[from..]
                .windows(marker.len())
                .position(|w| w == marker.as_bytes())
            {
                let start = from + p + 2;
                if let Some(e) = self.buf[start..].windows(2).position(|w| w == b"\r\n") {
                    let end = start + e + 2;
                    return self.buf.drain(..end).collect();
                }
            }
            from = self.buf.len().saturating_sub(marker.len() + 64);
            assert!(self.more().await, "connection closed");
        }
    }

    /// Whether the server closed the connection (reads until EOF, returns what came).
    pub async fn closed(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(r) = self.read_raw().await {
            out.push(String::from_utf8_lossy(&r).trim_end().to_owned());
        }
        out
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// Every server response must parse as IMAP (continuations are not responses of the
/// codec's grammar when they carry base64, so those are checked loosely).
pub fn check_response(raw: &[u8]) {
    if raw.starts_with(b"+ ") || raw == b"+\r\n" {
        return;
    }
    match ResponseCodec::default().decode(raw) {
        Ok((rest, _)) => assert!(
            rest.is_empty(),
            "trailing bytes after {}",
            String::from_utf8_lossy(raw)
        ),
        Err(e) => panic!(
            "response does not parse ({e:?}): {}",
            String::from_utf8_lossy(raw)
        ),
    }
}

/// A small test message.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice Example <alice@contoso.test>\r\nTo: bob@contoso.test\r\nSubject: {subject}\r\n\
Date: Tue, 05 Mar 2024 10:00:00 +0000\r\nMessage-ID: <{subject}@contoso.test>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
