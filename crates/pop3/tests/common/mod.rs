//! Test harness for the POP3 front: a real identity, a real SQLite mail store, the real
//! authentication pipeline, the server on 127.0.0.1 port 0 (implicit TLS and STLS
//! listeners) with a certificate from mailward's local CA, and a line client that trusts
//! that CA.

#![allow(dead_code)]

use std::sync::Arc;

use base64::Engine as _;
use mailward_authpolicy::{AuthenticationPolicy, PolicyName, Protocol, Switch, SwitchKind};
use mailward_mailauth::{
    BearerConfig, BearerValidator, Pipeline, PipelineConfig, RelayConfig, RelayedCheck,
};
use mailward_mailstore::sqlite::SqliteMailStore;
use mailward_mailstore::{MailStore, NewAccount};
use mailward_pop3::{Limits, Pop3Server};
use mailward_testkit::{TestIdentity, mail};
use mailward_types::model::User;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub struct Env {
    pub t: TestIdentity,
    pub store: Arc<SqliteMailStore>,
    pub pipeline: Arc<Pipeline>,
    pub ropc_client: String,
    /// Implicit TLS port.
    pub tls_port: u16,
    /// Plaintext port (STLS).
    pub plain_port: u16,
    pub connector: TlsConnector,
    pub dir: tempfile::TempDir,
}

pub async fn env() -> Env {
    let t = mail::start_identity().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("mail")).expect("mail dir");
    let store = Arc::new(
        SqliteMailStore::open(&dir.path().join("mail"))
            .await
            .expect("mail store"),
    );
    let relay = mail::relay_client(&t).await;
    let ropc_client = mail::password_client(&t).await;
    let mut bearer = BearerConfig::new(t.issuer.clone(), mail::resource(&t));
    bearer.ca_file = Some(t.ca_pem.clone());
    let pipeline = Arc::new(Pipeline::new(
        store.clone(),
        BearerValidator::new(bearer).expect("validator"),
        Arc::new(
            RelayedCheck::new(RelayConfig {
                identity_url: t.url.clone(),
                client_id: relay.0.clone(),
                client_secret: relay.1.clone().into(),
                ca_file: Some(t.ca_pem.clone()),
                http_timeout: std::time::Duration::from_secs(10),
            })
            .expect("relay"),
        ),
        PipelineConfig {
            basic_possible_ttl: time::Duration::ZERO,
            ..PipelineConfig::default()
        },
    ));
    let ca = mailward_net::ca::ensure(dir.path(), &[], mailward_types::clock::now()).expect("CA");
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key).expect("TLS");
    let server = Arc::new(Pop3Server {
        store: store.clone(),
        auth: pipeline.clone(),
        tls,
        limits: Limits::default(),
    });
    let tls_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let plain_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tls_port = tls_listener.local_addr().expect("test setup").port();
    let plain_port = plain_listener.local_addr().expect("test setup").port();
    tokio::spawn(server.clone().run(tls_listener, true));
    tokio::spawn(server.run(plain_listener, false));
    Env {
        connector: connector(&ca.ca_cert),
        t,
        store,
        pipeline,
        ropc_client,
        tls_port,
        plain_port,
        dir,
    }
}

pub fn connector(ca: &std::path::Path) -> TlsConnector {
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

impl Env {
    pub async fn token(&self, user: &User, scopes: &[&str]) -> String {
        mail::user_token(
            &self.t,
            &self.ropc_client,
            user.upn.as_str(),
            mail::PASSWORD,
            scopes,
        )
        .await
    }

    pub async fn account(&self, user: &User) -> mailward_mailstore::Account {
        self.store
            .ensure_account(NewAccount {
                user_oid: user.id,
                upn: user.upn.to_string(),
                address: user.upn.to_string(),
                display_name: user.display_name.clone(),
                now: mailward_types::clock::now(),
            })
            .await
            .expect("account")
    }

    pub async fn tls(&self) -> Client<TlsStream<TcpStream>> {
        Client::plain(self.tls_port)
            .await
            .tls(&self.connector)
            .await
    }

    pub async fn plain(&self) -> Client<TcpStream> {
        Client::plain(self.plain_port).await
    }

    pub async fn signin_count(&self, upn: &str) -> usize {
        self.t.flush_log().await;
        self.t
            .ctx
            .store()
            .signins(&mailward_types::records::SignInFilter {
                user: Some(upn.to_string()),
                ..Default::default()
            })
            .await
            .expect("signins")
            .len()
    }
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

pub async fn block_by_default(store: &SqliteMailStore) {
    let p =
        AuthenticationPolicy::block_all_basic(PolicyName::try_from("Block basic").expect("name"));
    store.put_auth_policy(&p).await.expect("policy");
    store
        .set_default_auth_policy(Some("Block basic"))
        .await
        .expect("default");
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn xoauth2(user: &str, token: &str) -> String {
    b64(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes())
}

pub fn oauthbearer(user: &str, token: &str) -> String {
    b64(format!("n,a={user},\x01auth=Bearer {token}\x01\x01").as_bytes())
}

pub fn plain(user: &str, password: &str) -> String {
    b64(format!("\0{user}\0{password}").as_bytes())
}

/// A line-oriented protocol client.
pub struct Client<S> {
    io: BufReader<S>,
}

impl Client<TcpStream> {
    /// Connects without TLS; the greeting is not read yet.
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
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            self.io.read_until(b'\n', &mut buf),
        )
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
