"""`visio models install --from-url URL --sha256 HEX` against a local HTTP(S) server started
here, serving the real tiny.en model (converted from the registry package by `visio models
install`, as a user would): installed when the hash matches, and for a 404, a wrong hash, a
size over the limit, a truncated body, an unreachable host and an untrusted certificate a clear
error with nothing left in the models directory. HTTPS with a private CA (generated here with
openssl) is trusted only through --ca-file.
"""

import hashlib
import http.server
import os
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from test_visio_join import visio_bin

pytestmark = pytest.mark.skipif(not os.environ.get("VISIO_WHISPER_CT2_TINY"),
                                reason="models not set: run through `make test`")


class Handler(http.server.BaseHTTPRequestHandler):
    model: bytes = b""

    def do_GET(self):
        if self.path == "/tiny.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.model)))
            self.end_headers()
            self.wfile.write(self.model)
        elif self.path == "/truncated.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.model)))
            self.end_headers()
            self.wfile.write(self.model[: len(self.model) // 2])
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, *a):
        pass


def serve(tls: ssl.SSLContext | None = None):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def install(models: Path, *args, policy: Path | None = None):
    env = {**os.environ, "VISIO_POLICY_FILE": str(policy or models.parent / "no-policy.toml")}
    return subprocess.run([visio_bin(), "models", "install", "--models-dir", str(models), *args],
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    subprocess.run([visio_bin(), "models", "install", os.environ["VISIO_WHISPER_CT2_TINY"],
                    "--name", "tiny.en", "--models-dir", str(d)], check=True)
    data = (d / "tiny.en.bin").read_bytes()
    Handler.model = data
    return data, hashlib.sha256(data).hexdigest()


def left(models: Path):
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_download_installs_a_verified_model_and_refuses_bad_ones(model, tmp_path):
    data, sha = model
    srv = serve()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    models = tmp_path / "models"
    try:
        r = install(models, "--from-url", f"{base}/tiny.bin", "--sha256", sha.upper(),
                    "--name", "tiny.en")
        assert r.returncode == 0, r.stderr
        assert (models / "tiny.en.bin").read_bytes() == data
        assert left(models) == ["tiny.en.bin", "tiny.en.bin.sha256"]
        v = subprocess.run([visio_bin(), "models", "verify", "tiny.en", "--models-dir",
                            str(models)], capture_output=True, text=True)
        assert v.returncode == 0 and sha in v.stdout, v.stderr

        # The URL IT's policy gives.
        policy = tmp_path / "policy.toml"
        policy.write_text(f'speech_model_url = "{base}/tiny.bin"\n')
        r = install(models, "--from-policy", "--sha256", sha, "--name", "it", policy=policy)
        assert r.returncode == 0, r.stderr
        assert (models / "it.bin").read_bytes() == data
        r = install(models, "--from-policy", "--sha256", sha, "--name", "it2")
        assert r.returncode != 0 and "sets no speech_model_url" in r.stderr, r.stderr

        bad = tmp_path / "bad"
        cases = {
            "404": ([f"--from-url={base}/nope.bin", "--sha256", sha], "404"),
            "hash": ([f"--from-url={base}/tiny.bin", "--sha256", "0" * 64], "SHA-256 mismatch"),
            "size": ([f"--from-url={base}/tiny.bin", "--sha256", sha, "--max-size-mb", "10"],
                     "over the 10 MB limit"),
            "truncated": ([f"--from-url={base}/truncated.bin", "--sha256", sha], "downloading"),
            "unreachable": (["--from-url=http://127.0.0.1:9/tiny.bin", "--sha256", sha],
                            "cannot reach"),
            "http": (["--from-url=http://example.com/tiny.bin", "--sha256", sha],
                     "plain http is refused"),
        }
        for what, (args, message) in cases.items():
            r = install(bad, *args, "--name", "x")
            assert r.returncode != 0 and message in r.stderr, (what, r.stderr)
            assert left(bad) == [], (what, left(bad))
    finally:
        srv.shutdown()


def test_https_with_a_private_ca_only_through_ca_file(model, tmp_path):
    data, sha = model
    ca_key, ca, key, csr, cert = (tmp_path / n for n in
                                  ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=Visio test IT CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=localhost")
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    srv = serve(ctx)
    url = f"https://localhost:{srv.server_address[1]}/tiny.bin"
    models = tmp_path / "models"
    try:
        r = install(models, "--from-url", url, "--sha256", sha, "--name", "tiny.en")
        assert r.returncode != 0 and "certificate" in r.stderr.lower(), r.stderr
        assert left(models) == []
        r = install(models, "--from-url", url, "--sha256", sha, "--name", "tiny.en",
                    "--ca-file", str(ca))
        assert r.returncode == 0, r.stderr
        assert (models / "tiny.en.bin").read_bytes() == data
    finally:
        srv.shutdown()
