"""Revocation at the mail service with real clients: a user signs in with msal and logs in
to IMAP with XOAUTH2 (imaplib); `mailward user disable` ends the open session with
`* BYE` once the mail role has followed identity's revocation feed, and the same token
is then refused by IMAP and by the REST API (401 with the bearer challenge)."""

from __future__ import annotations

import imaplib

import pytest

from mailtools import curl, sign_in, tls_context, xoauth2

HOST = "localhost"
# Far above the feed's poll interval (5 s by default): a guard against a hang only.
DEADLINE_S = 60.0


def imap_login(mailward, who) -> imaplib.IMAP4_SSL:
    imap = imaplib.IMAP4_SSL(HOST, mailward.mail.ports["imaps"], ssl_context=tls_context(mailward))
    answers = iter([xoauth2(who.address, who.token)])
    # After an error challenge XOAUTH2 expects an empty response.
    typ, data = imap.authenticate("XOAUTH2", lambda _: next(answers, b""))
    assert typ == "OK", data
    return imap


def test_disabling_a_user_ends_their_imap_session_and_token(mailward, user):
    bob = sign_in(mailward, user)
    imap = imap_login(mailward, bob)
    typ, _ = imap.select("INBOX")
    assert typ == "OK"

    res = mailward.cli("user", "disable", user.upn)
    assert res.returncode == 0, res.stderr

    # The open session is ended by the server: the next line it sends is BYE.
    imap.sock.settimeout(DEADLINE_S)
    line = imap.readline()
    assert line.startswith(b"* BYE"), line
    assert imap.readline() == b"", "the server closes the connection"

    # The token no longer logs in.
    again = imaplib.IMAP4_SSL(HOST, mailward.mail.ports["imaps"], ssl_context=tls_context(mailward))
    with pytest.raises(imaplib.IMAP4.error) as err:
        answers = iter([xoauth2(bob.address, bob.token)])
        again.authenticate("XOAUTH2", lambda _: next(answers, b""))
    assert "AUTHENTICATIONFAILED" in str(err.value) or "Authentication failed" in str(err.value)

    # Nor reads mail over REST.
    out = curl(
        mailward,
        "-D", "-", "-o", "/dev/null",
        "-H", f"Authorization: Bearer {bob.token}",
        f"{mailward.mail.url}/v1.0/me/mailFolders",
    )
    head = out.stdout.lower()
    assert head.startswith("http/") and " 401" in head.splitlines()[0], out.stdout
    assert 'error="invalid_token"' in head, out.stdout
