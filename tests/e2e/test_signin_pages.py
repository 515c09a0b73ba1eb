"""Error paths of the sign-in pages as a browser sees them: a wrong password shows the
error on the password page (and the right one then continues the same flow), an unknown
user gets the same answer, a wrong TOTP code is refused on the verification page. The
authorization requests are built by hand (PKCE S256, loopback redirect URI)."""

from conftest import IMAP_SCOPE, Browser, authorize_url, free_port


def start(mailward):
    browser = Browser(mailward)
    page = browser.get(authorize_url(mailward, [IMAP_SCOPE], f"http://localhost:{free_port()}"))
    assert page.status == 200 and page.action() == "identify", page.html
    return browser, page


def test_wrong_password_shows_error_then_right_password_continues(mailward, user):
    browser, page = start(mailward)
    page = browser.submit(page, "identify", username=user.upn)
    assert page.action() == "password"

    page = browser.sign_in(page, user, password="not the password at all")
    assert page.status == 200
    assert page.action() == "password", page.html
    assert page.error() == "Your account or password is incorrect."

    landing = browser.sign_in(page, user)
    assert landing.location is not None, landing.html
    assert "register_totp" in browser.pages


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(mailward):
    browser, page = start(mailward)
    page = browser.submit(page, "identify", username="nobody-here@mailward.localhost")
    assert page.action() == "password", page.html
    page = browser.submit(page, "password", password="whatever password it is")
    assert page.action() == "password"
    assert page.error() == "Your account or password is incorrect."


def test_wrong_totp_code_is_refused(mailward, user):
    location, _ = Browser(mailward).authorize(
        authorize_url(mailward, [IMAP_SCOPE], f"http://localhost:{free_port()}"), user
    )  # registers TOTP
    assert "code=" in location
    browser, page = start(mailward)
    page = browser.submit(page, "identify", username=user.upn)
    page = browser.submit(page, "password", password=user.password)
    assert page.action() == "totp", page.html
    good = user.codes_now()
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in good)
    page = browser.submit(page, "totp", code=wrong)
    assert page.action() == "totp"
    assert page.error() and "didn't work" in page.error()
