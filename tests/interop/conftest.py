"""Fixtures: a fresh `visio serve --dev` on free loopback ports for each test."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "peers"))

ARTIFACTS = ROOT / "tests" / "artifacts"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc, http_port, udp_port, log_path):
        self.proc = proc
        self.http_port = http_port
        self.udp_port = udp_port
        self.log_path = log_path
        self.url = f"ws://127.0.0.1:{http_port}"
        self.http = f"http://127.0.0.1:{http_port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def get(self, path: str):
        with urllib.request.urlopen(self.http + path, timeout=5) as r:
            return r.status, r.read()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def server(request):
    binary = os.environ.get("VISIO_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "visio"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"server-{request.node.name}.log"
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [binary, "serve", "--dev", "--bind", f"127.0.0.1:{http_port}", "--udp-port", str(udp_port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "VISIO_LOG": os.environ.get("VISIO_LOG", "info,str0m=warn")},
    )
    srv = Server(proc, http_port, udp_port, log_path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if srv.get("/")[0] == 200:
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError(f"server did not start:\n{srv.log()}")
    yield srv
    crashed = not srv.alive()
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    assert not crashed, f"the server died during the test:\n{srv.log()[-4000:]}"
    assert "panicked" not in srv.log(), srv.log()[-4000:]
