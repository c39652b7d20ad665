"""Accounts end to end through the `visio` CLI: OIDC login in headless Chromium against a real
provider, secrets in a real Secret Service, offline PIN unlock with lockout, logout, the
keychain absent, bad input, IT policy; then a scan for leaked secrets."""

import http.server
import json
import re
import threading
import urllib.request
from pathlib import Path

import pytest

PIN = "246810"
WRONG = "135799"


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
    assert "browse.js" in "\n".join(session.cmdlines), "the sampler saw the browser process"
    assert_no_leak(session, seen)


def assert_no_leak(session, seen):
    """No secret of `seen` in any file under HOME (except the encrypted keyring, checked for
    not holding them in clear), in the commands' output with debug logs, or in any process's
    command line sampled during the test."""
    files = [p for p in session.home.rglob("*") if p.is_file() and "keyrings" not in p.parts]
    assert any(p.name == "profiles.json" for p in files)
    logs = "\n".join(out + err for _, out, err in session.logs)
    assert "DEBUG" in logs, "the commands ran with debug logs"
    argvs = "\n".join(" ".join(a) for a, _, _ in session.logs) + "\n".join(session.cmdlines)
    assert any("visio" in c for c in session.cmdlines), "the sampler saw the commands"
    for secret in seen:
        for p in files:
            assert secret not in p.read_text(errors="replace"), f"secret in {p}"
        assert secret not in logs, "secret in logs"
        assert secret not in argvs, "secret in a command line"
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


class HtmlServer:
    """A web server that is not Visio: every path answers 200 with an HTML page."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"<!doctype html><html><body><h1>Intranet</h1></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def visio_session_cookie(server_url) -> str:
    """A real local session of the room server: its first `POST rooms/` opens one and sets the
    HttpOnly `sessionid` cookie (what the app's login window reads after a Visio login)."""
    req = urllib.request.Request(server_url + "/api/v1.0/rooms/", data=b'{"access_level": "public"}',
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
        cookies = resp.headers.get_all("Set-Cookie")
    value = next(c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("sessionid="))
    assert len(value) >= 32
    return value


def profiles(session) -> list:
    path = session.config / "visio" / "profiles.json"
    return json.loads(path.read_text())["profiles"] if path.exists() else []


def test_bad_input_is_explained(session, provider, room_server):
    session.start_keyring()
    # Malformed server addresses: named, with the reason, before anything else happens.
    for bad, reason in [("ftp://visio.example", "not http or https"), ("https://", "empty host"),
                        ("http://exa mple.gouv.fr", "invalid"), ("https://user:pw@visio.example", "credentials")]:
        r = session.visio("login", bad, "--livekit", "--api-key", "k", stdin="s3cret-never-kept\n", check=False)
        assert r.returncode != 0 and "[invalid_link]" in r.stderr and "is not a valid server address" in r.stderr, r.stderr
        assert reason in r.stderr.lower(), (bad, r.stderr)
    # A web server that is not Visio (HTML everywhere), and an OIDC provider (JSON but no Visio API).
    html = HtmlServer()
    try:
        for how in (["--session-cookie"], ["--issuer", provider.issuer, "--client-id", "visio-desktop"]):
            r = session.visio("login", html.url, *how, stdin="abc\n", check=False)
            assert "[protocol]" in r.stderr and f"{html.url} is not a Visio server" in r.stderr, r.stderr
            assert "Opening the browser" not in r.stderr
    finally:
        html.close()
    r = session.visio("login", provider.issuer, "--issuer", provider.issuer, "--client-id", "visio-desktop",
                      check=False)
    assert "[protocol]" in r.stderr and "is not a Visio server" in r.stderr, r.stderr
    # A server that is down.
    port = room_server.port
    room_server.stop()
    r = session.visio("login", f"http://127.0.0.1:{port}", "--session-cookie", stdin="abc\n", check=False)
    assert "[unreachable]" in r.stderr and f"127.0.0.1:{port}" in r.stderr, r.stderr
    room_server.start()
    # A session cookie the server does not know (users/me/ answers 401).
    r = session.visio("login", room_server.url, "--session-cookie", stdin="expired-cookie-value\n", check=False)
    assert "[session_expired]" in r.stderr and "sign in again" in r.stderr, r.stderr
    assert session.keychain() == {}, "nothing kept from a refused login"
    assert profiles(session) == []
    # Secrets never as arguments: an empty stdin is refused.
    r = session.visio("unlock", stdin="", check=False)
    assert r.returncode != 0 and "no PIN on standard input" in r.stderr


def test_session_cookie_login_then_expired_session(session, room_server):
    """Today's Visio: the session cookie from the login window is checked with users/me/ and kept
    in the keychain; when the server forgets the session (401) the user is asked to sign in
    again, and nothing is deleted until that new login replaces the cookie."""
    session.start_keyring()
    server = room_server.url
    cookie = visio_session_cookie(server)
    r = session.visio("login", server, "--session-cookie", stdin=cookie + "\n")
    assert f"signed in to {server} as " in r.stdout
    assert session.keychain() == {f"{server}|session_cookie": cookie}
    who = json.loads(session.visio("whoami").stdout)
    assert who["session"] == "online" and who["login"] == {"type": "sessionCookie"}, who
    sub = who["identity"]["sub"]
    # The room server restarts: its sessions are gone, users/me/ answers 401.
    room_server.stop()
    room_server.start()
    r = session.visio("whoami", check=False)
    assert r.returncode != 0 and "[session_expired]" in r.stderr and "sign in again" in r.stderr, r.stderr
    assert [p["server"] for p in profiles(session)] == [server], "the profile is kept"
    assert session.keychain() == {f"{server}|session_cookie": cookie}, "nothing lost before the new login"
    fresh = visio_session_cookie(server)
    session.visio("login", server, "--session-cookie", stdin=fresh + "\n")
    assert session.keychain() == {f"{server}|session_cookie": fresh}
    who = json.loads(session.visio("whoami").stdout)
    assert who["session"] == "online" and who["identity"]["sub"] != sub, who
    assert_no_leak(session, {cookie, fresh})


def test_locked_keychain_is_explained_and_nothing_is_lost(session, room_server):
    session.start_keyring()
    server = room_server.url
    cookie = visio_session_cookie(server)
    session.visio("login", server, "--session-cookie", stdin=cookie + "\n")
    api_secret = "lk-api-secret-4Hq9"
    session.visio("login", "http://127.0.0.1:7880", "--livekit", "--api-key", "APIkey1", stdin=api_secret + "\n")
    before = profiles(session)
    assert len(before) == 2

    # The screen locker (or the user) locks the keyring; there is no unlock prompt headless.
    session.lock_keyring()
    locked_msg = "the OS keychain is locked"
    for argv, stdin in [(["login", "http://127.0.0.1:7881", "--livekit", "--api-key", "k2"], "other-secret\n"),
                        (["login", server, "--session-cookie"], cookie + "\n"),
                        (["whoami", server], None),
                        (["pin", server], "246810\n"),
                        (["logout", "http://127.0.0.1:7880"], None)]:
        r = session.visio(*argv, stdin=stdin, check=False)
        assert r.returncode != 0 and "[keychain_locked]" in r.stderr, (argv, r.stderr)
        assert locked_msg in r.stderr and "unlock it in your password manager" in r.stderr, r.stderr
    assert profiles(session) == before, "nothing changed on disk"

    # Unlocked again: everything is still there and works.
    session.unlock_keyring()
    assert session.keychain() == {f"{server}|session_cookie": cookie, "http://127.0.0.1:7880|api_secret": api_secret}
    who = json.loads(session.visio("whoami", server).stdout)
    assert who["session"] == "online", who
    session.visio("logout", "http://127.0.0.1:7880")
    assert list(session.keychain()) == [f"{server}|session_cookie"]
    assert_no_leak(session, {cookie, api_secret, "other-secret"})


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
