//! Helpers for tests of the mail role: user access tokens for the mail resource obtained
//! from a [`TestIdentity`] over its real token endpoint, the confidential application mail
//! uses for relayed basic authentication, and tokens with chosen claims signed by
//! identity's own published key (for expired, wrong-audience or wrong-scope cases whose
//! signature is still authentic).
//!
//! Identity's default MFA rule ("everyone") refuses the password grant and relayed basic
//! authentication (legacy protocols cannot do MFA), so mail tests start identity with
//! [`start_identity`], which sets the rule to "none".

use crate::TestIdentity;
use mailward_identity::directory::NewApp;
use mailward_types::model::{TokenAlg, User, well_known};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// The password [`add_user`] gives.
pub const PASSWORD: &str = "correct horse battery";

/// Starts identity with the MFA rule "none" and security defaults off, so the password
/// grant and relayed basic authentication can succeed for every user, administrators
/// included.
pub async fn start_identity() -> TestIdentity {
    let t = TestIdentity::start_with(|c| {
        c.policy.require_mfa =
            serde_json::from_value(json!("none")).expect("\"none\" is an MFA rule keyword");
    })
    .await;
    mailward_identity::conditional_access::set_security_defaults(&t.ctx, false)
        .await
        .expect("security defaults off");
    t
}

/// The mail resource's URI (the `aud` of mail tokens), e.g. `https://localhost:8446`.
pub fn resource(t: &TestIdentity) -> String {
    t.ctx.cfg().mail_resource_uri.clone()
}

/// `<resource>/<scope>` for each bare scope name (`IMAP.AccessAsUser.All`, ...).
pub fn scope_param(t: &TestIdentity, scopes: &[&str]) -> String {
    let resource = resource(t);
    scopes
        .iter()
        .map(|s| format!("{resource}/{s}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Creates `local@contoso.test` with [`PASSWORD`].
pub async fn add_user(t: &TestIdentity, local: &str) -> User {
    t.add_user(local, PASSWORD).await
}

/// Registers a public client allowed to use the password grant; returns its client id.
pub async fn password_client(t: &TestIdentity) -> String {
    t.add_app(NewApp {
        display_name: "Mail test client".into(),
        kind: "public".into(),
        redirect_uris: vec!["http://localhost".into()],
        grants: Some(vec!["password".into()]),
        app_roles: vec![],
        post_logout_redirect_uris: vec![],
    })
    .await
    .application
    .app_id
}

/// An access token for the mail resource with `scopes` (bare names), through identity's
/// token endpoint with the password grant. Needs [`start_identity`] and a client from
/// [`password_client`].
pub async fn user_token(
    t: &TestIdentity,
    client_id: &str,
    upn: &str,
    password: &str,
    scopes: &[&str],
) -> String {
    let scope = scope_param(t, scopes);
    let res = t
        .client()
        .post(t.at("/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", upn),
            ("password", password),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("token request: {e}"));
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .unwrap_or_else(|e| panic!("token response: {e}"));
    assert!(status.is_success(), "token request failed: {status} {body}");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {body}"))
        .to_string()
}

/// [`user_token`] for `user` with [`PASSWORD`] (the password [`add_user`] gives).
pub async fn password_token(
    t: &TestIdentity,
    client_id: &str,
    user: &User,
    scopes: &[&str],
) -> String {
    user_token(t, client_id, user.upn.as_str(), PASSWORD, scopes).await
}

/// The sign-in log entries of `upn`, after flushing identity's log writer.
pub async fn signins(t: &TestIdentity, upn: &str) -> Vec<mailward_types::records::SignInEvent> {
    t.flush_log().await;
    t.ctx
        .store()
        .signins(&mailward_types::records::SignInFilter {
            user: Some(upn.to_string()),
            ..Default::default()
        })
        .await
        .expect("signins")
}

/// Registers the confidential application a mail instance uses for relayed basic
/// authentication (holding `LegacyAuth.Relay`); returns (client id, client secret).
pub async fn relay_client(t: &TestIdentity) -> (String, String) {
    let created = t
        .add_app(NewApp {
            display_name: "Mail relay".into(),
            kind: "confidential".into(),
            redirect_uris: vec!["https://mail.example/callback".into()],
            grants: Some(vec!["client_credentials".into()]),
            app_roles: vec![well_known::LEGACY_RELAY_ROLE.into()],
            post_logout_redirect_uris: vec![],
        })
        .await;
    let secret = created
        .client_secret
        .unwrap_or_else(|| panic!("confidential apps get a secret"));
    (created.application.app_id, secret)
}

/// The claims identity puts in a user's access token for the mail resource, as of `now`
/// (one hour lifetime). Change any of them and [`sign`] the result.
pub fn access_claims(t: &TestIdentity, user: &User, scopes: &[&str], now: OffsetDateTime) -> Value {
    let scp = scopes.join(" ");
    json!({
        "iss": t.issuer,
        "aud": resource(t),
        "sub": user.id.to_string(),
        "oid": user.id.to_string(),
        "tid": t.ctx.tenant_id().to_string(),
        "upn": user.upn.as_str(),
        "preferred_username": user.upn.as_str(),
        "name": user.display_name,
        "scp": scp,
        "scope": scp,
        "amr": ["pwd"],
        "azp": well_known::MAIL_CLIENT_ID,
        "client_id": well_known::MAIL_CLIENT_ID,
        "appid": well_known::MAIL_CLIENT_ID,
        "iat": now.unix_timestamp(),
        "nbf": now.unix_timestamp(),
        "exp": (now + Duration::hours(1)).unix_timestamp(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "idtyp": "user",
        "ver": "2.0",
    })
}

/// Signs `claims` as an access token with identity's current ES256 key (the key its JWKS
/// publishes), so only the claims decide whether a resource accepts it.
pub fn sign(t: &TestIdentity, claims: &Value) -> String {
    t.ctx
        .keys()
        .sign(TokenAlg::ES256, "at+jwt", claims)
        .unwrap_or_else(|e| panic!("signing: {e}"))
}

/// Rotates identity's signing keys (as its housekeeping would after the rotation period),
/// so tokens signed from now on carry a `kid` a resource has not seen yet.
pub async fn rotate_signing_keys(t: &TestIdentity) {
    let later = mailward_types::clock::now()
        + Duration::days(t.ctx.cfg().keys.rotate_after_days.max(1) + 1);
    mailward_identity::maintain(&t.ctx, later)
        .await
        .unwrap_or_else(|e| panic!("key rotation: {e}"));
}
