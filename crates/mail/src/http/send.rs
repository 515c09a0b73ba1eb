//! `POST /v1.0/me/sendMail`: a Graph `message` becomes an RFC 5322 message from the
//! caller's address (the client cannot choose another sender), delivered to local
//! mailboxes or queued for the smarthost, and saved to Sent Items unless
//! `saveToSentItems` is `false`. Answers `202 Accepted` with no body, as Graph does.
//! Nothing is stored when the request is invalid, too large, or names a local address
//! without a mailbox.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailward_mailstore::{Flags, NewMessage, SpecialUse};

use super::auth::RestUser;
use super::rest::json_body;
use super::{AppState, GraphError};
use crate::deliver::{SubmitError, submit};
use crate::graph::{Author, SendMail, build};

pub(crate) async fn send_mail(
    State(s): State<AppState>,
    user: RestUser,
    req: axum::extract::Request,
) -> Response {
    if let Err(r) = user.require(&s, &["Mail.Send"]) {
        return r;
    }
    let remote = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let body = match axum::body::to_bytes(
        req.into_body(),
        (s.max_message_size as usize)
            .saturating_mul(2)
            .saturating_add(64 * 1024),
    )
    .await
    {
        Ok(b) => b,
        Err(_) => {
            return GraphError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ErrorMessageSizeExceeded",
                "The message exceeds the maximum supported size.",
            )
            .into_response();
        }
    };
    send(&s, &user, body, remote.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn send(
    s: &super::Shared,
    user: &RestUser,
    body: Bytes,
    remote: Option<&str>,
) -> Result<Response, GraphError> {
    let req: SendMail = json_body(&body)?;
    let account = &user.principal.account;
    let now = mailward_types::clock::now();
    let built = build(
        &req.message,
        &Author {
            address: &account.address,
            display_name: &account.display_name,
        },
        &s.endpoints.hostname,
        now,
    )
    .map_err(|e| GraphError::bad_request(e.code, e.message))?;
    let limit = s.max_message_size as usize;
    if built.transmit.len() > limit || built.sent_copy.len() > limit {
        return Err(GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ErrorMessageSizeExceeded",
            format!("The message exceeds the maximum supported size of {limit} bytes."),
        ));
    }
    let date = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let from = remote.map(|ip| format!("from [{ip}] ")).unwrap_or_default();
    let mut transmit = format!(
        "Received: {from}by {} (mailward) with HTTPS;\r\n\t{date}\r\n",
        s.endpoints.hostname
    )
    .into_bytes();
    transmit.extend_from_slice(&built.transmit);
    let sent_folder = if req.save_to_sent_items {
        Some(
            s.store
                .folder_by_role(account.id, SpecialUse::Sent)
                .await?
                .ok_or_else(|| GraphError::not_found("The Sent Items folder does not exist."))?,
        )
    } else {
        None
    };
    let submitted = submit(
        s.store.as_ref(),
        &s.endpoints.local_domains,
        s.relay,
        &account.address,
        &built.recipients,
        &transmit,
        now,
    )
    .await
    .map_err(|e| match e {
        SubmitError::UnknownRecipients(list) => GraphError::bad_request(
            "ErrorInvalidRecipients",
            format!("No mailbox exists for: {}.", list.join(", ")),
        ),
        SubmitError::NoRoute(list) => GraphError::bad_request(
            "ErrorInvalidRecipients",
            format!(
                "No route to other domains (no smarthost is configured) for: {}.",
                list.join(", ")
            ),
        ),
        SubmitError::Store(e) => e.into(),
    })?;
    if let Some(folder) = sent_folder {
        s.store
            .append(
                folder.id,
                NewMessage {
                    raw: &built.sent_copy,
                    flags: Flags {
                        seen: true,
                        ..Flags::default()
                    },
                    internal_date: now,
                },
            )
            .await?;
    }
    tracing::info!(account = %account.address, local = submitted.local, queued = submitted.queued, "message sent through the REST API");
    Ok(StatusCode::ACCEPTED.into_response())
}
