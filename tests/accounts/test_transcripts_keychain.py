"""`visio transcribe --save` keeps the transcript encrypted with a key in the OS keychain (a
real Secret Service: gnome-keyring in a private D-Bus session), and `visio transcripts
list/search/export` reads it back. Without a keychain nothing is kept and the error says why;
the key is never in a file; a file altered on disk is refused.
"""

import os
import subprocess
from pathlib import Path

import pytest

TEXT = "Please send the budget report before Friday."

pytestmark = pytest.mark.skipif(not os.environ.get("VISIO_WHISPER_CT2_TINY"),
                                reason="models not set: run through `make test`")


def norm(s: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in s).split()


def test_transcripts_kept_encrypted_with_the_key_in_the_keychain(session, tmp_path):
    wav = tmp_path / "budget.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), TEXT], check=True)
    models = tmp_path / "models"
    session.visio("models", "install", os.environ["VISIO_WHISPER_CT2_TINY"], "--name", "tiny.en",
                  "--models-dir", str(models))
    vault = tmp_path / "transcripts"
    transcribe = ["transcribe", str(wav), "--model", "tiny.en", "--models-dir", str(models),
                  "--lang", "en", "--transcripts-dir", str(vault)]

    # No Secret Service in this session: refused before any work, nothing written.
    r = session.visio(*transcribe, "--save", "meeting-1", check=False)
    assert r.returncode != 0 and "no OS keychain" in r.stderr, r.stderr
    assert not vault.exists() or list(vault.iterdir()) == []

    session.start_keyring()
    r = session.visio(*transcribe, "--save", "meeting-1")
    assert "kept as \"meeting-1\"" in r.stderr, r.stderr
    words = set(norm(r.stdout)) & set(norm(TEXT))
    assert {"budget", "report", "friday"} <= words, r.stdout
    sealed = (vault / "meeting-1.vtx").read_bytes()
    assert sealed.startswith(b"VTX1") and b"budget" not in sealed.lower()

    # The key is a keychain item, and in no file of the session.
    items = session.keychain()
    assert "transcripts-key" in items, items
    key = items["transcripts-key"]
    assert len(key) == 64
    for p in Path(tmp_path).rglob("*"):
        if p.is_file() and "keyrings" not in p.parts:  # gnome-keyring's own encrypted store
            assert key.encode() not in p.read_bytes(), f"the key is in {p}"

    # Read back by a new process (the key comes from the keychain again).
    assert session.visio("transcripts", "list", "--transcripts-dir", str(vault)).stdout.split() == ["meeting-1"]
    hits = session.visio("transcripts", "search", "BUDGET", "--transcripts-dir", str(vault)).stdout
    assert hits.startswith("meeting-1\t00:00\tIntervenant") and "budget" in hits.lower(), hits
    assert session.visio("transcripts", "search", "kangaroo", "--transcripts-dir", str(vault)).stdout == ""
    vtt = session.visio("transcripts", "export", "meeting-1", "--format", "vtt",
                        "--transcripts-dir", str(vault)).stdout
    assert vtt.startswith("WEBVTT") and "-->" in vtt and "budget" in vtt.lower(), vtt

    # An altered file is refused, not shown; a missing one is a clear error.
    altered = bytearray(sealed)
    altered[-1] ^= 1
    (vault / "meeting-1.vtx").write_bytes(bytes(altered))
    r = session.visio("transcripts", "export", "meeting-1", "--transcripts-dir", str(vault), check=False)
    assert r.returncode != 0 and "altered" in r.stderr, r.stderr
    r = session.visio("transcripts", "export", "nope", "--transcripts-dir", str(vault), check=False)
    assert r.returncode != 0 and "nope.vtx" in r.stderr, r.stderr
