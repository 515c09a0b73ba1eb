"""Legacy (basic) authentication and Exchange's authentication policies, with real
clients, on an instance whose MFA rule leaves legacy sign-ins alone (identity's default
rule requires MFA for everyone, and legacy protocols cannot do MFA):

- the organization default created on first start blocks basic authentication: IMAP
  `LOGIN`, SMTP `AUTH PLAIN` and POP3 `USER`/`PASS` with the correct password fail, and
  identity's sign-in log shows no attempt (refused before any password check);
- `mailward authpolicy new AllowImap --allow-basic imap` and `mailward mailbox set USER
  --authentication-policy AllowImap`: IMAP `LOGIN` works (a relayed sign-in logged as
  client app `other`), POP3 still fails; `--authentication-policy none` blocks IMAP again;
- allowed basic auth still passes conditional access as client app type `other`: a policy
  blocking `other` clients blocks it, visible in the sign-in log with 53003.
"""

from __future__ import annotations

import base64
import imaplib
import json
import poplib
import shutil
import smtplib
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import start_mailward, stop_mailward
from mailtools import tls_context

HOST = "localhost"

LEGACY_FRIENDLY = """
[identity.policy]
require_mfa = ["browser", "mobileAppsAndDesktopClients"]
"""


@pytest.fixture(scope="module")
def legacy():
    data = Path(tempfile.mkdtemp(prefix="mailward-e2e-legacy-"))
    server = start_mailward(data, config_extra=LEGACY_FRIENDLY)
    try:
        yield server
    finally:
        stop_mailward(server)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def person(legacy):
    local = f"legacy{uuid.uuid4().hex[:8]}"
    password = f"correct horse {uuid.uuid4().hex[:8]} staple"
    upn = legacy.add_user(local, password)
    legacy.cli("mailbox", "add", upn)
    return upn, password


def imap_login(server, upn: str, password: str) -> imaplib.IMAP4_SSL:
    imap = imaplib.IMAP4_SSL(HOST, server.mail.ports["imaps"], ssl_context=tls_context(server))
    imap.login(upn, password)
    return imap


def pop_login(server, upn: str, password: str) -> None:
    pop = poplib.POP3_SSL(HOST, server.mail.ports["pop3s"], context=tls_context(server))
    try:
        pop.user(upn)
        pop.pass_(password)
    finally:
        try:
            pop.quit()
        except poplib.error_proto:
            pass


def smtp_plain(server, upn: str, password: str) -> int:
    with smtplib.SMTP_SSL(HOST, server.mail.ports["submissions"], context=tls_context(server)) as s:
        s.ehlo("legacy.e2e.test")
        blob = base64.b64encode(f"\0{upn}\0{password}".encode()).decode()
        code, _ = s.docmd("AUTH", f"PLAIN {blob}")
        return code


def other_signins(server, upn: str) -> list[dict]:
    return [e for e in server.signins("--user", upn) if e.get("clientAppUsed") == "other"]


def test_blocked_by_default_without_reaching_identity(legacy, person):
    upn, password = person
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(legacy, upn, password)
    with pytest.raises(poplib.error_proto):
        pop_login(legacy, upn, password)
    assert smtp_plain(legacy, upn, password) in (504, 535), "AUTH PLAIN must fail"
    assert other_signins(legacy, upn) == [], "a blocked attempt never reaches identity"


def test_policy_assignment_opens_imap_only(legacy, person):
    upn, password = person
    name = f"AllowImap{uuid.uuid4().hex[:6]}"
    out = legacy.cli("authpolicy", "new", name, "--allow-basic", "imap").stdout
    assert "Imap" in out, out
    out = legacy.cli("mailbox", "set", upn, "--authentication-policy", name).stdout
    assert name in out, out

    imap = imap_login(legacy, upn, password)
    typ, folders = imap.list()
    assert typ == "OK" and any(b"INBOX" in f for f in folders)
    imap.logout()
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(legacy, upn, "not the password")

    with pytest.raises(poplib.error_proto):
        pop_login(legacy, upn, password)
    assert smtp_plain(legacy, upn, password) in (504, 535)

    # The log is written in the background: wait for the entry.
    deadline = time.monotonic() + 20
    while not (entries := other_signins(legacy, upn)) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the log
    assert entries, "the allowed IMAP sign-in was relayed to identity as client app 'other'"
    assert {e.get("protocol") for e in entries} == {"IMAP4"}, entries

    # Back to the organization default: blocked again.
    legacy.cli("mailbox", "set", upn, "--authentication-policy", "none")
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(legacy, upn, password)
    shown = legacy.cli("mailbox", "show", upn).stdout
    assert "(organization default)" in shown, shown


def test_allowed_basic_auth_still_passes_conditional_access(legacy, person, tmp_path):
    """Basic auth that the authentication policy allows is relayed to identity as client
    app type `other`; a conditional access policy blocking `other` clients blocks it, and
    the sign-in log shows the policy and 53003."""
    upn, password = person
    name = f"AllowImap{uuid.uuid4().hex[:6]}"
    legacy.cli("authpolicy", "new", name, "--allow-basic", "imap")
    legacy.cli("mailbox", "set", upn, "--authentication-policy", name)
    imap_login(legacy, upn, password).logout()

    policy = {
        "displayName": "Block legacy clients",
        "state": "enabled",
        "conditions": {
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": ["Office365"]},
            "clientAppTypes": ["exchangeActiveSync", "other"],
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    }
    f = tmp_path / "block-legacy.json"
    f.write_text(json.dumps(policy))
    out = legacy.cli("ca", "import", str(f)).stdout
    policy_id = out.split()[2]
    try:
        # The running server notices a change made by the CLI process within a second.
        deadline = time.monotonic() + 10
        while True:
            try:
                imap_login(legacy, upn, password).logout()
            except imaplib.IMAP4.error:
                break
            assert time.monotonic() < deadline, "the block never applied"
            time.sleep(0.2)  # polling while the server picks the policy up
        deadline = time.monotonic() + 10
        while True:
            blocked = [
                e
                for e in other_signins(legacy, upn)
                if e.get("errorCode") == 53003
                and any(
                    p["displayName"] == "Block legacy clients" and p["result"] == "failure"
                    for p in e["appliedConditionalAccessPolicies"]
                )
            ]
            if blocked or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the sign-in log is written in the background
        assert blocked, other_signins(legacy, upn)
        assert blocked[0]["protocol"] == "IMAP4"
    finally:
        legacy.cli("ca", "delete", policy_id)
