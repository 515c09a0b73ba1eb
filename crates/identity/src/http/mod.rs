//! Identity's HTTP front: the router and the edge concerns every handler shares — client IP
//! (honouring `X-Forwarded-For` only from trusted proxies), correlation ids, and the one
//! place OAuth errors become responses. Each endpoint lives in its own file.

mod admin_api;
mod admin_pages;
pub mod admin_api_local {
    //! The marker the local CLI puts on in-process admin requests.
    pub use super::admin_api::LocalAdmin;
}
mod authorize;
mod bearer;
mod ca_api;
mod device;
mod discovery;
mod end_session;
mod introspect;
mod legacy_auth;
mod login;
mod revocations;
mod revoke;
mod signins_api;
mod token;
mod userinfo;

use crate::state::Ctx;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mailward_oauth::OAuthError;
use std::net::{IpAddr, SocketAddr};
use uuid::Uuid;

pub(crate) use admin_api::AdminUser;

/// Builds identity's router.
pub fn router(ctx: Ctx) -> Router {
    Router::new()
        .route("/", get(discovery::home))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::tenant_openid_configuration),
        )
        .route("/discovery/v2.0/keys", get(discovery::jwks))
        .route("/assets/webauthn.js", get(discovery::webauthn_js))
        .route("/assets/autosubmit.js", get(discovery::autosubmit_js))
        .route(
            "/oauth2/v2.0/authorize",
            get(authorize::handle_authorize).post(authorize::handle_authorize_post),
        )
        .route(
            "/login",
            get(login::handle_login_page).post(login::handle_login_post),
        )
        .route("/oauth2/v2.0/token", post(token::handle_token))
        .route(
            "/oauth2/v2.0/devicecode",
            post(device::handle_device_authorization),
        )
        .route(
            "/devicelogin",
            get(device::handle_device_page).post(device::handle_device_submit),
        )
        .route(
            "/oidc/userinfo",
            get(userinfo::handle_userinfo).post(userinfo::handle_userinfo),
        )
        .route("/oauth2/v2.0/revoke", post(revoke::handle_revoke))
        .route(
            "/oauth2/v2.0/introspect",
            post(introspect::handle_introspect),
        )
        .route(
            "/oauth2/v2.0/logout",
            get(end_session::handle_end_session).post(end_session::handle_end_session),
        )
        .route(
            "/legacy/v1/authenticate",
            post(legacy_auth::handle_legacy_authenticate),
        )
        .route("/mail/v1/revocations", get(revocations::handle_revocations))
        .route("/mail/v1/users/{key}", get(revocations::handle_mail_user))
        .route(
            "/v1.0/auditLogs/signIns",
            get(signins_api::handle_list_signins),
        )
        .merge(admin_api::routes())
        .merge(ca_api::routes())
        .merge(admin_pages::routes())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(ctx)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`: nothing leaves for another site, while our own form posts keep their
    // `Origin` (under `no-referrer` browsers send `Origin: null`, which the admin center's
    // CSRF check must refuse).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action *; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

/// Facts about the request every handler logs: client IP, user agent, correlation id.
#[derive(Debug, Clone)]
pub struct Meta {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub correlation_id: Uuid,
}

impl FromRequestParts<Ctx> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = client_ip(peer, &parts.headers, &ctx.cfg().trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let correlation_id = parts
            .headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Uuid::parse_str(v).ok())
            .unwrap_or_else(Uuid::new_v4);
        Ok(Meta {
            ip,
            user_agent,
            correlation_id,
        })
    }
}

/// The client's address: the TCP peer, or — when the peer is a trusted proxy — the
/// right-most entry of `X-Forwarded-For` that is not itself a trusted proxy.
///
/// The walk goes from the right (the entry our own proxy appended) to the left and stops
/// at the first entry that is not a trusted proxy: that entry is the client. An entry that
/// does not parse as an address ends the walk the same way: it is the client, whose address
/// is then unknown (`None`: no named location matches and no familiar address is claimed).
/// Skipping it instead would let a client put any address left of it, behind a proxy that
/// appends something unparsable. `ip:port` and `[ipv6]:port` (as some proxies append) are
/// read as their address. A header that cannot be read as text gives `None` too.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut chain = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return None;
        };
        chain.extend(value.split(','));
    }
    for entry in chain.into_iter().rev() {
        match forwarded_addr(entry.trim()) {
            Some(ip) if is_trusted(&ip) => continue,
            other => return other,
        }
    }
    Some(peer)
}

/// One `X-Forwarded-For` entry: an address, or an address with a port.
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// An OAuth error on its way out as JSON.
#[derive(Debug)]
pub struct OAuthResponse {
    pub error: OAuthError,
    pub correlation_id: Uuid,
}

impl IntoResponse for OAuthResponse {
    fn into_response(self) -> Response {
        let now = mailward_types::clock::now();
        let body = self.error.body(Uuid::new_v4(), self.correlation_id, now);
        let status = StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut res = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mailward\""),
            );
        }
        res
    }
}

/// Pairs an error with the request's correlation id.
pub(crate) fn oauth_err(meta: &Meta) -> impl Fn(OAuthError) -> OAuthResponse + '_ {
    move |error| OAuthResponse {
        error,
        correlation_id: meta.correlation_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 10.1.1.1"),
        );
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(
            client_ip(Some(peer), &h, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        let untrusted: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(Some(untrusted), &h, &trusted), Some(untrusted));
        assert_eq!(
            client_ip(Some(peer), &HeaderMap::new(), &trusted),
            Some(peer)
        );
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn forwarded_for_walk_ends_at_the_first_entry_that_does_not_parse() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let check = |values: &[&'static str]| client_ip(Some(peer), &xff(values), &trusted);
        // A proxy that appends `ip:port`: the client's own claim left of it must not win.
        assert_eq!(check(&["192.0.2.77, 203.0.113.9:51234"]), ip("203.0.113.9"));
        assert_eq!(check(&["192.0.2.77, [2001:db8::9]:443"]), ip("2001:db8::9"));
        // An entry that is not an address is the client, whose address is unknown.
        assert_eq!(check(&["192.0.2.77, unknown"]), None);
        assert_eq!(check(&["192.0.2.77, _hidden, 10.1.1.1"]), None);
        assert_eq!(check(&["192.0.2.77,,10.1.1.1"]), None);
        // Trusted proxies right of the client are skipped, across header lines too.
        assert_eq!(
            check(&["192.0.2.77, 203.0.113.9", "10.1.1.1"]),
            ip("203.0.113.9")
        );
        // Only trusted proxies: the left-most proxy is as far as we know.
        assert_eq!(check(&["10.1.1.1, 10.2.2.2"]), Some(peer));
        // A header that is not text is not trusted either.
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"192.0.2.77, \xff").unwrap(),
        );
        assert_eq!(client_ip(Some(peer), &h, &trusted), None);
    }
}
