//! The REST mail API in Microsoft Graph's shape (`/v1.0/me/...`, also under `/api`, the
//! base autodiscover's `Rest` answer names): folders, messages (list with `$top` and
//! `$skip`, get, `PATCH` of `isRead` and `flag`, delete, move) and `sendMail`
//! (`send.rs`).
//!
//! Folders are addressed by id or by Graph's well-known names (`inbox`, `sentitems`,
//! `drafts`, `deleteditems`, `junkemail`, `archive`; `msgfolderroot` is the root).
//! Reading and changing need `Mail.ReadWrite`, sending `Mail.Send`. Lists are sorted by
//! `receivedDateTime`, newest first, and page with `@odata.nextLink`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mailward_mailstore::{FlagOp, Flags, Folder, MessageMeta, SpecialUse};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::RestUser;
use super::{AppState, GraphError, Shared};
use crate::graph::{self, BodyPreference, COMPLETED_KEYWORD};
use crate::ids::{self, MessageKey};

/// Scopes that allow reading and changing mail.
pub(crate) const READ_WRITE: &[&str] = &["Mail.ReadWrite", "Mail.Read"];
/// Default and largest page.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1000;
/// The root of the folder tree.
const ROOT: &str = "msgfolderroot";

fn me_routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/me", get(me))
        .route("/v1.0/me/mailFolders", get(list_folders))
        .route("/v1.0/me/mailFolders/{folder}", get(get_folder))
        .route(
            "/v1.0/me/mailFolders/{folder}/childFolders",
            get(child_folders),
        )
        .route(
            "/v1.0/me/mailFolders/{folder}/messages",
            get(folder_messages),
        )
        .route("/v1.0/me/messages", get(all_messages))
        .route(
            "/v1.0/me/messages/{id}",
            get(get_message).patch(patch_message).delete(delete_message),
        )
        .route("/v1.0/me/messages/{id}/move", post(move_message))
        .route("/v1.0/me/sendMail", post(super::send::send_mail))
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().merge(me_routes()).nest("/api", me_routes())
}

async fn me(State(s): State<AppState>, user: RestUser) -> Response {
    if let Err(r) = user.require(&s, &["Mail.ReadWrite", "Mail.Read", "Mail.Send"]) {
        return r;
    }
    let a = &user.principal.account;
    axum::Json(json!({
        "@odata.context": format!("{}/v1.0/$metadata#users/$entity", s.endpoints.public_url),
        "id": a.user_oid,
        "userPrincipalName": a.upn,
        "mail": a.address,
        "displayName": a.display_name,
    }))
    .into_response()
}

/// `$top` and `$skip` (also without the `$`).
#[derive(Debug, Clone, Copy)]
struct Page {
    top: usize,
    skip: usize,
}

fn page(query: Option<&str>) -> Result<Page, GraphError> {
    let mut p = Page {
        top: DEFAULT_TOP,
        skip: 0,
    };
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let key = k.trim_start_matches('$').to_ascii_lowercase();
        let parse = |name: &str| {
            v.parse::<usize>().map_err(|_| {
                GraphError::bad_request(
                    "BadRequest",
                    format!(
                        "Invalid value '{}' for query option ${name}.",
                        v.chars().take(20).collect::<String>()
                    ),
                )
            })
        };
        match key.as_str() {
            "top" => p.top = parse("top")?,
            "skip" => p.skip = parse("skip")?,
            _ => {}
        }
    }
    if p.top == 0 || p.top > MAX_TOP {
        return Err(GraphError::bad_request(
            "BadRequest",
            format!("$top must be between 1 and {MAX_TOP}."),
        ));
    }
    Ok(p)
}

fn body_preference(headers: &HeaderMap) -> BodyPreference {
    let text = headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',').any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p.starts_with("outlook.body-content-type") && p.contains("text")
            })
        })
    });
    if text {
        BodyPreference::Text
    } else {
        BodyPreference::Html
    }
}

fn leaf(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn parent_name(name: &str) -> Option<&str> {
    name.rsplit_once('/').map(|(p, _)| p)
}

/// A folder by id or well-known name, of this account only.
async fn resolve_folder(s: &Shared, account: uuid::Uuid, key: &str) -> Result<Folder, GraphError> {
    let lower = key.to_ascii_lowercase();
    if let Some(role) = SpecialUse::ALL.iter().find(|r| r.graph_name() == lower) {
        return s
            .store
            .folder_by_role(account, *role)
            .await?
            .ok_or_else(|| {
                GraphError::not_found("The specified folder could not be found in the store.")
            });
    }
    let id = ids::decode_folder(key)
        .ok_or_else(|| GraphError::bad_request("ErrorInvalidIdMalformed", "Id is malformed."))?;
    s.store
        .folders(account)
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| {
            GraphError::not_found("The specified folder could not be found in the store.")
        })
}

async fn folder_json(s: &Shared, f: &Folder, all: &[Folder]) -> Result<Value, GraphError> {
    let st = s.store.status(f.id).await?;
    let children = all
        .iter()
        .filter(|c| parent_name(&c.name) == Some(f.name.as_str()))
        .count();
    let parent = match parent_name(&f.name) {
        Some(p) => all
            .iter()
            .find(|c| c.name == p)
            .map(|c| ids::encode_folder(c.id))
            .unwrap_or_else(|| ROOT.to_string()),
        None => ROOT.to_string(),
    };
    Ok(json!({
        "id": ids::encode_folder(f.id),
        "displayName": if f.name == "INBOX" { "Inbox" } else { leaf(&f.name) },
        "parentFolderId": parent,
        "childFolderCount": children,
        "unreadItemCount": st.unseen,
        "totalItemCount": st.messages,
        "sizeInBytes": st.size,
        "isHidden": false,
        "wellKnownName": f.role.map(SpecialUse::graph_name),
    }))
}

fn collection(s: &Shared, context: &str, value: Vec<Value>, next: Option<String>) -> Response {
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#{context}", s.endpoints.public_url),
        "value": value,
    });
    if let Some(n) = next {
        body["@odata.nextLink"] = json!(n);
    }
    axum::Json(body).into_response()
}

async fn folders_under(
    s: &Shared,
    user: &RestUser,
    parent: Option<&str>,
    query: Option<&str>,
) -> Result<Response, GraphError> {
    let p = page(query)?;
    let all = s.store.folders(user.principal.account.id).await?;
    let mut chosen: Vec<&Folder> = all
        .iter()
        .filter(|f| parent_name(&f.name) == parent)
        .collect();
    // Special folders first (INBOX, Sent, ...), then by name.
    chosen.sort_by_key(|f| (f.role.is_none(), f.name.to_lowercase()));
    let total = chosen.len();
    let mut value = Vec::new();
    for f in chosen.into_iter().skip(p.skip).take(p.top) {
        value.push(folder_json(s, f, &all).await?);
    }
    Ok(collection(
        s,
        "users('me')/mailFolders",
        value,
        next_link(s, "mailFolders", p, total),
    ))
}

fn next_link(s: &Shared, path: &str, p: Page, total: usize) -> Option<String> {
    (p.skip + p.top < total).then(|| {
        format!(
            "{}/v1.0/me/{path}?%24top={}&%24skip={}",
            s.endpoints.public_url,
            p.top,
            p.skip + p.top
        )
    })
}

async fn list_folders(
    State(s): State<AppState>,
    user: RestUser,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = user.require(&s, READ_WRITE) {
        return r;
    }
    folders_under(&s, &user, None, q.as_deref())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn get_folder(
    State(s): State<AppState>,
    user: RestUser,
    Path(folder): Path<String>,
) -> Response {
    if let Err(r) = user.require(&s, READ_WRITE) {
        return r;
    }
    let run = async {
        if folder.eq_ignore_ascii_case(ROOT) {
            return Ok(axum::Json(json!({
                "id": ROOT, "displayName": "Top of Information Store", "parentFolderId": null,
                "isHidden": false, "wellKnownName": ROOT,
            }))
            .into_response());
        }
        let account = user.principal.account.id;
        let f = resolve_folder(&s, account, &folder).await?;
        let all = s.store.folders(account).await?;
        Ok::<_, GraphError>(axum::Json(folder_json(&s, &f, &all).await?).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn child_folders(
    State(s): State<AppState>,
    user: RestUser,
    Path(folder): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = user.require(&s, READ_WRITE) {
        return r;
    }
    let run = async {
        if folder.eq_ignore_ascii_case(ROOT) {
            return folders_under(&s, &user, None, q.as_deref()).await;
        }
        let f = resolve_folder(&s, user.principal.account.id, &folder).await?;
        folders_under(&s, &user, Some(&f.name), q.as_deref()).await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// One page of `items`, newest first, as Graph messages.
async fn message_page(
    s: &Shared,
    mut items: Vec<(Folder, MessageMeta)>,
    p: Page,
    pref: BodyPreference,
    path: &str,
) -> Result<Response, GraphError> {
    items.sort_by(|(fa, a), (fb, b)| {
        b.internal_date
            .cmp(&a.internal_date)
            .then(fb.id.cmp(&fa.id))
            .then(b.uid.cmp(&a.uid))
    });
    let total = items.len();
    let mut value = Vec::new();
    for (folder, meta) in items.iter().skip(p.skip).take(p.top) {
        value.push(message_value(s, folder, meta, pref).await?);
    }
    Ok(collection(
        s,
        "users('me')/messages",
        value,
        next_link(s, path, p, total),
    ))
}

async fn message_value(
    s: &Shared,
    folder: &Folder,
    meta: &MessageMeta,
    pref: BodyPreference,
) -> Result<Value, GraphError> {
    let raw = s.store.body(&meta.blob).await?;
    let id = MessageKey {
        folder: folder.id,
        uid_validity: folder.uid_validity,
        uid: meta.uid,
    }
    .encode();
    Ok(graph::message_json(
        &id,
        &ids::encode_folder(folder.id),
        meta,
        &raw,
        pref,
    ))
}

async fn folder_messages(
    State(s): State<AppState>,
    user: RestUser,
    Path(folder): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = user.require(&s, READ_WRITE) {
        return r;
    }
    let run = async {
        let p = page(q.as_deref())?;
        let f = resolve_folder(&s, user.principal.account.id, &folder).await?;
        let metas = s.store.messages(f.id).await?;
        let items = metas.into_iter().map(|m| (f.clone(), m)).collect();
        let path = format!("mailFolders/{folder}/messages");
        message_page(&s, items, p, body_preference(&headers), &path).await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn all_messages(
    State(s): State<AppState>,
    user: RestUser,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = user.require(&s, READ_WRITE) {
        return r;
    }
    let run = async {
        let p = page(q.as_deref())?;
        let mut items = Vec::new();
        for f in s.store.folders(user.principal.account.id).await? {
            for m in s.store.messages(f.id).await? {
                items.push((f.clone(), m));
            }
        }
        message_page(&s, items, p, body_preference(&headers), "messages").await
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// A message by id, of this account only.
async fn find_message(
    s: &Shared,
    account: uuid::Uuid,
    id: &str,
) -> Result<(Folder, MessageMeta), GraphError> {
    let key = MessageKey::decode(id)
        .ok_or_else(|| GraphError::bad_request("ErrorInvalidIdMalformed", "Id is malformed."))?;
    let missing = || GraphError::not_found("The specified object was not found in the store.");
    let folder = s
        .store
        .folders(account)
        .await?
        .into_iter()
        .find(|f| f.id == key.folder && f.uid_validity == key.uid_validity)
        .ok_or_else(missing)?;
    let meta = s
        .store
        .messages_by_uid(folder.id, &[key.uid])
        .await?
        .into_iter()
        .next()
        .ok_or_else(missing)?;
    Ok((folder, meta))
}

async fn get_message(
    State(s): State<AppState>,
    user: RestUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = user.require(&s, READ_WRITE) {
        return r;
    }
    let run = async {
        let (folder, meta) = find_message(&s, user.principal.account.id, &id).await?;
        let v = message_value(&s, &folder, &meta, body_preference(&headers)).await?;
        Ok::<_, GraphError>(axum::Json(v).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// The properties `PATCH` may change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessagePatch {
    #[serde(default)]
    is_read: Option<bool>,
    #[serde(default)]
    flag: Option<FlagPatch>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlagPatch {
    flag_status: String,
}

/// Parses a JSON request body into `T`, naming what is wrong.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, GraphError> {
    serde_json::from_slice(body).map_err(|e| {
        GraphError::bad_request(
            "ErrorInvalidRequest",
            format!("The request body is invalid: {e}"),
        )
    })
}

fn flags_of(seen: bool, flagged: bool, keyword: bool) -> Flags {
    Flags {
        seen,
        flagged,
        keywords: if keyword {
            vec![COMPLETED_KEYWORD.to_string()]
        } else {
            vec![]
        },
        ..Flags::default()
    }
}

async fn patch_message(
    State(s): State<AppState>,
    user: RestUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = user.require(&s, &["Mail.ReadWrite"]) {
        return r;
    }
    let run = async {
        let patch: MessagePatch = json_body(&body)?;
        // Validate everything before changing anything.
        let flag = match patch.flag.as_ref().map(|f| f.flag_status.as_str()) {
            None => None,
            Some(f @ ("flagged" | "notFlagged" | "complete")) => Some(f),
            Some(other) => {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    format!(
                        "flag.flagStatus '{}' is not one of flagged, notFlagged, complete.",
                        other.chars().take(32).collect::<String>()
                    ),
                ));
            }
        };
        let (folder, meta) = find_message(&s, user.principal.account.id, &id).await?;
        let uids = [meta.uid];
        let mut add = flags_of(false, false, false);
        let mut remove = flags_of(false, false, false);
        match patch.is_read {
            Some(true) => add.seen = true,
            Some(false) => remove.seen = true,
            None => {}
        }
        match flag {
            Some("flagged") => {
                add.flagged = true;
                remove.keywords = vec![COMPLETED_KEYWORD.into()];
            }
            Some("notFlagged") => {
                remove.flagged = true;
                remove.keywords = vec![COMPLETED_KEYWORD.into()];
            }
            Some("complete") => {
                remove.flagged = true;
                add.keywords = vec![COMPLETED_KEYWORD.into()];
            }
            _ => {}
        }
        if add != Flags::default() {
            s.store
                .store_flags(folder.id, &uids, FlagOp::Add, &add, None)
                .await?;
        }
        if remove != Flags::default() {
            s.store
                .store_flags(folder.id, &uids, FlagOp::Remove, &remove, None)
                .await?;
        }
        let (folder, meta) = find_message(&s, user.principal.account.id, &id).await?;
        let v = message_value(&s, &folder, &meta, body_preference(&headers)).await?;
        Ok::<_, GraphError>(axum::Json(v).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

async fn delete_message(
    State(s): State<AppState>,
    user: RestUser,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = user.require(&s, &["Mail.ReadWrite"]) {
        return r;
    }
    let run = async {
        let account = user.principal.account.id;
        let (folder, meta) = find_message(&s, account, &id).await?;
        let trash = s.store.folder_by_role(account, SpecialUse::Trash).await?;
        match trash {
            Some(t) if t.id != folder.id => {
                s.store.move_messages(folder.id, &[meta.uid], t.id).await?;
            }
            _ => {
                s.store.remove(folder.id, &[meta.uid]).await?;
            }
        }
        Ok::<_, GraphError>(StatusCode::NO_CONTENT.into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MoveRequest {
    destination_id: String,
}

async fn move_message(
    State(s): State<AppState>,
    user: RestUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = user.require(&s, &["Mail.ReadWrite"]) {
        return r;
    }
    let run = async {
        let req: MoveRequest = json_body(&body)?;
        let account = user.principal.account.id;
        let (folder, meta) = find_message(&s, account, &id).await?;
        let dest = resolve_folder(&s, account, &req.destination_id).await?;
        if dest.id == folder.id {
            let v = message_value(&s, &folder, &meta, body_preference(&headers)).await?;
            return Ok(axum::Json(v).into_response());
        }
        let moved = s
            .store
            .move_messages(folder.id, &[meta.uid], dest.id)
            .await?;
        let new_uid = moved.pairs.first().map(|(_, n)| *n).ok_or_else(|| {
            GraphError::not_found("The specified object was not found in the store.")
        })?;
        let new_id = MessageKey {
            folder: dest.id,
            uid_validity: moved.uid_validity,
            uid: new_uid,
        }
        .encode();
        let (folder, meta) = find_message(&s, account, &new_id).await?;
        let v = message_value(&s, &folder, &meta, body_preference(&headers)).await?;
        Ok::<_, GraphError>((StatusCode::CREATED, axum::Json(v)).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_options() {
        let p = page(Some("%24top=5&%24skip=10")).expect("page");
        assert_eq!((p.top, p.skip), (5, 10));
        let p = page(Some("top=3")).expect("page");
        assert_eq!((p.top, p.skip), (3, 0));
        assert_eq!(page(None).expect("page").top, DEFAULT_TOP);
        for bad in ["$top=0", "$top=-1", "$top=x", "$skip=1.5", "$top=100000"] {
            assert!(page(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefer_text_body() {
        let mut h = HeaderMap::new();
        assert_eq!(body_preference(&h), BodyPreference::Html);
        h.insert(
            "prefer",
            "outlook.body-content-type=\"text\""
                .parse()
                .expect("header"),
        );
        assert_eq!(body_preference(&h), BodyPreference::Text);
    }
}
