//! The claim sets mailward issues: access tokens ([`AccessClaims`], Entra-style v2.0 claims
//! that also satisfy RFC 9068) and OpenID Connect ID tokens ([`IdClaims`]), plus the OIDC
//! `at_hash` ([`at_hash`]). Optional claims are left out of the JSON when `None`.

use aws_lc_rs::digest;
use mailward_types::model::Amr;
use serde::{Deserialize, Serialize};

use crate::jwk::b64;

/// `typ` header of access tokens (RFC 9068 §2.1).
pub const TYP_ACCESS_TOKEN: &str = "at+jwt";
/// `typ` header of ID tokens.
pub const TYP_ID_TOKEN: &str = "JWT";
/// `ver` claim value.
pub const VERSION: &str = "2.0";
/// `idtyp` for tokens issued to a user.
pub const IDTYP_USER: &str = "user";
/// `idtyp` for tokens issued to an application (client credentials).
pub const IDTYP_APP: &str = "app";

/// Claims of an access token.
///
/// RFC 9068 compatibility: `scope` repeats `scp` (space-separated), `client_id` repeats
/// `azp` (and `appid`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    /// The resource (API) the token is for.
    pub aud: String,
    pub sub: String,
    /// Object id of the user or service principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// Tenant id.
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Delegated scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Same as `scp` (RFC 9068 §2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Application roles granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Authentication methods (`pwd`, `otp`, `hwk`, `mfa`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The client the token was issued to.
    pub azp: String,
    /// Same as `azp` (RFC 9068 §2.2).
    pub client_id: String,
    /// Same as `azp` (v1-style name).
    pub appid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipaddr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// [`IDTYP_USER`] or [`IDTYP_APP`].
    pub idtyp: String,
    /// [`VERSION`].
    pub ver: String,
    /// Sign-in session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Claims of an OpenID Connect ID token (OIDC Core §2).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub iss: String,
    /// The client id of the relying party.
    pub aud: String,
    pub sub: String,
    pub oid: String,
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    pub preferred_username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Echo of the authorization request's `nonce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub amr: Vec<String>,
    pub auth_time: i64,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// See [`at_hash`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// [`VERSION`].
    pub ver: String,
}

/// OIDC Core §3.1.3.6 `at_hash` for RS256/ES256: base64url of the left half (16 bytes) of
/// the SHA-256 of the access token's ASCII.
pub fn at_hash(access_token: &str) -> String {
    let hash = digest::digest(&digest::SHA256, access_token.as_bytes());
    b64(&hash.as_ref()[..16])
}

/// The `amr` claim values for the given methods, in order, without duplicates.
pub fn amr_values(methods: &[Amr]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(methods.len());
    for m in methods {
        if !out.iter().any(|v| v == m.as_str()) {
            out.push(m.as_str().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// OIDC Core §A.3/A.4: the example access token and the `at_hash` of the ID token
    /// issued with it.
    #[test]
    fn at_hash_known_answer() {
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    fn access() -> AccessClaims {
        AccessClaims {
            iss: "https://id.example/tenant/v2.0".into(),
            aud: "https://mail.example".into(),
            sub: "sub".into(),
            oid: None,
            tid: "tenant".into(),
            upn: None,
            preferred_username: None,
            name: None,
            scp: None,
            scope: None,
            roles: None,
            amr: None,
            azp: "client".into(),
            client_id: "client".into(),
            appid: "client".into(),
            ipaddr: None,
            auth_time: None,
            iat: 1,
            nbf: 1,
            exp: 2,
            jti: "j".into(),
            idtyp: IDTYP_APP.into(),
            ver: VERSION.into(),
            sid: None,
        }
    }

    #[test]
    fn none_fields_are_omitted_and_round_trip() {
        let claims = access();
        let value = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            value,
            json!({
                "iss": "https://id.example/tenant/v2.0", "aud": "https://mail.example",
                "sub": "sub", "tid": "tenant", "azp": "client", "client_id": "client",
                "appid": "client", "iat": 1, "nbf": 1, "exp": 2, "jti": "j",
                "idtyp": "app", "ver": "2.0",
            })
        );
        let back: AccessClaims = serde_json::from_value(value).unwrap();
        assert_eq!(back, claims);
    }

    #[test]
    fn id_claims_round_trip() {
        let claims = IdClaims {
            iss: "i".into(),
            aud: "c".into(),
            sub: "s".into(),
            oid: "o".into(),
            tid: "t".into(),
            upn: Some("a@b".into()),
            preferred_username: "a@b".into(),
            name: None,
            email: None,
            nonce: Some("n".into()),
            amr: amr_values(&[Amr::Pwd, Amr::Otp, Amr::Pwd, Amr::Mfa]),
            auth_time: 5,
            iat: 5,
            nbf: 5,
            exp: 6,
            sid: None,
            at_hash: Some(at_hash("x")),
            ver: VERSION.into(),
        };
        let value = serde_json::to_value(&claims).unwrap();
        assert_eq!(value["amr"], json!(["pwd", "otp", "mfa"]));
        assert!(value.get("email").is_none());
        assert_eq!(serde_json::from_value::<IdClaims>(value).unwrap(), claims);
    }
}
