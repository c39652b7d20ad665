"""Fixtures for the accounts tests: a private Secret Service (gnome-keyring in its own D-Bus
session and HOME), the real OIDC provider from tests/oidc, and `visio serve --dev`."""

import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OIDC_DIR = ROOT / "tests" / "oidc"


def visio_bin() -> str:
    return os.environ.get("VISIO_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "visio"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """A private user session: HOME, XDG dirs, optionally a D-Bus bus with gnome-keyring."""

    def __init__(self, tmp: Path):
        self.home = tmp / "home"
        self.config = self.home / ".config"
        runtime = tmp / "run"
        for d in (self.home, self.config, self.home / ".local/share", self.home / ".cache", runtime):
            d.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_DATA_HOME": str(self.home / ".local/share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_RUNTIME_DIR": str(runtime),
            "VISIO_LOG": "debug",
            "RUST_LOG": "debug",
            "VISIO_POLICY_FILE": str(tmp / "no-policy.toml"),
            "VISIO_BROWSER": str(OIDC_DIR / "browse.js"),
        }
        self.logs = []  # (argv, stdout, stderr) of every command
        self.procs = []
        self.cmdlines = set()
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self):
        """Records every process's command line while the test runs (the scan reads them)."""
        while self._sampling:
            for p in Path("/proc").iterdir():
                if p.name.isdigit():
                    try:
                        self.cmdlines.add((p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                    except OSError:
                        pass
            time.sleep(0.05)

    KEYRING_PASSWORD = "throwaway-keyring-password"

    def start_keyring(self):
        """gnome-keyring-daemon in a private D-Bus session. `--unlock` reads the password on stdin
        and creates the `login` collection unlocked, without any prompter (no display needed);
        the test then waits until the Secret Service answers and `default` names that collection
        (the keyring crate writes to the default collection)."""
        password = self.KEYRING_PASSWORD
        addr_file = self.home / "bus-address"
        proc = subprocess.Popen(
            ["dbus-run-session", "--", "sh", "-c",
             'echo "$DBUS_SESSION_BUS_ADDRESS" > "$1"; '
             "exec gnome-keyring-daemon --foreground --unlock --components=secrets", "sh", str(addr_file)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=self.env, start_new_session=True, text=True,
        )
        self.procs.append(proc)
        proc.stdin.write(password)
        proc.stdin.close()
        deadline = time.time() + 30
        while time.time() < deadline and not (addr_file.exists() and addr_file.read_text().strip()):
            time.sleep(0.05)
        self.env["DBUS_SESSION_BUS_ADDRESS"] = addr_file.read_text().strip()
        while time.time() < deadline:
            if self.secret_call("ReadAlias", "default") == "(objectpath '/org/freedesktop/secrets/collection/login',)":
                return
            if "/collection/login" in self.secret_call("ReadAlias", "login"):
                # Some versions leave `default` unset: point it at the unlocked login collection.
                self.secret_call("SetAlias", "default", "/org/freedesktop/secrets/collection/login")
            time.sleep(0.1)
        raise AssertionError("gnome-keyring-daemon did not serve an unlocked default collection")

    LOGIN = "/org/freedesktop/secrets/collection/login"

    def lock_keyring(self):
        """Locks the login collection as a screen lock or the user would (Secret Service `Lock`)."""
        assert self.LOGIN in self.secret_call("Lock", f"['{self.LOGIN}']")
        assert self.keyring_locked()

    def keyring_locked(self) -> bool:
        r = subprocess.run(["gdbus", "call", "--session", "-d", "org.freedesktop.secrets", "-o", self.LOGIN,
                            "-m", "org.freedesktop.DBus.Properties.Get", "org.freedesktop.Secret.Collection",
                            "Locked"], capture_output=True, text=True, env=self.env, timeout=30)
        return r.stdout.strip() == "(<true>,)"

    def unlock_keyring(self):
        """Unlocks the login collection with its password, as the desktop's unlock prompt does
        (gnome-keyring's UnlockWithMasterPassword over one D-Bus connection, where the plain
        session that carries the password lives; there is no prompter without a display)."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        service = DBusAddress("/org/freedesktop/secrets", bus_name="org.freedesktop.secrets",
                              interface="org.freedesktop.Secret.Service")
        internal = service.with_interface("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface")
        with open_dbus_connection(bus=self.env["DBUS_SESSION_BUS_ADDRESS"]) as conn:
            _, session_path = conn.send_and_get_reply(
                new_method_call(service, "OpenSession", "sv", ("plain", ("s", "")))).body
            reply = conn.send_and_get_reply(new_method_call(
                internal, "UnlockWithMasterPassword", "o(oayays)",
                (self.LOGIN, (session_path, b"", self.KEYRING_PASSWORD.encode(), "text/plain"))))
            assert reply.header.message_type.name == "method_return", reply.body
        assert not self.keyring_locked()

    def secret_call(self, method, *args) -> str:
        """One org.freedesktop.Secret.Service method call on this session's bus (gdbus)."""
        r = subprocess.run(["gdbus", "call", "--session", "-d", "org.freedesktop.secrets", "-o",
                            "/org/freedesktop/secrets", "-m", f"org.freedesktop.Secret.Service.{method}", *args],
                           capture_output=True, text=True, env=self.env, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else ""

    def visio(self, *args, stdin=None, check=True, timeout=120):
        argv = [visio_bin(), *args]
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout)
        self.logs.append((argv, r.stdout, r.stderr))
        if check and r.returncode != 0:
            raise AssertionError(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def keychain(self) -> dict:
        """username -> secret of the app's items, read with libsecret's secret-tool: `search`
        lists the items (attributes on stderr, secrets on stdout), `lookup` reads each one."""
        r = subprocess.run(["secret-tool", "search", "--all", "service", "visio-desktop"],
                           capture_output=True, text=True, env=self.env, timeout=30)
        names = [line[len("attribute.username = "):] for line in (r.stdout + "\n" + r.stderr).splitlines()
                 if line.startswith("attribute.username = ")]
        items = {}
        for name in names:
            got = subprocess.run(["secret-tool", "lookup", "service", "visio-desktop", "username", name],
                                 capture_output=True, text=True, env=self.env, timeout=30)
            assert got.returncode == 0, (name, got.stderr)
            items[name] = got.stdout
        return items

    def close(self):
        self._sampling = False
        for p in self.procs:
            try:
                os.killpg(p.pid, 15)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)


@pytest.fixture
def session(tmp_path):
    s = Session(tmp_path)
    yield s
    s.close()


class Provider:
    def __init__(self):
        self.proc = subprocess.Popen(["node", "provider.js", "0"], cwd=OIDC_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.issuer = self.proc.stdout.readline().strip().removeprefix("ISSUER ")
        assert self.issuer.startswith("http://127.0.0.1:"), self.issuer

    def _cmd(self, cmd, answer):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        # oidc-provider also prints its NOTICE lines on stdout: skip them.
        lines = []
        for _ in range(50):
            lines.append(self.proc.stdout.readline().strip())
            if lines[-1] == answer or not lines[-1]:
                break
        assert lines[-1] == answer, lines

    def down(self):
        self._cmd("down", "DOWN")

    def up(self):
        self._cmd("up", "UP")

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def provider():
    assert (OIDC_DIR / "node_modules" / "oidc-provider").exists(), "run `make js-deps`"
    p = Provider()
    yield p
    p.close()


class RoomServer:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([visio_bin(), "serve", "--dev", "--bind", f"127.0.0.1:{self.port}",
                                      "--udp-port", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/api/v1.0/config/", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("room server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def room_server():
    s = RoomServer()
    yield s
    s.stop()
