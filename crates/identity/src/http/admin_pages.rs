//! The admin center: server-rendered pages under `/admin` for conditional access policies,
//! named locations, What-If and the sign-in log.
//!
//! - **Sign-in.** The admin center is an OpenID Connect client of identity itself: the
//!   first-party confidential client
//!   [`ADMIN_CENTER_CLIENT_ID`](crate::bootstrap::ADMIN_CENTER_CLIENT_ID), asking for
//!   identity's own API, so its sign-ins are `browser` sign-ins to an application the
//!   `MicrosoftAdminPortals` keyword covers. Authorization code with PKCE, `state` and
//!   `nonce` (kept sealed in the `__Host-mw_admin_login` cookie); the code is redeemed by calling
//!   the token endpoint's handler in-process, so client authentication, the grant checks,
//!   the policy step and the sign-in log run exactly as for any client. The client secret
//!   is generated on first use and kept sealed in the settings table.
//! - **Session.** `__Host-mw_admin` (`Path=/`, no `Domain`, HttpOnly, Secure,
//!   SameSite=Lax) holds, sealed with the master key, the user id, the access token for
//!   identity's API, its expiry and the CSRF token. The user is loaded on every request: disabled, signed out everywhere,
//!   or holding no admin role means no access.
//! - **Actions.** Every page performs the admin API request in-process with the admin's own
//!   bearer token, so the API's permission checks and validation apply unchanged; the pages
//!   check the role's [`Permission`] first only to answer with a page instead of JSON.
//! - **Forms.** Every change is a POST form carrying the session's CSRF token (compared in
//!   constant time); a post the browser marks as coming from elsewhere (`Origin` not ours,
//!   `null` included, or `Sec-Fetch-Site` not `same-origin`) is refused as well. Identity
//!   sends `Referrer-Policy: same-origin`, so browsers give our own posts their real
//!   `Origin`. Every page works without script; `assets/admin.js` only keeps the policy
//!   form and its JSON view in step.
//!
//! This file holds the routes and what every page shares (rendering, the in-process API
//! call, the CSRF check); `session` the sign-in, `objects` policies and named locations,
//! `what_if` and `signins` the two read-only tools, `security` security defaults and the
//! coverage check.

mod objects;
mod policy_form;
mod security;
mod session;
mod signins;
mod what_if;

use crate::http::admin_api::Permission;
use crate::state::Ctx;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use objects::Kind;
use serde_json::{Map, Value, json};
use session::{SESSION_COOKIE, SignedIn, add_cookie, cookie, ct_eq};
use tower::ServiceExt;

pub(crate) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/", get(|| async { Redirect::to("/admin") }))
        .route("/admin/callback", get(session::callback))
        .route("/admin/signout", post(session::sign_out))
        .route(session::SIGNED_OUT_PATH, get(session::signed_out))
        .route("/admin/assets/admin.js", get(admin_js))
        .route("/admin/policies", get(objects::policies))
        .route(
            "/admin/policies/new",
            get(objects::policy_new).post(objects::policy_create),
        )
        .route(
            "/admin/policies/{id}",
            get(objects::policy_edit).post(objects::policy_update),
        )
        .route("/admin/policies/{id}/state", post(objects::policy_state))
        .route(
            "/admin/policies/{id}/delete",
            get(objects::policy_delete_confirm).post(objects::policy_delete),
        )
        .route("/admin/locations", get(objects::locations))
        .route(
            "/admin/locations/new",
            get(objects::location_new).post(objects::location_create),
        )
        .route(
            "/admin/locations/{id}",
            get(objects::location_edit).post(objects::location_update),
        )
        .route(
            "/admin/locations/{id}/delete",
            get(objects::location_delete_confirm).post(objects::location_delete),
        )
        .route(
            "/admin/whatif",
            get(what_if::what_if_form).post(what_if::what_if_run),
        )
        .route("/admin/signins", get(signins::signins))
        .route("/admin/security", get(security::security))
        .route("/admin/security/defaults", post(security::set_defaults))
        .layer(axum::middleware::map_response(no_store))
}

/// The admin center's only script: keeps the policy form and its JSON view in step.
async fn admin_js() -> Response {
    let mut res = include_str!("../../assets/admin.js").into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    res
}

/// Nothing the admin center answers may be cached.
async fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

type Page = Result<Response, Response>;

/// A form body (`application/x-www-form-urlencoded`); the first of repeated names counts.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated name (checkboxes), in order.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The value of `Sec-Fetch-Site` a form of the admin center's own pages carries.
const SAME_ORIGIN_FETCH: &str = "same-origin";

/// Whether a form post came from identity's own pages, as far as the browser says: a
/// `Sec-Fetch-Site` other than `same-origin` is refused, and so is an `Origin` other than
/// identity's own — `null` included (a browser sends it for a sandboxed or opaque page, or
/// under a `no-referrer` policy, which these pages no longer set). A client that sends
/// neither header (not a browser) is judged by the CSRF token alone.
fn same_origin(ctx: &Ctx, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != SAME_ORIGIN_FETCH.as_bytes()
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let ours = url::Url::parse(ctx.base_url())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    origin.to_str().is_ok_and(|o| o == ours)
}

/// Every change: a form from this session (CSRF token, origin), by a role allowed to.
fn check_post(
    ctx: &Ctx,
    who: &SignedIn,
    headers: &HeaderMap,
    form: &Form,
    p: Permission,
) -> Result<(), Response> {
    if !same_origin(ctx, headers) || !form.get("csrf").is_some_and(|t| ct_eq(t, &who.csrf)) {
        return Err(csrf_refused(ctx));
    }
    require(ctx, who, p)
}

fn require(ctx: &Ctx, who: &SignedIn, p: Permission) -> Result<(), Response> {
    if who.may(p) {
        Ok(())
    } else {
        Err(render(
            ctx,
            who,
            StatusCode::FORBIDDEN,
            "admin/error.html",
            "",
            json!({
                "title": "Not allowed",
                "message": "Your admin role does not allow this.",
                "back": "/admin",
            }),
        ))
    }
}

fn csrf_refused(ctx: &Ctx) -> Response {
    denied(
        ctx,
        StatusCode::FORBIDDEN,
        "The form could not be accepted",
        "The form has expired or did not come from the admin center. Go back, reload the page and try again.",
        None,
        None,
    )
}

/// A page of the admin center with the navigation and the admin's facts.
fn render(
    ctx: &Ctx,
    who: &SignedIn,
    status: StatusCode,
    template: &str,
    section: &str,
    data: Value,
) -> Response {
    let mut m = match data {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let facts = json!({
        "organization": ctx.cfg().organization,
        "admin_name": who.admin.name,
        "roles": who.admin.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "csrf": who.csrf,
        "section": section,
        "can_manage": who.may(Permission::ManagePolicies),
        "can_read_logs": who.may(Permission::ReadLogs),
    });
    if let Value::Object(f) = facts {
        m.extend(f);
    }
    let html = ctx.templates().render(
        template,
        minijinja::Value::from(minijinja::value::Serde(&m)),
    );
    (status, html).into_response()
}

/// A page outside the navigation (no session, or no admin role).
fn denied(
    ctx: &Ctx,
    status: StatusCode,
    title: &str,
    message: &str,
    user: Option<&str>,
    csrf: Option<&str>,
) -> Response {
    let html = ctx.templates().render(
        "admin/denied.html",
        minijinja::context! {
            organization => ctx.cfg().organization.clone(),
            title => title,
            message => message,
            user => user,
            csrf => csrf,
            signout => "/oauth2/v2.0/logout",
        },
    );
    (status, html).into_response()
}

fn no_role(ctx: &Ctx, upn: &str, csrf: Option<&str>) -> Response {
    denied(
        ctx,
        StatusCode::FORBIDDEN,
        "You don't have access to the admin center",
        "Your account holds no admin role. Ask a Global Administrator for one, or sign in with another account.",
        Some(upn),
        csrf,
    )
}

fn failure(ctx: &Ctx, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "admin center request failed");
    denied(
        ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "An internal error occurred. Try again.",
        None,
        None,
    )
}

/// One admin API answer.
struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    fn message(&self) -> &str {
        self.body["error"]["message"]
            .as_str()
            .unwrap_or("The request failed.")
    }
}

/// Performs an admin API request in-process with the admin's own bearer token.
async fn api(
    ctx: &Ctx,
    who: &SignedIn,
    method: Method,
    uri: &str,
    body: Option<String>,
) -> Result<Reply, Response> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", who.token));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Body::from(body.unwrap_or_default()))
        .map_err(|e| failure(ctx, &e))?;
    let res = match super::router(ctx.clone()).oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = res.status();
    if status == StatusCode::UNAUTHORIZED {
        // The access token stopped working (expired early, keys rotated): sign in again.
        let mut res = Redirect::to("/admin").into_response();
        add_cookie(&mut res, &cookie(SESSION_COOKIE, "", 0));
        return Err(res);
    }
    let bytes = axum::body::to_bytes(res.into_body(), 32 << 20)
        .await
        .map_err(|e| failure(ctx, &e))?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply { status, body })
}

/// An API refusal as a page.
fn api_failure(ctx: &Ctx, who: &SignedIn, reply: &Reply, back: &str) -> Response {
    let title = match reply.status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "Conflict",
        s if s.is_client_error() => "The request was refused",
        _ => "Something went wrong",
    };
    let status = if reply.status.is_success() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        reply.status
    };
    render(
        ctx,
        who,
        status,
        "admin/error.html",
        "",
        json!({ "title": title, "message": reply.message(), "back": back }),
    )
}

/// Drops serde's ` at line L column C`: it counts in the document the API re-serialised,
/// not in the text the admin typed, and the member's path already says where.
fn without_position(message: &str) -> &str {
    let Some(i) = message.rfind(" at line ") else {
        return message;
    };
    let tail = &message[i + " at line ".len()..];
    let positional = tail.split_once(" column ").is_some_and(|(l, c)| {
        !l.is_empty()
            && !c.is_empty()
            && l.bytes().all(|b| b.is_ascii_digit())
            && c.bytes().all(|b| b.is_ascii_digit())
    });
    if positional { &message[..i] } else { message }
}

/// Percent-encodes one path segment.
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query_value(q: &Option<String>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(q.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `2026-01-02T03:04:05.1234567Z` → `2026-01-02 03:04:05`.
fn short_time(v: &Value) -> String {
    let s = v.as_str().unwrap_or_default();
    s.get(..19).unwrap_or(s).replace('T', " ")
}

fn notice(done: Option<String>) -> Option<&'static str> {
    match done.as_deref()? {
        "created" => Some("Created."),
        "saved" => Some("Saved."),
        "state" => Some("State changed."),
        "deleted" => Some("Deleted."),
        _ => None,
    }
}

// ---- overview ----

async fn home(State(ctx): State<Ctx>, who: SignedIn) -> Page {
    require(&ctx, &who, Permission::Read)?;
    let policies = api(&ctx, &who, Method::GET, Kind::Policy.api(), None).await?;
    let locations = api(&ctx, &who, Method::GET, Kind::Location.api(), None).await?;
    if !policies.status.is_success() {
        return Err(api_failure(&ctx, &who, &policies, "/admin"));
    }
    let list = policies.body["value"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let count = |state: &str| list.iter().filter(|p| p["state"] == state).count();
    Ok(render(
        &ctx,
        &who,
        StatusCode::OK,
        "admin/home.html",
        "home",
        json!({ "counts": {
            "enabled": count("enabled"),
            "report_only": count("enabledForReportingButNotEnforced"),
            "disabled": count("disabled"),
            "locations": locations.body["value"].as_array().map_or(0, Vec::len),
        }}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(seg("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(
            seg("0f1e2d3c-aaaa-bbbb-cccc-000000000001"),
            "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
        );
    }

    #[test]
    fn positions_are_dropped_from_member_errors() {
        assert_eq!(
            without_position("unknown field `x`, expected `y` at line 1 column 78"),
            "unknown field `x`, expected `y`"
        );
        assert_eq!(without_position("bad at line one"), "bad at line one");
        assert_eq!(without_position("plain"), "plain");
    }
}
