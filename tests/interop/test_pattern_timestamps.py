"""The capture-time pattern shared by `visio join --fake-devices` (crates/media/src/pattern.rs)
and the SDK peers (tests/peers/visio_pattern.py), which the engine benchmark relies on for
glass-to-glass latency on both sides:

- the Python drawing reads back exactly, at the sizes simulcast uses, and a damaged code is
  refused;
- SDK publisher (Python-drawn pattern) -> `visio join --subscribe-only`: the Rust reader finds
  the codes (latency percentiles reported, counters in order), and the viewer publishes nothing;
- `visio join --fake-devices` -> SDK subscriber: the Python reader finds counters that increase
  and capture times a few ms to a few hundred ms old.
"""

import asyncio
import json
import time

import numpy as np
import visio_pattern
from livekit import rtc
from lkpeer import join, wait_for
from test_visio_join import start_join


def test_python_pattern_reads_back_and_refuses_damage():
    for w, h in [(1280, 720), (640, 360), (320, 180), (642, 362)]:
        src = visio_pattern.PatternSource(w, h)
        for counter, ts in [(0, 0), (1, 1_700_000_000_123), (2**32 - 1, visio_pattern.TIMESTAMP_MASK_MS)]:
            f = src.frame(counter, ts)
            assert visio_pattern.read_embedded(f.y) == (counter, ts), (w, h, counter)
    f = visio_pattern.PatternSource(1280, 720).frame(77, 123_456)
    x0, y0, x1, y1 = visio_pattern.code_cell(1280, 720, 20)  # a counter bit
    f.y[y0:y1, x0:x1] = 235 if f.y[(y0 + y1) // 2, (x0 + x1) // 2] < 128 else 16
    assert visio_pattern.read_embedded(f.y) is None
    assert visio_pattern.read_embedded(np.full((720, 1280), 16, np.uint8)) is None
    # The same colours as the Rust pattern's tests.
    assert visio_pattern.rgb_to_yuv601((255, 255, 255)) == (235, 128, 128)
    assert visio_pattern.rgb_to_yuv601((255, 0, 0)) == (81, 90, 240)


async def test_sdk_pattern_read_by_visio_join(server):
    a = await join(server.url, "r1", "alice")
    source = rtc.VideoSource(640, 360)
    track = rtc.LocalVideoTrack.create_video_track("pattern", source)
    await a.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=False)
    )
    src = visio_pattern.PatternSource(640, 360)

    async def pump():
        n = 0
        while True:
            f = src.frame(n, int(time.time() * 1000))
            source.capture_frame(rtc.VideoFrame(640, 360, rtc.VideoBufferType.I420, f.data))
            n += 1
            await asyncio.sleep(1 / 30)

    task = asyncio.create_task(pump())
    proc = await start_join(server, "viewer", "--subscribe-only", "--duration", "6", "--json")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 40)
        published_by_viewer = [
            p for p in a.remote_participants.values() if p.identity == "viewer" and p.track_publications
        ]
    finally:
        if proc.returncode is None:
            proc.kill()
        task.cancel()
        await a.disconnect()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    print(summary)
    video = [t for t in summary["tracks"] if t["kind"] == "video"]
    assert len(video) == 1 and video[0]["participant"] == "alice", summary
    v = video[0]
    assert v["frames"] > 60, v
    # Latency figures exist only when the Rust reader decoded the Python-drawn codes.
    assert v["latency_ms"] is not None, v
    assert 0 <= v["latency_ms"]["p50"] < 1000, v
    assert v["counter_regressions"] == 0, v
    assert not published_by_viewer, "a --subscribe-only viewer published tracks"


async def test_visio_pattern_read_by_sdk(server):
    b = await join(server.url, "r1", "bob")
    codes = []
    frames = []

    streams = []

    async def consume(track):
        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420)
        streams.append(stream)
        async for ev in stream:
            now_ms = time.time() * 1000
            fr = ev.frame
            frames.append((fr.width, fr.height))
            y = np.frombuffer(fr.data, np.uint8, count=fr.width * fr.height).reshape(fr.height, fr.width)
            code = visio_pattern.read_embedded(y)
            if code is not None:
                codes.append((code[0], now_ms - code[1]))

    tasks = []
    b.on(
        "track_subscribed",
        lambda track, pub, part: tasks.append(asyncio.create_task(consume(track)))
        if track.kind == rtc.TrackKind.KIND_VIDEO
        else None,
    )
    proc = await start_join(server, "visio", "--fake-devices", "--duration", "8")
    try:
        await wait_for(lambda: len(codes) >= 60, timeout=25, what="60 frames with a code")
    finally:
        if proc.returncode is None:
            proc.kill()
        for t in tasks:
            t.cancel()
        for st in streams:
            await st.aclose()
        await b.disconnect()
    counters = [c for c, _ in codes]
    latencies = sorted(lat for _, lat in codes)
    assert len(codes) >= 0.8 * len(frames), (len(codes), len(frames))
    visio_pattern.assert_counters_advance(counters)
    assert 0 <= latencies[len(latencies) // 2] < 1000, latencies
