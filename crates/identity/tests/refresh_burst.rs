//! Refresh-token reuse under a parallel burst: thirty redemptions of one refresh token,
//! released at once behind a barrier and spread over two identity nodes sharing one
//! database (an SQLite file, a PostgreSQL schema), get exactly one new token; every other
//! one is refused as `invalid_grant`, and the reuse revokes the family, so the winner's
//! successor is refused too.

mod common;

use common::*;
use mailward_identity::IdentityConfig;
use mailward_signin::policy::{MfaKeyword, MfaRule};
use mailward_store::{DynStore, PgStore, SqliteStore};
use mailward_testkit::TestIdentity;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::Barrier;

const BURST: usize = 30;

fn config(c: &mut IdentityConfig) {
    c.policy.require_mfa = MfaRule::Keyword(MfaKeyword::None);
}

async fn refresh_burst(nodes: &[&TestIdentity]) {
    let app = public_app(nodes[0], &["password", "refresh_token"]).await;
    let u = user(nodes[0], "refreshburst").await;
    let (status, body) = token(
        nodes[0],
        &[
            ("grant_type", "password"),
            ("client_id", app.as_str()),
            ("username", u.upn.as_str()),
            ("password", PW),
            ("scope", "openid offline_access"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token: {body}"))
        .to_string();

    let barrier = Arc::new(Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|i| {
            let node = nodes[i % nodes.len()];
            let (client, url) = (node.client(), node.at("/oauth2/v2.0/token"));
            let form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("client_id", app.clone()),
                ("refresh_token", rt.clone()),
            ];
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                json_of(
                    client
                        .post(url)
                        .form(&form)
                        .send()
                        .await
                        .expect("token request"),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(BURST);
    for t in tasks {
        answers.push(t.await.unwrap_or_else(|e| panic!("burst task: {e}")));
    }
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    // The reuse revoked the family: the one successor is refused as well, on either node.
    let successor = winners[0]["refresh_token"].as_str().expect("successor");
    for node in nodes {
        let (status, body) = token(
            node,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", app.as_str()),
                ("refresh_token", successor),
            ],
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_reuse_burst_over_two_nodes_on_one_sqlite_file() {
    let a = TestIdentity::start_with(config).await;
    let store: DynStore = Arc::new(
        SqliteStore::open(&a.dir.path().join("identity.db"))
            .await
            .expect("open the shared file"),
    );
    let b = TestIdentity::start_node(store, &a, config).await;
    refresh_burst(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_reuse_burst_over_two_nodes_on_one_postgres_schema() {
    with_pg_schema(|url| async move {
        let first: DynStore = Arc::new(PgStore::connect(&url).await.expect("connect"));
        let a = TestIdentity::start_on(first, config).await;
        let second: DynStore = Arc::new(PgStore::connect(&url).await.expect("connect"));
        let b = TestIdentity::start_node(second, &a, config).await;
        refresh_burst(&[&a, &b]).await;
    })
    .await;
}
