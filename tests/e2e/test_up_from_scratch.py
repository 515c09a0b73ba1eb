"""What a first-time admin meets following the README: the data directory `--data` names is
the one written to, `up` takes every listener from the configuration and moves them all
with `--port-offset` (two instances side by side), and the bootstrap admin's password is
shown again after a first `up` that failed, until it has been used."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from conftest import (
    IMAP_SCOPE,
    Browser,
    User,
    _mailward_bin,
    authorize_url,
    free_port,
    start_mailward,
    stop_mailward,
)

MAIL_LISTENERS = ["http", "imap", "imaps", "pop3", "pop3s", "submission", "submissions"]

# Cheap password hashing, as the suite's other instances use.
FAST = """\
[identity.passwords]
memory_kib = 8192
iterations = 1
"""


@pytest.fixture
def tmp():
    d = Path(tempfile.mkdtemp(prefix="mailward-e2e-scratch-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_mailward_bin(), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_data_dir_wins_over_a_config_without_data_dir(tmp):
    data = tmp / "instance"
    data.mkdir()
    elsewhere = tmp / "cwd"
    elsewhere.mkdir()
    # `up --data DIR` with a DIR/mailward.toml that does not name data_dir.
    config = "version = 1\n" + FAST + "[mail.listen]\n" + "\n".join(f'{k} = "127.0.0.1:0"' for k in MAIL_LISTENERS)
    server = start_mailward(data, config=config + "\n", cwd=elsewhere)
    try:
        assert (data / "identity.db").exists()
        assert (data / "mail" / "mail.db").exists()
        assert server.ca == str(data / "tls" / "ca.pem")
    finally:
        stop_mailward(server)
    assert not (elsewhere / "mailward-data").exists(), "state went to ./mailward-data"
    # The admin CLI finds the same state from anywhere.
    res = run("--data", str(data), "user", "list", cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert "admin@mailward.localhost" in res.stdout
    assert list(elsewhere.iterdir()) == []


def test_data_dir_and_a_different_config_data_dir_are_refused(tmp):
    data = tmp / "instance"
    data.mkdir()
    other = tmp / "other"
    (data / "mailward.toml").write_text(f'version = 1\ndata_dir = "{other}"\n' + FAST)
    for command in (["user", "list"], ["up", "--identity-listen", "127.0.0.1:0"]):
        res = run("--data", str(data), *command, cwd=tmp)
        assert res.returncode != 0
        assert "name different directories" in res.stderr, res.stderr
        assert not other.exists()
        assert not (data / "identity.db").exists()
    # The same directory in both places is fine: the CLI looks there.
    (data / "mailward.toml").write_text(f'version = 1\ndata_dir = "{data}"\n' + FAST)
    res = run("--data", str(data), "user", "list", cwd=tmp)
    assert f"no mailward data in {data}" in res.stderr, res.stderr


def free_port_block(count: int, offset: int) -> list[int]:
    """`count` ports that are free, and free again `offset` higher."""
    held = []
    try:
        ports = []
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
            p = s.getsockname()[1]
            if p + offset > 65535:
                continue
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p + offset))
            except OSError:
                continue
            finally:
                t.close()
            ports.append(p)
        return ports
    finally:
        for s in held:
            s.close()


def config_with(data: Path, identity: int, mail: dict[str, int]) -> str:
    lines = [f'version = 1\ndata_dir = "{data}"\n', FAST, f'[identity]\nlisten = "127.0.0.1:{identity}"\n', "[mail.listen]"]
    lines += [f'{k} = "127.0.0.1:{p}"' for k, p in mail.items()]
    return "\n".join(lines) + "\n"


def test_two_instances_side_by_side_with_the_configured_listeners_and_an_offset(tmp):
    offset = 7
    ports = free_port_block(1 + len(MAIL_LISTENERS), offset)
    identity, mail = ports[0], dict(zip(MAIL_LISTENERS, ports[1:]))
    first, second = tmp / "first", tmp / "second"
    first.mkdir()
    second.mkdir()
    a = start_mailward(first, config=config_with(first, identity, mail), identity_listen=None)
    try:
        # The same configuration, moved: every listener `offset` higher.
        b = start_mailward(
            second, "--port-offset", str(offset), config=config_with(second, identity, mail), identity_listen=None
        )
        try:
            assert a.port == identity
            assert a.mail.url == f"https://localhost:{mail['http']}"
            assert a.mail.ports == {k: p for k, p in mail.items() if k != "http"}
            assert b.port == identity + offset
            assert b.mail.url == f"https://localhost:{mail['http'] + offset}"
            assert b.mail.ports == {k: p + offset for k, p in mail.items() if k != "http"}
            assert a.discovery()["issuer"] != b.discovery()["issuer"]
            for server in (a, b):
                r = requests.get(server.mail.at("/healthz"), verify=server.ca, timeout=10)
                assert r.status_code == 200
                with socket.create_connection(("127.0.0.1", server.mail.ports["submission"]), timeout=10) as s:
                    assert s.recv(64).startswith(b"220 ")
        finally:
            stop_mailward(b)
    finally:
        stop_mailward(a)


def test_the_bootstrap_password_survives_a_failed_first_up_until_it_is_used(tmp):
    data = tmp / "instance"
    data.mkdir()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    config = (
        f'version = 1\ndata_dir = "{data}"\n' + FAST + "[mail.listen]\n"
        + "\n".join(f'{k} = "127.0.0.1:0"' for k in MAIL_LISTENERS if k != "imap")
        + f'\nimap = "127.0.0.1:{taken}"\n'
    )
    (data / "mailward.toml").write_text(config)
    res = run("--data", str(data), "up", "--identity-listen", "127.0.0.1:0", cwd=tmp)
    busy.close()
    assert res.returncode != 0
    assert "mail.listen.imap" in res.stderr, res.stderr
    assert (data / "identity.db").exists(), "the first up got as far as creating the admin"

    # The next up shows the account and the password created by the failed one.
    server = start_mailward(data)
    try:
        assert server.admin_upn == "admin@mailward.localhost"
        assert server.admin_password
        first = server.admin_password
    finally:
        stop_mailward(server)
    server = start_mailward(data)
    try:
        assert server.admin_password == first, "shown until used"
        # The admin signs in with it (registering TOTP on the way).
        admin = User(upn=server.admin_upn, password=first)
        url = authorize_url(server, [IMAP_SCOPE], f"http://localhost:{free_port()}")
        _, query = Browser(server).authorize(url, admin)
        assert "code" in query, query
        assert admin.totp_secret is not None, "the shown password was accepted"
    finally:
        stop_mailward(server)
    server = start_mailward(data)
    try:
        assert server.admin_password == ""
        banner = server.banner
        assert first not in banner
        assert f"mailward user set {server.admin_upn} --generate-password" in banner
    finally:
        stop_mailward(server)


def test_the_readme_example_policy_imports(tmp):
    """`mailward ca import policy.json` as the README shows it, with the shipped example."""
    example = Path(__file__).resolve().parents[2] / "examples" / "policy.json"
    doc = json.loads(example.read_text())
    server = start_mailward(tmp)
    try:
        res = server.cli("ca", "import", str(example))
        assert "imported" in res.stdout.lower() or doc["displayName"] in res.stdout, res.stdout
        shown = json.loads(server.cli("ca", "show", doc["id"]).stdout)
        assert shown["displayName"] == doc["displayName"]
        assert shown["state"] == "enabledForReportingButNotEnforced"
        assert shown["grantControls"]["builtInControls"] == ["block"]
    finally:
        stop_mailward(server)


def test_queue_commands_on_the_local_data(mailward):
    out = mailward.cli("queue", "list").stdout
    assert "the queue is empty" in out, out
    assert json.loads(mailward.cli("queue", "list", "--json").stdout) == {"value": []}
    missing = "00000000-0000-4000-8000-000000000000"
    for command in ("show", "retry", "delete"):
        res = mailward.cli("queue", command, missing, check=False)
        assert res.returncode != 0
        assert f"No queue entry {missing}." in res.stderr, res.stderr
