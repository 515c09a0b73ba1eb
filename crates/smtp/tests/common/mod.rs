//! Test harness for the SMTP front: a real identity, a real SQLite mail store, the real
//! authentication pipeline, the submission server on 127.0.0.1 port 0 (implicit TLS and
//! STARTTLS listeners) plus a POP3 server to read delivered mail back, certificates from
//! mailward's local CA, and a line client that trusts that CA (client, connector and
//! pipeline setup from `mailward_testkit::mailnet`).

#![allow(dead_code)]

use std::sync::Arc;

use mailward_mailauth::Pipeline;
use mailward_mailstore::sqlite::SqliteMailStore;
use mailward_pop3::{Limits, Pop3Server};
use mailward_smtp::{SmtpConfig, SmtpServer};
// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use mailward_testkit::mailnet::{
    Client, allow_basic, block_by_default, connector, oauthbearer, plain, xoauth2,
};
use mailward_testkit::{TestIdentity, mail, mailnet};
use mailward_types::model::User;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Largest message the test server accepts.
pub const MAX_SIZE: u64 = 64 * 1024;

pub struct Env {
    pub t: TestIdentity,
    pub store: Arc<SqliteMailStore>,
    pub pipeline: Arc<Pipeline>,
    pub ropc_client: String,
    /// SMTP implicit TLS port.
    pub tls_port: u16,
    /// SMTP plaintext port (STARTTLS).
    pub plain_port: u16,
    /// POP3 implicit TLS port.
    pub pop_port: u16,
    pub ca_pem: std::path::PathBuf,
    pub connector: TlsConnector,
    pub dir: tempfile::TempDir,
}

/// Submission with a relay route (remote recipients are queued).
pub async fn env() -> Env {
    env_with(|c| c.relay = true).await
}

/// Like [`env`] with the submission settings adjusted by `f` (no relay route unless `f`
/// sets one).
pub async fn env_with(f: impl FnOnce(&mut SmtpConfig)) -> Env {
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
    let pipeline = mailnet::pipeline(&t, store.clone(), &relay);
    let ca = mailward_net::ca::ensure(dir.path(), &[], mailward_types::clock::now()).expect("CA");
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key).expect("TLS");
    let pop = Arc::new(Pop3Server {
        store: store.clone(),
        auth: pipeline.clone(),
        tls: tls.clone(),
        limits: Limits::default(),
    });
    let mut config = SmtpConfig::new("mail.contoso.test", vec!["contoso.test".into()]);
    config.max_message_size = MAX_SIZE;
    f(&mut config);
    let server = Arc::new(SmtpServer {
        store: store.clone(),
        auth: pipeline.clone(),
        tls,
        config,
    });
    let tls_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let plain_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let pop_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tls_port = tls_listener.local_addr().expect("test setup").port();
    let plain_port = plain_listener.local_addr().expect("test setup").port();
    let pop_port = pop_listener.local_addr().expect("test setup").port();
    tokio::spawn(server.clone().run(tls_listener, true));
    tokio::spawn(server.run(plain_listener, false));
    tokio::spawn(pop.run(pop_listener, true));
    Env {
        connector: connector(&ca.ca_cert),
        t,
        store,
        pipeline,
        ropc_client,
        tls_port,
        plain_port,
        pop_port,
        ca_pem: ca.ca_cert.clone(),
        dir,
    }
}

impl Env {
    pub async fn token(&self, user: &User, scopes: &[&str]) -> String {
        mail::password_token(&self.t, &self.ropc_client, user, scopes).await
    }

    pub async fn account(&self, user: &User) -> mailward_mailstore::Account {
        mailnet::ensure_account(&self.store, user).await
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

    pub async fn pop(&self) -> Client<TlsStream<TcpStream>> {
        Client::plain(self.pop_port)
            .await
            .tls(&self.connector)
            .await
    }

    pub async fn signin_count(&self, upn: &str) -> usize {
        mail::signins(&self.t, upn).await.len()
    }
}
