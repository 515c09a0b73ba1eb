"""Modern authentication on the mail protocols with real clients: tokens from msal for the
mail resource, then Python's imaplib (XOAUTH2 and OAUTHBEARER, implicit TLS and
STARTTLS), imapclient, poplib (AUTH XOAUTH2 by hand), smtplib (XOAUTH2) and curl
(`--oauth2-bearer`) log in, list, fetch, append, move, expunge, and send to another local
user, who reads it back."""

from __future__ import annotations

import email
import imaplib
import poplib
import smtplib
import uuid

import pytest
from imapclient import IMAPClient

from conftest import User
from mailtools import MailUser, b64, curl, message, oauthbearer, sign_in, tls_context, xoauth2

HOST = "localhost"


@pytest.fixture(scope="module")
def people(mailward):
    """Two users with mail tokens; Bob's mailbox is created by the admin CLI before he
    ever signs in, so mail to him is delivered."""
    out = {}
    for name in ("alice", "bob"):
        local = f"{name}{uuid.uuid4().hex[:8]}"
        password = f"correct horse {uuid.uuid4().hex[:8]} staple"
        user = User(upn=mailward.add_user(local, password), password=password)
        if name == "bob":
            res = mailward.cli("mailbox", "add", user.upn)
            assert "created mailbox" in res.stdout, res.stdout
        out[name] = sign_in(mailward, user)
    return out


def port(mailward, name: str) -> int:
    return mailward.mail.ports[name]


def imap_login(mailward, who: MailUser, mechanism: str = "XOAUTH2", starttls: bool = False):
    ctx = tls_context(mailward)
    if starttls:
        imap = imaplib.IMAP4(HOST, port(mailward, "imap"))
        imap.starttls(ssl_context=ctx)
    else:
        imap = imaplib.IMAP4_SSL(HOST, port(mailward, "imaps"), ssl_context=ctx)
    blob = (xoauth2 if mechanism == "XOAUTH2" else oauthbearer)(who.address, who.token)
    typ, data = imap.authenticate(mechanism, lambda _: blob)
    assert typ == "OK", data
    return imap


def test_imaplib_xoauth2_list_append_fetch_move_expunge(mailward, people):
    alice = people["alice"]
    imap = imap_login(mailward, alice)
    typ, folders = imap.list()
    assert typ == "OK"
    names = b"\n".join(folders)
    for special in (b"INBOX", b"\\Sent", b"\\Trash", b"\\Drafts"):
        assert special in names, names

    typ, _ = imap.create("Projects")
    assert typ == "OK"
    subject = f"imaplib {uuid.uuid4().hex[:6]}"
    typ, data = imap.append("INBOX", r"(\Flagged)", None, message(alice.address, alice.address, subject).encode())
    assert typ == "OK", data
    assert b"APPENDUID" in data[0], data

    typ, data = imap.select("INBOX")
    assert typ == "OK"
    typ, data = imap.uid("SEARCH", None, f'SUBJECT "{subject}"')
    uids = data[0].split()
    assert len(uids) == 1, data
    uid = uids[0].decode()
    typ, data = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
    assert typ == "OK"
    parsed = email.message_from_bytes(data[0][1])
    assert parsed["Subject"] == subject
    assert b"\\Flagged" in data[0][0]

    typ, data = imap.uid("MOVE", uid, "Projects")
    assert typ == "OK", data
    typ, data = imap.uid("SEARCH", None, f'SUBJECT "{subject}"')
    assert data[0] == b"", "moved away from INBOX"

    typ, data = imap.select("Projects")
    assert typ == "OK" and data[0] == b"1", data
    typ, _ = imap.store("1", "+FLAGS", r"(\Deleted)")
    assert typ == "OK"
    typ, data = imap.expunge()
    assert typ == "OK" and data == [b"1"], data
    typ, data = imap.select("Projects")
    assert data[0] == b"0"
    imap.logout()


def test_imaplib_oauthbearer_and_starttls(mailward, people):
    bob = people["bob"]
    imap = imap_login(mailward, bob, mechanism="OAUTHBEARER")
    typ, _ = imap.select("INBOX")
    assert typ == "OK"
    imap.logout()

    imap = imap_login(mailward, bob, mechanism="XOAUTH2", starttls=True)
    typ, caps = imap.capability()
    assert typ == "OK"
    assert b"STARTTLS" not in caps[0], "no STARTTLS once TLS is on"
    imap.logout()


def test_imaplib_bad_token_is_refused(mailward, people):
    alice = people["alice"]
    imap = imaplib.IMAP4_SSL(HOST, port(mailward, "imaps"), ssl_context=tls_context(mailward))
    with pytest.raises(imaplib.IMAP4.error) as err:
        imap.authenticate("XOAUTH2", lambda _: xoauth2(alice.address, alice.token[:-8] + "AAAAAAAA"))
    assert "AUTHENTICATIONFAILED" in str(err.value) or "Authentication failed" in str(err.value)


def test_imapclient_oauth2_and_oauthbearer(mailward, people):
    alice = people["alice"]
    ctx = tls_context(mailward)
    with IMAPClient(HOST, port=port(mailward, "imaps"), ssl=True, ssl_context=ctx) as c:
        c.oauth2_login(alice.address, alice.token)
        folders = [f[2] for f in c.list_folders()]
        assert "INBOX" in folders and "Archive" in folders, folders
        c.select_folder("INBOX")
        subject = f"imapclient {uuid.uuid4().hex[:6]}"
        c.append("INBOX", message(alice.address, alice.address, subject))
        found = c.search(["SUBJECT", subject])
        assert len(found) == 1
        fetched = c.fetch(found, ["ENVELOPE", "FLAGS"])
        assert fetched[found[0]][b"ENVELOPE"].subject.decode() == subject
        c.move(found, "Archive")
        assert c.search(["SUBJECT", subject]) == []
        c.select_folder("Archive")
        moved = c.search(["SUBJECT", subject])
        assert len(moved) == 1
        c.delete_messages(moved)
        c.expunge()
        assert c.search(["SUBJECT", subject]) == []

    with IMAPClient(HOST, port=port(mailward, "imaps"), ssl=True, ssl_context=ctx) as c:
        c.oauthbearer_login(alice.address, alice.token)
        assert c.select_folder("INBOX", readonly=True)[b"EXISTS"] >= 0


def test_smtplib_sends_to_another_local_user_who_reads_it(mailward, people):
    alice, bob = people["alice"], people["bob"]
    subject = f"smtplib {uuid.uuid4().hex[:6]}"
    with smtplib.SMTP_SSL(HOST, port(mailward, "submissions"), context=tls_context(mailward)) as s:
        s.ehlo("client.e2e.test")
        assert "xoauth2" in s.esmtp_features["auth"].lower(), s.esmtp_features
        assert "plain" not in s.esmtp_features["auth"].lower(), "basic is blocked by default"
        code, _ = s.auth("XOAUTH2", lambda challenge=None: xoauth2(alice.address, alice.token).decode())
        assert code == 235
        refused = s.sendmail(alice.address, [bob.address], message(alice.address, bob.address, subject))
        assert refused == {}

    # Submission with STARTTLS too.
    with smtplib.SMTP(HOST, port(mailward, "submission")) as s:
        s.starttls(context=tls_context(mailward))
        s.ehlo("client.e2e.test")
        code, _ = s.auth("XOAUTH2", lambda challenge=None: xoauth2(alice.address, alice.token).decode())
        assert code == 235
        s.sendmail(alice.address, [bob.address], message(alice.address, bob.address, subject + " again"))

    imap = imap_login(mailward, bob)
    imap.select("INBOX", readonly=True)
    typ, data = imap.search(None, "SUBJECT", f'"{subject}"')
    nums = data[0].split()
    assert len(nums) == 2, data
    typ, data = imap.fetch(nums[0], "(BODY.PEEK[])")
    got = email.message_from_bytes(data[0][1])
    assert got["From"] == alice.address
    assert got["Subject"] == subject
    assert "ESMTPSA" in got["Received"]
    imap.logout()


def test_poplib_auth_xoauth2_reads_and_deletes(mailward, people):
    alice, bob = people["alice"], people["bob"]
    subject = f"pop3 {uuid.uuid4().hex[:6]}"
    with smtplib.SMTP_SSL(HOST, port(mailward, "submissions"), context=tls_context(mailward)) as s:
        s.ehlo("client.e2e.test")
        code, _ = s.auth("XOAUTH2", lambda challenge=None: xoauth2(alice.address, alice.token).decode())
        assert code == 235
        s.sendmail(alice.address, [bob.address], message(alice.address, bob.address, subject))

    pop = poplib.POP3_SSL(HOST, port(mailward, "pop3s"), context=tls_context(mailward))
    assert "XOAUTH2" in " ".join(pop.capa().get("SASL", [])), pop.capa()
    resp = pop._shortcmd("AUTH XOAUTH2 " + b64(xoauth2(bob.address, bob.token)))
    assert resp.startswith(b"+OK"), resp
    count, _ = pop.stat()
    assert count >= 1
    wanted = None
    for n in range(1, count + 1):
        _, lines, _ = pop.retr(n)
        if email.message_from_bytes(b"\r\n".join(lines))["Subject"] == subject:
            wanted = n
    assert wanted is not None
    pop.dele(wanted)
    pop.quit()

    # STLS on the plaintext port; the deletion stuck.
    pop = poplib.POP3(HOST, port(mailward, "pop3"))
    pop.stls(context=tls_context(mailward))
    pop._shortcmd("AUTH XOAUTH2 " + b64(xoauth2(bob.address, bob.token)))
    remaining, _ = pop.stat()
    assert remaining == count - 1
    pop.quit()


def test_curl_oauth2_bearer_on_imaps_pop3s_smtps(mailward, people, tmp_path):
    alice, bob = people["alice"], people["bob"]
    ports = mailward.mail.ports
    subject = f"curl {uuid.uuid4().hex[:6]}"
    mail_file = tmp_path / "mail.txt"
    mail_file.write_text(message(alice.address, bob.address, subject))
    for opts in ([], ["--login-options", "AUTH=XOAUTH2"]):
        curl(
            mailward,
            f"smtps://{HOST}:{ports['submissions']}",
            "--user", f"{alice.address}:",
            "--oauth2-bearer", alice.token,
            "--mail-from", alice.address,
            "--mail-rcpt", bob.address,
            "--upload-file", str(mail_file),
            *opts,
        )

    listing = curl(mailward, f"imaps://{HOST}:{ports['imaps']}/", "--user", f"{bob.address}:", "--oauth2-bearer", bob.token).stdout
    assert "INBOX" in listing and "Sent" in listing, listing
    found = curl(
        mailward,
        f"imaps://{HOST}:{ports['imaps']}/INBOX",
        "--user", f"{bob.address}:",
        "--oauth2-bearer", bob.token,
        "--login-options", "AUTH=XOAUTH2",
        "--request", f'SEARCH SUBJECT "{subject}"',
    ).stdout
    hits = found.split("SEARCH", 1)[1].split()
    assert len(hits) == 2, found
    fetched = curl(
        mailward,
        f"imaps://{HOST}:{ports['imaps']}/INBOX;MAILINDEX={hits[0]}",
        "--user", f"{bob.address}:",
        "--oauth2-bearer", bob.token,
    ).stdout
    assert f"Subject: {subject}" in fetched, fetched

    pop_list = curl(mailward, f"pop3s://{HOST}:{ports['pop3s']}/", "--user", f"{bob.address}:", "--oauth2-bearer", bob.token).stdout
    assert pop_list.strip(), "the maildrop lists messages"

    bad = curl(
        mailward,
        f"imaps://{HOST}:{ports['imaps']}/",
        "--user", f"{bob.address}:",
        "--oauth2-bearer", "not-a-token",
        check=False,
    )
    assert bad.returncode == 67, (bad.returncode, bad.stderr)  # CURLE_LOGIN_DENIED
