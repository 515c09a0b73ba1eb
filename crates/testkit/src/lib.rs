//! Test harness: starts real mailward roles on port 0 with fresh state in a temporary
//! directory, and gives tests HTTPS clients that trust the test CA plus a small driver for
//! the sign-in pages (as a user with a browser would fill them in).
//!
//! **Architecture invariant:** no mocks of mailward components — everything here talks to
//! real listeners over loopback.

pub mod mail;
pub mod mailnet;

pub use reqwest;

use mailward_identity::directory::{CreatedApp, NewApp, NewUser};
use mailward_identity::{Ctx, IdentityConfig};
use mailward_store::{DynStore, SqliteStore};
use mailward_tokens::seal::Sealer;
use mailward_types::model::{User, UserSource};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Default domain of test tenants.
pub const DOMAIN: &str = "contoso.test";

/// A running identity role.
#[derive(Debug)]
pub struct TestIdentity {
    /// Where identity is reached, e.g. `https://localhost:41234`.
    pub url: String,
    /// The OIDC issuer, `<url>/<tenant id>/v2.0`.
    pub issuer: String,
    pub port: u16,
    pub ctx: Ctx,
    pub ca_pem: PathBuf,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestIdentity {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Test-friendly configuration: cheaper Argon2 (still Argon2id), fast device polling.
pub fn test_config() -> IdentityConfig {
    let mut cfg = IdentityConfig::default();
    cfg.passwords.memory_kib = 8192;
    cfg.passwords.iterations = 1;
    cfg.passwords.min_length = 8;
    cfg.tokens.device_poll_interval_secs = 1;
    cfg
}

impl TestIdentity {
    pub async fn start() -> TestIdentity {
        Self::start_with(|_| {}).await
    }

    /// Starts identity with a configuration adjusted by `f`.
    pub async fn start_with(f: impl FnOnce(&mut IdentityConfig)) -> TestIdentity {
        match Self::try_start(f).await {
            Ok(t) => t,
            Err(e) => panic!("starting identity failed: {e:#}"),
        }
    }

    /// Starts another identity node on `store`, a database an earlier node (`peer`)
    /// already uses: it shares the peer's master key, as nodes of one deployment do, and has
    /// its own listener, CA and directory.
    pub async fn start_node(
        store: DynStore,
        peer: &TestIdentity,
        f: impl FnOnce(&mut IdentityConfig),
    ) -> TestIdentity {
        let key = peer.dir.path().join("master.key");
        match Self::try_start_on(Some((store, Some(key))), f).await {
            Ok(t) => t,
            Err(e) => panic!("starting identity failed: {e:#}"),
        }
    }

    /// Starts the first identity node on `store` (for example PostgreSQL).
    pub async fn start_on(store: DynStore, f: impl FnOnce(&mut IdentityConfig)) -> TestIdentity {
        match Self::try_start_on(Some((store, None)), f).await {
            Ok(t) => t,
            Err(e) => panic!("starting identity failed: {e:#}"),
        }
    }

    async fn try_start(f: impl FnOnce(&mut IdentityConfig)) -> anyhow::Result<TestIdentity> {
        Self::try_start_on(None, f).await
    }

    async fn try_start_on(
        on: Option<(DynStore, Option<PathBuf>)>,
        f: impl FnOnce(&mut IdentityConfig),
    ) -> anyhow::Result<TestIdentity> {
        mailward_net::install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mut cfg = test_config();
        cfg.public_url = format!("https://localhost:{port}");
        cfg.listen = listener.local_addr()?;
        f(&mut cfg);
        let now = mailward_types::clock::now();
        let ca = mailward_net::ca::ensure(dir.path(), &[], now)?;
        let tls = mailward_net::server_config(&ca.server_cert, &ca.server_key)?;
        let key = dir.path().join("master.key");
        let store: DynStore = match on {
            Some((store, peer_key)) => {
                if let Some(peer_key) = peer_key {
                    std::fs::copy(peer_key, &key)?;
                }
                store
            }
            None => Arc::new(SqliteStore::open(&dir.path().join("identity.db")).await?),
        };
        let sealer = Sealer::load_or_create(&key)?;
        let ctx = mailward_identity::open(cfg.clone(), store, sealer, Some(DOMAIN), now).await?;
        let router = mailward_identity::router(ctx.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = mailward_net::serve_https(listener, tls, router, async {
                let _ = stopped.await;
            })
            .await;
        });
        Ok(TestIdentity {
            url: cfg.public_url.clone(),
            issuer: ctx.issuer().to_string(),
            port,
            ctx,
            ca_pem: ca.ca_cert,
            dir,
            stop: Some(stop),
        })
    }

    /// Full URL of a path.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// An HTTPS client trusting the test CA, with a cookie jar and no automatic redirects.
    pub fn client(&self) -> reqwest::Client {
        self.client_builder(None)
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"))
    }

    /// Like [`client`](Self::client) but connecting from `source` (e.g. 127.0.0.2), so
    /// tests can sign in from different loopback "locations".
    pub fn client_from(&self, source: IpAddr) -> reqwest::Client {
        self.client_builder(Some(source))
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"))
    }

    pub fn client_builder(&self, source: Option<IpAddr>) -> reqwest::ClientBuilder {
        let pem = std::fs::read(&self.ca_pem).unwrap_or_default();
        let mut b = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| panic!("CA: {e}")),
            )
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], self.port)));
        if let Some(ip) = source {
            b = b.local_address(ip);
        }
        b
    }

    /// Creates a user with a password.
    pub async fn add_user(&self, local: &str, password: &str) -> User {
        let now = mailward_types::clock::now();
        mailward_identity::directory_for(&self.ctx)
            .add_user(
                NewUser {
                    user_principal_name: format!("{local}@{DOMAIN}"),
                    display_name: Some(local.to_string()),
                    mail: None,
                    password: Some(password.to_string().into()),
                    roles: vec![],
                    account_enabled: Some(true),
                    on_premises_immutable_id: None,
                },
                UserSource::Cloud,
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("add_user: {e}"))
    }

    /// Registers an application.
    pub async fn add_app(&self, app: NewApp) -> CreatedApp {
        mailward_identity::directory_for(&self.ctx)
            .add_app(app, mailward_types::clock::now())
            .await
            .unwrap_or_else(|e| panic!("add_app: {e}"))
    }

    /// Waits until every queued sign-in log entry is stored.
    pub async fn flush_log(&self) {
        self.ctx.log().flush().await;
    }
}

/// Helpers for driving the sign-in pages the way a browser would.
pub mod pages {
    /// The hidden `flow` field of a sign-in page.
    pub fn flow_id(html: &str) -> Option<String> {
        hidden(html, "flow")
    }

    /// The value of a hidden input.
    pub fn hidden(html: &str, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker)? + marker.len();
        let end = html[start..].find('"')? + start;
        Some(html[start..end].to_string())
    }

    /// The TOTP secret shown on the registration page (the manual key), decoded.
    pub fn totp_secret(html: &str) -> Option<Vec<u8>> {
        let marker = "<span class=\"key\">";
        let start = html.find(marker)? + marker.len();
        let end = html[start..].find('<')? + start;
        base32_decode(&html[start..end])
    }

    /// Recovery codes shown after registration.
    pub fn recovery_codes(html: &str) -> Vec<String> {
        let Some(start) = html.find("<ul class=\"codes\">") else {
            return vec![];
        };
        let rest = &html[start..];
        let end = rest.find("</ul>").unwrap_or(rest.len());
        rest[..end]
            .split("<li>")
            .skip(1)
            .filter_map(|s| s.split("</li>").next())
            .map(str::to_string)
            .collect()
    }

    /// RFC 4648 base32 (spaces ignored, no padding required).
    pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut bits = 0u64;
        let mut n = 0;
        let mut out = vec![];
        for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
            let v = A.iter().position(|a| *a == c.to_ascii_uppercase())? as u64;
            bits = (bits << 5) | v;
            n += 5;
            if n >= 8 {
                out.push((bits >> (n - 8)) as u8);
                n -= 8;
                bits &= (1 << n) - 1;
            }
        }
        Some(out)
    }
}

/// A scripted browser: authorization request → sign-in pages → redirect with a code.
#[derive(Debug, Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

/// Where a step of the scripted browser ended.
#[derive(Debug, Clone)]
pub enum Landing {
    /// A sign-in page (HTML) with its status.
    Page { status: u16, html: String },
    /// A redirect away from identity (to the client) with its location.
    Redirect(String),
}

impl Landing {
    pub fn html(&self) -> &str {
        match self {
            Landing::Page { html, .. } => html,
            Landing::Redirect(_) => "",
        }
    }

    pub fn location(&self) -> Option<&str> {
        match self {
            Landing::Redirect(l) => Some(l),
            Landing::Page { .. } => None,
        }
    }

    /// The query parameters of the final redirect.
    pub fn query(&self) -> Vec<(String, String)> {
        self.location()
            .and_then(|l| url::Url::parse(l).ok())
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

impl Browser {
    pub fn new(t: &TestIdentity) -> Browser {
        Browser {
            client: t.client(),
            base: t.url.clone(),
        }
    }

    pub fn with_client(t: &TestIdentity, client: reqwest::Client) -> Browser {
        Browser {
            client,
            base: t.url.clone(),
        }
    }

    /// GETs a URL and follows redirects that stay on identity.
    pub async fn get(&self, url: &str) -> Landing {
        let res = self
            .client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        self.follow(res).await
    }

    /// POSTs the sign-in form with `action` and fields for the flow in `html`.
    pub async fn submit(&self, html: &str, action: &str, fields: &[(&str, &str)]) -> Landing {
        let flow = pages::flow_id(html).unwrap_or_else(|| panic!("no flow id in page:\n{html}"));
        let mut form: Vec<(&str, &str)> = vec![("flow", flow.as_str()), ("action", action)];
        form.extend_from_slice(fields);
        let res = self
            .client
            .post(format!("{}/login", self.base))
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /login: {e}"));
        self.follow(res).await
    }

    /// Posts an arbitrary form to a path on identity and follows redirects.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Landing {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        self.follow(res).await
    }

    async fn follow(&self, mut res: reqwest::Response) -> Landing {
        for _ in 0..10 {
            if !res.status().is_redirection() {
                let status = res.status().as_u16();
                let html = res.text().await.unwrap_or_default();
                return Landing::Page { status, html };
            }
            let loc = res
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let next = if loc.starts_with('/') {
                format!("{}{loc}", self.base)
            } else {
                loc.clone()
            };
            if !next.starts_with(&self.base) {
                return Landing::Redirect(next);
            }
            res = self
                .client
                .get(&next)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {next}: {e}"));
        }
        panic!("too many redirects")
    }
}

/// PKCE pair (verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    let verifier = mailward_oauth::random::token();
    let challenge = mailward_oauth::pkce::s256(&verifier);
    (verifier, challenge)
}

/// The current TOTP code for a secret.
pub fn totp_now(secret: &[u8]) -> String {
    mailward_mfa::totp::code_at(secret, mailward_types::clock::now().unix_timestamp())
}
