//! Two mail roles (two nodes) on one PostgreSQL database (`[mail.storage] url`), started
//! with [`mailward_mail::start`] like `serve --role mail` does, sharing one identity: mail
//! submitted over SMTP to node A wakes an IMAP IDLE session on node B, which then fetches
//! the body node A stored; the organization default policy is created once.
//!
//! The database is the local test server (`postgres://postgres@127.0.0.1:5432/test`,
//! `MAILWARD_TEST_POSTGRES_URL` overrides), in a scratch schema dropped afterwards. An
//! unreachable server fails the test: it is never a skip.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mailward_mail::{IdentityLink, Listener, MailConfig, MailDeps};
use mailward_testkit::{DOMAIN, TestIdentity, mail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The longest an IDLE session may take to report the other node's delivery before the
/// test fails (a bound on failure, not a wait the test relies on).
const IDLE_BOUND: Duration = Duration::from_secs(15);

type Tls = BufReader<tokio_rustls::client::TlsStream<TcpStream>>;

fn server_url() -> String {
    std::env::var("MAILWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn admin() -> PgConnection {
    let url = server_url();
    match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!("PostgreSQL is unreachable at {url} ({e}); this test needs a server"),
    }
}

/// A started mail role and how to stop it.
struct Node {
    imaps: u16,
    submissions: u16,
    store: Arc<dyn mailward_mailstore::MailStore>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), mailward_mail::MailError>>,
    _dir: tempfile::TempDir,
}

async fn node(t: &TestIdentity, relay: &(String, String), storage: &str) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = MailConfig {
        resource_uri: mail::resource(t),
        local_domains: vec![DOMAIN.to_string()],
        ..MailConfig::default()
    };
    cfg.listen.all_random();
    cfg.storage.url = storage.to_owned();
    let ca =
        mailward_net::ca::ensure(t.dir.path(), &[], mailward_types::clock::now()).expect("test CA");
    let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key).expect("TLS");
    let started = mailward_mail::start(
        cfg,
        MailDeps {
            data_dir: dir.path().join("mail"),
            tls,
            identity: IdentityLink {
                url: t.url.clone(),
                issuer: t.issuer.clone(),
                ca_file: Some(t.ca_pem.clone()),
                relay: Some((relay.0.clone(), relay.1.clone().into())),
            },
        },
    )
    .await
    .expect("mail role starts on PostgreSQL");
    assert!(
        !dir.path().join("mail").join("mail.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    let imaps = started.addr(Listener::Imaps).expect("imaps").port();
    let submissions = started
        .addr(Listener::Submissions)
        .expect("submissions")
        .port();
    let store = started.store();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(started.run(async {
        let _ = stopped.await;
    }));
    Node {
        imaps,
        submissions,
        store,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

impl Node {
    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await.expect("run task").expect("clean shutdown");
    }
}

async fn tls(ca: &std::path::Path, port: u16) -> Tls {
    let pem = std::fs::read(ca).expect("CA");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("cert")).expect("root");
    }
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let s = TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    BufReader::new(s)
}

async fn line(s: &mut Tls) -> String {
    let mut l = String::new();
    s.read_line(&mut l).await.expect("read");
    l
}

/// Sends a command and reads until a line starting with `done` (returns every line).
async fn cmd(s: &mut Tls, text: &str, done: &str) -> Vec<String> {
    s.get_mut()
        .write_all(format!("{text}\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = vec![];
    loop {
        let l = line(s).await;
        assert!(!l.is_empty(), "connection closed after {text:?}: {out:?}");
        let finished = l.starts_with(done);
        out.push(l);
        if finished {
            return out;
        }
    }
}

fn xoauth2(user: &str, token: &str) -> String {
    STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_mail_nodes_share_mailboxes_through_postgres() {
    let schema = format!("mw_mail_nodes_{}", uuid::Uuid::new_v4().simple());
    let mut conn = admin().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create the test schema");
    let base = server_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let storage = format!("{base}{sep}options[search_path]={schema}");
    let outcome = tokio::spawn(async move { run(&storage).await }).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .expect("drop the test schema");
    conn.close().await.expect("close");
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

async fn run(storage: &str) {
    let t = mail::start_identity().await;
    let relay = mail::relay_client(&t).await;
    let ropc = mail::password_client(&t).await;
    let (a, b) = tokio::join!(node(&t, &relay, storage), node(&t, &relay, storage));
    let policies = b.store.auth_policies().await.expect("policies");
    assert_eq!(policies.len(), 1, "one default policy for both nodes");
    assert_eq!(
        a.store.default_auth_policy().await.expect("default"),
        Some(mailward_mail::DEFAULT_POLICY_NAME.to_owned())
    );

    let alice = mail::add_user(&t, "ann").await;
    let bob = mail::add_user(&t, "ben").await;
    a.store
        .ensure_account(mailward_mailstore::NewAccount {
            user_oid: bob.id,
            upn: bob.upn.to_string(),
            address: bob.upn.to_string(),
            display_name: bob.display_name.clone(),
            now: mailward_types::clock::now(),
        })
        .await
        .expect("bob's mailbox");
    let token = |user: &mailward_types::model::User, scopes: &'static [&'static str]| {
        let (t, ropc, upn) = (&t, ropc.clone(), user.upn.to_string());
        async move { mail::user_token(t, &ropc, &upn, mail::PASSWORD, scopes).await }
    };
    let a_token = token(&alice, &["SMTP.Send"]).await;
    let b_token = token(&bob, &["IMAP.AccessAsUser.All"]).await;
    let ca = t.ca_pem.clone();

    // Bob idles on node B.
    let mut imap = tls(&ca, b.imaps).await;
    assert!(line(&mut imap).await.starts_with("* OK"));
    let r = cmd(
        &mut imap,
        &format!(
            "a AUTHENTICATE XOAUTH2 {}",
            xoauth2(bob.upn.as_str(), &b_token)
        ),
        "a ",
    )
    .await;
    assert!(r.last().is_some_and(|l| l.starts_with("a OK")), "{r:?}");
    let r = cmd(&mut imap, "b SELECT INBOX", "b ").await.join("");
    assert!(r.contains("* 0 EXISTS"), "{r}");
    let r = cmd(&mut imap, "c IDLE", "+").await;
    assert!(r[0].starts_with("+ idling"), "{r:?}");

    // Alice submits to node A.
    let mut smtp = tls(&ca, a.submissions).await;
    assert!(line(&mut smtp).await.starts_with("220 "));
    cmd(&mut smtp, "EHLO client.test", "250 ").await;
    let r = cmd(
        &mut smtp,
        &format!("AUTH XOAUTH2 {}", xoauth2(alice.upn.as_str(), &a_token)),
        "2",
    )
    .await;
    assert!(r[0].starts_with("235"), "{r:?}");
    cmd(&mut smtp, &format!("MAIL FROM:<{}>", alice.upn), "250").await;
    cmd(&mut smtp, &format!("RCPT TO:<{}>", bob.upn), "250").await;
    cmd(&mut smtp, "DATA", "354").await;
    let r = cmd(
        &mut smtp,
        "Subject: across nodes\r\n\r\nstored by node A\r\n.",
        "250",
    )
    .await;
    assert!(r[0].starts_with("250"), "{r:?}");
    cmd(&mut smtp, "QUIT", "221").await;

    // Node B's IDLE session hears it, and node B serves the body node A stored.
    let exists = tokio::time::timeout(IDLE_BOUND, async {
        loop {
            let l = line(&mut imap).await;
            assert!(!l.is_empty(), "IDLE connection closed");
            if l.starts_with("* 1 EXISTS") {
                return;
            }
        }
    })
    .await;
    assert!(exists.is_ok(), "no EXISTS on node B within {IDLE_BOUND:?}");
    cmd(&mut imap, "DONE", "c ").await;
    let r = cmd(&mut imap, "d FETCH 1 BODY[]", "d ").await.join("");
    assert!(
        r.contains("Subject: across nodes") && r.contains("stored by node A"),
        "{r}"
    );
    cmd(&mut imap, "e LOGOUT", "e ").await;

    a.shutdown().await;
    b.shutdown().await;
}
