"""The admin CLI against a remote instance: `mailward login` signs an administrator in with
the device code flow (a person completes /devicelogin in a browser, registering TOTP on
the way), then `--remote` commands go over HTTPS with the stored token. A user without an
admin role can sign in but is refused by the admin API."""

import json
import os
import re
import subprocess
import uuid

from conftest import DOMAIN, Browser, User


def _login(mailward, user: User, config_home: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CONFIG_HOME": config_home}
    proc = subprocess.Popen(
        [mailward.bin, "login", "--url", mailward.origin, "--ca", mailward.ca],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    m = re.search(r"open the page (\S+) and enter the code ([A-Z]{4}-[A-Z]{4})", first)
    assert m, f"unexpected login prompt: {first!r}"
    page = Browser(mailward).device_login(m.group(1), m.group(2), user)
    assert page.status == 200, page.html
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, first + out, err)


def _remote(mailward, config_home: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CONFIG_HOME": config_home}
    return subprocess.run(
        [mailward.bin, "--remote", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_login_then_remote_admin_commands(mailward, tmp_path):
    password = f"correct horse {uuid.uuid4().hex[:8]} staple"
    upn = f"admin{uuid.uuid4().hex[:8]}@{DOMAIN}"
    mailward.cli("user", "add", upn, "--password", password, "--role", "GlobalAdministrator")
    admin = User(upn=upn, password=password)
    home = str(tmp_path / "config")

    done = _login(mailward, admin, home)
    assert done.returncode == 0, done.stderr
    assert "signed in to" in done.stdout
    creds = tmp_path / "config" / "mailward" / "credentials.json"
    assert creds.exists() and oct(creds.stat().st_mode & 0o777) == "0o600"

    listed = _remote(mailward, home, "--json", "user", "list")
    assert listed.returncode == 0, listed.stderr
    upns = [u["userPrincipalName"] for u in json.loads(listed.stdout)["value"]]
    assert upn in upns

    new_upn = f"remote{uuid.uuid4().hex[:8]}@{DOMAIN}"
    added = _remote(mailward, home, "user", "add", new_upn, "--generate-password")
    assert added.returncode == 0, added.stderr
    # The change is visible locally too: the same directory, reached over HTTPS.
    shown = mailward.cli("--json", "user", "show", new_upn)
    assert json.loads(shown.stdout)["userPrincipalName"] == new_upn

    bad = _remote(mailward, home, "user", "add", "nobody@unknown.example", "--generate-password")
    assert bad.returncode != 0
    assert "not registered" in bad.stderr


def test_non_admin_is_refused_by_the_admin_api(mailward, user, tmp_path):
    home = str(tmp_path / "config")
    done = _login(mailward, user, home)
    assert done.returncode == 0, done.stderr
    refused = _remote(mailward, home, "user", "list")
    assert refused.returncode != 0
    assert "no admin role" in refused.stderr, refused.stderr


def test_remote_without_login_says_what_to_do(mailward, tmp_path):
    res = _remote(mailward, str(tmp_path / "empty"), "user", "list")
    assert res.returncode != 0
    assert "mailward login" in res.stderr
