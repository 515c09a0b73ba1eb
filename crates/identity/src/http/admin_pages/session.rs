//! The admin center's sign-in and session: the sealed `__Host-mw_admin_login` cookie
//! (state, nonce, PKCE verifier) and `__Host-mw_admin` session cookie, the [`SignedIn`]
//! extractor that checks the admin live on every request, the authorization callback (which
//! redeems the code through the token endpoint's own handler), the client secret, and
//! sign-out (a CSRF-checked POST that ends identity's single sign-on session as well).

use super::{Form, csrf_refused, denied, failure, no_role, same_origin};
use crate::bootstrap::ADMIN_CENTER_CLIENT_ID;
use crate::flows;
use crate::http::Meta;
use crate::http::admin_api::{AdminUser, Permission};
use crate::http::end_session;
use crate::state::Ctx;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mailward_oauth::{pkce, random};
use mailward_tokens::keyset::Expect;
use mailward_types::clock;
use mailward_types::model::{TokenAlg, well_known};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// The admin session cookie. `__Host-`: the browser keeps it only when Secure, for
/// `Path=/` and without `Domain`, so no sibling host or plain-HTTP page can set or shadow it.
pub(super) const SESSION_COOKIE: &str = "__Host-mw_admin";
/// The cookie that carries `state`, `nonce` and the PKCE verifier during sign-in.
const LOGIN_COOKIE: &str = "__Host-mw_admin_login";
/// Sealed values say what they are, so one can never stand in for another.
const SESSION_PURPOSE: &str = "admin center session";
const LOGIN_PURPOSE: &str = "admin center sign-in";
/// How long a started sign-in may take.
const LOGIN_SECS: i64 = 600;
/// Setting that keeps the admin center's client secret, sealed.
const SECRET_SETTING: &str = "admin_center_client_secret";

// ---- sealed cookies ----

#[derive(Debug, Serialize, Deserialize)]
struct SessionData {
    purpose: String,
    uid: Uuid,
    /// When the user authenticated (seconds), compared with `tokens_valid_from`.
    auth_time: i64,
    /// Unix seconds; the access token expires a little later.
    exp: i64,
    csrf: String,
    /// Access token for identity's API (scope `Directory.AccessAsUser.All`).
    token: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct LoginData {
    purpose: String,
    state: String,
    nonce: String,
    verifier: String,
    /// Where to go after signing in (a path under `/admin`).
    back: String,
    exp: i64,
}

fn seal<T: Serialize>(ctx: &Ctx, value: &T) -> Option<String> {
    let plain = serde_json::to_vec(value).ok()?;
    let sealed = ctx.sealer().try_seal(&plain).ok()?;
    Some(URL_SAFE_NO_PAD.encode(sealed))
}

fn unseal<T: DeserializeOwned>(ctx: &Ctx, value: &str) -> Option<T> {
    if value.len() > 8192 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(value).ok()?;
    let plain = ctx.sealer().open(&raw).ok()?;
    serde_json::from_slice(&plain).ok()
}

pub(super) fn cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}")
}

pub(super) fn add_cookie(res: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(super) fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

// ---- the signed-in admin ----

/// The admin of an admin center request, checked live against the directory.
pub(crate) struct SignedIn {
    pub(super) admin: AdminUser,
    pub(super) csrf: String,
    pub(super) token: String,
}

impl SignedIn {
    pub(super) fn may(&self, p: Permission) -> bool {
        self.admin.may(p)
    }
}

impl FromRequestParts<Ctx> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let now = clock::now();
        let Some(s) = flows::cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|v| unseal::<SessionData>(ctx, v))
            .filter(|s| s.purpose == SESSION_PURPOSE && s.exp > now.unix_timestamp())
        else {
            return Err(sign_in_again(ctx, parts, now));
        };
        let user = ctx
            .store()
            .user_by_id(s.uid)
            .await
            .map_err(|e| failure(ctx, &e))?;
        let Some(user) =
            user.filter(|u| u.enabled && s.auth_time >= u.tokens_valid_from.unix_timestamp())
        else {
            return Err(sign_in_again(ctx, parts, now));
        };
        if user.roles.is_empty() {
            return Err(no_role(ctx, user.upn.as_str(), Some(&s.csrf)));
        }
        Ok(SignedIn {
            admin: AdminUser {
                name: user.upn.to_string(),
                roles: user.roles.clone(),
            },
            csrf: s.csrf,
            token: s.token,
        })
    }
}

/// No usable session: a page request starts the sign-in (and comes back to the page); a
/// form post does nothing and lands on the overview.
fn sign_in_again(ctx: &Ctx, parts: &Parts, now: OffsetDateTime) -> Response {
    let mut res = if parts.method == Method::GET || parts.method == Method::HEAD {
        let back = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| local_path(p))
            .unwrap_or("/admin");
        start_sign_in(ctx, back, now)
    } else {
        Redirect::to("/admin").into_response()
    };
    if flows::cookie(&parts.headers, SESSION_COOKIE).is_some() {
        add_cookie(&mut res, &cookie(SESSION_COOKIE, "", 0));
    }
    res
}

/// A path of the admin center (never another site: no `//`, no backslash).
fn local_path(p: &str) -> bool {
    let rest = p.strip_prefix("/admin").unwrap_or("x");
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
        && !p.contains("//")
        && !p.contains('\\')
}

fn callback_url(ctx: &Ctx) -> String {
    format!("{}/admin/callback", ctx.base_url())
}

/// Sends the browser to identity's authorization endpoint as the admin center's client.
fn start_sign_in(ctx: &Ctx, back: &str, now: OffsetDateTime) -> Response {
    let login = LoginData {
        purpose: LOGIN_PURPOSE.to_string(),
        state: random::token(),
        nonce: random::token(),
        verifier: random::token(),
        back: back.to_string(),
        exp: now.unix_timestamp() + LOGIN_SECS,
    };
    let Some(sealed) = seal(ctx, &login) else {
        return failure(ctx, &"sealing the sign-in state failed");
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", ADMIN_CENTER_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &callback_url(ctx))
        .append_pair(
            "scope",
            &format!(
                "openid profile {}/{}",
                ctx.base_url(),
                well_known::ADMIN_SCOPE
            ),
        )
        .append_pair("state", &login.state)
        .append_pair("nonce", &login.nonce)
        .append_pair("code_challenge", &pkce::s256(&login.verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let mut res = Redirect::to(&format!("/oauth2/v2.0/authorize?{query}")).into_response();
    add_cookie(&mut res, &cookie(LOGIN_COOKIE, &sealed, LOGIN_SECS));
    res
}

/// The authorization response: checks `state`, redeems the code at the token endpoint
/// (in-process), checks the ID token's `nonce`, and opens the admin session.
pub(super) async fn callback(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let now = clock::now();
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let clear_login = |mut res: Response| {
        add_cookie(&mut res, &cookie(LOGIN_COOKIE, "", 0));
        res
    };
    let login = flows::cookie(&headers, LOGIN_COOKIE)
        .and_then(|v| unseal::<LoginData>(&ctx, v))
        .filter(|l| l.purpose == LOGIN_PURPOSE && l.exp > now.unix_timestamp())
        .filter(|l| param("state").is_some_and(|s| ct_eq(s, &l.state)));
    let Some(login) = login else {
        return clear_login(denied(
            &ctx,
            StatusCode::BAD_REQUEST,
            "This sign-in is no longer valid",
            "The sign-in took too long, or was started in another window. Start again.",
            None,
            None,
        ));
    };
    let refused = |message: &str| {
        clear_login(denied(
            &ctx,
            StatusCode::FORBIDDEN,
            "You could not be signed in to the admin center",
            message,
            None,
            None,
        ))
    };
    if let Some(error) = param("error") {
        let mut message = param("error_description").unwrap_or(error).to_string();
        if let Some(code) = param("error_codes") {
            message = format!("{message} (error code {code})");
        }
        return refused(&message);
    }
    let Some(code) = param("code") else {
        return refused("The authorization response carried no code.");
    };
    let secret = match client_secret(&ctx).await {
        Ok(s) => s,
        Err(e) => return clear_login(failure(&ctx, &e)),
    };
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", ADMIN_CENTER_CLIENT_ID)
        .append_pair("client_secret", &secret)
        .append_pair("code", code)
        .append_pair("redirect_uri", &callback_url(&ctx))
        .append_pair("code_verifier", &login.verifier)
        .finish();
    let res = crate::http::token::handle_token(
        State(ctx.clone()),
        meta.clone(),
        HeaderMap::new(),
        Bytes::from(form),
    )
    .await;
    let status = res.status();
    let body = match axum::body::to_bytes(res.into_body(), 1 << 20).await {
        Ok(b) => serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
        Err(e) => return clear_login(failure(&ctx, &e)),
    };
    if status != StatusCode::OK {
        let description = body["error_description"]
            .as_str()
            .unwrap_or("The sign-in could not be completed.");
        let message = match body["error_codes"][0].as_u64() {
            Some(c) => format!("{description} (error code {c})"),
            None => description.to_string(),
        };
        return refused(&message);
    }
    // The ID token: signed by us, for this client, for this browser's sign-in.
    let expect = Expect {
        issuer: ctx.issuer().to_string(),
        audience: Some(ADMIN_CENTER_CLIENT_ID.to_string()),
        algs: vec![TokenAlg::RS256],
        leeway_secs: 60,
    };
    let claims = body["id_token"]
        .as_str()
        .and_then(|t| ctx.keys().verify(t, &expect, now).ok())
        .filter(|c| c["nonce"].as_str().is_some_and(|n| ct_eq(n, &login.nonce)));
    let (Some(claims), Some(token)) = (claims, body["access_token"].as_str()) else {
        return refused("The sign-in response did not match this sign-in.");
    };
    let Some(uid) = claims["oid"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
        return refused("The sign-in response named no user.");
    };
    let user = match ctx.store().user_by_id(uid).await {
        Ok(Some(u)) if u.enabled => u,
        Ok(_) => return refused("The account is disabled or no longer exists."),
        Err(e) => return clear_login(failure(&ctx, &e)),
    };
    if user.roles.is_empty() {
        tracing::info!(user = %user.upn, "admin center sign-in without an admin role");
        return clear_login(no_role(&ctx, user.upn.as_str(), None));
    }
    let lifetime = body["expires_in"].as_i64().unwrap_or(300).clamp(60, 86_400) - 10;
    let session = SessionData {
        purpose: SESSION_PURPOSE.to_string(),
        uid,
        auth_time: claims["auth_time"]
            .as_i64()
            .unwrap_or_else(|| now.unix_timestamp()),
        exp: now.unix_timestamp() + lifetime,
        csrf: random::token(),
        token: token.to_string(),
    };
    let Some(sealed) = seal(&ctx, &session) else {
        return clear_login(failure(&ctx, &"sealing the admin session failed"));
    };
    tracing::info!(admin = %user.upn, "signed in to the admin center");
    let mut res = clear_login(Redirect::to(&login.back).into_response());
    add_cookie(&mut res, &cookie(SESSION_COOKIE, &sealed, lifetime));
    res
}

/// The admin center's client secret: kept sealed in the settings; made (and registered) on
/// first use, and again whenever the registered one no longer matches (an admin rotated
/// it, or two nodes raced), so the admin center heals itself.
async fn client_secret(ctx: &Ctx) -> Result<String, String> {
    let store = ctx.store();
    let app = store
        .app(ADMIN_CENTER_CLIENT_ID)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the admin center application is not registered")?;
    if let Some(kept) = store
        .get_setting(SECRET_SETTING)
        .await
        .map_err(|e| e.to_string())?
        && let Ok(sealed) = STANDARD.decode(kept)
        && let Ok(raw) = ctx.sealer().open(&sealed)
        && let Ok(secret) = String::from_utf8(raw)
        && app.secret_hash.as_deref() == Some(random::hash(&secret).as_str())
    {
        return Ok(secret);
    }
    let secret = random::token();
    let hash = random::hash(&secret);
    let sealed = ctx
        .sealer()
        .try_seal(secret.as_bytes())
        .map_err(|e| e.to_string())?;
    store
        .put_setting(SECRET_SETTING, &STANDARD.encode(sealed))
        .await
        .map_err(|e| e.to_string())?;
    store
        .update_app(
            ADMIN_CENTER_CLIENT_ID,
            Box::new(move |mut a| {
                a.secret_hash = Some(hash);
                Ok(a)
            }),
        )
        .await
        .map_err(|e| e.to_string())?;
    ctx.invalidate_cache();
    tracing::info!("admin center client secret registered");
    Ok(secret)
}

/// Signing out: a POST with the session's CSRF token ends the admin session and identity's
/// single sign-on session in this browser at once, then shows a page that changes nothing.
/// Without an admin session there is no token to check, so nothing ends here: the browser
/// goes to identity's end-session page, which asks before it ends anything.
pub(super) async fn sign_out(
    State(ctx): State<Ctx>,
    meta: Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let Some(s) = flows::cookie(&headers, SESSION_COOKIE)
        .and_then(|v| unseal::<SessionData>(&ctx, v))
        .filter(|s| s.purpose == SESSION_PURPOSE)
    else {
        return Redirect::to("/oauth2/v2.0/logout").into_response();
    };
    if !same_origin(&ctx, &headers) || !form.get("csrf").is_some_and(|t| ct_eq(t, &s.csrf)) {
        return csrf_refused(&ctx);
    }
    if let Some((id, _)) = end_session::current_session(&ctx, &headers).await {
        end_session::end(&ctx, id, &meta).await;
    }
    tracing::info!(user = %s.uid, "signed out of the admin center");
    let mut res = Redirect::to(SIGNED_OUT_PATH).into_response();
    add_cookie(&mut res, &cookie(SESSION_COOKIE, "", 0));
    if let Some(v) = end_session::clear_session_cookie() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// Where sign-out lands.
pub(super) const SIGNED_OUT_PATH: &str = "/admin/signedout";

/// The page after signing out: it only says so (reloading it changes nothing).
pub(super) async fn signed_out(State(ctx): State<Ctx>) -> Response {
    ctx.templates()
        .render(
            "admin/signed_out.html",
            minijinja::context! { organization => ctx.cfg().organization.clone() },
        )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_in_the_admin_center() {
        for ok in [
            "/admin",
            "/admin/policies",
            "/admin?x=1",
            "/admin/signins?user=a%40b",
        ] {
            assert!(local_path(ok), "{ok}");
        }
        for bad in [
            "/administrator",
            "//evil.example/admin",
            "/admin//evil.example",
            "/admin/\\evil",
            "/login",
            "",
        ] {
            assert!(!local_path(bad), "{bad}");
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "ab"));
    }
}
