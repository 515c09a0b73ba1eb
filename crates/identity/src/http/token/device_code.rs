//! Device authorization grant, the polling half (RFC 8628 §3.4–3.5).

use super::{Denied, Granted};
use crate::issue::internal;
use crate::state::Ctx;
use mailward_oauth::OAuthError;
use mailward_oauth::{random, scope};
use mailward_store::StoreError;
use mailward_types::model::{Application, ClientAppType};
use mailward_types::records::{DeviceCode, DeviceStatus};
use mailward_types::{ErrorCode, Secret};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone)]
enum Poll {
    Pending,
    SlowDown,
    Expired,
    Denied,
    AlreadyRedeemed,
    WrongClient,
    Approved(DeviceStatus),
}

pub(super) async fn step(
    ctx: &Ctx,
    app: &Application,
    device_code: &Secret<String>,
    now: OffsetDateTime,
) -> Result<Granted, Denied> {
    let hash = random::hash(device_code.expose_secret());
    let slot: Arc<Mutex<Option<Poll>>> = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let client_id = app.client_id.to_string();
    let updated = ctx
        .store()
        .update_device_code(
            &hash,
            Box::new(move |mut d: DeviceCode| {
                let poll = classify(&mut d, &client_id, now);
                if let Ok(mut g) = out.lock() {
                    *g = Some(poll);
                }
                Ok(d)
            }),
        )
        .await;
    let record = match updated {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => {
            return Err(OAuthError::invalid_grant(ErrorCode::InvalidGrant)
                .with_detail("The device code is unknown.")
                .into());
        }
        Err(e) => return Err(internal(&e).into()),
    };
    let poll = slot
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .unwrap_or(Poll::Pending);
    let quiet = |error: OAuthError| Denied {
        error,
        user: None,
        username: None,
        steps: vec![],
        log: false,
        policies: vec![],
        interrupted: false,
    };
    match poll {
        Poll::Pending => Err(quiet(OAuthError::new(
            "authorization_pending",
            ErrorCode::AuthorizationPending,
        ))),
        Poll::SlowDown => Err(quiet(
            OAuthError::new("slow_down", ErrorCode::AuthorizationPending).with_detail(format!(
                "Poll no more often than every {} seconds.",
                record.interval_secs
            )),
        )),
        Poll::Expired => Err(OAuthError::new("expired_token", ErrorCode::DeviceCodeExpired).into()),
        Poll::Denied => Err(OAuthError::new("access_denied", ErrorCode::AccessDenied).into()),
        Poll::AlreadyRedeemed => Err(OAuthError::invalid_grant(ErrorCode::InvalidGrant)
            .with_detail("The device code was already redeemed.")
            .into()),
        Poll::WrongClient => Err(OAuthError::invalid_grant(ErrorCode::InvalidGrant)
            .with_detail("The device code was issued to another client.")
            .into()),
        Poll::Approved(DeviceStatus::Approved {
            user_id,
            amr,
            auth_time,
            mfa_time,
            session_id,
        }) => {
            let user = ctx
                .store()
                .user_by_id(user_id)
                .await
                .map_err(|e| internal(&e))?
                .ok_or_else(|| OAuthError::invalid_grant(ErrorCode::UserNotFound))?;
            let scopes = scope::parse(&record.scopes.join(" "), record.resource.as_deref())
                .map_err(Denied::from)?;
            Ok(Granted {
                user: Some(user),
                scopes,
                amr,
                auth_time,
                mfa_time,
                session_id,
                nonce: None,
                family_id: uuid::Uuid::new_v4(),
                client_app_type: ClientAppType::MobileAppsAndDesktopClients,
                steps: vec![crate::authn::step("deviceCode", true, "")],
                policy_done: false,
                policies: vec![],
                location_class: None,
                rotated_refresh_token: None,
            })
        }
        Poll::Approved(_) => Err(internal(&"device code in an unexpected state").into()),
    }
}

/// Decides the poll's answer and updates the record (last poll, redeemed).
fn classify(d: &mut DeviceCode, client_id: &str, now: OffsetDateTime) -> Poll {
    if d.client_id != client_id {
        return Poll::WrongClient;
    }
    if matches!(d.status, DeviceStatus::Redeemed) {
        return Poll::AlreadyRedeemed;
    }
    if now >= d.expires_at {
        return Poll::Expired;
    }
    match &d.status {
        DeviceStatus::Pending => {
            let too_fast = d.last_poll_at.is_some_and(|last| {
                now - last < Duration::milliseconds(d.interval_secs * 1000 / 2)
            });
            d.last_poll_at = Some(now);
            if too_fast {
                Poll::SlowDown
            } else {
                Poll::Pending
            }
        }
        DeviceStatus::Denied => Poll::Denied,
        DeviceStatus::Approved { .. } => {
            let approved = std::mem::replace(&mut d.status, DeviceStatus::Redeemed);
            Poll::Approved(approved)
        }
        DeviceStatus::Redeemed => Poll::AlreadyRedeemed,
    }
}
