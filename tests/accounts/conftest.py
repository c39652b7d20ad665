"""Fixtures for the accounts tests: a private Secret Service (gnome-keyring in its own D-Bus
session and HOME), the real OIDC provider from tests/oidc, and `visio serve --dev`."""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
from secret_service import SecretService  # noqa: E402
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

    def start_keyring(self):
        """The shared private Secret Service (tests/peers/secret_service.py) on this session."""
        self.keyring = SecretService(self.env, self.home)
        self.procs.append(self.keyring)
        self.keyring.start()

    def lock_keyring(self):
        self.keyring.lock()

    def keyring_locked(self) -> bool:
        return self.keyring.locked()

    def unlock_keyring(self):
        self.keyring.unlock()

    def visio(self, *args, stdin=None, check=True, timeout=120):
        argv = [visio_bin(), *args]
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout)
        self.logs.append((argv, r.stdout, r.stderr))
        if check and r.returncode != 0:
            raise AssertionError(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def keychain(self) -> dict:
        """username -> secret of the app's items in the keychain."""
        return self.keyring.items()

    def close(self):
        self._sampling = False
        for p in self.procs:
            p.close()


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
