//! Who is calling: the `Authorization` header of a REST request handed to the
//! authentication pipeline (protocol `Rest`), and the 401 challenge every endpoint
//! answers an unauthenticated (or empty `Bearer`) request with.
//!
//! The challenge follows Exchange's hybrid modern authentication ([MS-XOAUTH] 3.2.5.4):
//!
//! ```text
//! WWW-Authenticate: Bearer authorization_uri="<identity>/oauth2/v2.0/authorize",
//!     client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="<issuer>"
//! ```
//!
//! plus `error="invalid_token"` and an `x-ms-diagnostics` header when a token was refused,
//! and a `Basic realm` challenge only where some authentication policy could allow basic
//! authentication for the REST API. A refusal never says why (blocked by policy, unknown
//! user, wrong password all look the same).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mailward_authpolicy::{Method, Protocol};
use mailward_mailauth::{AuthFailure, AuthRequest, Authenticator, Principal};
use mailward_sasl::{BearerError, BearerStatus, Credentials, Mechanism};
use mailward_types::model::well_known;

use super::{AppState, Endpoints, GraphError, Shared, client_ip};

/// The authenticated caller of a REST request.
#[derive(Debug)]
pub(crate) struct RestUser {
    pub principal: Principal,
}

impl RestUser {
    /// Requires one of `scopes` in a bearer token (basic authentication, where a policy
    /// allows it, carries the user's full rights).
    pub fn require(&self, s: &Shared, scopes: &[&str]) -> Result<(), Response> {
        if self.principal.method == Method::Basic
            || self
                .principal
                .scopes
                .iter()
                .any(|have| scopes.iter().any(|want| want.eq_ignore_ascii_case(have)))
        {
            return Ok(());
        }
        let error = BearerError {
            status: BearerStatus::InsufficientScope,
            scope: Some(scopes.join(" ")),
            openid_configuration: None,
        };
        Err(challenge_response(&s.endpoints, Some(&error), false, true))
    }
}

/// The credentials of an `Authorization` header; `None` for none, an empty `Bearer`, an
/// unknown scheme or malformed Basic credentials (all answered with the challenge).
pub(crate) fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = match value.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => (value, ""),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.len() > 16 * 1024 {
            return None;
        }
        return Some(Credentials::Bearer {
            user: None,
            token: rest.to_string().into(),
            mechanism: Mechanism::OAuthBearer,
        });
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        if user.is_empty() || user.len() > 256 || password.len() > 1024 {
            return None;
        }
        return Some(Credentials::Password {
            authzid: None,
            username: user.to_string(),
            password: password.to_string().into(),
        });
    }
    None
}

fn user_agent(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(128).collect())
}

/// Authenticates a request's credentials for `protocol`; the error is the response to
/// send (challenge, 403 or 503).
pub(crate) async fn authenticate(
    parts: &Parts,
    s: &Shared,
    protocol: Protocol,
    json_body: bool,
) -> Result<Principal, Response> {
    let Some(credentials) = credentials(&parts.headers) else {
        return Err(challenge(s, None, json_body).await);
    };
    let ua = user_agent(parts);
    let result = s
        .pipeline
        .authenticate(AuthRequest {
            protocol,
            credentials: &credentials,
            remote_ip: client_ip(parts),
            tls: true,
            user_agent: ua.as_deref(),
        })
        .await;
    match result {
        Ok(p) => Ok(p),
        Err(AuthFailure::Bearer(e)) => Err(challenge(s, Some(&e), json_body).await),
        Err(AuthFailure::Denied) => Err(challenge(s, None, json_body).await),
        Err(AuthFailure::Unavailable) => Err(GraphError::unavailable().into_response()),
    }
}

impl FromRequestParts<AppState> for RestUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let principal = authenticate(parts, s, Protocol::Rest, true).await?;
        Ok(RestUser { principal })
    }
}

/// The challenge for `error` (none: no or empty credentials), with a Basic challenge when
/// basic authentication could be allowed for the REST API.
pub(crate) async fn challenge(
    s: &Shared,
    error: Option<&BearerError>,
    json_body: bool,
) -> Response {
    let basic = s.pipeline.basic_possible(Protocol::Rest).await;
    challenge_response(&s.endpoints, error, json_body, basic)
}

fn quoted(s: &str) -> String {
    s.replace(['"', '\\'], "")
}

/// The `WWW-Authenticate: Bearer ...` value.
pub(crate) fn bearer_challenge(ep: &Endpoints, error: Option<&BearerError>) -> String {
    let mut v = format!(
        "Bearer authorization_uri=\"{}/oauth2/v2.0/authorize\", client_id=\"{}\", trusted_issuers=\"{}\"",
        quoted(&ep.identity_url),
        well_known::MAIL_RESOURCE_APP_ID,
        quoted(&ep.issuer),
    );
    if let Some(e) = error {
        v.push_str(&format!(", error=\"{}\"", e.status.error_code()));
        if let (BearerStatus::InsufficientScope, Some(scope)) = (e.status, &e.scope) {
            let qualified: Vec<String> = scope
                .split(' ')
                .map(|s| format!("{}/{s}", ep.resource_uri))
                .collect();
            v.push_str(&format!(", scope=\"{}\"", quoted(&qualified.join(" "))));
        }
    }
    v
}

fn challenge_response(
    ep: &Endpoints,
    error: Option<&BearerError>,
    json_body: bool,
    basic: bool,
) -> Response {
    let forbidden = error.is_some_and(|e| e.status == BearerStatus::InsufficientScope);
    let status = if forbidden {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::UNAUTHORIZED
    };
    let mut res = if json_body {
        let (code, message) = match error {
            None => (
                "InvalidAuthenticationToken",
                "Access token is empty or the credentials were refused.",
            ),
            Some(_) if forbidden => (
                "ErrorAccessDenied",
                "Access is denied. The token lacks the scope this operation needs.",
            ),
            Some(_) => (
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            ),
        };
        GraphError::new(status, code, message).into_response()
    } else {
        status.into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&bearer_challenge(ep, error)) {
        h.append(header::WWW_AUTHENTICATE, v);
    }
    if basic
        && !forbidden
        && let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", quoted(&ep.hostname)))
    {
        h.append(header::WWW_AUTHENTICATE, v);
    }
    if error.is_some() {
        let diag = if forbidden {
            "2000008;reason=\"The token does not carry the scope this endpoint requires.\";error_category=\"insufficient_scope\""
        } else {
            "2000001;reason=\"The token is malformed, expired, not yet valid, or not issued for this resource.\";error_category=\"invalid_token\""
        };
        h.insert("x-ms-diagnostics", HeaderValue::from_static(diag));
    }
    res
}

/// Anything not routed: the challenge without credentials (so a client probing any URL
/// learns the authority), else 404.
pub(crate) async fn fallback(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if credentials(&headers).is_none() {
        return challenge(&s, None, false).await;
    }
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "Resource not found for the segment.",
    )
    .into_response()
}
