"""Harness for the end-to-end suite: runs the real `mailward up` binary and drives it the
way users and their programs do.

- `mailward` (session fixture): starts `$MAILWARD_BIN up` in a temporary data directory on
  a free port (with a `mailward.toml` that lowers the Argon2 cost and the device polling
  interval), parses the banner (URL, CA, bootstrap admin), waits until discovery answers,
  and stops the server with SIGINT afterwards. Also runs the admin CLI against the same
  data directory.
- `start_mailward` / `stop_mailward`: the same for a second, separate instance (e.g.
  `up --demo`), optionally with extra `mailward.toml` text.
- Every instance's mail listeners use free ports; `Mailward.mail` holds them, read from
  the banner's mail lines.
- `user` (function fixture): a fresh user, so no test depends on another's state.
- `Browser`: a scripted browser (`requests.Session` trusting the test CA, redirects
  followed by hand) that fills the sign-in pages: user name, password, TOTP registration
  (reading the manual key), TOTP verification, the recovery-codes page.
- `totp_code`: RFC 6238 (HMAC-SHA1, 6 digits, 30 s steps) with the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html as html_lib
import json
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests

# The first-party public client for mail apps and the mail resource (see README).
MAIL_CLIENT_ID = "d3590ed6-52b3-4102-aeff-aad2292ab01c"
MAIL_RESOURCE = "https://localhost:8446"
IMAP_SCOPE = f"{MAIL_RESOURCE}/IMAP.AccessAsUser.All"
SMTP_SCOPE = f"{MAIL_RESOURCE}/SMTP.Send"
DOMAIN = "mailward.localhost"

STARTUP_TIMEOUT_S = 60.0
TOTP_STEP_S = 30

CONFIG_TEMPLATE = """\
version = 1
data_dir = "{data_dir}"

[identity.tokens]
device_poll_interval_secs = 1

[identity.passwords]
memory_kib = 8192
iterations = 1

[mail.listen]
http = "127.0.0.1:0"
imap = "127.0.0.1:0"
imaps = "127.0.0.1:0"
pop3 = "127.0.0.1:0"
pop3s = "127.0.0.1:0"
submission = "127.0.0.1:0"
submissions = "127.0.0.1:0"
"""


# ---------------------------------------------------------------------------------------
# TOTP (RFC 6238 / RFC 4226)
# ---------------------------------------------------------------------------------------


def base32_secret(manual_key: str) -> bytes:
    """Decodes the manual key shown on the registration page (base32, spaces allowed)."""
    s = re.sub(r"\s+", "", manual_key).upper().rstrip("=")
    return base64.b32decode(s + "=" * (-len(s) % 8))


def totp_code(secret: bytes, step: int) -> str:
    """The 6-digit code of a 30-second step (RFC 6238 with SHA-1, as authenticator apps)."""
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // TOTP_STEP_S)


# ---------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------


@dataclass
class MailEndpoints:
    """The mail role of a running `mailward up`, from its banner."""

    url: str  # the HTTP front (autodiscover, REST API), https://localhost:<port>
    resource: str  # the audience of mail tokens
    ports: dict[str, int]  # imap, imaps, pop3, pop3s, submission, submissions

    def at(self, path: str) -> str:
        return f"{self.url}{path}"


@dataclass
class Mailward:
    """A running `mailward up` and the admin CLI on its data directory."""

    bin: str
    data: Path
    url: str  # the identity URL from the banner: the issuer clients are told to use
    origin: str  # scheme://host:port, where the sign-in pages live
    port: int
    ca: str
    admin_upn: str
    admin_password: str
    proc: subprocess.Popen
    stderr_path: Path
    mail: MailEndpoints | None = None
    banner: str = ""

    def at(self, path: str) -> str:
        """A page or endpoint on identity's host (paths such as /login, /devicelogin)."""
        return f"{self.origin}{path}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs `mailward --data DIR ARGS...` and returns the finished process."""
        res = subprocess.run(
            [self.bin, "--data", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"mailward {' '.join(args)} exited {res.returncode}\n"
                f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}"
            )
        return res

    def add_user(self, local: str, password: str) -> str:
        upn = f"{local}@{DOMAIN}"
        self.cli("user", "add", upn, "--password", password)
        return upn

    def signins(self, *filters: str) -> list[dict]:
        """The sign-in log as printed by `mailward signins --json` (one JSON per line)."""
        out = self.cli("signins", "--json", *filters).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def discovery(self) -> dict:
        r = requests.get(f"{self.url}/.well-known/openid-configuration", verify=self.ca, timeout=10)
        r.raise_for_status()
        return r.json()

    def stderr_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _mailward_bin() -> str:
    b = os.environ.get("MAILWARD_BIN")
    if not b:
        raise RuntimeError(
            "MAILWARD_BIN is not set: build with `cargo build --bin mailward` and point "
            "MAILWARD_BIN at the binary (tests/e2e/run does this for you)"
        )
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        raise RuntimeError(f"MAILWARD_BIN={b} is not an executable file")
    return b


def _read_lines(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def _start_mailward(
    data: Path,
    *extra: str,
    config_extra: str = "",
    config: str | None = None,
    identity_listen: str | None = "127.0.0.1:0",
    cwd: Path | None = None,
) -> Mailward:
    """`config` replaces the whole `mailward.toml`; `identity_listen=None` leaves the
    identity listener to the configuration; `cwd` is where the server runs."""
    binary = _mailward_bin()
    if config is None:
        config = CONFIG_TEMPLATE.format(data_dir=str(data)) + config_extra
    (data / "mailward.toml").write_text(config)
    stderr_path = data / "mailward.stderr.log"
    stderr = open(stderr_path, "w")
    listen = ["--identity-listen", identity_listen] if identity_listen else []
    proc = subprocess.Popen(
        [binary, "up", "--data", str(data), *listen, *extra],
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
    )
    stderr.close()
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()

    banner: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_S

    def fail(why: str) -> None:
        proc.kill()
        proc.wait()
        tail = stderr_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"mailward up: {why}\nbanner so far:\n{''.join(banner)}\nstderr:\n{tail}")

    # The banner ends with the "Administer with ..." line.
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            fail("no complete banner in time")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            fail(f"exited with {proc.wait()} before printing its banner")
        banner.append(line)
        if line.startswith("Administer with"):
            break
    text = "".join(banner)

    def field_of(pattern: str) -> str:
        m = re.search(pattern, text, re.M)
        if not m:
            fail(f"banner has no line matching {pattern!r}")
        return m.group(1)

    url = field_of(r"^\s+issuer\s+(https://localhost:\d+\S*)\s*$")
    parts = urlsplit(url)
    ca = field_of(r"^\s+CA\s+(\S+)\s*$")
    admin_upn = field_of(r"^\s+bootstrap admin\s+(\S+@\S+)\s*$")
    # Shown until the bootstrap admin has signed in or changed it.
    m = re.search(r"^\s+password\s+(\S+)\s*$", text, re.M)
    admin_password = m.group(1) if m else ""
    mail = None
    m = re.search(r"^\s+mail\s+(https://\S+)\s*$", text, re.M)
    if m:
        mail = MailEndpoints(
            url=m.group(1),
            resource=field_of(r"^\s+resource\s+(\S+)\s*$"),
            ports={
                name: int(port)
                for name, port in re.findall(
                    r"^\s+(imaps?|pop3s?|submissions?)\s+\S+:(\d+)\s", text, re.M
                )
            },
        )
    server = Mailward(
        bin=binary,
        data=data,
        url=url,
        origin=f"{parts.scheme}://{parts.netloc}",
        port=parts.port,
        ca=ca,
        admin_upn=admin_upn,
        admin_password=admin_password,
        proc=proc,
        stderr_path=stderr_path,
        mail=mail,
        banner=text,
    )

    # Ready when discovery answers over TLS with the test CA.
    while True:
        if proc.poll() is not None:
            fail(f"exited with {proc.returncode} after printing its banner")
        try:
            server.discovery()
            return server
        except requests.RequestException as e:
            if time.monotonic() > deadline:
                fail(f"discovery did not answer: {e}")
            time.sleep(0.05)  # polling interval while waiting for readiness


def _stop_mailward(server: Mailward) -> None:
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


start_mailward = _start_mailward
stop_mailward = _stop_mailward


def pytest_configure(config):
    # Desktop apps receive the code on a loopback listener with response_mode=query (the
    # default); msal's advice to use form_post targets web apps.
    config.addinivalue_line(
        "filterwarnings", "ignore:response_mode='form_post' is recommended:UserWarning"
    )


@pytest.fixture(scope="session")
def mailward():
    """One `mailward up` for the suite; tests keep to their own fresh users."""
    data = Path(tempfile.mkdtemp(prefix="mailward-e2e-"))
    server = _start_mailward(data)
    # requests (and so msal) prefers REQUESTS_CA_BUNDLE over a session's `verify`, and
    # machines often set it to the system bundle: point it at the test CA.
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = server.ca
    try:
        yield server
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
        _stop_mailward(server)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(autouse=True)
def _server_log_on_failure(request, mailward):
    """Prints the server's recent log lines when a test fails."""
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n--- mailward stderr (last lines) ---\n{mailward.stderr_tail()}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


# ---------------------------------------------------------------------------------------
# Users and the scripted browser
# ---------------------------------------------------------------------------------------


@dataclass
class User:
    """A user and what their authenticator app knows."""

    upn: str
    password: str
    totp_secret: bytes | None = None
    last_step: int | None = None
    recovery_codes: list[str] = field(default_factory=list)

    def codes_now(self) -> set[str]:
        """The codes the server accepts right now (one step of clock skew either way),
        without using any."""
        assert self.totp_secret is not None, f"{self.upn} has no TOTP registered"
        step = current_step()
        return {totp_code(self.totp_secret, s) for s in (step - 1, step, step + 1)}

    def next_code(self) -> str:
        """A code for a step not used yet: a code is accepted once, so if this step was
        already used, waits (on the clock) for the next one."""
        assert self.totp_secret is not None, f"{self.upn} has no TOTP registered"
        now = time.time()
        step = current_step(now)
        if self.last_step is not None and step <= self.last_step:
            wait_until = (self.last_step + 1) * TOTP_STEP_S + 0.2
            time.sleep(max(0.0, wait_until - now))
            step = current_step()
        self.last_step = step
        return totp_code(self.totp_secret, step)


@pytest.fixture
def user(mailward) -> User:
    """A fresh user with a password and no MFA method yet."""
    local = f"u{uuid.uuid4().hex[:12]}"
    password = f"correct horse {uuid.uuid4().hex[:8]} staple"
    return User(upn=mailward.add_user(local, password), password=password)


@dataclass
class Landing:
    """Where a browser step ended: a page on identity, or a redirect away from it."""

    status: int
    html: str = ""
    location: str | None = None

    def action(self) -> str | None:
        """The sign-in action this page asks for (first hidden `action` field, ignoring
        the "use another account" link)."""
        for a in re.findall(r'name="action" value="([^"]+)"', self.html):
            if a != "restart":
                return a
        return None

    def hidden(self, name: str) -> str | None:
        m = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', self.html)
        return html_lib.unescape(m.group(1)) if m else None

    def error(self) -> str | None:
        m = re.search(r'<div class="error" role="alert">(.*?)</div>', self.html, re.S)
        return html_lib.unescape(m.group(1).strip()) if m else None

    def title(self) -> str:
        m = re.search(r"<h1>(.*?)</h1>", self.html, re.S)
        return html_lib.unescape(m.group(1).strip()) if m else ""


class SignInError(AssertionError):
    pass


class Browser:
    """A user's browser: a cookie jar trusting the test CA; redirects that stay on
    identity are followed, a redirect elsewhere (the app's redirect URI) is returned."""

    def __init__(self, server: Mailward):
        self.server = server
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies from the environment; `verify` as given
        self.session.verify = server.ca
        self.session.headers["User-Agent"] = "mailward-e2e-browser/1.0"
        self.pages: list[str] = []  # actions of the pages seen, in order

    def _follow(self, r: requests.Response) -> Landing:
        for _ in range(10):
            if not r.is_redirect:
                return Landing(status=r.status_code, html=r.text)
            loc = urljoin(r.url, r.headers["Location"])
            if not loc.startswith(self.server.origin + "/"):
                return Landing(status=r.status_code, location=loc)
            r = self.session.get(loc, allow_redirects=False, timeout=30)
        raise SignInError("too many redirects")

    def get(self, url: str) -> Landing:
        return self._follow(self.session.get(url, allow_redirects=False, timeout=30))

    def post(self, path: str, data: dict) -> Landing:
        r = self.session.post(self.server.at(path), data=data, allow_redirects=False, timeout=30)
        return self._follow(r)

    def submit(self, page: Landing, action: str, **fields: str) -> Landing:
        flow = page.hidden("flow")
        if not flow:
            raise SignInError(f"no flow id on the page:\n{page.html}")
        return self.post("/login", {"flow": flow, "action": action, **fields})

    def sign_in(self, page: Landing, user: User, password: str | None = None) -> Landing:
        """Fills sign-in pages from `page` until the sign-in leaves identity (redirect to
        the app) or shows a page without a sign-in form (device approved, error)."""
        for _ in range(12):
            if page.location is not None:
                return page
            action = page.action()
            if action:
                self.pages.append(action)
            if action == "identify":
                page = self.submit(page, "identify", username=user.upn)
            elif action == "password":
                page = self.submit(page, "password", password=password or user.password)
                if password is not None:
                    return page  # callers passing a password look at the answer themselves
            elif action == "register_totp":
                m = re.search(r'<span class="key">([^<]+)</span>', page.html)
                if not m:
                    raise SignInError(f"no manual key on the registration page:\n{page.html}")
                user.totp_secret = base32_secret(html_lib.unescape(m.group(1)))
                user.last_step = None
                page = self.submit(page, "register_totp", code=user.next_code())
                if page.action() == "continue":
                    user.recovery_codes = re.findall(r"<li>([^<]+)</li>", page.html)
            elif action == "totp":
                page = self.submit(page, "totp", code=user.next_code())
            elif action == "continue":
                page = self.submit(page, "continue")
            else:
                return page
            err = page.error()
            if err and page.action() == action:
                raise SignInError(f"sign-in page refused the {action} step: {err}")
        raise SignInError(f"sign-in did not finish; pages: {self.pages}")

    def device_login(self, verification_uri: str, user_code: str, user: User) -> Landing:
        """The device verification page: enters the code, then signs in."""
        page = self.get(verification_uri)
        assert page.status == 200 and 'name="user_code"' in page.html, page.html
        page = self.post("/devicelogin", {"user_code": user_code})
        return self.sign_in(page, user)

    def authorize(self, auth_uri: str, user: User) -> tuple[str, dict[str, str]]:
        """Follows an authorization URL, signs in, and returns the redirect back to the
        app and its query (what a loopback listener would receive)."""
        landing = self.sign_in(self.get(auth_uri), user)
        if landing.location is None:
            raise SignInError(f"no redirect to the app; last page {landing.status}:\n{landing.html}")
        return landing.location, dict(parse_qsl(urlsplit(landing.location).query))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# msal
# ---------------------------------------------------------------------------------------


def new_msal_app(server: Mailward):
    """The mail apps' public client as msal sees it: OIDC authority = the issuer URL,
    TLS trusting the test CA."""
    import msal

    return msal.PublicClientApplication(MAIL_CLIENT_ID, oidc_authority=server.url, verify=server.ca)


@pytest.fixture
def msal_app(mailward):
    return new_msal_app(mailward)


def auth_code_sign_in(app, browser: Browser, user: User, scopes: list[str]) -> dict:
    """msal's authorization code flow with PKCE on a loopback redirect URI, with the
    browser part done by `browser`. Returns msal's result."""
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=f"http://localhost:{free_port()}")
    assert "auth_uri" in flow, flow
    _, query = browser.authorize(flow["auth_uri"], user)
    return app.acquire_token_by_auth_code_flow(flow, query)


def authorize_url(server: Mailward, scopes: list[str], redirect_uri: str) -> str:
    """An authorization request (code, PKCE S256) built by hand, for tests about the
    sign-in pages rather than about msal."""
    verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    req = requests.Request(
        "GET",
        server.discovery()["authorization_endpoint"],
        params={
            "client_id": MAIL_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": " ".join(["openid", "offline_access", *scopes]),
            "state": uuid.uuid4().hex,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    return req.prepare().url
