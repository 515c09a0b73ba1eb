"""Crash recovery of the single-node `mailward up` on SQLite: the process is killed with
SIGKILL in the middle of a stream of writes and started again on the same data directory
(same configuration, same ports, so the issuer and the mail resource stay the same).

- IMAP APPEND: every APPEND that got its tagged OK (with APPENDUID) is there exactly once,
  under the UID it was given, with its whole body; STATUS agrees with the messages
  present; an APPEND whose literal was cut by the kill left nothing.
- SMTP submission: every message whose DATA got 250 is in the recipient's INBOX exactly
  once; a message cut mid-DATA by the kill is not.
- Refresh tokens: a storm of refresh chains (direct POSTs to the token endpoint); after
  the restart no refresh token that got a 200 is accepted again, and every chain goes on
  from the last token it was given (see `test_refresh_storm_survives_sigkill` for a
  chain whose request was in flight at the kill).

After each restart both databases pass `PRAGMA integrity_check` and the invariants the
schema's triggers keep (folder counters, blob reference counts, one successor per
refresh token) hold. Waiting is always on a condition with a deadline."""

from __future__ import annotations

import email
import imaplib
import os
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from conftest import (
    MAIL_CLIENT_ID,
    Browser,
    Mailward,
    User,
    auth_code_sign_in,
    new_msal_app,
    start_mailward,
    stop_mailward,
)
from mailtools import b64, sign_in, tls_context, xoauth2

HOST = "localhost"
MAIL_LISTENERS = ["http", "imap", "imaps", "pop3", "pop3s", "submission", "submissions"]
DEADLINE_S = 30.0  # for any one wait on a condition
REUSED = 70043  # error code of a reused refresh token (its family is revoked)


# ---------------------------------------------------------------------------------------
# An instance that can be killed and started again
# ---------------------------------------------------------------------------------------


@dataclass
class Crashable:
    data: Path
    config: str
    server: Mailward | None = None

    def start(self) -> Mailward:
        self.server = start_mailward(self.data, config=self.config, identity_listen=None)
        return self.server

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing is flushed by the server."""
        assert self.server is not None
        proc = self.server.proc
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=DEADLINE_S)
        assert proc.returncode == -signal.SIGKILL, proc.returncode
        if proc.stdout is not None:
            proc.stdout.close()

    def restart(self) -> Mailward:
        before = self.server
        log = self.data / "mailward.stderr.log"
        if log.exists():  # kept for a look after a failure; the new process writes afresh
            log.replace(self.data / "mailward.stderr.before-kill.log")
        after = self.start()
        if before is not None:
            assert after.url == before.url and after.mail.resource == before.mail.resource
        return after


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held while choosing, so none is picked twice)."""
    held = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


@pytest.fixture
def crashable(request):
    data = Path(tempfile.mkdtemp(prefix="mailward-e2e-crash-"))
    ports = free_ports(1 + len(MAIL_LISTENERS))
    config = "\n".join(
        [
            "version = 1",
            f'data_dir = "{data}"',
            "[identity]",
            f'listen = "127.0.0.1:{ports[0]}"',
            "[identity.passwords]",
            "memory_kib = 8192",
            "iterations = 1",
            "[mail.listen]",
            *(f'{name} = "127.0.0.1:{port}"' for name, port in zip(MAIL_LISTENERS, ports[1:])),
            "",
        ]
    )
    c = Crashable(data=data, config=config)
    c.start()
    # requests (and so msal) prefers REQUESTS_CA_BUNDLE over `verify`: this instance's CA.
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = c.server.ca
    try:
        yield c
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
        if c.server is not None:
            stop_mailward(c.server)
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            for name in ("mailward.stderr.before-kill.log", "mailward.stderr.log"):
                log = data / name
                if log.exists():
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                    print(f"\n--- {name} (last lines) ---\n{tail}")
        shutil.rmtree(data, ignore_errors=True)


def new_user(server: Mailward) -> User:
    local = f"c{uuid.uuid4().hex[:12]}"
    password = f"correct horse {uuid.uuid4().hex[:8]} staple"
    return User(upn=server.add_user(local, password), password=password)


def wait_until(what: str, predicate) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling interval


# ---------------------------------------------------------------------------------------
# Databases after a restart
# ---------------------------------------------------------------------------------------


def open_ro(path: Path) -> sqlite3.Connection:
    assert path.exists(), path
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=DEADLINE_S)


def check_integrity(db: sqlite3.Connection, name: str) -> None:
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], name
    assert db.execute("PRAGMA foreign_key_check").fetchall() == [], name


def check_identity_db(data: Path) -> None:
    db = open_ro(data / "identity.db")
    try:
        check_integrity(db, "identity.db")
        # Rotation inserts the successor and spends the parent in one statement (and is
        # the only way the token endpoint spends a refresh token): a token has at most one
        # successor, a successor's parent is spent, a spent token that is not revoked has
        # its successor, and a family has at most one live token.
        twice = db.execute(
            "SELECT parent_hash, COUNT(*) FROM refresh_tokens WHERE parent_hash IS NOT NULL "
            "GROUP BY parent_hash HAVING COUNT(*) > 1"
        ).fetchall()
        assert twice == [], f"refresh tokens with two successors: {twice}"
        unspent = db.execute(
            "SELECT COUNT(*) FROM refresh_tokens c JOIN refresh_tokens p ON p.token_hash = c.parent_hash "
            "WHERE p.used_at IS NULL"
        ).fetchone()[0]
        assert unspent == 0, f"{unspent} rotated refresh tokens not marked used"
        spent_alone = db.execute(
            "SELECT COUNT(*) FROM refresh_tokens p WHERE p.used_at IS NOT NULL AND p.revoked_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM refresh_tokens c WHERE c.parent_hash = p.token_hash)"
        ).fetchone()[0]
        assert spent_alone == 0, f"{spent_alone} spent refresh tokens without a successor"
        live = db.execute(
            "SELECT family_id, COUNT(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL "
            "GROUP BY family_id HAVING COUNT(*) > 1"
        ).fetchall()
        assert live == [], f"refresh token families with two live tokens: {live}"
    finally:
        db.close()


def check_mail_db(data: Path) -> None:
    mail = data / "mail"
    db = open_ro(mail / "mail.db")
    try:
        check_integrity(db, "mail.db")
        # The triggers on `messages` keep each folder's counters.
        bad = db.execute(
            """SELECT f.id, f.messages, f.unseen, f.size, COUNT(m.uid),
                      COALESCE(SUM((m.flags & 1) = 0), 0), COALESCE(SUM(m.size), 0),
                      f.uid_next, COALESCE(MAX(m.uid), 0), f.highest_modseq, COALESCE(MAX(m.modseq), 0)
               FROM folders f LEFT JOIN messages m ON m.folder = f.id
               GROUP BY f.id
               HAVING f.messages != COUNT(m.uid)
                   OR f.unseen != COALESCE(SUM((m.flags & 1) = 0), 0)
                   OR f.size != COALESCE(SUM(m.size), 0)
                   OR f.uid_next <= COALESCE(MAX(m.uid), 0)
                   OR f.highest_modseq < COALESCE(MAX(m.modseq), 0)"""
        ).fetchall()
        assert bad == [], f"folder counters disagree with the message rows: {bad}"
        # A blob's reference count is the number of messages and queue entries using it.
        refs = db.execute(
            """SELECT b.hash, b.refs,
                      (SELECT COUNT(*) FROM messages m WHERE m.blob = b.hash)
                    + (SELECT COUNT(*) FROM outbound o WHERE o.blob = b.hash)
               FROM blobs b"""
        ).fetchall()
        assert all(r[1] == r[2] for r in refs), [r for r in refs if r[1] != r[2]]
        # Every message names a stored body, whose file is whole.
        missing = db.execute(
            "SELECT COUNT(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = m.blob)"
        ).fetchone()[0]
        assert missing == 0, f"{missing} messages without a body row"
        files = {p.name: p.stat().st_size for p in (mail / "blobs").rglob("*") if p.is_file()}
        for digest, size in db.execute("SELECT hash, size FROM blobs"):
            assert files.get(digest) == size, f"body {digest}: file size {files.get(digest)}, row {size}"
    finally:
        db.close()


# ---------------------------------------------------------------------------------------
# IMAP and raw connections
# ---------------------------------------------------------------------------------------


def imap_login(server: Mailward, address: str, token: str) -> imaplib.IMAP4_SSL:
    ctx = tls_context(server)
    imap = imaplib.IMAP4_SSL(HOST, server.mail.ports["imaps"], ssl_context=ctx, timeout=DEADLINE_S)
    typ, data = imap.authenticate("XOAUTH2", lambda _: xoauth2(address, token))
    assert typ == "OK", data
    return imap


def mailbox_contents(imap: imaplib.IMAP4, mailbox: str) -> tuple[int, dict[int, bytes]]:
    """(UIDVALIDITY, {uid: whole message}) of a mailbox."""
    typ, data = imap.select(mailbox, readonly=True)
    assert typ == "OK", data
    exists = int(data[0])
    uid_validity = int(imap.response("UIDVALIDITY")[1][0])
    messages: dict[int, bytes] = {}
    if exists:
        typ, data = imap.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
        assert typ == "OK", data
        # Each message is a (prefix with the literal's size, literal) pair, then the rest
        # of its FETCH line; UID may be in either part.
        pending: tuple[bytes, bytes] | None = None
        for item in [*data, None]:
            if pending is not None:
                rest = b"" if isinstance(item, tuple) or item is None else item
                m = re.search(rb"UID (\d+)", pending[0]) or re.search(rb"UID (\d+)", rest)
                assert m, (pending[0], rest)
                uid = int(m.group(1))
                assert uid not in messages, f"UID {uid} fetched twice"
                messages[uid] = pending[1]
                pending = None
            if isinstance(item, tuple):
                pending = item
    assert len(messages) == exists, (exists, sorted(messages))
    return uid_validity, messages


def status(imap: imaplib.IMAP4, mailbox: str) -> dict[str, int]:
    typ, data = imap.status(mailbox, "(MESSAGES UIDNEXT UIDVALIDITY)")
    assert typ == "OK", data
    return {k.decode(): int(v) for k, v in re.findall(rb"(\w+) (\d+)", data[0].split(b"(", 1)[1])}


def message_id(raw: bytes) -> str:
    return email.message_from_bytes(raw)["Message-ID"]


def crash_message(sender: str, to: str, mid: str, n: int) -> bytes:
    # Bodies of a few kilobytes, so a cut one would show.
    body = "".join(f"line {i} of {mid}\r\n" for i in range(40 + n % 60))
    return f"From: {sender}\r\nTo: {to}\r\nSubject: crash {n}\r\nMessage-ID: {mid}\r\n\r\n{body}".encode()


def tls_socket(server: Mailward, port: int) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, port), timeout=DEADLINE_S)
    return tls_context(server).wrap_socket(raw, server_hostname=HOST)


def read_line(s: ssl.SSLSocket) -> bytes:
    out = b""
    while not out.endswith(b"\r\n"):
        chunk = s.recv(1)
        assert chunk, f"connection closed after {out!r}"
        out += chunk
    return out


# ---------------------------------------------------------------------------------------
# IMAP APPEND
# ---------------------------------------------------------------------------------------


@dataclass
class AppendLog:
    sent: dict[str, bytes] = field(default_factory=dict)  # Message-ID → message, every attempt
    acked: dict[str, tuple[int, int]] = field(default_factory=dict)  # Message-ID → (UIDVALIDITY, UID)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def append_stream(
    server: Mailward, address: str, token: str, worker: int, log: AppendLog, stop: threading.Event | None = None
) -> None:
    """APPENDs until the connection dies (or `stop` is set); records each tagged OK with its
    APPENDUID."""
    try:
        imap = imap_login(server, address, token)
    except Exception as e:  # the kill may come before the login ends
        with log.lock:
            log.unexpected.append(f"worker {worker} login: {e!r}")
        return
    n = 0
    while stop is None or not stop.is_set():
        n += 1
        mid = f"<append-{worker}-{n}-{uuid.uuid4().hex[:8]}@crash.e2e.test>"
        msg = crash_message(address, address, mid, n)
        with log.lock:
            log.sent[mid] = msg
        try:
            typ, data = imap.append("INBOX", None, None, msg)
        except (imaplib.IMAP4.abort, OSError):
            return  # killed: this APPEND's fate is unknown
        if typ != "OK":
            with log.lock:
                log.unexpected.append(f"APPEND {mid}: {typ} {data}")
            return
        m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
        with log.lock:
            if m:
                log.acked[mid] = (int(m.group(1)), int(m.group(2)))
            else:
                log.unexpected.append(f"APPEND {mid}: no APPENDUID in {data}")


def test_imap_appends_survive_sigkill(crashable):
    server = crashable.server
    user = new_user(server)
    me = sign_in(server, user, ["IMAP.AccessAsUser.All"])

    # An APPEND whose literal is only half sent when the process dies.
    cut_mid = f"<cut-{uuid.uuid4().hex[:8]}@crash.e2e.test>"
    cut = crash_message(me.address, me.address, cut_mid, 7)
    raw = tls_socket(server, server.mail.ports["imaps"])
    assert read_line(raw).startswith(b"* OK")
    raw.sendall(f"a1 AUTHENTICATE XOAUTH2 {b64(xoauth2(me.address, me.token))}\r\n".encode())
    line = read_line(raw)
    while line.startswith(b"* "):
        line = read_line(raw)
    assert line.startswith(b"a1 OK"), line
    raw.sendall(b"a2 APPEND INBOX {%d}\r\n" % len(cut))
    assert read_line(raw).startswith(b"+ ")
    raw.sendall(cut[: len(cut) // 2])

    log = AppendLog()
    workers = [
        threading.Thread(target=append_stream, args=(server, me.address, me.token, w, log), daemon=True)
        for w in range(4)
    ]
    for w in workers:
        w.start()
    wait_until("120 acknowledged APPENDs", lambda: len(log.acked) >= 120 or log.unexpected)
    assert not log.unexpected, log.unexpected
    crashable.kill()
    for w in workers:
        w.join(timeout=DEADLINE_S)
        assert not w.is_alive()
    raw.close()
    assert not log.unexpected, log.unexpected
    acked = dict(log.acked)
    in_flight = len(log.sent) - len(acked)
    assert in_flight <= len(workers)

    server = crashable.restart()
    check_mail_db(crashable.data)
    check_identity_db(crashable.data)
    imap = imap_login(server, me.address, me.token)
    uid_validity, present = mailbox_contents(imap, "INBOX")
    by_mid: dict[str, list[int]] = {}
    for uid, raw_msg in present.items():
        mid = message_id(raw_msg)
        by_mid.setdefault(mid, []).append(uid)
        # Whole, as sent (acknowledged or not).
        assert mid in log.sent, f"UID {uid}: unknown message {mid}"
        assert raw_msg == log.sent[mid], f"UID {uid} ({mid}) is not the message sent"
    assert all(len(uids) == 1 for uids in by_mid.values()), {m: u for m, u in by_mid.items() if len(u) > 1}
    for mid, (validity, uid) in acked.items():
        assert validity == uid_validity, (mid, validity, uid_validity)
        assert by_mid.get(mid) == [uid], f"acknowledged {mid} (UID {uid}) is {by_mid.get(mid)} after restart"
    unacknowledged = set(by_mid) - set(acked)
    assert len(unacknowledged) <= in_flight, unacknowledged
    assert cut_mid not in by_mid, "the APPEND cut by the kill was stored"
    print(
        f"APPENDs: {len(acked)} acknowledged, {in_flight} in flight at the kill, "
        f"{len(unacknowledged)} of those stored"
    )

    st = status(imap, "INBOX")
    assert st["MESSAGES"] == len(present), (st, len(present))
    assert st["UIDVALIDITY"] == uid_validity
    assert st["UIDNEXT"] > max(present), (st, max(present))
    # The mailbox takes new messages after the restart, with fresh UIDs.
    after = crash_message(me.address, me.address, "<after@crash.e2e.test>", 1)
    typ, data = imap.append("INBOX", None, None, after)
    assert typ == "OK", data
    new_uid = int(re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0]).group(1))
    assert new_uid >= st["UIDNEXT"]
    imap.logout()


# ---------------------------------------------------------------------------------------
# SMTP submission
# ---------------------------------------------------------------------------------------


def submit_stream(server: Mailward, sender: str, token: str, rcpt: str, worker: int, log: AppendLog) -> None:
    """Sends until the connection dies; records each message whose DATA got 250."""
    try:
        ctx = tls_context(server)
        s = smtplib.SMTP_SSL(HOST, server.mail.ports["submissions"], context=ctx, timeout=DEADLINE_S)
        s.ehlo("crash.e2e.test")
        code, _ = s.auth("XOAUTH2", lambda challenge=None: xoauth2(sender, token).decode())
        assert code == 235
    except Exception as e:
        with log.lock:
            log.unexpected.append(f"worker {worker} login: {e!r}")
        return
    n = 0
    while True:
        n += 1
        mid = f"<submit-{worker}-{n}-{uuid.uuid4().hex[:8]}@crash.e2e.test>"
        msg = crash_message(sender, rcpt, mid, n)
        with log.lock:
            log.sent[mid] = msg
        try:
            refused = s.sendmail(sender, [rcpt], msg)
        except (smtplib.SMTPServerDisconnected, OSError):
            return  # killed: this message's fate is unknown
        except smtplib.SMTPException as e:
            with log.lock:
                log.unexpected.append(f"{mid}: {e!r}")
            return
        with log.lock:
            if refused:
                log.unexpected.append(f"{mid}: refused {refused}")
            else:
                log.acked[mid] = (0, 0)


def test_smtp_submissions_survive_sigkill(crashable):
    server = crashable.server
    alice_user, bob_user = new_user(server), new_user(server)
    res = server.cli("mailbox", "add", bob_user.upn)
    assert "created mailbox" in res.stdout, res.stdout
    alice = sign_in(server, alice_user, ["SMTP.Send"])
    bob = sign_in(server, bob_user, ["IMAP.AccessAsUser.All"])

    # A message whose DATA is cut by the kill (no final dot).
    cut_mid = f"<cut-{uuid.uuid4().hex[:8]}@crash.e2e.test>"
    cut = crash_message(alice.address, bob.address, cut_mid, 7)
    raw = tls_socket(server, server.mail.ports["submissions"])
    assert read_line(raw).startswith(b"220 ")
    raw.sendall(b"EHLO cut.e2e.test\r\n")
    while not read_line(raw).startswith(b"250 "):
        pass
    raw.sendall(f"AUTH XOAUTH2 {b64(xoauth2(alice.address, alice.token))}\r\n".encode())
    assert read_line(raw).startswith(b"235 ")
    envelope = ((f"MAIL FROM:<{alice.address}>", b"250"), (f"RCPT TO:<{bob.address}>", b"250"), ("DATA", b"354"))
    for command, reply in envelope:
        raw.sendall(command.encode() + b"\r\n")
        line = read_line(raw)
        assert line.startswith(reply), (command, line)
    raw.sendall(cut[: len(cut) // 2])

    log = AppendLog()
    workers = [
        threading.Thread(
            target=submit_stream, args=(server, alice.address, alice.token, bob.address, w, log), daemon=True
        )
        for w in range(3)
    ]
    for w in workers:
        w.start()
    wait_until("90 accepted messages", lambda: len(log.acked) >= 90 or log.unexpected)
    assert not log.unexpected, log.unexpected
    crashable.kill()
    for w in workers:
        w.join(timeout=DEADLINE_S)
        assert not w.is_alive()
    raw.close()
    assert not log.unexpected, log.unexpected
    accepted = set(log.acked)
    in_flight = len(log.sent) - len(accepted)
    assert in_flight <= len(workers)

    server = crashable.restart()
    check_mail_db(crashable.data)
    check_identity_db(crashable.data)
    imap = imap_login(server, bob.address, bob.token)
    _, present = mailbox_contents(imap, "INBOX")
    by_mid: dict[str, list[int]] = {}
    for uid, raw_msg in present.items():
        mid = message_id(raw_msg)
        by_mid.setdefault(mid, []).append(uid)
        assert mid in log.sent, f"UID {uid}: unknown message {mid}"
        # Delivery adds a Received: field on top; the rest is the message as sent.
        assert raw_msg.endswith(log.sent[mid]), f"UID {uid} ({mid}) is not the whole message sent"
    assert all(len(uids) == 1 for uids in by_mid.values()), {m: u for m, u in by_mid.items() if len(u) > 1}
    missing = accepted - set(by_mid)
    assert not missing, f"{len(missing)} accepted messages lost: {sorted(missing)[:5]}"
    assert len(set(by_mid) - accepted) <= in_flight
    assert cut_mid not in by_mid, "the message cut mid-DATA was delivered"
    print(
        f"submissions: {len(accepted)} accepted, {in_flight} in flight at the kill, "
        f"{len(set(by_mid) - accepted)} of those delivered"
    )
    st = status(imap, "INBOX")
    assert st["MESSAGES"] == len(present) and st["UIDNEXT"] > max(present), st
    imap.logout()
    # Local delivery leaves nothing queued, half-written or not.
    out = server.cli("queue", "list").stdout
    assert "the queue is empty" in out, out


# ---------------------------------------------------------------------------------------
# Refresh token storm
# ---------------------------------------------------------------------------------------


@dataclass
class Chain:
    tokens: list[str]  # tokens[i + 1] came back in the 200 answer to tokens[i]
    in_flight: str | None = None  # sent when the process died, answer never seen
    errors: list[str] = field(default_factory=list)


def refresh(session: requests.Session, endpoint: str, scope: str, token: str) -> requests.Response:
    return session.post(
        endpoint,
        data={
            "grant_type": "refresh_token",
            "client_id": MAIL_CLIENT_ID,
            "refresh_token": token,
            "scope": scope,
        },
        timeout=DEADLINE_S,
    )


def run_chain(server: Mailward, endpoint: str, scope: str, chain: Chain, stop: threading.Event) -> None:
    session = requests.Session()
    session.verify = server.ca
    session.trust_env = False
    while not stop.is_set():
        token = chain.tokens[-1]
        chain.in_flight = token
        try:
            r = refresh(session, endpoint, scope, token)
        except requests.RequestException:
            return  # killed: whether the server rotated `token` is unknown
        chain.in_flight = None
        if r.status_code != 200:
            chain.errors.append(f"{r.status_code} {r.text}")
            return
        chain.tokens.append(r.json()["refresh_token"])


def error_codes(r: requests.Response) -> list[int]:
    return r.json().get("error_codes", [])


def test_refresh_storm_survives_sigkill(crashable):
    server = crashable.server
    user = new_user(server)
    scope = f"{server.mail.resource}/IMAP.AccessAsUser.All"
    endpoint = server.discovery()["token_endpoint"]
    # One browser: the first sign-in registers TOTP, the others use its single sign-on
    # session. Each authorization code starts its own refresh token family.
    browser = Browser(server)
    chains = []
    for _ in range(6):
        result = auth_code_sign_in(new_msal_app(server), browser, user, [scope])
        assert "refresh_token" in result, result
        chains.append(Chain(tokens=[result["refresh_token"]]))

    # Half the chains are stopped (their last answer seen) before the kill; the other
    # half are killed mid-request.
    quiet, busy = chains[:3], chains[3:]
    stop_quiet, stop_busy = threading.Event(), threading.Event()
    threads = [
        threading.Thread(target=run_chain, args=(server, endpoint, scope, c, stop), daemon=True)
        for group, stop in ((quiet, stop_quiet), (busy, stop_busy))
        for c in group
    ]
    for t in threads:
        t.start()
    wait_until(
        "every chain to rotate 15 times",
        lambda: all(len(c.tokens) > 15 for c in chains) or any(c.errors for c in chains),
    )
    stop_quiet.set()
    for t in threads[:3]:
        t.join(timeout=DEADLINE_S)
        assert not t.is_alive()
    crashable.kill()
    for t in threads[3:]:
        t.join(timeout=DEADLINE_S)
        assert not t.is_alive()
    assert not any(c.errors for c in chains), [c.errors for c in chains]
    assert all(c.in_flight is None for c in quiet)

    server = crashable.restart()
    check_identity_db(crashable.data)
    check_mail_db(crashable.data)
    session = requests.Session()
    session.verify = server.ca
    session.trust_env = False
    outcomes = []
    for i, c in enumerate(chains):
        last = c.tokens[-1]
        r = refresh(session, endpoint, scope, last)
        if r.status_code != 200:
            # Only possible for a chain whose request was in flight: the server rotated
            # `last` (committed) and died before the answer reached the client. mailward
            # has no grace period for a retried refresh (RFC 9700 §4.14.2 reuse detection,
            # see crates/identity/src/http/token/refresh_token.rs): presenting the spent
            # token again counts as reuse and revokes the family, so that chain ends here
            # and its client signs in again. A chain stopped between requests must go on.
            assert c in busy and c.in_flight == last, f"chain {i}: {r.status_code} {r.text}"
            assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
            assert REUSED in error_codes(r), r.text
            outcomes.append(f"chain {i}: {len(c.tokens) - 1} rotations, rotated at the kill, ended")
            continue
        # The chain goes on: the new token works once more...
        nxt = r.json()["refresh_token"]
        r = refresh(session, endpoint, scope, nxt)
        assert r.status_code == 200, f"chain {i} broken after one step: {r.text}"
        newest = r.json()["refresh_token"]
        # ...and the token it came from is spent: offering it again is reuse, which
        # revokes the family, newest token included.
        r = refresh(session, endpoint, scope, last)
        assert r.status_code == 400 and REUSED in error_codes(r), r.text
        r = refresh(session, endpoint, scope, newest)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
        state = "in flight, not rotated" if c.in_flight else "idle"
        outcomes.append(f"chain {i}: {len(c.tokens) - 1} rotations, {state} at the kill, continued")
    print("\n".join(outcomes))

    # No token that got a 200 before the kill is accepted again.
    for i, c in enumerate(chains):
        for token in c.tokens[:-1]:
            r = refresh(session, endpoint, scope, token)
            refused = r.status_code == 400 and r.json()["error"] == "invalid_grant"
            assert refused, f"chain {i}: a spent token got {r.status_code} {r.text}"
    check_identity_db(crashable.data)
