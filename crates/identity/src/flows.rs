//! In-progress browser sign-ins. A flow is stored in the database (so any node can continue
//! it) and bound to the browser that started it by a cookie whose hash the flow keeps, so a
//! flow id alone is useless to anyone else (login CSRF, fixation).

use crate::state::Ctx;
use mailward_oauth::authorize::AuthorizeRequest;
use mailward_signin::flow::SignInState;
use mailward_store::StoreError;
use mailward_types::model::ClientAppType;
use mailward_types::records::{AuthStep, LocationClass, PolicyOutcome};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Name of the browser-binding cookie. The `__Host-` prefix makes the browser keep the
/// cookies only when Secure, `Path=/` and without `Domain` (what [`set_cookie`] writes), so
/// no other host or plain-HTTP page can plant or shadow one.
pub const BINDING_COOKIE: &str = "__Host-mw_bind";
/// Name of the single sign-on session cookie (`__Host-`, as above).
pub const SESSION_COOKIE: &str = "__Host-mw_session";

/// What the sign-in is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// An OAuth authorization request: ends with a code sent to the redirect URI.
    Authorize { request: AuthorizeRequest },
    /// A device authorization: ends by approving the device code.
    Device { device_code_hash: String },
}

/// A sign-in in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub id: Uuid,
    /// SHA-256 of the binding cookie value.
    pub binding_hash: String,
    pub purpose: Purpose,
    pub client_id: String,
    pub app_name: String,
    pub client_app_type: ClientAppType,
    pub state: SignInState,
    pub correlation_id: Uuid,
    pub steps: Vec<AuthStep>,
    pub policies: Vec<PolicyOutcome>,
    pub location_class: Option<LocationClass>,
    /// The application conditional access sees (the resource the scopes name, or the
    /// client).
    #[serde(default)]
    pub target_app: String,
    /// Conditional access `persistentBrowser` = `always`: the session cookie outlives the
    /// browser (otherwise it is a browser-session cookie).
    #[serde(default)]
    pub persistent_browser: bool,
    /// The user the policy step judged (for the log when the policy denies).
    #[serde(default)]
    pub judged_user: Option<(Uuid, String)>,
}

impl Flow {
    pub async fn save(&self, ctx: &Ctx, now: OffsetDateTime) -> Result<(), StoreError> {
        let json = serde_json::to_string(self).map_err(|e| StoreError::Backend(e.to_string()))?;
        let expires = now + Duration::seconds(ctx.cfg().tokens.flow_secs);
        ctx.store().put_flow(self.id, &json, expires).await
    }

    /// Loads a flow if it exists, has not expired and belongs to this browser.
    pub async fn load(
        ctx: &Ctx,
        id: Uuid,
        binding: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<Flow>, StoreError> {
        let Some(json) = ctx.store().flow(id, now).await? else {
            return Ok(None);
        };
        let flow: Flow = match serde_json::from_str(&json) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(%id, error = %e, "unreadable sign-in flow discarded");
                return Ok(None);
            }
        };
        let bound = binding
            .map(mailward_oauth::random::hash)
            .is_some_and(|h| h == flow.binding_hash);
        Ok(bound.then_some(flow))
    }

    pub async fn delete(&self, ctx: &Ctx) -> Result<(), StoreError> {
        ctx.store().delete_flow(self.id).await
    }
}

/// Reads a cookie from the request headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, Secure, SameSite=Lax, whole site.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> String {
    match max_age {
        Some(age) => {
            format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={age}")
        }
        None => format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax"),
    }
}

/// A `Set-Cookie` value that deletes the cookie.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0")
}
