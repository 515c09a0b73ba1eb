//! The outbound queue in the mail admin API (Exchange's `Get-Queue`/`Get-Message`,
//! `Retry-Queue`, `Remove-Message`): what waits for the smarthost or was given up on.
//!
//! | request | what |
//! |---|---|
//! | `GET /admin/v1/queue` | every entry, oldest first |
//! | `GET /admin/v1/queue/{id}` | one entry |
//! | `POST /admin/v1/queue/{id}/retry` | due again now (a `failed` entry too) |
//! | `DELETE /admin/v1/queue/{id}` | removed without being sent |
//!
//! Reading needs any admin role; retrying and deleting someone's mail only a Global
//! Administrator.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mailward_mailstore::{Outbound, StoreError};
use serde_json::{Value, json};
use uuid::Uuid;

use super::GraphError;
use super::admin::{AdminCaller, AdminState, Permission};

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/v1/queue", get(list_queue))
        .route("/admin/v1/queue/{id}", get(get_entry).delete(delete_entry))
        .route("/admin/v1/queue/{id}/retry", post(retry_entry))
}

type Answer = Result<Response, Response>;

fn err(e: impl Into<GraphError>) -> Response {
    e.into().into_response()
}

fn entry_json(o: &Outbound) -> Value {
    json!({
        "id": o.id,
        "from": o.from,
        "recipients": o.recipients,
        "size": o.size,
        "queuedDateTime": crate::graph::rfc3339(o.queued),
        "attempts": o.attempts,
        "nextAttemptDateTime": o.next_attempt.map(crate::graph::rfc3339),
        "lastError": o.last_error,
        "state": o.state,
    })
}

fn parse_id(id: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(id).map_err(|_| {
        err(GraphError::bad_request(
            "Request_BadRequest",
            format!(
                "'{}' is not a queue entry id.",
                id.chars().take(64).collect::<String>()
            ),
        ))
    })
}

async fn find(s: &AdminState, id: Uuid) -> Result<Outbound, Response> {
    s.store
        .queue()
        .await
        .map_err(err)?
        .into_iter()
        .find(|o| o.id == id)
        .ok_or_else(|| err(GraphError::not_found(format!("No queue entry {id}."))))
}

fn missing(id: Uuid) -> impl Fn(StoreError) -> Response {
    move |e| match e {
        StoreError::NotFound(_) => err(GraphError::not_found(format!("No queue entry {id}."))),
        other => err(other),
    }
}

async fn list_queue(State(s): State<AdminState>, who: AdminCaller) -> Answer {
    who.require(Permission::Read)?;
    let entries = s.store.queue().await.map_err(err)?;
    Ok(Json(json!({"value": entries.iter().map(entry_json).collect::<Vec<_>>()})).into_response())
}

async fn get_entry(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(id): Path<String>,
) -> Answer {
    who.require(Permission::Read)?;
    let id = parse_id(&id)?;
    Ok(Json(entry_json(&find(&s, id).await?)).into_response())
}

async fn retry_entry(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(id): Path<String>,
) -> Answer {
    let who = who.require(Permission::ManageQueue)?;
    let id = parse_id(&id)?;
    s.store
        .outbound_reschedule(id, mailward_types::clock::now())
        .await
        .map_err(missing(id))?;
    tracing::info!(by = %who.name, %id, "queue entry rescheduled");
    Ok(Json(entry_json(&find(&s, id).await?)).into_response())
}

async fn delete_entry(
    State(s): State<AdminState>,
    who: AdminCaller,
    Path(id): Path<String>,
) -> Answer {
    let who = who.require(Permission::ManageQueue)?;
    let id = parse_id(&id)?;
    s.store.outbound_done(id).await.map_err(missing(id))?;
    tracing::info!(by = %who.name, %id, "queue entry deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
