"""Several nodes per role on one PostgreSQL database: two identity nodes (`serve --role
identity`) and two mail nodes (`serve --role mail`) share one schema on the local
PostgreSQL server, and clients alternate between them.

- Refresh chains alternate between the nodes on every rotation; the same refresh token
  sent to both nodes at once is accepted by exactly one.
- Smart lockout counts wrong passwords made on either node against one counter.
- A browser session made on one node signs the user in on the other without a password.
- One node is killed with SIGKILL in the middle of a refresh storm. Then: no refresh token
  was accepted twice (every spent token is refused, no family has two live tokens), every
  chain whose last answer the client received continues on the survivor, a rotation in
  flight at the kill either happened or did not (never half), and the survivor serves
  every user.
- Mail: an APPEND on one mail node wakes IMAP IDLE on the other; a message submitted by
  SMTP on one is read by IMAP on the other. One mail node is killed with SIGKILL in the
  middle of a stream of APPENDs to both: every acknowledged message is on the survivor
  exactly once at its APPENDUID, the mailbox's counters agree with its messages (in IMAP
  and in the tables), and the survivor serves every user.

The nodes share a data directory (the master key that seals signing keys, and the TLS CA)
the way an array's nodes share their secrets; each listens on its own port behind one
public URL."""

from __future__ import annotations

import json
import re
import os
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from conftest import (
    DOMAIN,
    MAIL_CLIENT_ID,
    Browser,
    MailEndpoints,
    Mailward,
    User,
    _mailward_bin,
    auth_code_sign_in,
    free_port,
    new_msal_app,
)
from mailtools import sign_in, tls_context, xoauth2
from test_crash_recovery import AppendLog, append_stream, crash_message, imap_login, mailbox_contents, message_id, status
from test_split_revocation import Proc, imaps_greets, run_cli, serve, wait_until


HOST = "localhost"
PG_URL = os.environ.get("MAILWARD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
MAIL_WORKERS_PER_NODE = 2
ACKED_BEFORE_KILL = 60
LOCKOUT_THRESHOLD = 4
CHAINS = 6
ROUNDS_BEFORE_KILL = 6
ROUNDS_AFTER_KILL = 4

IDENTITY_CONFIG = """\
version = 1
data_dir = "{data_dir}"

[storage]
url = "{storage_url}"

[identity]
public_url = "https://{host}:{public_port}"
listen = "127.0.0.1:{port}"
mail_resource_uri = "{resource}"

[identity.passwords]
memory_kib = 8192
iterations = 1

[identity.lockout]
threshold = {threshold}
"""


MAIL_CONFIG = """\
version = 1
data_dir = "{data_dir}"

[mail]
public_url = "https://{host}:{public_http}"
resource_uri = "{resource}"
hostname = "{host}"
local_domains = ["{domain}"]

[mail.storage]
url = "{storage_url}"

[mail.listen]
http = "127.0.0.1:{http}"
imap = ""
imaps = "127.0.0.1:{imaps}"
pop3 = ""
pop3s = ""
submission = ""
submissions = "127.0.0.1:{submissions}"

[mail.identity]
url = "{identity_url}"
ca_file = "{ca_file}"
relay_client_id = "{client_id}"
relay_client_secret_file = "{secret_file}"
"""


@pytest.fixture(autouse=True)
def _server_log_on_failure():
    """This module runs its own processes (and prints their logs on failure)."""
    yield


def psql(sql: str) -> str:
    """Runs `sql` on the test database with psql; returns its unaligned output."""
    res = subprocess.run(
        ["psql", PG_URL, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if res.returncode != 0:
        raise AssertionError(f"psql failed ({res.returncode}): {res.stderr}\nSQL: {sql}")
    return res.stdout


@pytest.fixture
def pg_schema():
    """A scratch schema on the local PostgreSQL server, dropped afterwards. An unreachable
    server fails the test: it is never a skip."""
    name = f"mw_e2e_{uuid.uuid4().hex[:12]}"
    psql(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        psql(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@dataclass
class Node:
    name: str
    port: int
    proc: Proc

    @property
    def origin(self) -> str:
        return f"https://{HOST}:{self.port}"


@dataclass
class Chain:
    """One client's refresh chain: the tokens it spent (each answered 200) and the one it
    holds."""

    current: str
    spent: list[str] = field(default_factory=list)
    # The token sent when the node died before answering (the client never learnt whether
    # the rotation happened).
    in_flight: str | None = None
    errors: list[str] = field(default_factory=list)


def refresh(origin: str, token_path: str, ca: str, scope: str, rt: str) -> requests.Response:
    return requests.post(
        f"{origin}{token_path}",
        data={"grant_type": "refresh_token", "client_id": MAIL_CLIENT_ID, "refresh_token": rt, "scope": scope},
        verify=ca,
        timeout=30,
    )


def test_two_identity_nodes_share_refresh_chains_lockout_and_sessions_and_survive_a_kill(monkeypatch, pg_schema):
    binary = _mailward_bin()
    root = Path(tempfile.mkdtemp(prefix="mailward-e2e-multinode-"))
    data = root / "data"
    data.mkdir()
    port_a, port_b = free_port(), free_port()
    mail_ports = {f"{what}_{node}": free_port() for what in ("http", "imaps", "submissions") for node in "ab"}
    resource = f"https://{HOST}:{mail_ports['http_a']}"
    storage_url = f"{PG_URL}?options[search_path]={pg_schema}"
    procs: list[Proc] = []
    ok = False
    try:

        def config(port: int) -> str:
            return IDENTITY_CONFIG.format(
                data_dir=data, storage_url=storage_url, host=HOST, public_port=port_a, port=port,
                resource=resource, threshold=LOCKOUT_THRESHOLD,
            )

        # Node A first (it creates the master key, the CA and the tenant), then B on the
        # same data directory and database. The data directory's mailward.toml is A's, so
        # the admin CLI on it reaches the shared database.
        (data / "mailward.toml").write_text(config(port_a))
        config_b = root / "node-b.toml"
        config_b.write_text(config(port_b))
        ca = data / "tls" / "ca.pem"
        discovery: dict = {}

        def ready(origin: str):
            def check() -> bool:
                if not ca.exists():
                    return False
                r = requests.get(f"{origin}/.well-known/openid-configuration", verify=str(ca), timeout=5)
                r.raise_for_status()
                discovery.update(r.json())
                return True

            return check

        a = Node("A", port_a, serve(binary, data / "mailward.toml", "identity", root / "a.stderr.log"))
        a.proc.name = "identity node A"
        procs.append(a.proc)
        wait_until("identity node A", ready(a.origin), a.proc)
        b = Node("B", port_b, serve(binary, config_b, "identity", root / "b.stderr.log"))
        b.proc.name = "identity node B"
        procs.append(b.proc)
        wait_until("identity node B", ready(b.origin), b.proc)
        issuer = discovery["issuer"]
        token_path = discovery["token_endpoint"].removeprefix(a.origin)
        assert token_path.startswith("/"), discovery["token_endpoint"]
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        scope = f"{resource}/IMAP.AccessAsUser.All"

        run_cli(binary, data, "domain", "add", DOMAIN)

        # --- two mail nodes on the same schema, reaching identity A over HTTPS with a
        # confidential relay application (as a separate mail host would).
        app = json.loads(
            run_cli(
                binary, data, "--json", "app", "add", "multinode mail relay",
                "--kind", "confidential", "--grant", "client_credentials", "--role", "LegacyAuth.Relay",
            ).stdout
        )
        secret_file = root / "relay.secret"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(app["clientSecret"] + "\n")
        mail_nodes: dict[str, tuple[Proc, MailEndpoints]] = {}
        for n in "ab":
            cfg = root / f"mail-{n}.toml"
            cfg.write_text(
                MAIL_CONFIG.format(
                    data_dir=data, host=HOST, public_http=mail_ports["http_a"], resource=resource,
                    domain=DOMAIN, storage_url=storage_url, http=mail_ports[f"http_{n}"],
                    imaps=mail_ports[f"imaps_{n}"], submissions=mail_ports[f"submissions_{n}"],
                    identity_url=a.origin, ca_file=ca, client_id=app["application"]["appId"],
                    secret_file=secret_file,
                )
            )
            proc = serve(binary, cfg, "mail", root / f"mail-{n}.stderr.log")
            procs.append(proc)
            proc.name = f"mail node {n.upper()}"
            wait_until(f"mail node {n.upper()}", lambda: imaps_greets(mail_ports[f"imaps_{n}"], ssl.create_default_context(cafile=str(ca))), proc)
            endpoints = MailEndpoints(
                url=f"https://{HOST}:{mail_ports[f'http_{n}']}", resource=resource,
                ports={"imaps": mail_ports[f"imaps_{n}"], "submissions": mail_ports[f"submissions_{n}"]},
            )
            mail_nodes[n] = (proc, endpoints)

        def new_user() -> User:
            password = f"correct horse {uuid.uuid4().hex[:8]} staple"
            upn = f"u{uuid.uuid4().hex[:12]}@{DOMAIN}"
            run_cli(binary, data, "user", "add", upn, "--password", password)
            return User(upn=upn, password=password)

        def server(node: Node, mail: str = "a") -> Mailward:
            return Mailward(
                bin=binary, data=data, url=issuer, origin=node.origin, port=node.port, ca=str(ca),
                admin_upn="", admin_password="", proc=node.proc.proc, stderr_path=node.proc.stderr_path,
                mail=mail_nodes[mail][1] if mail in mail_nodes else None,
            )

        # --- a session made on A signs the user in on B without a password.
        alice = new_user()
        on_a = Browser(server(a))
        first = auth_code_sign_in(new_msal_app(server(a)), on_a, alice, [scope])
        assert "refresh_token" in first, first
        on_b = Browser(server(b))
        on_b.session.cookies = on_a.session.cookies
        second = auth_code_sign_in(new_msal_app(server(b)), on_b, alice, [scope])
        assert "refresh_token" in second, second
        assert "password" not in on_b.pages and "totp" not in on_b.pages, on_b.pages

        # --- wrong passwords alternate between the nodes and count against one counter.
        mallory = new_user()
        for i in range(LOCKOUT_THRESHOLD):
            node = (a, b)[i % 2]
            br = Browser(server(node))
            landing = br.submit(br.get(authorize(node, discovery, scope)), "identify", username=mallory.upn)
            landing = br.submit(landing, "password", password=f"wrong {i} {uuid.uuid4().hex}")
            assert landing.location is None and landing.error(), f"wrong password {i} on {node.name} was not refused"
        # Now locked: the right password is refused on both nodes, and the log says why.
        for node in (a, b):
            br = Browser(server(node))
            landing = br.submit(br.get(authorize(node, discovery, scope)), "identify", username=mallory.upn)
            landing = br.submit(landing, "password", password=mallory.password)
            assert landing.location is None and landing.error(), f"{node.name} let a locked user in"
        # The log is written in the background: wait for the locked attempt to show.
        deadline = time.monotonic() + 20
        while "50053" not in json.dumps(server(a).signins("--user", mallory.upn)):
            assert time.monotonic() < deadline, server(a).signins("--user", mallory.upn)
            time.sleep(0.1)  # polling the log

        # --- refresh chains for several users, alternating nodes on every rotation.
        chains: list[Chain] = []
        for _ in range(CHAINS):
            u = new_user()
            res = auth_code_sign_in(new_msal_app(server(a)), Browser(server(a)), u, [scope])
            assert "refresh_token" in res, res
            chains.append(Chain(current=res["refresh_token"]))

        def rotate(chain: Chain, node: Node) -> bool:
            """One rotation on `node`; False when the node did not answer."""
            sent = chain.current
            try:
                r = refresh(node.origin, token_path, str(ca), scope, sent)
            except requests.RequestException:
                chain.in_flight = sent
                return False
            if r.status_code != 200:
                chain.errors.append(f"{node.name}: {r.status_code} {r.text[:200]}")
                return False
            chain.spent.append(sent)
            chain.current = r.json()["refresh_token"]
            return True

        for i in range(ROUNDS_BEFORE_KILL):
            for c in chains:
                assert rotate(c, (a, b)[i % 2]), c.errors

        # Two nodes, one token, at once: exactly one rotation wins (the other is refused as
        # reuse, which revokes the family: these chains are spent for the rest of the test).
        racers = [Chain(current=auth_code_sign_in(new_msal_app(server(a)), Browser(server(a)), new_user(), [scope])["refresh_token"]) for _ in range(3)]
        for c in racers:
            barrier = threading.Barrier(2)
            answers: list[int] = []

            def race(node: Node, token: str = c.current) -> None:
                barrier.wait()
                answers.append(refresh(node.origin, token_path, str(ca), scope, token).status_code)

            threads = [threading.Thread(target=race, args=(n,)) for n in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(answers) == [200, 400], answers

        # --- the storm: every chain rotates on B in a loop; B is killed in the middle.
        stop = threading.Event()

        def storm(c: Chain) -> None:
            while not stop.is_set() and c.in_flight is None and not c.errors:
                rotate(c, b)

        workers = [threading.Thread(target=storm, args=(c,)) for c in chains]
        for t in workers:
            t.start()
        deadline_rotations = sum(len(c.spent) for c in chains) + 20 * CHAINS
        while sum(len(c.spent) for c in chains) < deadline_rotations and all(t.is_alive() for t in workers):
            time.sleep(0.01)  # polling the workers' progress
        b.proc.proc.kill()
        b.proc.proc.wait()
        stop.set()
        for t in workers:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in workers)
        for c in chains:
            assert not c.errors, c.errors

        # A token in flight at the kill: either its rotation never happened (the token still
        # works, once) or it did and the answer was lost (the token is now spent: refused as
        # reuse, which revokes that family by design). Never both, never a second successor.
        lost = 0
        for c in chains:
            if c.in_flight is None:
                continue
            r = refresh(a.origin, token_path, str(ca), scope, c.in_flight)
            if r.status_code == 200:
                c.spent.append(c.in_flight)
                c.current = r.json()["refresh_token"]
            else:
                assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
                lost += 1
                c.current = ""
            c.in_flight = None
        live = [c for c in chains if c.current]
        assert len(live) >= CHAINS - lost

        # No family has two live tokens, and no row is half-written.
        forks = psql(
            f"SELECT family_id FROM {pg_schema}.refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL "
            f"AND expires_at > 0 GROUP BY family_id HAVING COUNT(*) > 1"
        ).split()
        assert forks == [], forks

        # The survivor serves every chain.
        for _ in range(ROUNDS_AFTER_KILL):
            for c in live:
                assert rotate(c, a), c.errors
        # ...and every user (a fresh sign-in on the survivor).
        late = auth_code_sign_in(new_msal_app(server(a)), Browser(server(a)), new_user(), [scope])
        assert "refresh_token" in late, late

        # No refresh token was accepted twice: every spent one is refused now.
        for c in live:
            for old in c.spent[-3:]:
                r = refresh(a.origin, token_path, str(ca), scope, old)
                assert r.status_code == 400, f"a spent refresh token was accepted again: {r.text}"
        total = sum(len(c.spent) for c in chains)
        print(f"{total} rotations across two nodes; {lost} lost in flight at the kill")
        a.proc.check_running()

        mail_phases(server(a, "a"), server(a, "b"), mail_nodes["b"][0], new_user, pg_schema)
        ok = True
    finally:
        codes = {p.name: (p.stop() if p.proc.returncode is None else "killed") for p in reversed(procs)}
        if not ok:
            for p in procs:
                print(f"\n--- {p.name} stderr (last lines) ---\n{p.tail()}")
        shutil.rmtree(root, ignore_errors=True)
    # The survivors stop cleanly on SIGINT; the killed ones were killed.
    assert codes == {
        "mail node B": "killed", "mail node A": 0, "identity node B": "killed", "identity node A": 0,
    }, codes


def mail_phases(on_a: Mailward, on_b: Mailward, mail_b: Proc, new_user, pg_schema: str) -> None:
    """The mail half: IDLE across nodes, SMTP on one and IMAP on the other, then a kill of
    mail node B during APPENDs to both nodes."""
    bob = sign_in(on_a, new_user())
    # IDLE on B sees an APPEND made on A.
    idle = imap_login(on_b, bob.address, bob.token)
    typ, _ = idle.select("INBOX")
    assert typ == "OK"
    idle.send(b"i1 IDLE\r\n")
    assert idle.readline().startswith(b"+"), "IDLE was not accepted"
    appender = imap_login(on_a, bob.address, bob.token)
    typ, data = appender.append("INBOX", None, None, crash_message(bob.address, bob.address, "<idle@multinode.e2e.test>", 1))
    assert typ == "OK", data
    idle.sock.settimeout(30)
    line = idle.readline()
    assert re.match(rb"\* \d+ EXISTS", line), line
    idle.send(b"DONE\r\n")
    while not idle.readline().startswith(b"i1 OK"):
        pass
    idle.logout()
    appender.logout()

    # SMTP submission on A, IMAP read on B.
    carol = sign_in(on_a, new_user())
    mid = f"<smtp-{uuid.uuid4().hex[:8]}@multinode.e2e.test>"
    s = smtplib.SMTP_SSL(HOST, on_a.mail.ports["submissions"], context=tls_context(on_a), timeout=30)
    s.ehlo("multinode.e2e.test")
    code, _ = s.auth("XOAUTH2", lambda challenge=None: xoauth2(carol.address, carol.token).decode())
    assert code == 235
    assert s.sendmail(carol.address, [bob.address], crash_message(carol.address, bob.address, mid, 2)) == {}
    s.quit()
    reader = imap_login(on_b, bob.address, bob.token)
    deadline = time.monotonic() + 30
    while mid not in {message_id(m) for m in mailbox_contents(reader, "INBOX")[1].values()}:
        assert time.monotonic() < deadline, "the submitted message never reached the other node"
        time.sleep(0.1)  # polling the mailbox
    reader.logout()

    # APPEND streams to both nodes; mail node B is killed mid-stream.
    log = AppendLog()
    stop = threading.Event()
    workers = [
        threading.Thread(target=append_stream, args=(node, bob.address, bob.token, i * 10 + w, log, stop))
        for i, node in enumerate((on_a, on_b))
        for w in range(MAIL_WORKERS_PER_NODE)
    ]
    for t in workers:
        t.start()
    deadline = time.monotonic() + 60
    while len(log.acked) < ACKED_BEFORE_KILL:
        assert time.monotonic() < deadline, f"only {len(log.acked)} appends acknowledged: {log.unexpected}"
        time.sleep(0.01)  # polling the workers' progress
    mail_b.proc.kill()
    mail_b.proc.wait()
    # The workers on A go on past the kill until they have appended a few more.
    after = len(log.acked) + 10
    while len(log.acked) < after:
        assert time.monotonic() < deadline, f"A stopped appending after the kill: {log.unexpected}"
        time.sleep(0.01)  # polling the workers' progress
    stop.set()
    for t in workers:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in workers)
    with log.lock:
        acked = dict(log.acked)
        sent = dict(log.sent)
    survivor = imap_login(on_a, bob.address, bob.token)
    uid_validity, messages = mailbox_contents(survivor, "INBOX")
    by_mid: dict[str, list[int]] = {}
    for uid, raw in messages.items():
        by_mid.setdefault(message_id(raw), []).append(uid)
    for m, (validity, uid) in acked.items():
        assert by_mid.get(m) == [uid], f"acknowledged {m} at UID {uid}: found at {by_mid.get(m)}"
        assert validity == uid_validity
        assert messages[uid].replace(b"\r\n", b"\n") == sent[m].replace(b"\r\n", b"\n")
    # Nothing else but the first two phases' messages and appends in flight at the kill.
    extra = set(by_mid) - set(acked) - {"<idle@multinode.e2e.test>", mid}
    assert extra <= set(sent), extra
    for m in extra:
        assert len(by_mid[m]) == 1, f"{m} stored twice"
    st = status(survivor, "INBOX")
    assert st["MESSAGES"] == len(messages)
    assert st["UIDNEXT"] > max(messages)
    survivor.logout()
    # The tables agree with what IMAP shows: counters kept by the triggers, no message
    # without its body.
    rows = psql(
        f"SELECT f.messages, (SELECT COUNT(*) FROM {pg_schema}.messages m WHERE m.folder = f.id), "
        f"f.uid_next, (SELECT COALESCE(MAX(uid), 0) + 1 FROM {pg_schema}.messages m WHERE m.folder = f.id) "
        f"FROM {pg_schema}.folders f"
    ).split()
    for row in rows:
        counted, actual, uid_next, past_max = (int(x) for x in row.split("|"))
        assert counted == actual and uid_next >= past_max, row
    orphans = psql(
        f"SELECT COUNT(*) FROM {pg_schema}.messages m LEFT JOIN {pg_schema}.blobs b ON b.hash = m.blob "
        f"WHERE b.hash IS NULL"
    ).strip()
    assert orphans == "0", orphans
    # The survivor serves everyone: a new user reads mail there.
    dave = sign_in(on_a, new_user())
    fresh = imap_login(on_a, dave.address, dave.token)
    assert fresh.select("INBOX")[0] == "OK"
    fresh.logout()
    print(f"{len(acked)} appends acknowledged across two mail nodes; {len(extra)} in flight at the kill")


def authorize(node: Node, discovery: dict, scope: str) -> str:
    """An authorization request (code, PKCE S256) sent to `node` itself rather than to the
    public URL."""
    from conftest import authorize_url

    class At:
        def discovery(self) -> dict:
            endpoint = discovery["authorization_endpoint"]
            path = "/" + endpoint.split("/", 3)[3]
            return {"authorization_endpoint": f"{node.origin}{path}"}

    return authorize_url(At(), [scope], f"http://localhost:{free_port()}")
