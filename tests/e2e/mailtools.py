"""Helpers for the mail tests: tokens for the mail resource through msal (authorization
code flow with the scripted browser), TLS contexts trusting the test CA, SASL initial
responses, and curl."""

from __future__ import annotations

import base64
import ssl
import subprocess
from dataclasses import dataclass

from conftest import Browser, Mailward, User, auth_code_sign_in, new_msal_app

MAIL_SCOPES = [
    "IMAP.AccessAsUser.All",
    "POP.AccessAsUser.All",
    "SMTP.Send",
    "Mail.ReadWrite",
    "Mail.Send",
]


@dataclass
class MailUser:
    user: User
    token: str

    @property
    def address(self) -> str:
        return self.user.upn.lower()


def sign_in(server: Mailward, user: User, scopes: list[str] | None = None) -> MailUser:
    """A mail token for `user` (msal, authorization code + PKCE, the browser signs in and
    registers TOTP on the first sign-in)."""
    assert server.mail is not None, "this mailward printed no mail endpoints"
    wanted = [f"{server.mail.resource}/{s}" for s in (scopes or MAIL_SCOPES)]
    result = auth_code_sign_in(new_msal_app(server), Browser(server), user, wanted)
    assert "access_token" in result, result
    return MailUser(user=user, token=result["access_token"])


def tls_context(server: Mailward) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca)


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(user: str, token: str) -> bytes:
    return f"n,a={user},\x01auth=Bearer {token}\x01\x01".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def curl(server: Mailward, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """curl with the test CA, silent but showing errors."""
    res = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--cacert", server.ca, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"curl {' '.join(args)} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
    return res


def message(sender: str, to: str, subject: str, body: str = "Hello.") -> str:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@e2e.test>\r\n\r\n{body}\r\n"
    )
