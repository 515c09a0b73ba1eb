//! The REST mail API with real tokens: sendMail between two local users (delivered,
//! saved to Sent Items, Bcc hidden), folders, paging, get, PATCH of isRead and flag,
//! move, delete (to Deleted Items, then for good), ids of other accounts, and bad input
//! that must leave nothing stored.

mod common;

use common::{Env, env, env_with, parts};
use mailward_mailstore::SpecialUse;
use mailward_testkit::{DOMAIN, mail};
use mailward_types::model::User;
use serde_json::{Value, json};

const RW: &[&str] = &["Mail.ReadWrite", "Mail.Send"];

async fn call(
    e: &Env,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = e.client().request(method, e.at(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, _, body) = parts(req.send().await.expect("request")).await;
    (status, body)
}

async fn send(e: &Env, token: &str, message: Value) -> (u16, Value) {
    call(
        e,
        token,
        reqwest::Method::POST,
        "/v1.0/me/sendMail",
        Some(message),
    )
    .await
}

fn to(addresses: &[&str]) -> Value {
    Value::Array(
        addresses
            .iter()
            .map(|a| json!({"emailAddress": {"address": a}}))
            .collect(),
    )
}

async fn count(e: &Env, user: &User, role: SpecialUse) -> u32 {
    let Some(account) = e.store.account_by_user(user.id).await.expect("account") else {
        return 0;
    };
    let folder = e
        .store
        .folder_by_role(account.id, role)
        .await
        .expect("folder")
        .expect("special folder");
    e.store.status(folder.id).await.expect("status").messages
}

#[tokio::test]
async fn send_list_read_flag_move_and_delete() {
    let e = env().await;
    let alice = mail::add_user(&e.t, "alice").await;
    let bob = mail::add_user(&e.t, "bob").await;
    let carol = mail::add_user(&e.t, "carol").await;
    e.mailbox(&bob).await;
    e.mailbox(&carol).await;
    let a = e.token(&alice, RW).await;
    let b = e.token(&bob, RW).await;

    let (status, body) = call(&e, &a, reqwest::Method::GET, "/v1.0/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["mail"], format!("alice@{DOMAIN}"));

    for i in 0..3 {
        let (status, body) = send(
            &e,
            &a,
            json!({"message": {
                "subject": format!("Report {i}"),
                "body": {"contentType": "HTML", "content": format!("<p>Part <b>{i}</b></p>")},
                "toRecipients": to(&[&format!("bob@{DOMAIN}")]),
                "bccRecipients": to(&[&format!("carol@{DOMAIN}")]),
            }}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(count(&e, &alice, SpecialUse::Sent).await, 3);
    assert_eq!(count(&e, &bob, SpecialUse::Inbox).await, 3);
    assert_eq!(count(&e, &carol, SpecialUse::Inbox).await, 3);

    // Folders, well-known names and ids.
    let (status, body) = call(&e, &b, reqwest::Method::GET, "/v1.0/me/mailFolders", None).await;
    assert_eq!(status, 200, "{body}");
    let folders = body["value"].as_array().expect("folders").clone();
    assert_eq!(folders.len(), 6);
    let inbox = folders
        .iter()
        .find(|f| f["wellKnownName"] == "inbox")
        .expect("inbox");
    assert_eq!(inbox["displayName"], "Inbox");
    assert_eq!(inbox["totalItemCount"], 3);
    assert_eq!(inbox["unreadItemCount"], 3);
    let inbox_id = inbox["id"].as_str().expect("id").to_string();
    let (_, by_id) = call(
        &e,
        &b,
        reqwest::Method::GET,
        &format!("/v1.0/me/mailFolders/{inbox_id}"),
        None,
    )
    .await;
    assert_eq!(by_id["id"], inbox_id.as_str());

    // Paging, newest first.
    let (status, page1) = call(
        &e,
        &b,
        reqwest::Method::GET,
        "/v1.0/me/mailFolders/inbox/messages?$top=2",
        None,
    )
    .await;
    assert_eq!(status, 200, "{page1}");
    let msgs = page1["value"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2);
    let next = page1["@odata.nextLink"].as_str().expect("nextLink");
    assert!(next.starts_with(&e.url), "{next}");
    let next_path = next.trim_start_matches(&e.url);
    let (_, page2) = call(&e, &b, reqwest::Method::GET, next_path, None).await;
    assert_eq!(page2["value"].as_array().map(Vec::len), Some(1));
    assert!(page2.get("@odata.nextLink").is_none());
    let mut subjects: Vec<String> = msgs
        .iter()
        .chain(page2["value"].as_array().expect("page 2"))
        .map(|m| m["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["Report 0", "Report 1", "Report 2"]);

    let first = &msgs[0];
    assert_eq!(
        first["from"]["emailAddress"]["address"],
        format!("alice@{DOMAIN}")
    );
    assert_eq!(
        first["toRecipients"][0]["emailAddress"]["address"],
        format!("bob@{DOMAIN}")
    );
    assert_eq!(first["bccRecipients"], json!([]), "Bcc is not delivered");
    assert_eq!(first["isRead"], false);
    assert_eq!(first["body"]["contentType"], "html");
    assert_eq!(first["parentFolderId"], inbox_id.as_str());
    let id = first["id"].as_str().expect("id").to_string();

    // /me/messages spans folders; $skip works.
    let (_, all) = call(
        &e,
        &b,
        reqwest::Method::GET,
        "/v1.0/me/messages?$top=10&$skip=1",
        None,
    )
    .await;
    assert_eq!(all["value"].as_array().map(Vec::len), Some(2));

    // Get, text preference.
    let res = e
        .client()
        .get(e.at(&format!("/v1.0/me/messages/{id}")))
        .bearer_auth(&b)
        .header("Prefer", "outlook.body-content-type=\"text\"")
        .send()
        .await
        .expect("request");
    let (_, _, msg) = parts(res).await;
    assert_eq!(msg["body"]["contentType"], "text");
    assert_eq!(msg["id"], id.as_str());

    // PATCH isRead and flag.
    let (status, patched) = call(
        &e,
        &b,
        reqwest::Method::PATCH,
        &format!("/v1.0/me/messages/{id}"),
        Some(json!({"isRead": true, "flag": {"flagStatus": "flagged"}})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["isRead"], true);
    assert_eq!(patched["flag"]["flagStatus"], "flagged");
    let (_, patched) = call(
        &e,
        &b,
        reqwest::Method::PATCH,
        &format!("/v1.0/me/messages/{id}"),
        Some(json!({"flag": {"flagStatus": "complete"}})),
    )
    .await;
    assert_eq!(patched["flag"]["flagStatus"], "complete");
    assert_eq!(patched["isRead"], true);
    for bad in [
        json!({"subject": "x"}),
        json!({"flag": {"flagStatus": "urgent"}}),
        json!([1]),
    ] {
        let (status, body) = call(
            &e,
            &b,
            reqwest::Method::PATCH,
            &format!("/v1.0/me/messages/{id}"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "ErrorInvalidRequest");
    }
    let (_, inbox_now) = call(
        &e,
        &b,
        reqwest::Method::GET,
        "/v1.0/me/mailFolders/inbox",
        None,
    )
    .await;
    assert_eq!(inbox_now["unreadItemCount"], 2);

    // Move to Archive: a new id; the old one is gone.
    let (status, moved) = call(
        &e,
        &b,
        reqwest::Method::POST,
        &format!("/v1.0/me/messages/{id}/move"),
        Some(json!({"destinationId": "archive"})),
    )
    .await;
    assert_eq!(status, 201, "{moved}");
    let moved_id = moved["id"].as_str().expect("id").to_string();
    assert_ne!(moved_id, id);
    assert_eq!(moved["isRead"], true, "flags survive the move");
    let (status, _) = call(
        &e,
        &b,
        reqwest::Method::GET,
        &format!("/v1.0/me/messages/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Delete: to Deleted Items, then for good.
    let (status, _) = call(
        &e,
        &b,
        reqwest::Method::DELETE,
        &format!("/v1.0/me/messages/{moved_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(count(&e, &bob, SpecialUse::Trash).await, 1);
    let (_, trash) = call(
        &e,
        &b,
        reqwest::Method::GET,
        "/v1.0/me/mailFolders/deleteditems/messages",
        None,
    )
    .await;
    let trashed_id = trash["value"][0]["id"]
        .as_str()
        .expect("trashed")
        .to_string();
    let (status, _) = call(
        &e,
        &b,
        reqwest::Method::DELETE,
        &format!("/v1.0/me/messages/{trashed_id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(count(&e, &bob, SpecialUse::Trash).await, 0);

    // Another account's ids find nothing; malformed ids are refused.
    let (_, bob_inbox) = call(
        &e,
        &b,
        reqwest::Method::GET,
        "/v1.0/me/mailFolders/inbox/messages",
        None,
    )
    .await;
    let bobs = bob_inbox["value"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, body) = call(
        &e,
        &a,
        reqwest::Method::GET,
        &format!("/v1.0/me/messages/{bobs}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "ErrorItemNotFound");
    let (status, _) = call(
        &e,
        &a,
        reqwest::Method::DELETE,
        &format!("/v1.0/me/messages/{bobs}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(count(&e, &bob, SpecialUse::Inbox).await, 2);
    let (status, body) = call(
        &e,
        &a,
        reqwest::Method::GET,
        "/v1.0/me/messages/not-an-id",
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "ErrorInvalidIdMalformed");
    let (status, _) = call(
        &e,
        &a,
        reqwest::Method::GET,
        &format!("/v1.0/me/mailFolders/{inbox_id}/messages"),
        None,
    )
    .await;
    assert_eq!(status, 404, "another account's folder id");
    let (status, _) = call(
        &e,
        &a,
        reqwest::Method::GET,
        "/v1.0/me/messages?$top=0",
        None,
    )
    .await;
    assert_eq!(status, 400);

    // The same API under /api (autodiscover's Rest base).
    let (status, body) = call(
        &e,
        &b,
        reqwest::Method::GET,
        "/api/v1.0/me/mailFolders/inbox",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn send_mail_refuses_bad_requests_without_storing_anything() {
    // A smarthost where nothing listens: remote mail has a route and waits in the queue.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let e = env_with(|c| {
        c.max_message_size = 4096;
        c.smarthost.host = "localhost".into();
        c.smarthost.port = closed;
    })
    .await;
    let alice = mail::add_user(&e.t, "sender").await;
    let bob = mail::add_user(&e.t, "rcpt").await;
    e.mailbox(&bob).await;
    let a = e.token(&alice, RW).await;
    let bob_addr = format!("rcpt@{DOMAIN}");
    let cases = [
        (
            json!({"message": {"subject": "no recipients"}}),
            400,
            "ErrorInvalidRecipients",
        ),
        (
            json!({"message": {"toRecipients": to(&[&bob_addr, &format!("nobody@{DOMAIN}")])}}),
            400,
            "ErrorInvalidRecipients",
        ),
        (
            json!({"message": {"toRecipients": to(&["bad address"])}}),
            400,
            "ErrorInvalidRecipients",
        ),
        (
            json!({"message": {"toRecipients": to(&[&bob_addr]), "attachments": []}}),
            400,
            "ErrorInvalidRequest",
        ),
        (
            json!({"message": {"toRecipients": to(&[&bob_addr]), "body": {"content": "x".repeat(5000)}}}),
            413,
            "ErrorMessageSizeExceeded",
        ),
        (
            json!({"toRecipients": to(&[&bob_addr])}),
            400,
            "ErrorInvalidRequest",
        ),
    ];
    for (input, status, code) in cases {
        let (got, body) = send(&e, &a, input.clone()).await;
        assert_eq!(got, status, "{input}: {body}");
        assert_eq!(body["error"]["code"], code, "{input}");
    }
    let res = e
        .client()
        .post(e.at("/v1.0/me/sendMail"))
        .bearer_auth(&a)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 400);
    assert_eq!(count(&e, &bob, SpecialUse::Inbox).await, 0);
    assert_eq!(count(&e, &alice, SpecialUse::Sent).await, 0);
    assert!(e.store.queue().await.expect("queue").is_empty());

    // Remote recipients are queued for the smarthost; saveToSentItems false keeps no copy.
    let (status, body) = send(
        &e,
        &a,
        json!({"message": {"toRecipients": to(&["someone@example.net", &bob_addr]), "subject": "out"}, "saveToSentItems": false}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let queue = e.store.queue().await.expect("queue");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].recipients, vec!["someone@example.net".to_string()]);
    assert_eq!(queue[0].from, format!("sender@{DOMAIN}"));
    assert_eq!(count(&e, &bob, SpecialUse::Inbox).await, 1);
    assert_eq!(count(&e, &alice, SpecialUse::Sent).await, 0);

    // Mail.Send alone may send.
    let send_only = e.token(&alice, &["Mail.Send"]).await;
    let (status, _) = send(
        &e,
        &send_only,
        json!({"message": {"toRecipients": to(&[&bob_addr])}}),
    )
    .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn send_mail_to_another_domain_without_a_smarthost_is_refused() {
    let e = env().await;
    let alice = mail::add_user(&e.t, "sender").await;
    let bob = mail::add_user(&e.t, "rcpt").await;
    e.mailbox(&bob).await;
    let a = e.token(&alice, RW).await;
    let bob_addr = format!("rcpt@{DOMAIN}");
    let (status, body) = send(
        &e,
        &a,
        json!({"message": {"toRecipients": to(&["someone@example.net", &bob_addr]), "subject": "out"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "ErrorInvalidRecipients");
    assert_eq!(
        body["error"]["message"],
        "No route to other domains (no smarthost is configured) for: someone@example.net."
    );
    assert!(e.store.queue().await.expect("queue").is_empty());
    assert_eq!(
        count(&e, &bob, SpecialUse::Inbox).await,
        0,
        "nothing delivered"
    );
}
