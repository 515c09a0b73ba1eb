//! The mail role's HTTPS front: the router and what every handler shares — the state,
//! the client address, Graph-shaped JSON errors (converted to responses in one place) and
//! the response headers. One file per group of endpoints.

pub(crate) mod admin;
mod auth;
mod discover;
mod queue;
mod rest;
mod send;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mailward_mailauth::Pipeline;
use mailward_mailstore::MailStore;
use serde_json::json;

use crate::config::Listener;

/// Where this instance and its identity are, as clients are told.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub public_url: String,
    pub resource_uri: String,
    pub hostname: String,
    pub identity_url: String,
    pub issuer: String,
    pub local_domains: Vec<String>,
    /// Bound ports of the listeners that are on.
    pub ports: BTreeMap<Listener, u16>,
}

/// What handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Arc<dyn MailStore>,
    pub pipeline: Arc<Pipeline>,
    pub endpoints: Endpoints,
    /// Checks admin tokens from the network; `None` only for the local admin router.
    pub admin: Option<Arc<admin::TokenCheck>>,
    pub max_message_size: u32,
    /// Mail for other domains has a route (a smarthost); without one it is refused.
    pub relay: bool,
}

pub(crate) type AppState = Arc<Shared>;

/// The HTTP front.
pub(crate) fn router(shared: AppState) -> Router {
    // sendMail bodies carry the message; leave room for JSON escaping.
    let body_limit = (shared.max_message_size as usize)
        .saturating_mul(2)
        .saturating_add(64 * 1024);
    let main = Router::new()
        .route("/", get(home))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(discover::routes())
        .merge(rest::routes())
        .fallback(auth::fallback)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(shared.clone());
    main.merge(admin::routes(shared))
        .layer(axum::middleware::map_response(response_headers))
}

async fn response_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("request-id", v);
    }
    res
}

async fn home(State(s): State<AppState>) -> Json<serde_json::Value> {
    let ep = &s.endpoints;
    Json(json!({
        "service": "mailward mail",
        "resource": ep.resource_uri,
        "authority": ep.issuer,
        "autodiscover": format!("{}/autodiscover/autodiscover.json", ep.public_url),
        "api": format!("{}/v1.0/me", ep.public_url),
    }))
}

/// The peer's address (in-process requests have none: unspecified).
pub(crate) fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// `GET /metrics`: the authentication pipeline's counters (Prometheus text). Open to
/// loopback; anyone else needs an admin token.
async fn metrics(State(s): State<AppState>, req: axum::extract::Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let ip = client_ip(&parts);
    if !ip.is_loopback() {
        let caller = admin::AdminCaller::from_parts(&mut parts, &s).await;
        if let Err(e) = caller.and_then(|c| c.require(admin::Permission::Read)) {
            return e;
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.pipeline.metrics().render_prometheus(),
    )
        .into_response()
}

/// A Graph-shaped error: `{"error": {"code", "message", "innerError": {...}}}`.
#[derive(Debug)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::NOT_FOUND, "ErrorItemNotFound", message)
    }

    pub fn internal(e: impl std::fmt::Display) -> GraphError {
        tracing::error!(error = %e, "mail HTTP request failed");
        GraphError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ErrorInternalServerError",
            "An internal server error occurred.",
        )
    }

    pub fn unavailable() -> GraphError {
        GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceNotAvailable",
            "The service is temporarily unavailable. Try again later.",
        )
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let date = crate::graph::rfc3339(mailward_types::clock::now());
        (
            self.status,
            Json(json!({"error": {
                "code": self.code,
                "message": self.message,
                "innerError": {"date": date},
            }})),
        )
            .into_response()
    }
}

impl From<mailward_mailstore::StoreError> for GraphError {
    fn from(e: mailward_mailstore::StoreError) -> GraphError {
        use mailward_mailstore::StoreError;
        match e {
            StoreError::NotFound(what) => {
                GraphError::not_found(format!("The {what} was not found."))
            }
            StoreError::Exists(what) => GraphError::new(
                StatusCode::CONFLICT,
                "ErrorAlreadyExists",
                format!("The {what} already exists."),
            ),
            StoreError::Invalid(msg) => GraphError::bad_request("ErrorInvalidRequest", msg),
            StoreError::TooLarge => GraphError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ErrorMessageSizeExceeded",
                "The message exceeds the maximum supported size.",
            ),
            StoreError::Backend(msg) => GraphError::internal(msg),
        }
    }
}

/// An HTTPS client for calls to identity (trusting `ca_file` besides the system roots).
pub(crate) fn https_client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .https_only(true)
        .timeout(std::time::Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let cert =
            reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}
