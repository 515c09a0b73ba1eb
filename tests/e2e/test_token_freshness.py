"""A sign-in that happens after an administrator revoked a user's sessions must get
tokens: revocation only invalidates authentications made before it. Checked right after
`mailward user revoke-sessions`, within the same wall-clock second, so that a server that
compares times at different precisions (whole seconds vs. milliseconds) is caught."""

import time
from urllib.parse import parse_qsl, urlsplit

from conftest import IMAP_SCOPE, Browser, free_port


def test_sign_in_just_after_revoking_sessions_gets_tokens(mailward, msal_app, user):
    flow = msal_app.initiate_auth_code_flow([IMAP_SCOPE], redirect_uri=f"http://localhost:{free_port()}")
    browser = Browser(mailward)
    page = browser.submit(browser.get(flow["auth_uri"]), "identify", username=user.upn)
    assert page.action() == "password", page.html

    # Start of the next second, then revoke, then the password right away.
    now = time.time()
    time.sleep(1.0 - now % 1.0 + 0.01)
    mailward.cli("user", "revoke-sessions", user.upn)
    page = browser.submit(page, "password", password=user.password)
    assert page.action() == "register_totp", page.html

    landing = browser.sign_in(page, user)
    assert landing.location is not None, landing.html
    query = dict(parse_qsl(urlsplit(landing.location).query))
    result = msal_app.acquire_token_by_auth_code_flow(flow, query)
    assert "access_token" in result, result
