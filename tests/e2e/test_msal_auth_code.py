"""msal's authorization code flow with PKCE (S256) on a loopback redirect URI, as desktop
mail apps use it: the browser part is done by the scripted browser, which captures the
redirect's query from the Location header. The second sign-in of the same user (in a new
browser, so without single sign-on) is verified with a TOTP code from the registered
authenticator."""

from urllib.parse import parse_qs, urlsplit

from conftest import IMAP_SCOPE, MAIL_CLIENT_ID, SMTP_SCOPE, Browser, free_port


def test_auth_code_with_pkce_on_loopback_then_second_sign_in_with_totp(mailward, msal_app, user):
    scopes = [IMAP_SCOPE, SMTP_SCOPE]

    # First sign-in: registers the authenticator app.
    port = free_port()
    flow = msal_app.initiate_auth_code_flow(scopes, redirect_uri=f"http://localhost:{port}")
    auth_query = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert auth_query["code_challenge_method"] == ["S256"]
    assert auth_query["client_id"] == [MAIL_CLIENT_ID]
    first = Browser(mailward)
    location, query = first.authorize(flow["auth_uri"], user)
    assert location.startswith(f"http://localhost:{port}/") or location.startswith(f"http://localhost:{port}?")
    assert query["state"] == flow["state"]
    assert "code" in query, query
    assert first.pages == ["identify", "password", "register_totp", "continue"]
    result = msal_app.acquire_token_by_auth_code_flow(flow, query)
    assert "access_token" in result, result
    assert "refresh_token" in result
    assert result["id_token_claims"]["preferred_username"] == user.upn

    # Second sign-in on another loopback port in a fresh browser: TOTP verification.
    port2 = free_port()
    flow2 = msal_app.initiate_auth_code_flow(scopes, redirect_uri=f"http://127.0.0.1:{port2}")
    second = Browser(mailward)
    location2, query2 = second.authorize(flow2["auth_uri"], user)
    assert location2.startswith(f"http://127.0.0.1:{port2}")
    assert second.pages == ["identify", "password", "totp"]
    result2 = msal_app.acquire_token_by_auth_code_flow(flow2, query2)
    assert "access_token" in result2, result2
    assert result2["access_token"] != result["access_token"]
    assert result2["id_token_claims"]["sub"] == result["id_token_claims"]["sub"]


def test_auth_code_is_single_use(mailward, msal_app, user):
    flow = msal_app.initiate_auth_code_flow([IMAP_SCOPE], redirect_uri=f"http://localhost:{free_port()}")
    _, query = Browser(mailward).authorize(flow["auth_uri"], user)
    assert "access_token" in msal_app.acquire_token_by_auth_code_flow(dict(flow), query)
    again = msal_app.acquire_token_by_auth_code_flow(dict(flow), query)
    assert again.get("error") == "invalid_grant", again
