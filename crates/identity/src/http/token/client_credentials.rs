//! Client credentials grant (RFC 6749 §4.4): an app token for `<resource>/.default`, with
//! the application roles the app holds on that resource.

use super::{Denied, Granted};
use mailward_oauth::OAuthError;
use mailward_oauth::scope;
use mailward_types::model::{Application, ClientAppType};
use time::OffsetDateTime;

pub(super) fn step(
    _app: &Application,
    scope_param: Option<&str>,
    resource_param: Option<&str>,
    now: OffsetDateTime,
) -> Result<Granted, Denied> {
    let scopes = scope::parse(scope_param.unwrap_or(""), resource_param).map_err(Denied::from)?;
    if scopes.resource.is_none() || !scopes.scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "The client credentials grant takes a single scope of the form '<resource>/.default'.",
        )
        .into());
    }
    let scopes = scope::RequestedScopes {
        default: true,
        oidc: Default::default(),
        ..scopes
    };
    Ok(Granted {
        user: None,
        scopes,
        amr: vec![],
        auth_time: now,
        mfa_time: None,
        session_id: None,
        nonce: None,
        family_id: uuid::Uuid::new_v4(),
        client_app_type: ClientAppType::ServicePrincipal,
        steps: vec![crate::authn::step("clientSecret", true, "")],
        policy_done: true,
        policies: vec![],
        location_class: None,
        rotated_refresh_token: None,
    })
}
