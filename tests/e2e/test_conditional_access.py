"""Conditional access end to end, on a separate `mailward up --demo`: the demo policies are
seeded and listed by `mailward ca list`; What-If explains a legacy client being blocked;
a policy captured from Microsoft Graph's documentation imports, exports back unchanged,
changes state, is backtested and deleted; and msal's device code flow for the mail app is
asked for MFA by the demo policy, whose result lands in the sign-in log."""

import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import IMAP_SCOPE, Browser, User, new_msal_app, start_mailward, stop_mailward

# A policy in the shape Graph returns it (docs example: require MFA for Exchange Online
# outside trusted locations), report-only so it changes nothing while tested.
GRAPH_POLICY = {
    "id": "7a5b3c1d-2e4f-4a6b-8c9d-0e1f2a3b4c5d",
    "templateId": None,
    "displayName": "Access to EXO requires MFA (report-only)",
    "createdDateTime": "2019-10-14T19:52:00.050958Z",
    "modifiedDateTime": None,
    "state": "enabledForReportingButNotEnforced",
    "partialEnablementStrategy": None,
    "sessionControls": None,
    "conditions": {
        "userRiskLevels": [],
        "signInRiskLevels": [],
        "clientAppTypes": ["mobileAppsAndDesktopClients", "browser"],
        "platforms": None,
        "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
        "applications": {
            "includeApplications": ["00000002-0000-0ff1-ce00-000000000000"],
            "excludeApplications": [],
            "includeUserActions": [],
        },
        "users": {
            "includeUsers": ["All"],
            "excludeUsers": [],
            "includeGroups": [],
            "excludeGroups": [],
            "includeRoles": [],
            "excludeRoles": [],
        },
    },
    "grantControls": {
        "operator": "OR",
        "builtInControls": ["mfa"],
        "customAuthenticationFactors": [],
        "termsOfUse": [],
    },
}


@pytest.fixture(scope="module")
def demo():
    data = Path(tempfile.mkdtemp(prefix="mailward-e2e-demo-"))
    server = start_mailward(data, "--demo")
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = server.ca
    try:
        yield server
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
        stop_mailward(server)
        shutil.rmtree(data, ignore_errors=True)


def ca_json(server, *args):
    return json.loads(server.cli("--json", "ca", *args).stdout)


def test_demo_policies_and_what_if(demo):
    names = {p["displayName"] for p in ca_json(demo, "list")["value"]}
    assert {
        "Require MFA for mail from desktop and mobile apps",
        "Require MFA for browsers",
        "Block legacy authentication",
    } <= names, names

    w = ca_json(demo, "whatif", "--user", demo.admin_upn, "--client-app-type", "other", "--ip", "203.0.113.9")
    assert w["decision"]["result"] == "block"
    assert w["decision"]["errorCode"] == 53003
    applying = {p["displayName"] for p in w["applying"]}
    assert "Block legacy authentication" in applying
    reasons = {p["displayName"]: p["reason"] for p in w["notApplying"]}
    assert reasons["Require MFA for browsers"] == "clientAppTypes"

    # The table form names the excluding condition too.
    out = demo.cli("ca", "whatif", "--user", demo.admin_upn, "--client-app-type", "browser").stdout
    assert "allowed after MFA" in out, out
    assert "clientAppTypes" in out, out


def test_graph_policy_round_trip_state_backtest_delete(demo, tmp_path):
    f = tmp_path / "policy.json"
    f.write_text(json.dumps(GRAPH_POLICY))
    demo.cli("ca", "import", str(f))
    pid = GRAPH_POLICY["id"]
    assert ca_json(demo, "show", pid) == GRAPH_POLICY

    # Importing again is refused unless replacing.
    again = demo.cli("ca", "import", str(f), check=False)
    assert again.returncode != 0 and "already exists" in again.stderr, again

    exported = ca_json(demo, "export")
    assert GRAPH_POLICY in exported["policies"]

    demo.cli("ca", "set-state", pid, "disabled")
    assert ca_json(demo, "show", pid)["state"] == "disabled"

    report = ca_json(demo, "backtest", str(f), "--since", "1d")
    assert {"signInsReplayed", "wouldBlock", "wouldPrompt", "users"} <= report.keys(), report

    # An unsupported member is refused with its path; nothing is stored.
    bad = dict(GRAPH_POLICY, id=str(uuid.uuid4()))
    bad["conditions"] = dict(GRAPH_POLICY["conditions"], devices={"deviceFilter": {"mode": "include", "rule": "x"}})
    f.write_text(json.dumps(bad))
    res = demo.cli("ca", "import", str(f), check=False)
    assert res.returncode != 0 and "conditions.devices" in res.stderr, res
    assert bad["id"] not in {p["id"] for p in ca_json(demo, "list")["value"]}

    demo.cli("ca", "delete", pid)
    assert pid not in {p["id"] for p in ca_json(demo, "list")["value"]}


def test_device_code_for_mail_is_asked_for_mfa(demo):
    local = f"u{uuid.uuid4().hex[:12]}"
    password = f"correct horse {uuid.uuid4().hex[:8]} staple"
    user = User(upn=demo.add_user(local, password), password=password)
    app = new_msal_app(demo)
    flow = app.initiate_device_flow(scopes=[IMAP_SCOPE])
    assert "user_code" in flow, flow
    browser = Browser(demo)
    outcome = {}

    def person():
        try:
            outcome["page"] = browser.device_login(flow["verification_uri"], flow["user_code"], user)
        except BaseException as e:  # surfaced below
            outcome["error"] = e
            flow["expires_at"] = 0

    t = threading.Thread(target=person)
    t.start()
    result = app.acquire_token_by_device_flow(flow)
    t.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    assert "access_token" in result, result
    # The policy demanded MFA: the user had to register and use an authenticator app.
    assert "register_totp" in browser.pages, browser.pages

    deadline = time.monotonic() + 10
    while True:
        entries = demo.signins("--user", user.upn)
        results = [
            p["result"]
            for e in entries
            for p in e["appliedConditionalAccessPolicies"]
            if p.get("displayName") == "Require MFA for mail from desktop and mobile apps"
        ]
        if "success" in results or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # the log is written in the background
    assert "success" in results, entries
