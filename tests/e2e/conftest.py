"""Fixtures for the end-to-end tests: a `visio serve --dev` on free ports, and the real
desktop app started by `tauri-driver` (WebKitWebDriver underneath) and driven with Selenium.

Run under a display and a session bus, as `make test-e2e` does:
    dbus-run-session -- xvfb-run -a python -m pytest tests/e2e
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))
ARTIFACTS = ROOT / "tests" / "artifacts"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-4000:]}")


class Server:
    def __init__(self, http_port: int):
        self.http = f"http://127.0.0.1:{http_port}"
        self.url = f"ws://127.0.0.1:{http_port}"


@pytest.fixture
def server(request):
    binary = os.environ.get("VISIO_BIN") or str(TARGET / "debug" / "visio")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"e2e-server-{request.node.name}.log"
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [binary, "serve", "--dev", "--bind", f"127.0.0.1:{http_port}", "--udp-port", str(udp_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "VISIO_LOG": "info,str0m=warn"},
        )
    try:
        wait_http(f"http://127.0.0.1:{http_port}/", 15, proc, "visio serve", log_path)
        yield Server(http_port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _quietly(call):
    try:
        call()
    except Exception:  # the app may already be gone; cleanup goes on
        pass


def tauri_driver_bin() -> str:
    found = shutil.which("tauri-driver") or str(Path.home() / ".cargo" / "bin" / "tauri-driver")
    if not Path(found).exists():
        pytest.fail("tauri-driver is missing: `make e2e-deps` installs it")
    return found


@pytest.fixture
def launch_app(request):
    """Starts the app with the given arguments under tauri-driver; returns a Selenium driver."""
    from selenium import webdriver
    from selenium.webdriver.common.options import ArgOptions
    from selenium.webdriver.remote.client_config import ClientConfig

    app = os.environ.get("VISIO_DESKTOP_BIN") or str(TARGET / "debug" / "visio-desktop")
    if not Path(app).exists():
        pytest.fail(f"{app} is missing: build it with `make build-app`")
    started: list = []

    def launch(*args: str, env: dict | None = None, config: str | None = None):
        """`env`: extra environment for the app (e.g. a private Secret Service's bus);
        `config`: its config directory, kept across launches (else a fresh one, removed after)."""
        port, native = free_port(), free_port()
        owned = config is None
        config = config or tempfile.mkdtemp(prefix="visio-desktop-e2e-")
        log_path = ARTIFACTS / f"e2e-app-{request.node.name}-{len(started)}.log"
        log = open(log_path, "w")
        driver_proc = subprocess.Popen(
            [tauri_driver_bin(), "--port", str(port), "--native-port", str(native)],
            stdout=log,
            stderr=subprocess.STDOUT,
            # The app inherits this environment: its own settings dir, no user files touched.
            env={**os.environ, "VISIO_DESKTOP_CONFIG_DIR": config, "VISIO_LOG": "info,str0m=warn", **(env or {})},
        )
        started.append((driver_proc, log, config if owned else None, None))
        wait_http(f"http://127.0.0.1:{port}/status", 20, driver_proc, "tauri-driver", log_path)
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": app, "args": list(args)})
        # Every WebDriver command answers within 90 s or fails (the default waits forever).
        executor = f"http://127.0.0.1:{port}"
        config = ClientConfig(remote_server_addr=executor, timeout=90)
        driver = webdriver.Remote(command_executor=executor, options=opts, client_config=config)
        started[-1] = (driver_proc, log, started[-1][2], driver)
        return driver

    yield launch
    for driver_proc, log, config, driver in started:
        if driver is not None:
            # Bounded: a WebKitWebDriver stuck in an earlier command must not hold the suite.
            quitter = threading.Thread(target=_quietly, args=(driver.quit,), daemon=True)
            quitter.start()
            quitter.join(15)
        driver_proc.terminate()
        try:
            driver_proc.wait(5)
        except subprocess.TimeoutExpired:
            driver_proc.kill()
        log.close()
        if config:
            shutil.rmtree(config, ignore_errors=True)
