//! Helpers for tests of the line-based mail fronts (POP3, SMTP, IMAP) and the
//! authentication pipeline behind them: a TLS connector trusting mailward's local CA, a
//! line client over TCP or TLS, SASL initial responses, and (feature `mail-pipeline`) the
//! real [`Pipeline`](mailward_mailauth::Pipeline) wired to a [`TestIdentity`] and a SQLite
//! mail store, with the authentication policies the tests switch between.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

#[cfg(feature = "mail-pipeline")]
pub use pipeline::*;

/// A TLS connector trusting exactly the CA certificate(s) in the PEM file `ca`.
pub fn connector(ca: &Path) -> TlsConnector {
    mailward_net::install_crypto_provider();
    let pem = std::fs::read(ca).expect("CA file");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

/// Standard base64.
pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A base64 `XOAUTH2` initial response.
pub fn xoauth2(user: &str, token: &str) -> String {
    b64(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes())
}

/// A base64 `OAUTHBEARER` (RFC 7628) initial response.
pub fn oauthbearer(user: &str, token: &str) -> String {
    b64(format!("n,a={user},\x01auth=Bearer {token}\x01\x01").as_bytes())
}

/// A base64 `PLAIN` (RFC 4616) initial response without authorization identity.
pub fn plain(user: &str, password: &str) -> String {
    b64(format!("\0{user}\0{password}").as_bytes())
}

/// A line-oriented protocol client (POP3, SMTP).
#[derive(Debug)]
pub struct Client<S> {
    io: BufReader<S>,
}

impl Client<TcpStream> {
    /// Connects without TLS to 127.0.0.1; the greeting is not read yet.
    pub async fn plain(port: u16) -> Client<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        Client {
            io: BufReader::new(tcp),
        }
    }

    /// TLS handshake on this connection (after STLS/STARTTLS, or right away).
    pub async fn tls(self, connector: &TlsConnector) -> Client<TlsStream<TcpStream>> {
        assert!(self.io.buffer().is_empty(), "unread data before TLS");
        let tcp = self.io.into_inner();
        let name = ServerName::try_from("localhost").expect("test setup");
        let tls = connector.connect(name, tcp).await.expect("TLS handshake");
        Client {
            io: BufReader::new(tls),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub async fn send(&mut self, data: &str) {
        self.send_bytes(data.as_bytes()).await;
    }

    pub async fn send_bytes(&mut self, data: &[u8]) {
        self.io.get_mut().write_all(data).await.expect("write");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// One line without CR LF; empty string at end of stream.
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(20), self.io.read_until(b'\n', &mut buf))
                .await
                .expect("reply within 20 s");
        read.expect("read");
        String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string()
    }

    /// Sends a command line and returns the first reply line.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.line().await
    }

    /// Lines up to (not including) the `.` terminator, still byte-stuffed.
    pub async fn multiline(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            if l == "." {
                return out;
            }
            assert!(!l.is_empty() || out.len() < 100_000, "stream ended");
            out.push(l);
        }
    }

    /// SMTP: reads a possibly multi-line reply, returns all its lines.
    pub async fn reply(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            let more = l.as_bytes().get(3) == Some(&b'-');
            out.push(l);
            if !more {
                return out;
            }
        }
    }

    /// Whether the server closed the connection.
    pub async fn closed(&mut self) -> bool {
        self.line().await.is_empty()
    }
}

/// The TCP connection under a client's stream, for [`Client::hang_up`].
pub trait Transport {
    fn tcp(&mut self) -> &mut TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&mut self) -> &mut TcpStream {
        self
    }
}

impl Transport for TlsStream<TcpStream> {
    fn tcp(&mut self) -> &mut TcpStream {
        self.get_mut().0
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Transport> Client<S> {
    /// Hangs up the way a vanished client does (the TCP connection ends without a
    /// protocol goodbye or a TLS `close_notify`) and returns once the server has closed
    /// its side too, that is, once it has finished with the connection: what a test
    /// checks afterwards is what the server left behind, with nothing still in flight.
    pub async fn hang_up(mut self) {
        self.io
            .get_mut()
            .tcp()
            .shutdown()
            .await
            .expect("shut down sending");
        let mut sink = [0u8; 4096];
        tokio::time::timeout(Duration::from_secs(20), async {
            // Whatever the server still sends is dropped; end of stream or a reset (or a
            // TLS error for the missing `close_notify`) means it has closed.
            while let Ok(n) = self.io.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await
        .expect("the server closes the connection within 20 s");
    }
}

#[cfg(feature = "mail-pipeline")]
mod pipeline {
    use std::sync::Arc;

    use mailward_authpolicy::{AuthenticationPolicy, PolicyName, Protocol, Switch, SwitchKind};
    use mailward_mailauth::{
        BearerConfig, BearerValidator, Pipeline, PipelineConfig, RelayConfig, RelayedCheck,
    };
    use mailward_mailstore::sqlite::SqliteMailStore;
    use mailward_mailstore::{Account, MailStore, NewAccount};
    use mailward_types::model::User;

    use crate::{TestIdentity, mail};

    /// Bearer validation against `t`'s issuer for the mail resource.
    pub fn bearer_config(t: &TestIdentity) -> BearerConfig {
        let mut cfg = BearerConfig::new(t.issuer.clone(), mail::resource(t));
        cfg.ca_file = Some(t.ca_pem.clone());
        cfg
    }

    /// Relayed basic authentication through `t` with the confidential app `relay`
    /// (client id, secret) from [`mail::relay_client`].
    pub fn relay_config(t: &TestIdentity, relay: &(String, String)) -> RelayConfig {
        RelayConfig {
            identity_url: t.url.clone(),
            client_id: relay.0.clone(),
            client_secret: relay.1.clone().into(),
            ca_file: Some(t.ca_pem.clone()),
            http_timeout: std::time::Duration::from_secs(10),
        }
    }

    /// Pipeline settings for tests: policy changes are seen at once.
    pub fn pipeline_config() -> PipelineConfig {
        PipelineConfig {
            basic_possible_ttl: time::Duration::ZERO,
            ..PipelineConfig::default()
        }
    }

    /// The real pipeline over `store`, bearer tokens from `t` and relayed basic
    /// authentication with `relay`.
    pub fn pipeline(
        t: &TestIdentity,
        store: Arc<SqliteMailStore>,
        relay: &(String, String),
    ) -> Arc<Pipeline> {
        Arc::new(Pipeline::new(
            store,
            BearerValidator::new(bearer_config(t)).expect("validator"),
            Arc::new(RelayedCheck::new(relay_config(t, relay)).expect("relay")),
            pipeline_config(),
        ))
    }

    /// The mail account of an identity user (created as a first bearer sign-in would).
    pub async fn ensure_account(store: &SqliteMailStore, user: &User) -> Account {
        store
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

    /// A policy allowing basic authentication for exactly `protocols`.
    pub fn allow_basic(name: &str, protocols: &[Protocol]) -> AuthenticationPolicy {
        let mut p = AuthenticationPolicy::new(PolicyName::try_from(name).expect("name"));
        for proto in protocols {
            p.set(
                Switch::new(SwitchKind::AllowBasicAuth, *proto).expect("switch"),
                true,
            );
        }
        p
    }

    /// Stores `policy` and makes it the organization default.
    pub async fn set_default_policy(store: &SqliteMailStore, policy: &AuthenticationPolicy) {
        store.put_auth_policy(policy).await.expect("put policy");
        store
            .set_default_auth_policy(Some(policy.name().as_str()))
            .await
            .expect("default");
    }

    /// A block-all-basic policy ("Block basic") as the organization default.
    pub async fn block_by_default(store: &SqliteMailStore) {
        let p = AuthenticationPolicy::block_all_basic(
            PolicyName::try_from("Block basic").expect("name"),
        );
        set_default_policy(store, &p).await;
    }
}
