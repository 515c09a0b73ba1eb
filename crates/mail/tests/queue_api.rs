//! The outbound queue in the mail admin API: listing, showing, retrying and deleting
//! entries — in-process as the local CLI uses it, and over HTTPS, where any admin role
//! may read and only a Global Administrator may retry or delete.

mod common;

use axum::body::Body;
use common::{env, parts};
use http_body_util::BodyExt;
use mailward_mail::LocalAdmin;
use mailward_mailstore::NewOutbound;
use serde_json::{Value, json};
use tower::ServiceExt;

/// One request to the local admin router, as the CLI sends it.
async fn local(router: &axum::Router, method: &str, path: &str) -> (u16, Value) {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("request");
    req.extensions_mut().insert(LocalAdmin);
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn enqueue(e: &common::Env, to: &str) -> uuid::Uuid {
    e.store
        .enqueue(NewOutbound {
            from: "sender@contoso.test",
            recipients: &[to.to_string()],
            raw: b"Subject: out\r\n\r\nbody\r\n",
            now: mailward_types::clock::now(),
        })
        .await
        .expect("enqueue")
}

#[tokio::test]
async fn local_admin_lists_retries_and_deletes_queued_mail() {
    let e = env().await;
    let r = mailward_mail::local_admin_router(e.store.clone());
    let (status, body) = local(&r, "GET", "/admin/v1/queue").await;
    assert_eq!((status, body), (200, json!({"value": []})));

    let first = enqueue(&e, "one@example.net").await;
    let second = enqueue(&e, "two@example.org").await;
    e.store
        .outbound_retry(second, "550 5.1.1 no such user", None)
        .await
        .expect("give up");

    let (status, body) = local(&r, "GET", "/admin/v1/queue").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["value"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, vec![first.to_string(), second.to_string()]);

    let (status, failed) = local(&r, "GET", &format!("/admin/v1/queue/{second}")).await;
    assert_eq!(status, 200);
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["from"], "sender@contoso.test");
    assert_eq!(failed["recipients"], json!(["two@example.org"]));
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["lastError"], "550 5.1.1 no such user");
    assert_eq!(failed["nextAttemptDateTime"], Value::Null);
    assert_eq!(failed["size"], 22);

    let (status, retried) = local(&r, "POST", &format!("/admin/v1/queue/{second}/retry")).await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["state"], "queued");
    assert!(retried["nextAttemptDateTime"].is_string());
    assert_eq!(retried["lastError"], "550 5.1.1 no such user");

    let (status, _) = local(&r, "DELETE", &format!("/admin/v1/queue/{first}")).await;
    assert_eq!(status, 204);
    let (status, body) = local(&r, "GET", &format!("/admin/v1/queue/{first}")).await;
    assert_eq!(status, 404, "{body}");
    for (method, path) in [
        ("DELETE", format!("/admin/v1/queue/{first}")),
        ("POST", format!("/admin/v1/queue/{first}/retry")),
    ] {
        let (status, body) = local(&r, method, &path).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "ErrorItemNotFound");
    }
    let (status, body) = local(&r, "DELETE", "/admin/v1/queue/not-an-id").await;
    assert_eq!(status, 400, "{body}");
    let queue = e.store.queue().await.expect("queue");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, second);
}

#[tokio::test]
async fn only_a_global_administrator_changes_the_queue() {
    let e = env().await;
    let c = e.client();
    let global = e.add_admin("boss", "GlobalAdministrator").await;
    let users = e.add_admin("helpdesk", "UserAdministrator").await;
    let global = e.token(&global, &["Exchange.Manage"]).await;
    let users = e.token(&users, &["Exchange.Manage"]).await;
    let id = enqueue(&e, "one@example.net").await;

    let (status, _, body) = parts(
        c.get(e.at("/admin/v1/queue"))
            .bearer_auth(&users)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(status, 200, "any admin reads the queue");
    assert_eq!(body["value"][0]["id"], id.to_string());
    assert_eq!(
        c.get(e.at("/admin/v1/queue"))
            .send()
            .await
            .expect("request")
            .status(),
        401
    );
    for token in [&users, &global] {
        let expected = if token == &global { 204 } else { 403 };
        let res = c
            .post(e.at(&format!("/admin/v1/queue/{id}/retry")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), if expected == 204 { 200 } else { 403 });
        let res = c
            .delete(e.at(&format!("/admin/v1/queue/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), expected);
    }
    assert!(e.store.queue().await.expect("queue").is_empty());
}
