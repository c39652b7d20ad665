"""A real, private Secret Service for tests: gnome-keyring-daemon in its own D-Bus session,
unlocked headless, so the `keyring` crate (the CLI, the desktop app) stores secrets in it as on
a desktop. Used by tests/accounts and tests/e2e.

    keyring = SecretService(env, home)   # env: the environment the programs under test get
    keyring.start()                      # sets env["DBUS_SESSION_BUS_ADDRESS"]
    keyring.items()                      # username -> secret of the app's items (secret-tool)
    keyring.close()
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

LOGIN = "/org/freedesktop/secrets/collection/login"
# The keyring crate's service attribute for the app's items.
SERVICE = "visio-desktop"


class SecretService:
    PASSWORD = "throwaway-keyring-password"

    def __init__(self, env: dict, home: Path):
        """`env` is updated in place with the bus address; `home` holds the daemon's files
        (`.local/share/keyrings`)."""
        self.env = env
        self.home = Path(home)
        self.proc: subprocess.Popen | None = None

    def start(self):
        """gnome-keyring-daemon in a private D-Bus session. `--unlock` reads the password on stdin
        and creates the `login` collection unlocked, without any prompter (no display needed);
        then waits until the Secret Service answers and `default` names that collection (the
        keyring crate writes to the default collection)."""
        addr_file = self.home / "bus-address"
        if "XDG_RUNTIME_DIR" not in self.env:
            # The daemon's control socket goes there; a private one keeps tests apart.
            runtime = self.home / "run"
            runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.env["XDG_RUNTIME_DIR"] = str(runtime)
        self.proc = subprocess.Popen(
            ["dbus-run-session", "--", "sh", "-c",
             'echo "$DBUS_SESSION_BUS_ADDRESS" > "$1"; '
             "exec gnome-keyring-daemon --foreground --unlock --components=secrets", "sh", str(addr_file)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**self.env, "HOME": str(self.home)}, start_new_session=True, text=True,
        )
        self.proc.stdin.write(self.PASSWORD)
        self.proc.stdin.close()
        deadline = time.time() + 30
        while time.time() < deadline and not (addr_file.exists() and addr_file.read_text().strip()):
            time.sleep(0.05)
        self.env["DBUS_SESSION_BUS_ADDRESS"] = addr_file.read_text().strip()
        while time.time() < deadline:
            if self.call("ReadAlias", "default") == f"(objectpath '{LOGIN}',)":
                return
            if "/collection/login" in self.call("ReadAlias", "login"):
                # Some versions leave `default` unset: point it at the unlocked login collection.
                self.call("SetAlias", "default", LOGIN)
            time.sleep(0.1)
        raise AssertionError("gnome-keyring-daemon did not serve an unlocked default collection")

    def lock(self):
        """Locks the login collection as a screen lock or the user would (Secret Service `Lock`)."""
        assert LOGIN in self.call("Lock", f"['{LOGIN}']")
        assert self.locked()

    def locked(self) -> bool:
        r = subprocess.run(["gdbus", "call", "--session", "-d", "org.freedesktop.secrets", "-o", LOGIN,
                            "-m", "org.freedesktop.DBus.Properties.Get", "org.freedesktop.Secret.Collection",
                            "Locked"], capture_output=True, text=True, env=self.env, timeout=30)
        return r.stdout.strip() == "(<true>,)"

    def unlock(self):
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
                (LOGIN, (session_path, b"", self.PASSWORD.encode(), "text/plain"))))
            assert reply.header.message_type.name == "method_return", reply.body
        assert not self.locked()

    def call(self, method, *args) -> str:
        """One org.freedesktop.Secret.Service method call on this session's bus (gdbus)."""
        r = subprocess.run(["gdbus", "call", "--session", "-d", "org.freedesktop.secrets", "-o",
                            "/org/freedesktop/secrets", "-m", f"org.freedesktop.Secret.Service.{method}", *args],
                           capture_output=True, text=True, env=self.env, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else ""

    def items(self) -> dict:
        """username -> secret of the app's items, read with libsecret's secret-tool: `search`
        lists the items (attributes on stderr, secrets on stdout), `lookup` reads each one."""
        r = subprocess.run(["secret-tool", "search", "--all", "service", SERVICE],
                           capture_output=True, text=True, env=self.env, timeout=30)
        names = [line[len("attribute.username = "):] for line in (r.stdout + "\n" + r.stderr).splitlines()
                 if line.startswith("attribute.username = ")]
        items = {}
        for name in names:
            got = subprocess.run(["secret-tool", "lookup", "service", SERVICE, "username", name],
                                 capture_output=True, text=True, env=self.env, timeout=30)
            assert got.returncode == 0, (name, got.stderr)
            items[name] = got.stdout
        return items

    def close(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None
