//! Shared setup of the mail role's tests: a real identity (MFA rule "none" so the
//! password grant and relayed basic authentication can succeed), the mail role started
//! with [`mailward_mail::start`] on 127.0.0.1 port 0 for every listener and served with
//! [`mailward_mail::Mail::run`], and HTTPS clients trusting the test CA.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use mailward_identity::directory::NewUser;
use mailward_mail::{IdentityLink, Listener, MailConfig, MailDeps};
use mailward_mailstore::MailStore;
use mailward_testkit::{DOMAIN, TestIdentity, mail};
use mailward_types::model::{User, UserSource};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct Env {
    pub t: TestIdentity,
    /// Where the HTTP front is, e.g. `https://localhost:41234`.
    pub url: String,
    pub addrs: std::collections::BTreeMap<Listener, SocketAddr>,
    pub store: Arc<dyn MailStore>,
    pub pipeline: Arc<mailward_mail::Pipeline>,
    pub ropc_client: String,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), mailward_mail::MailError>>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub async fn env_with(f: impl FnOnce(&mut MailConfig)) -> Env {
    let t = mail::start_identity().await;
    let relay = mail::relay_client(&t).await;
    let ropc_client = mail::password_client(&t).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = MailConfig {
        resource_uri: mail::resource(&t),
        local_domains: vec![DOMAIN.to_string()],
        ..MailConfig::default()
    };
    cfg.listen.all_random();
    f(&mut cfg);
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
    .expect("mail role starts");
    let mut addrs = std::collections::BTreeMap::new();
    for l in [
        Listener::Http,
        Listener::Imap,
        Listener::Imaps,
        Listener::Pop3,
        Listener::Pop3s,
        Listener::Submission,
        Listener::Submissions,
    ] {
        if let Some(a) = started.addr(l) {
            addrs.insert(l, a);
        }
    }
    let url = started.public_url().to_string();
    let store = started.store();
    let pipeline = started.pipeline();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(started.run(async {
        let _ = stopped.await;
    }));
    Env {
        t,
        url,
        addrs,
        store,
        pipeline,
        ropc_client,
        dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl Env {
    /// Signals shutdown and waits until [`mailward_mail::Mail::run`] has returned.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("run task").expect("clean shutdown");
        }
    }

    pub fn port(&self, l: Listener) -> u16 {
        self.addrs[&l].port()
    }

    /// An HTTPS client for the mail front (and identity), trusting the test CA.
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.t.ca_pem).expect("CA");
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA cert"))
            .redirect(reqwest::redirect::Policy::none())
            .resolve(
                "localhost",
                SocketAddr::from(([127, 0, 0, 1], self.port(Listener::Http))),
            )
            .build()
            .expect("client")
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A mail token for `user` with `scopes` (bare names).
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

    /// A token for identity's own resource (the admin API) with `scope`.
    pub async fn identity_token(&self, user: &User, scope: &str) -> String {
        let res = self
            .t
            .client()
            .post(self.t.at("/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", self.ropc_client.as_str()),
                ("username", user.upn.as_str()),
                ("password", mail::PASSWORD),
                ("scope", format!("{}/{scope}", self.t.url).as_str()),
            ])
            .send()
            .await
            .expect("token request");
        let body: Value = res.json().await.expect("token response");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {body}"))
            .to_string()
    }

    /// A user holding `role` (an admin role) with [`mail::PASSWORD`].
    pub async fn add_admin(&self, local: &str, role: &str) -> User {
        mailward_identity::directory_for(&self.t.ctx)
            .add_user(
                NewUser {
                    user_principal_name: format!("{local}@{DOMAIN}"),
                    display_name: Some(local.to_string()),
                    mail: None,
                    password: Some(mail::PASSWORD.to_string().into()),
                    roles: vec![role.to_string()],
                    account_enabled: Some(true),
                    on_premises_immutable_id: None,
                },
                UserSource::Cloud,
                mailward_types::clock::now(),
            )
            .await
            .expect("admin user")
    }

    /// Creates the mailbox of an identity user directly in the store.
    pub async fn mailbox(&self, user: &User) -> mailward_mailstore::Account {
        self.store
            .ensure_account(mailward_mailstore::NewAccount {
                user_oid: user.id,
                upn: user.upn.to_string(),
                address: user.upn.to_string(),
                display_name: user.display_name.clone(),
                now: mailward_types::clock::now(),
            })
            .await
            .expect("mailbox")
    }
}

/// `(status, headers, JSON body or Null)` of a response.
pub async fn parts(res: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, body)
}

/// Every `WWW-Authenticate` value of a response.
pub fn challenges(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}
