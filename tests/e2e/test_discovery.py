"""Discovery as outside programs read it: curl with the printed CA fetches the OpenID
configuration and its issuer equals the identity URL from the banner; msal accepts that
URL as its `oidc_authority` (it refuses a discovery document whose issuer differs)."""

import json
import subprocess

import msal

from conftest import MAIL_CLIENT_ID


def test_curl_fetches_discovery_with_the_printed_ca(mailward):
    out = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", mailward.ca, f"{mailward.url}/.well-known/openid-configuration"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["issuer"] == mailward.url
    for key in ("authorization_endpoint", "token_endpoint", "device_authorization_endpoint", "jwks_uri"):
        assert doc[key].startswith(mailward.origin + "/"), (key, doc[key])


def test_curl_without_the_ca_is_refused(mailward):
    out = subprocess.run(
        ["curl", "-sS", "--fail", "--cacert", "/dev/null", f"{mailward.url}/.well-known/openid-configuration"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0


def test_msal_accepts_the_identity_url_as_oidc_authority(mailward):
    app = msal.PublicClientApplication(MAIL_CLIENT_ID, oidc_authority=mailward.url, verify=mailward.ca)
    discovered = mailward.discovery()
    assert app.authority.token_endpoint == discovered["token_endpoint"]
    assert app.authority.device_authorization_endpoint == discovered["device_authorization_endpoint"]
