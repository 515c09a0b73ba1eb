"""How a client finds its way to mailward's mail role without being told: the 401
challenge to an empty bearer (curl), Autodiscover v2 JSON as Exchange Online answers it,
Thunderbird's autoconfig XML announcing OAuth2, and the admin CLI's view of the secure
default."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import requests

from mailtools import curl


def test_empty_bearer_gets_the_challenge_naming_identity(mailward):
    res = curl(mailward, "-i", "-H", "Authorization: Bearer", mailward.mail.at("/v1.0/me/messages"))
    head = res.stdout.replace("\r\n", "\n").split("\n\n", 1)[0]
    assert head.startswith("HTTP/2 401") or head.startswith("HTTP/1.1 401"), head
    challenges = [l.split(":", 1)[1].strip() for l in head.splitlines() if l.lower().startswith("www-authenticate:")]
    assert challenges == [
        f'Bearer authorization_uri="{mailward.origin}/oauth2/v2.0/authorize", '
        f'client_id="00000002-0000-0ff1-ce00-000000000000", trusted_issuers="{mailward.url}"'
    ], head
    # Outlook mobile's probe of the ActiveSync endpoint gets the same challenge.
    r = requests.post(mailward.mail.at("/Microsoft-Server-ActiveSync"), headers={"Authorization": "Bearer"}, verify=mailward.ca, timeout=30)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


def test_autodiscover_v2(mailward):
    email = "someone@mailward.localhost"
    for path, protocol, url in [
        (f"/autodiscover/autodiscover.json/v1.0/{email}?Protocol=AutodiscoverV1", "AutodiscoverV1", "/autodiscover/autodiscover.xml"),
        (f"/autodiscover/autodiscover.json/v1.0/{email}?Protocol=Rest", "Rest", "/api"),
    ]:
        r = requests.get(mailward.mail.at(path), headers={"Accept": "application/json"}, verify=mailward.ca, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {"Protocol": protocol, "Url": mailward.mail.at(url)}
    # IMAP is not part of v2, and ActiveSync is not served (its endpoint answers 501), so
    # neither is advertised.
    for protocol in ["Imap", "ActiveSync"]:
        r = requests.get(mailward.mail.at(f"/autodiscover/autodiscover.json?Email={email}&Protocol={protocol}"), verify=mailward.ca, timeout=30)
        assert r.status_code == 400, r.text
        assert r.json()["ErrorCode"] == "InvalidProtocol"


def test_thunderbird_autoconfig_announces_oauth2(mailward):
    res = curl(mailward, mailward.mail.at("/mail/config-v1.1.xml?emailaddress=someone%40mailward.localhost"))
    root = ET.fromstring(res.stdout)
    assert root.tag == "clientConfig"
    provider = root.find("emailProvider")
    assert "mailward.localhost" in [d.text for d in provider.findall("domain")]
    servers = provider.findall("incomingServer") + provider.findall("outgoingServer")
    seen = {(s.get("type"), s.findtext("socketType")): int(s.findtext("port")) for s in servers}
    ports = mailward.mail.ports
    assert seen == {
        ("imap", "SSL"): ports["imaps"],
        ("imap", "STARTTLS"): ports["imap"],
        ("pop3", "SSL"): ports["pop3s"],
        ("pop3", "STARTTLS"): ports["pop3"],
        ("smtp", "SSL"): ports["submissions"],
        ("smtp", "STARTTLS"): ports["submission"],
    }
    assert {s.findtext("authentication") for s in servers} == {"OAuth2"}
    oauth = root.find("oAuth2")
    assert oauth.findtext("authURL") == f"{mailward.origin}/oauth2/v2.0/authorize"
    assert oauth.findtext("tokenURL") == f"{mailward.origin}/oauth2/v2.0/token"
    assert f"{mailward.mail.resource}/IMAP.AccessAsUser.All" in oauth.findtext("scope").split()
    well_known = curl(mailward, mailward.mail.at("/.well-known/autoconfig/mail/config-v1.1.xml"))
    assert "<authentication>OAuth2</authentication>" in well_known.stdout


def test_basic_auth_is_blocked_by_default(mailward):
    out = json.loads(mailward.cli("org", "show", "--json").stdout)
    assert out == {"defaultAuthenticationPolicy": "Block Basic Auth"}
    policies = json.loads(mailward.cli("authpolicy", "list", "--json").stdout)
    default = next(p for p in policies["value"] if p["Name"] == "Block Basic Auth")
    assert not any(v for k, v in default.items() if k.startswith("AllowBasicAuth"))
    table = mailward.cli("authpolicy", "list").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "ALLOW", "BASIC"]
