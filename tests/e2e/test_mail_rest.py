"""The REST mail API (Microsoft Graph's shape) with `Authorization: Bearer` tokens from
msal: folders, sendMail to another local user, list with $top/$skip, get, PATCH isRead
and flag, delete (to Deleted Items, then for good)."""

from __future__ import annotations

import uuid

import pytest
import requests

from conftest import User
from mailtools import sign_in


@pytest.fixture(scope="module")
def pair(mailward):
    out = []
    for name in ("rest-a", "rest-b"):
        local = f"{name.replace('-', '')}{uuid.uuid4().hex[:8]}"
        password = f"correct horse {uuid.uuid4().hex[:8]} staple"
        user = User(upn=mailward.add_user(local, password), password=password)
        out.append(sign_in(mailward, user, ["Mail.ReadWrite", "Mail.Send"]))
    # The recipient's mailbox exists before anyone writes to it.
    mailward.cli("mailbox", "add", out[1].user.upn)
    return out


def api(mailward, who, method: str, path: str, **kw) -> requests.Response:
    return requests.request(
        method,
        mailward.mail.at(path),
        headers={"Authorization": f"Bearer {who.token}", **kw.pop("headers", {})},
        verify=mailward.ca,
        timeout=30,
        **kw,
    )


def test_send_list_get_patch_delete(mailward, pair):
    sender, rcpt = pair
    r = api(mailward, sender, "GET", "/v1.0/me/mailFolders")
    assert r.status_code == 200, r.text
    names = {f["wellKnownName"]: f for f in r.json()["value"]}
    assert set(names) == {"inbox", "sentitems", "drafts", "deleteditems", "junkemail", "archive"}

    tag = uuid.uuid4().hex[:6]
    for i in range(3):
        r = api(
            mailward,
            sender,
            "POST",
            "/v1.0/me/sendMail",
            json={
                "message": {
                    "subject": f"REST {tag} {i}",
                    "body": {"contentType": "Text", "content": f"message {i}"},
                    "toRecipients": [{"emailAddress": {"address": rcpt.address, "name": "Receiver"}}],
                },
                "saveToSentItems": True,
            },
        )
        assert r.status_code == 202, r.text

    sent = api(mailward, sender, "GET", "/v1.0/me/mailFolders/sentitems/messages?$top=10").json()["value"]
    assert sum(1 for m in sent if m["subject"].startswith(f"REST {tag}")) == 3

    first = api(mailward, rcpt, "GET", "/v1.0/me/mailFolders/inbox/messages?$top=2")
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["value"]) == 2
    assert page["@odata.nextLink"].startswith(mailward.mail.url)
    rest = requests.get(page["@odata.nextLink"], headers={"Authorization": f"Bearer {rcpt.token}"}, verify=mailward.ca, timeout=30).json()
    subjects = sorted(m["subject"] for m in page["value"] + rest["value"])
    assert subjects == [f"REST {tag} {i}" for i in range(3)]
    skipped = api(mailward, rcpt, "GET", "/v1.0/me/messages?$top=1&$skip=1").json()["value"]
    assert len(skipped) == 1

    msg = page["value"][0]
    assert msg["from"]["emailAddress"]["address"] == sender.address
    assert msg["toRecipients"][0]["emailAddress"] == {"name": "Receiver", "address": rcpt.address}
    assert msg["isRead"] is False
    got = api(mailward, rcpt, "GET", f"/v1.0/me/messages/{msg['id']}").json()
    assert got["body"]["contentType"] == "text"
    assert got["body"]["content"].startswith("message ")

    r = api(mailward, rcpt, "PATCH", f"/v1.0/me/messages/{msg['id']}", json={"isRead": True, "flag": {"flagStatus": "flagged"}})
    assert r.status_code == 200, r.text
    assert r.json()["isRead"] is True and r.json()["flag"]["flagStatus"] == "flagged"
    assert api(mailward, rcpt, "GET", "/v1.0/me/mailFolders/inbox").json()["unreadItemCount"] == 2

    r = api(mailward, rcpt, "DELETE", f"/v1.0/me/messages/{msg['id']}")
    assert r.status_code == 204
    trash = api(mailward, rcpt, "GET", "/v1.0/me/mailFolders/deleteditems/messages").json()["value"]
    assert [m["subject"] for m in trash] == [msg["subject"]]
    assert api(mailward, rcpt, "DELETE", f"/v1.0/me/messages/{trash[0]['id']}").status_code == 204
    assert api(mailward, rcpt, "GET", "/v1.0/me/mailFolders/deleteditems/messages").json()["value"] == []
    assert api(mailward, rcpt, "GET", f"/v1.0/me/messages/{msg['id']}").status_code == 404

    # Someone else's message is not found.
    other = rest["value"][0]["id"]
    r = api(mailward, sender, "GET", f"/v1.0/me/messages/{other}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ErrorItemNotFound"


def test_refused_tokens_and_bad_requests(mailward, pair):
    sender, _ = pair
    r = requests.get(mailward.mail.at("/v1.0/me/messages"), headers={"Authorization": "Bearer nonsense"}, verify=mailward.ca, timeout=30)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = api(mailward, sender, "POST", "/v1.0/me/sendMail", json={"message": {"toRecipients": []}})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ErrorInvalidRecipients"
    r = api(
        mailward,
        sender,
        "POST",
        "/v1.0/me/sendMail",
        json={"message": {"toRecipients": [{"emailAddress": {"address": "nobody-here@mailward.localhost"}}]}},
    )
    assert r.status_code == 400, r.text
    r = api(mailward, sender, "PATCH", "/v1.0/me/messages/bad-id", json={"isRead": True})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "ErrorInvalidIdMalformed"
