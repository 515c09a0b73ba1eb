"""Revocation on a split deployment: identity (`serve --role identity`) and the mail role
(`serve --role mail`) run as two processes with their own data directories, and the mail
role reaches identity only over HTTPS (`[mail.identity]`: identity's URL and CA, a
confidential relay application with `LegacyAuth.Relay` whose secret is in a 0600 file).

A user signs in with msal and logs in to the mail role's IMAPS with XOAUTH2 (imaplib);
`mailward user disable` on identity's data directory ends the open session with `* BYE`
once the mail role has polled identity's revocation feed (every second here), and the same
token no longer logs in."""

from __future__ import annotations

import imaplib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import (
    DOMAIN,
    STARTUP_TIMEOUT_S,
    MailEndpoints,
    Mailward,
    User,
    _mailward_bin,
    free_port,
)
from mailtools import sign_in, xoauth2

HOST = "localhost"
POLL_SECS = 1
# A few poll intervals: the guard against a hang, not the expected time.
DEADLINE_S = 20.0

IDENTITY_CONFIG = """\
version = 1
data_dir = "{data_dir}"

[identity]
public_url = "https://{host}:{port}"
listen = "127.0.0.1:{port}"
mail_resource_uri = "{resource}"

[identity.passwords]
memory_kib = 8192
iterations = 1
"""

MAIL_CONFIG = """\
version = 1
data_dir = "{data_dir}"

[mail]
public_url = "https://{host}:{http}"
resource_uri = "{resource}"
hostname = "{host}"
local_domains = ["{domain}"]

[mail.listen]
http = "127.0.0.1:{http}"
imap = ""
imaps = "127.0.0.1:{imaps}"
pop3 = ""
pop3s = ""
submission = ""
submissions = ""

[mail.identity]
url = "{identity_url}"
ca_file = "{ca_file}"
relay_client_id = "{client_id}"
relay_client_secret_file = "{secret_file}"
revocation_poll_secs = {poll}
"""


@pytest.fixture(autouse=True)
def _server_log_on_failure():
    """This module runs its own two processes (and prints their logs on failure); it needs
    neither the suite's shared `mailward up` nor its log."""
    yield


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen
    stderr_path: Path

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.proc.returncode}\nstderr:\n{self.tail()}"
            )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def serve(binary: str, config: Path, role: str, stderr_path: Path) -> Proc:
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(
            [binary, "serve", "--config", str(config), "--role", role],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    return Proc(name=f"serve --role {role}", proc=proc, stderr_path=stderr_path)


def wait_until(what: str, ready, proc: Proc) -> None:
    """Polls `ready()` (True when ready) until the startup deadline."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last: Exception | None = None
    while time.monotonic() < deadline:
        proc.check_running()
        try:
            if ready():
                return
        except (OSError, requests.RequestException) as e:
            last = e
        time.sleep(0.05)  # polling interval while waiting for readiness
    raise AssertionError(f"{what} not ready in time ({last})\nstderr:\n{proc.tail()}")


def run_cli(binary: str, data: Path, *args: str) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [binary, "--data", str(data), *args], capture_output=True, text=True, timeout=60
    )
    if res.returncode != 0:
        raise AssertionError(
            f"mailward --data {data} {' '.join(args)} exited {res.returncode}\n"
            f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}"
        )
    return res


def imaps_greets(port: int, ctx: ssl.SSLContext) -> bool:
    with socket.create_connection((HOST, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOST) as s:
            s.settimeout(5)
            return s.recv(1024).startswith(b"* OK")


def xoauth2_login(port: int, ctx: ssl.SSLContext, address: str, token: str) -> imaplib.IMAP4_SSL:
    imap = imaplib.IMAP4_SSL(HOST, port, ssl_context=ctx, timeout=30)
    answers = iter([xoauth2(address, token)])
    # After an error challenge XOAUTH2 expects an empty response.
    try:
        typ, data = imap.authenticate("XOAUTH2", lambda _: next(answers, b""))
    except BaseException:
        imap.shutdown()
        raise
    assert typ == "OK", data
    return imap


def test_disabling_a_user_on_identity_ends_their_session_on_a_separate_mail_role(monkeypatch):
    binary = _mailward_bin()
    root = Path(tempfile.mkdtemp(prefix="mailward-e2e-split-"))
    id_dir, mail_dir = root / "identity", root / "mail"
    id_dir.mkdir()
    mail_dir.mkdir()
    id_port, http_port, imaps_port = free_port(), free_port(), free_port()
    identity_url = f"https://{HOST}:{id_port}"
    resource = f"https://{HOST}:{http_port}"
    procs: list[Proc] = []
    ok = False
    try:
        # --- identity alone, on its own data directory (state and local CA created there).
        # The file is the data directory's mailward.toml, so the admin CLI on it agrees.
        id_config = id_dir / "mailward.toml"
        id_config.write_text(
            IDENTITY_CONFIG.format(data_dir=id_dir, host=HOST, port=id_port, resource=resource)
        )
        identity = serve(binary, id_config, "identity", root / "identity.stderr.log")
        procs.append(identity)
        id_ca = id_dir / "tls" / "ca.pem"
        discovery: dict = {}

        def identity_ready() -> bool:
            if not id_ca.exists():
                return False
            r = requests.get(
                f"{identity_url}/.well-known/openid-configuration", verify=str(id_ca), timeout=5
            )
            r.raise_for_status()
            discovery.update(r.json())
            return True

        wait_until("identity", identity_ready, identity)
        issuer = discovery["issuer"]
        # requests (and so msal) prefers REQUESTS_CA_BUNDLE over `verify`.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(id_ca))

        # --- a user and the relay application, with the admin CLI on identity's data.
        run_cli(binary, id_dir, "domain", "add", DOMAIN)
        password = f"correct horse {uuid.uuid4().hex[:8]} staple"
        upn = f"u{uuid.uuid4().hex[:12]}@{DOMAIN}"
        run_cli(binary, id_dir, "user", "add", upn, "--password", password)
        app = json.loads(
            run_cli(
                binary, id_dir, "--json", "app", "add", "split mail relay",
                "--kind", "confidential", "--grant", "client_credentials",
                "--role", "LegacyAuth.Relay",
            ).stdout
        )
        client_id = app["application"]["appId"]
        secret_file = root / "relay.secret"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(app["clientSecret"] + "\n")

        # --- the mail role, a separate process with its own data directory and CA.
        mail_config = root / "mail.toml"
        mail_config.write_text(
            MAIL_CONFIG.format(
                data_dir=mail_dir, host=HOST, http=http_port, imaps=imaps_port,
                resource=resource, domain=DOMAIN, identity_url=identity_url,
                ca_file=id_ca, client_id=client_id, secret_file=secret_file, poll=POLL_SECS,
            )
        )
        mail = serve(binary, mail_config, "mail", root / "mail.stderr.log")
        procs.append(mail)
        mail_ca = mail_dir / "tls" / "ca.pem"

        def mail_ready() -> bool:
            if not mail_ca.exists():
                return False
            return imaps_greets(imaps_port, ssl.create_default_context(cafile=str(mail_ca)))

        wait_until("mail role", mail_ready, mail)
        mail_tls = ssl.create_default_context(cafile=str(mail_ca))
        # Its own state: no identity database in the mail role's directory.
        assert not (mail_dir / "identity.db").exists()
        assert (mail_dir / "mail").is_dir()

        # --- a mail token from identity (msal, auth code + PKCE; the browser registers TOTP).
        server = Mailward(
            bin=binary, data=id_dir, url=issuer, origin=identity_url, port=id_port,
            ca=str(id_ca), admin_upn="", admin_password="", proc=identity.proc,
            stderr_path=identity.stderr_path,
            mail=MailEndpoints(url=resource, resource=resource, ports={"imaps": imaps_port}),
        )
        bob = sign_in(server, User(upn=upn, password=password))

        imap = xoauth2_login(imaps_port, mail_tls, bob.address, bob.token)
        typ, _ = imap.select("INBOX")
        assert typ == "OK"

        # --- disable the user on identity; the mail role learns it from the feed.
        run_cli(binary, id_dir, "user", "disable", upn)
        imap.sock.settimeout(DEADLINE_S)
        started = time.monotonic()
        try:
            line = imap.readline()
        except (TimeoutError, socket.timeout):
            raise AssertionError(f"no * BYE within {DEADLINE_S} s of disabling the user") from None
        assert line.startswith(b"* BYE"), line
        assert imap.readline() == b"", "the server closes the connection"
        print(f"BYE {time.monotonic() - started:.2f} s after `user disable`")
        imap.shutdown()

        # The old token no longer logs in (refused, not "temporarily unavailable").
        with pytest.raises(imaplib.IMAP4.error) as err:
            xoauth2_login(imaps_port, mail_tls, bob.address, bob.token)
        msg = str(err.value)
        assert "AUTHENTICATIONFAILED" in msg or "Authentication failed" in msg, msg
        assert "UNAVAILABLE" not in msg, msg

        mail.check_running()
        identity.check_running()
        ok = True
    finally:
        codes = {p.name: p.stop() for p in reversed(procs)}
        if not ok:
            for p in procs:
                print(f"\n--- {p.name} stderr (last lines) ---\n{p.tail()}")
        shutil.rmtree(root, ignore_errors=True)
    assert all(c == 0 for c in codes.values()), f"exit codes after SIGINT: {codes}"
