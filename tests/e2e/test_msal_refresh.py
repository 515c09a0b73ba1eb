"""Refresh with msal: `acquire_token_silent_with_error(force_refresh=True)` redeems the
cached refresh token; mailward rotates refresh tokens, so the old one is refused
afterwards (raw POST and msal's own call both see `invalid_grant`, msal's error dict
carrying `error_codes`)."""

import requests

from conftest import IMAP_SCOPE, MAIL_CLIENT_ID, Browser, auth_code_sign_in


def cached_refresh_tokens(app) -> set[str]:
    import msal

    return {rt["secret"] for rt in app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)}


def test_silent_refresh_returns_new_access_token_and_rotates_refresh_token(mailward, msal_app, user):
    first = auth_code_sign_in(msal_app, Browser(mailward), user, [IMAP_SCOPE])
    assert "access_token" in first, first
    old_rt = first["refresh_token"]
    assert cached_refresh_tokens(msal_app) == {old_rt}

    [account] = msal_app.get_accounts(username=user.upn)
    refreshed = msal_app.acquire_token_silent_with_error([IMAP_SCOPE], account, force_refresh=True)
    assert refreshed is not None and "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed.get("token_source") == "identity_provider"

    new_rts = cached_refresh_tokens(msal_app)
    assert old_rt not in new_rts and len(new_rts) == 1, "the refresh token was not rotated"

    # The old refresh token, replayed by hand, is refused.
    token_endpoint = mailward.discovery()["token_endpoint"]
    r = requests.post(
        token_endpoint,
        data={"grant_type": "refresh_token", "client_id": MAIL_CLIENT_ID, "refresh_token": old_rt, "scope": IMAP_SCOPE},
        verify=mailward.ca,
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"


def test_msal_error_for_an_invalid_refresh_token_has_error_codes(mailward, msal_app):
    result = msal_app.acquire_token_by_refresh_token("not-a-refresh-token", scopes=[IMAP_SCOPE])
    assert result.get("error") == "invalid_grant", result
    assert isinstance(result.get("error_codes"), list) and result["error_codes"], result
    assert all(isinstance(c, int) for c in result["error_codes"]), result
    assert result.get("error_description")
    assert result.get("correlation_id")
