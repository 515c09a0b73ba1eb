"""msal's device code flow (RFC 8628) against mailward: the app polls with
`acquire_token_by_device_flow` while a user enters the code on /devicelogin in a browser,
signs in and registers an authenticator app (first sign-in, MFA required by default)."""

import threading

from conftest import IMAP_SCOPE, MAIL_CLIENT_ID, MAIL_RESOURCE, Browser


def test_device_code_flow_returns_tokens_after_first_sign_in_with_totp_registration(mailward, msal_app, user):
    flow = msal_app.initiate_device_flow(scopes=[IMAP_SCOPE])
    assert "user_code" in flow, flow
    assert flow["verification_uri"].startswith(mailward.origin + "/")
    assert flow["verification_uri"].endswith("/devicelogin")
    assert flow["user_code"] in flow["message"]

    browser = Browser(mailward)
    outcome: dict = {}

    def person_with_browser():
        try:
            outcome["page"] = browser.device_login(flow["verification_uri"], flow["user_code"], user)
        except BaseException as e:  # reported by the test thread below
            outcome["error"] = e
            flow["expires_at"] = 0  # stops msal's polling (documented way to abort)

    driver = threading.Thread(target=person_with_browser, name="device-login")
    driver.start()
    result = msal_app.acquire_token_by_device_flow(flow)
    driver.join(timeout=60)
    assert not driver.is_alive()
    if "error" in outcome:
        raise outcome["error"]

    done = outcome["page"]
    assert done.status == 200 and "signed in" in done.title().lower(), done.html
    assert browser.pages == ["identify", "password", "register_totp", "continue"]
    assert len(user.recovery_codes) > 0

    assert "access_token" in result, result
    assert result["token_type"].lower() == "bearer"
    assert "refresh_token" in result
    assert "id_token" in result
    assert result["id_token_claims"]["aud"] == MAIL_CLIENT_ID
    assert result["id_token_claims"]["iss"] == mailward.url
    granted = result["scope"].split() if isinstance(result["scope"], str) else result["scope"]
    assert f"{MAIL_RESOURCE}/IMAP.AccessAsUser.All" in granted or "IMAP.AccessAsUser.All" in granted, granted

    accounts = msal_app.get_accounts()
    assert [a["username"] for a in accounts] == [user.upn]
