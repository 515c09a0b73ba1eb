//! OpenID Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414), the JWKS document
//! and static assets.

use crate::state::Ctx;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

pub async fn openid_configuration(State(ctx): State<Ctx>) -> Response {
    let iss = ctx.base_url();
    let body = json!({
        "issuer": ctx.issuer(),
        "authorization_endpoint": format!("{iss}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{iss}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{iss}/oauth2/v2.0/devicecode"),
        "userinfo_endpoint": format!("{iss}/oidc/userinfo"),
        "end_session_endpoint": format!("{iss}/oauth2/v2.0/logout"),
        "revocation_endpoint": format!("{iss}/oauth2/v2.0/revoke"),
        "introspection_endpoint": format!("{iss}/oauth2/v2.0/introspect"),
        "jwks_uri": format!("{iss}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials", "password",
            "urn:ietf:params:oauth:grant-type:device_code"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "nbf", "auth_time", "amr", "nonce", "oid", "tid",
            "upn", "preferred_username", "name", "email", "sid", "at_hash"
        ],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "tenant_id": ctx.tenant_id().to_string(),
    });
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// Discovery under the issuer path (`<issuer>/.well-known/openid-configuration`), as
/// clients that derive it from the authority URL expect.
pub async fn tenant_openid_configuration(
    State(ctx): State<Ctx>,
    axum::extract::Path(tenant): axum::extract::Path<String>,
) -> Response {
    if tenant != ctx.tenant_id().to_string() {
        let body = json!({"error": "invalid_tenant", "error_description": "MW90002: The tenant was not found."});
        return (axum::http::StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    openid_configuration(State(ctx)).await
}

pub async fn jwks(State(ctx): State<Ctx>) -> Response {
    let mut res = Json(ctx.keys().jwks()).into_response();
    // Short enough that a rotation reaches resource servers well before the old key retires.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

pub async fn webauthn_js() -> Response {
    let mut res = mailward_mfa::WEBAUTHN_JS.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

pub async fn autosubmit_js() -> Response {
    let mut res = include_str!("../../assets/autosubmit.js").into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

pub async fn home(State(ctx): State<Ctx>) -> Html<String> {
    ctx.templates().render(
        "home.html",
        minijinja::context! { organization => ctx.cfg().organization.clone(), issuer => ctx.issuer() },
    )
}
