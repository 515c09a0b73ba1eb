//! Shared setup of the pipeline tests: a real identity (MFA rule "none" so relayed basic
//! authentication and the password grant can succeed), a real SQLite mail store in a
//! temporary directory, and a [`Pipeline`] wired to both over HTTPS.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use mailward_authpolicy::Protocol;
use mailward_mailauth::{AuthFailure, AuthRequest, Pipeline, Principal};
use mailward_mailstore::sqlite::SqliteMailStore;
use mailward_sasl::{Credentials, Mechanism};
use mailward_testkit::{TestIdentity, mail, mailnet};
use mailward_types::model::User;
use mailward_types::records::{LocationClass, SignInEvent};

pub const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

pub struct Env {
    pub t: TestIdentity,
    pub store: Arc<SqliteMailStore>,
    pub pipeline: Arc<Pipeline>,
    pub ropc_client: String,
    pub relay: (String, String),
    pub dir: tempfile::TempDir,
}

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use mailward_testkit::mailnet::{
    allow_basic, bearer_config, block_by_default, pipeline_config, relay_config,
};

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
    let pipeline = mailnet::pipeline(&t, store.clone(), &relay);
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
        mail::password_token(&self.t, &self.ropc_client, user, scopes).await
    }

    /// The mail account of an identity user (created as a first bearer sign-in would).
    pub async fn account(&self, user: &User) -> mailward_mailstore::Account {
        mailnet::ensure_account(&self.store, user).await
    }

    pub async fn signins(&self, upn: &str) -> Vec<SignInEvent> {
        mail::signins(&self.t, upn).await
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
