"""The sign-in log through the admin CLI (`mailward --data DIR signins --json`): sign-ins
by msal's device code and authorization code flows (the latter on the browser's single
sign-on session) are recorded for the user with `clientAppUsed` =
`mobileAppsAndDesktopClients`, and a wrong password as a failure."""

import threading
import time

from conftest import IMAP_SCOPE, MAIL_CLIENT_ID, Browser, auth_code_sign_in

LOG_TIMEOUT_S = 10.0


def wait_for_log(mailward, upn: str, predicate) -> list[dict]:
    """The user's log entries once `predicate(entries)` holds (the server writes the log
    in the background, so the CLI may see an entry a moment after the response)."""
    deadline = time.monotonic() + LOG_TIMEOUT_S
    while True:
        entries = mailward.signins("--user", upn)
        if predicate(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)  # polling interval while waiting for the background writer


def test_signins_show_desktop_client_sign_ins(mailward, msal_app, user):
    # A wrong password first (a failure), then a device code sign-in, then an
    # authorization code sign-in.
    browser = Browser(mailward)
    flow = msal_app.initiate_device_flow(scopes=[IMAP_SCOPE])
    page = browser.post("/devicelogin", {"user_code": flow["user_code"]})
    page = browser.submit(page, "identify", username=user.upn)
    page = browser.sign_in(page, user, password="a wrong password here")
    assert page.error(), page.html

    outcome = {}

    def person():
        try:
            outcome["page"] = browser.sign_in(page, user)
        except BaseException as e:
            outcome["error"] = e
            flow["expires_at"] = 0

    t = threading.Thread(target=person)
    t.start()
    device_result = msal_app.acquire_token_by_device_flow(flow)
    t.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    assert "access_token" in device_result, device_result
    # The same browser now has a session: the authorization code sign-in uses it.
    assert "access_token" in auth_code_sign_in(msal_app, browser, user, [IMAP_SCOPE])

    def complete(entries):
        flows = {(e.get("flow"), e.get("result")) for e in entries}
        return {("device_code_interactive", "success"), ("interactive", "success")} <= flows

    entries = wait_for_log(mailward, user.upn, complete)
    assert complete(entries), entries
    assert entries, "no sign-ins for the user"
    for e in entries:
        assert e["userPrincipalName"] == user.upn
        assert e["appId"] == MAIL_CLIENT_ID
        assert e["clientAppUsed"] == "mobileAppsAndDesktopClients", e
        assert e["correlationId"]
    results = [e["result"] for e in entries]
    assert "failure" in results, results
    failure = next(e for e in entries if e["result"] == "failure")
    assert failure["errorCode"], failure
