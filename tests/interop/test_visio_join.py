"""`visio join` (the project's own client: str0m + libvpx + Opus) against the official LiveKit
Python SDK (libwebrtc), through `visio serve --dev`.

- SDK publisher -> `visio join --json`: the summary names the SDK's track, VP8, decoded frames at
  the published size, the tone's frequency, and the data packet and `lk.chat` message it sent.
- `visio join --fake-devices` -> SDK subscriber: the SDK decodes 1280x720 frames and hears 440 Hz.
- H264 both ways: `visio join --h264` -> SDK subscriber reads visio's pattern; SDK H264
  publisher -> `visio join` decodes it.
"""

import asyncio
import json
import os
from pathlib import Path

from lkpeer import Publisher, Receiver, join, wait_for

ROOT = Path(__file__).resolve().parents[2]


def visio_bin() -> str:
    return os.environ.get("VISIO_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "visio"
    )


async def start_join(server, identity, *extra):
    return await asyncio.create_subprocess_exec(
        visio_bin(),
        "join",
        server.url,
        "--api-key",
        "devkey",
        "--api-secret",
        "secret",
        "--room",
        "r1",
        "--identity",
        identity,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "VISIO_LOG": "warn"},
    )


async def test_sdk_publisher_to_visio_join(server):
    a = await join(server.url, "r1", "alice")
    pub = Publisher(a)
    await pub.video(640, 360)
    await pub.tone(440)
    proc = await start_join(server, "visio", "--duration", "6", "--json")
    try:
        await wait_for(lambda: "visio" in [p.identity for p in a.remote_participants.values()], what="visio joined")
        await asyncio.sleep(1.0)  # its publisher data channel opens after the join
        await a.local_participant.publish_data(b"hello visio", reliable=True, topic="greeting")
        await a.local_participant.send_text("Bonjour Visio", topic="lk.chat")
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
        await pub.stop()
        await a.disconnect()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    print(summary)
    assert summary["join_ms"] is not None and summary["join_ms"] < 5000, summary
    video = [t for t in summary["tracks"] if t["kind"] == "video"]
    audio = [t for t in summary["tracks"] if t["kind"] == "audio"]
    assert len(video) == 1 and len(audio) == 1, summary
    v, s = video[0], audio[0]
    assert v["participant"] == "alice" and v["codec"] == "vp8", v
    assert v["frames"] > 60, v
    assert (v["width"], v["height"]) == (640, 360), v
    assert s["codec"] == "opus" and abs(s["dominant_hz"] - 440) < 10, s
    assert s["samples"] > 48000, s
    assert {"from": "alice", "topic": "greeting", "payload": "hello visio"} in summary["data"], summary
    assert {"from": "alice", "text": "Bonjour Visio"} in summary["chat"], summary


async def test_visio_join_fake_devices_to_sdk_subscriber(server):
    b = await join(server.url, "r1", "bob")
    rx = Receiver(b).attach()
    proc = await start_join(server, "visio", "--fake-devices", "--duration", "8", "--chat", "salut bob")
    try:
        await wait_for(lambda: "visio" in rx.video and rx.video["visio"].frames >= 30, timeout=20, what="frames")
        await wait_for(lambda: len(rx.audio.get("visio", [])) > 150, what="1.5 s of audio")
        await wait_for(lambda: rx.chat, what="chat")
        v = rx.video["visio"]
        assert v.sizes[-1] == (1280, 720), v.sizes[-5:]
        assert abs(rx.audio_hz("visio") - 440) < 5, rx.audio_hz("visio")
        assert rx.chat == [("visio", "salut bob")]
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        await wait_for(lambda: ("disconnected", "visio", None) in rx.events, what="visio left")
    finally:
        if proc.returncode is None:
            proc.kill()
        await rx.stop()
        await b.disconnect()


async def test_visio_join_h264_to_sdk_subscriber(server):
    """`visio join --h264` (OpenH264) -> SDK subscriber (libwebrtc's H264 decoder): the track is
    announced as H264 and the decoded frames carry visio's pattern with increasing counters."""
    import numpy as np
    import visio_pattern
    from livekit import rtc

    b = await join(server.url, "r1", "bob")
    codes, frames, mimes, streams, tasks = [], [], [], [], []

    async def consume(track):
        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420)
        streams.append(stream)
        async for ev in stream:
            fr = ev.frame
            frames.append((fr.width, fr.height))
            y = np.frombuffer(fr.data, np.uint8, count=fr.width * fr.height).reshape(fr.height, fr.width)
            code = visio_pattern.read_embedded(y)
            if code is not None:
                codes.append(code[0])

    def on_track(track, pub, part):
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            mimes.append(pub.mime_type)
            tasks.append(asyncio.create_task(consume(track)))

    b.on("track_subscribed", on_track)
    proc = await start_join(server, "visio", "--fake-devices", "--h264", "--duration", "8")
    try:
        await wait_for(lambda: len(codes) >= 60, timeout=25, what="60 H264 frames with a code")
    except AssertionError as e:
        out, err = await proc.communicate() if proc.returncode is not None else (b"", b"")
        raise AssertionError(f"{e}: {len(frames)} frames {set(frames)}, mimes {mimes}, {err.decode()[-500:]}")
    finally:
        if proc.returncode is None:
            proc.kill()
        for t in tasks:
            t.cancel()
        for st in streams:
            await st.aclose()
        await b.disconnect()
    print(f"H264 visio -> SDK: {len(codes)} readable of {len(frames)} frames, sizes {set(frames)}")
    assert mimes and mimes[0].lower() == "video/h264", mimes
    assert len(codes) >= 0.8 * len(frames), (len(codes), len(frames))
    visio_pattern.assert_counters_advance(codes)


async def test_sdk_h264_publisher_to_visio_join(server):
    """SDK H264 publisher -> `visio join --json`: decoded by OpenH264 at the published size."""
    a = await join(server.url, "r1", "alice")
    pub = Publisher(a)
    await pub.video(640, 360, codec="H264")
    proc = await start_join(server, "visio", "--duration", "6", "--json")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
        await pub.stop()
        await a.disconnect()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    print(summary)
    video = [t for t in summary["tracks"] if t["kind"] == "video"]
    assert len(video) == 1, summary
    v = video[0]
    assert v["participant"] == "alice" and v["codec"] == "h264", v
    assert v["frames"] > 60, v
    assert (v["width"], v["height"]) == (640, 360), v
