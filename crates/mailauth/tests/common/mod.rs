//! Shared setup of the pipeline tests: a real identity (MFA rule "none" so relayed basic
//! authentication and the password grant can succeed), a real SQLite mail store in a
//! temporary directory, and a [`Pipeline`] wired to both over HTTPS.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use mailward_authpolicy::{AuthenticationPolicy, PolicyName, Protocol, Switch, SwitchKind};
use mailward_mailauth::{
    AuthFailure, AuthRequest, BearerConfig, BearerValidator, Pipeline, PipelineConfig, Principal,
    RelayConfig, RelayedCheck,
};
use mailward_mailstore::sqlite::SqliteMailStore;
use mailward_mailstore::{MailStore, NewAccount};
use mailward_sasl::{Credentials, Mechanism};
use mailward_testkit::{TestIdentity, mail};
use mailward_types::model::User;
use mailward_types::records::{LocationClass, SignInEvent, SignInFilter};

pub const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

pub struct Env {
    pub t: TestIdentity,
    pub store: Arc<SqliteMailStore>,
    pub pipeline: Arc<Pipeline>,
    pub ropc_client: String,
    pub relay: (String, String),
    pub dir: tempfile::TempDir,
}

pub fn bearer_config(t: &TestIdentity) -> BearerConfig {
    let mut cfg = BearerConfig::new(t.issuer.clone(), mail::resource(t));
    cfg.ca_file = Some(t.ca_pem.clone());
    cfg
}

pub fn relay_config(t: &TestIdentity, relay: &(String, String)) -> RelayConfig {
    RelayConfig {
        identity_url: t.url.clone(),
        client_id: relay.0.clone(),
        client_secret: relay.1.clone().into(),
        ca_file: Some(t.ca_pem.clone()),
        http_timeout: std::time::Duration::from_secs(10),
    }
}

pub fn pipeline_config() -> PipelineConfig {
    PipelineConfig {
        // Tests change policies and look again at once.
        basic_possible_ttl: time::Duration::ZERO,
        ..PipelineConfig::default()
    }
}

pub async fn env() -> Env {
    let t = mail::start_identity().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteMailStore::open(dir.path())
            .await
            .expect("open mail store"),
    );
    let relay = mail::relay_client(&t).await;
    let ropc_client = mail::password_client(&t).await;
    let pipeline = Arc::new(Pipeline::new(
        store.clone(),
        BearerValidator::new(bearer_config(&t)).expect("validator"),
        Arc::new(RelayedCheck::new(relay_config(&t, &relay)).expect("relay")),
        pipeline_config(),
    ));
    Env {
        t,
        store,
        pipeline,
        ropc_client,
        relay,
        dir,
    }
}

impl Env {
    /// A token for the mail resource through identity's token endpoint.
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

    /// The mail account of an identity user (created as a first bearer sign-in would).
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
            .expect("ensure_account")
    }

    pub async fn signins(&self, upn: &str) -> Vec<SignInEvent> {
        self.t.flush_log().await;
        self.t
            .ctx
            .store()
            .signins(&SignInFilter {
                user: Some(upn.to_string()),
                ..Default::default()
            })
            .await
            .expect("signins")
    }

    /// Failures counted by identity's smart lockout for the user, both location classes.
    pub async fn lockout_failures(&self, user: &User) -> u32 {
        let mut n = 0;
        for class in [LocationClass::Familiar, LocationClass::Unfamiliar] {
            n += self
                .t
                .ctx
                .store()
                .lockout(user.id, class)
                .await
                .expect("lockout")
                .failures;
        }
        n
    }
}

pub fn bearer(mechanism: Mechanism, user: Option<&str>, token: &str) -> Credentials {
    Credentials::Bearer {
        user: user.map(str::to_string),
        token: token.to_string().into(),
        mechanism,
    }
}

pub fn password(username: &str, password: &str) -> Credentials {
    Credentials::Password {
        authzid: None,
        username: username.to_string(),
        password: password.to_string().into(),
    }
}

pub async fn auth(
    p: &Pipeline,
    protocol: Protocol,
    credentials: &Credentials,
) -> Result<Principal, AuthFailure> {
    use mailward_mailauth::Authenticator;
    p.authenticate(AuthRequest {
        protocol,
        credentials,
        remote_ip: CLIENT_IP,
        tls: true,
        user_agent: Some("pipeline-test"),
    })
    .await
}

pub async fn auth_at(
    p: &Pipeline,
    protocol: Protocol,
    credentials: &Credentials,
    now: time::OffsetDateTime,
) -> Result<Principal, AuthFailure> {
    p.authenticate_at(
        AuthRequest {
            protocol,
            credentials,
            remote_ip: CLIENT_IP,
            tls: true,
            user_agent: None,
        },
        now,
    )
    .await
}

/// A policy allowing basic authentication for exactly `protocols`.
pub fn allow_basic(name: &str, protocols: &[Protocol]) -> AuthenticationPolicy {
    let mut p = AuthenticationPolicy::new(PolicyName::try_from(name).expect("policy name"));
    for proto in protocols {
        p.set(
            Switch::new(SwitchKind::AllowBasicAuth, *proto).expect("switch"),
            true,
        );
    }
    p
}

/// Makes a block-all-basic policy the organization default.
pub async fn block_by_default(store: &SqliteMailStore) {
    let p =
        AuthenticationPolicy::block_all_basic(PolicyName::try_from("Block basic").expect("name"));
    store.put_auth_policy(&p).await.expect("put policy");
    store
        .set_default_auth_policy(Some("Block basic"))
        .await
        .expect("default policy");
}
