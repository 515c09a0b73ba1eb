"""Mail administration over HTTPS: after `mailward login` (device code, an administrator),
`mailward --remote --mail-url URL authpolicy|mailbox|org ...` reaches the mail admin API
with a token for that mail instance (its resource, scope Exchange.Manage, redeemed from
the login's refresh token); the mail role asks identity's directory, with its own
credentials, for the caller's roles and for the user a mailbox added by UPN belongs to.
The local CLI sees the same state."""

import json
import uuid

from conftest import DOMAIN, User
from test_cli_remote import _login, _remote


def test_remote_mail_admin(mailward, tmp_path):
    password = f"correct horse {uuid.uuid4().hex[:8]} staple"
    upn = f"mailadmin{uuid.uuid4().hex[:8]}@{DOMAIN}"
    mailward.cli("user", "add", upn, "--password", password, "--role", "GlobalAdministrator")
    home = str(tmp_path / "config")
    done = _login(mailward, User(upn=upn, password=password), home)
    assert done.returncode == 0, done.stderr
    url = ["--mail-url", mailward.mail.url]

    name = f"RemotePop{uuid.uuid4().hex[:6]}"
    created = _remote(mailward, home, *url, "authpolicy", "new", name, "--allow-basic", "pop")
    assert created.returncode == 0, created.stderr
    shown = json.loads(mailward.cli("--json", "authpolicy", "show", name).stdout)
    assert shown["AllowBasicAuthPop"] is True and shown["AllowBasicAuthImap"] is False

    target = mailward.add_user(f"remotembx{uuid.uuid4().hex[:8]}", password)
    added = _remote(mailward, home, *url, "mailbox", "add", target)
    assert added.returncode == 0, added.stderr
    assigned = _remote(mailward, home, *url, "mailbox", "set", target, "--authentication-policy", name)
    assert assigned.returncode == 0, assigned.stderr
    local = json.loads(mailward.cli("--json", "mailbox", "show", target).stdout)
    assert local["authenticationPolicy"] == name

    org = _remote(mailward, home, *url, "--json", "org", "show")
    assert json.loads(org.stdout) == {"defaultAuthenticationPolicy": "Block Basic Auth"}

    missing = _remote(mailward, home, *url, "mailbox", "add", f"ghost@{DOMAIN}")
    assert missing.returncode != 0


def test_remote_mail_admin_refuses_non_admins(mailward, user, tmp_path):
    home = str(tmp_path / "config")
    done = _login(mailward, user, home)
    assert done.returncode == 0, done.stderr
    refused = _remote(mailward, home, "--mail-url", mailward.mail.url, "authpolicy", "list")
    assert refused.returncode != 0
    assert "no admin role" in refused.stderr, refused.stderr
