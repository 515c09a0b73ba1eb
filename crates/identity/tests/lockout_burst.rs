//! Smart lockout under a parallel burst: with a threshold of 10, thirty distinct wrong
//! passwords released at once (behind a barrier) get at most ten checked, on the sign-in
//! page, the password grant and relayed basic auth — on SQLite, and on PostgreSQL and
//! SQLite with the burst spread over two identity nodes sharing one database. What is
//! counted is the Argon2 verifications against the user's stored hash, summed over the
//! nodes. Every attempt gets the same answer (50126), checked or not.

mod common;

use common::*;
use mailward_identity::IdentityConfig;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_store::{DynStore, PgStore, SqliteStore};
use mailward_testkit::{Browser, Landing, TestIdentity};
use mailward_types::model::well_known::LEGACY_RELAY_ROLE;
use serde_json::json;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Barrier;

const THRESHOLD: u32 = 10;
const BURST: usize = 30;

fn config(c: &mut IdentityConfig) {
    c.lockout.threshold = THRESHOLD;
    c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None);
    c.limits.signin_flows = 1000;
    c.limits.signin_log_failures = 1000;
}

fn away() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

/// Runs `BURST` requests at once: each task waits at one barrier, then sends.
async fn burst<F, Fut, T>(make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|i| {
            let request = make(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                request.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(BURST);
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| panic!("burst task: {e}")));
    }
    out
}

/// Argon2 verifications against stored hashes so far, over all nodes.
fn verified(nodes: &[&TestIdentity]) -> u64 {
    nodes.iter().map(|n| n.ctx.passwords().verified()).sum()
}

/// The password grant: thirty distinct wrong passwords at once.
async fn ropc_burst(nodes: &[&TestIdentity]) {
    let app = public_app(nodes[0], &["password"]).await;
    let u = user(nodes[0], "ropcburst").await;
    let name = u.upn.to_string();
    let clients: Vec<_> = nodes
        .iter()
        .map(|n| (n.client_from(away()), n.at("/oauth2/v2.0/token")))
        .collect();
    let before = verified(nodes);
    let answers = burst(|i| {
        let (client, url) = clients[i % clients.len()].clone();
        let form = vec![
            ("grant_type", "password".to_string()),
            ("client_id", app.clone()),
            ("username", name.clone()),
            ("password", format!("wrong password {i}")),
        ];
        async move {
            json_of(
                client
                    .post(url)
                    .form(&form)
                    .send()
                    .await
                    .expect("token request"),
            )
            .await
        }
    })
    .await;
    let checked = verified(nodes) - before;
    assert!(
        checked >= 1 && checked <= u64::from(THRESHOLD),
        "{checked} passwords checked"
    );
    for a in &answers {
        assert_error(a, 400, "invalid_grant", 50126);
    }
    // Locked now: the right password is refused from there too.
    let (client, url) = clients[0].clone();
    let form = [
        ("grant_type", "password"),
        ("client_id", app.as_str()),
        ("username", name.as_str()),
        ("password", PW),
    ];
    let r = json_of(
        client
            .post(url)
            .form(&form)
            .send()
            .await
            .expect("token request"),
    )
    .await;
    assert_error(&r, 400, "invalid_grant", 50126);
    assert_eq!(verified(nodes) - before, checked);
    // Every node's log writer holds its own batch: flush them all before reading.
    for n in nodes {
        n.flush_log().await;
    }
    let log = signins(nodes[0], &name).await;
    assert_eq!(log.len(), BURST + 1, "{log:?}");
    let refused = log.iter().filter(|e| e.error_code == Some(50053)).count();
    assert_eq!(refused as u64 + checked, BURST as u64 + 1, "{log:?}");
}

/// Relayed basic auth (what IMAP, POP3 and SMTP use): the same burst.
async fn relay_burst(nodes: &[&TestIdentity]) {
    let relay = confidential_app(
        nodes[0],
        Some(&["client_credentials"]),
        &[LEGACY_RELAY_ROLE],
    )
    .await;
    let u = user(nodes[0], "relayburst").await;
    let name = u.upn.to_string();
    let clients: Vec<_> = nodes
        .iter()
        .map(|n| (n.client(), n.at("/legacy/v1/authenticate")))
        .collect();
    let before = verified(nodes);
    let answers = burst(|i| {
        let (client, url) = clients[i % clients.len()].clone();
        let relay = relay.clone();
        let body = json!({
            "username": name,
            "password": format!("wrong password {i}"),
            "protocol": "IMAP4",
            "client_ip": "203.0.113.7",
        })
        .to_string();
        async move {
            json_of(
                client
                    .post(url)
                    .basic_auth(&relay.0, Some(&relay.1))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("relay request"),
            )
            .await
        }
    })
    .await;
    let checked = verified(nodes) - before;
    assert!(
        checked >= 1 && checked <= u64::from(THRESHOLD),
        "{checked} passwords checked"
    );
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["result"], "deny", "{body}");
        assert_eq!(body["error_codes"], json!([50126]), "{body}");
    }
}

/// The sign-in page: thirty browsers at the password step submit at once.
async fn page_burst(nodes: &[&TestIdentity]) {
    let u = user(nodes[0], "pageburst").await;
    let name = u.upn.to_string();
    let mut ready = Vec::with_capacity(BURST);
    for i in 0..BURST {
        let node = nodes[i % nodes.len()];
        let b = Browser::with_client(node, node.client_from(away()));
        let page = b.get(&mail_authorize_url(node, &pkce(), &[])).await;
        let page = b
            .submit(page.html(), "identify", &[("username", &name)])
            .await;
        assert!(page.html().contains("name=\"password\""), "{page:?}");
        ready.push((b, page.html().to_string()));
    }
    let before = verified(nodes);
    let answers = burst(|i| {
        let (b, html) = ready[i].clone();
        async move {
            let pw = format!("wrong password {i}");
            b.submit(&html, "password", &[("password", &pw)]).await
        }
    })
    .await;
    let checked = verified(nodes) - before;
    assert!(
        checked >= 1 && checked <= u64::from(THRESHOLD),
        "{checked} passwords checked"
    );
    for a in &answers {
        let Landing::Page { status, html } = a else {
            panic!("{a:?}")
        };
        assert_eq!(*status, 200, "{html}");
        assert!(
            html.contains("Your account or password is incorrect."),
            "{html}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_checks_at_most_the_threshold_on_sqlite() {
    let t = TestIdentity::start_with(config).await;
    ropc_burst(&[&t]).await;
    relay_burst(&[&t]).await;
    page_burst(&[&t]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_over_two_nodes_on_one_sqlite_file() {
    let a = TestIdentity::start_with(config).await;
    let store: DynStore = Arc::new(
        SqliteStore::open(&a.dir.path().join("identity.db"))
            .await
            .expect("open the shared file"),
    );
    let b = TestIdentity::start_node(store, &a, config).await;
    ropc_burst(&[&a, &b]).await;
    relay_burst(&[&a, &b]).await;
    page_burst(&[&a, &b]).await;
}

// ---- PostgreSQL: two nodes on one schema ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_over_two_nodes_on_one_postgres_schema() {
    with_pg_schema(|url| async move {
        let first: DynStore = Arc::new(PgStore::connect(&url).await.expect("connect"));
        let a = TestIdentity::start_on(first, config).await;
        let second: DynStore = Arc::new(PgStore::connect(&url).await.expect("connect"));
        let b = TestIdentity::start_node(second, &a, config).await;
        ropc_burst(&[&a, &b]).await;
        relay_burst(&[&a, &b]).await;
        page_burst(&[&a, &b]).await;
    })
    .await;
}
