"""Test peers built on the official LiveKit Python SDK (libwebrtc inside).

They publish content a receiver can verify (a moving colour pattern, a pure tone) and measure
what they receive, so interop tests assert on decoded media, not on "no error".
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import numpy as np
from livekit import api, rtc

# Four horizontal bands of known colours; a black bar moves across them, 8 px per frame.
BANDS = [(230, 40, 40), (40, 200, 60), (40, 70, 230), (240, 230, 50)]
BAR_WIDTH = 16


def token(room: str, identity: str, *, key="devkey", secret="secret", ttl=3600, **grants) -> str:
    video = api.VideoGrants(room_join=True, room=room, **grants)
    return (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(video)
        .with_ttl(__import__("datetime").timedelta(seconds=ttl))
        .to_jwt()
    )


def pattern_frame(width: int, height: int, n: int) -> np.ndarray:
    img = np.empty((height, width, 4), dtype=np.uint8)
    band_h = height // len(BANDS)
    for i, (r, g, b) in enumerate(BANDS):
        y1 = height if i == len(BANDS) - 1 else (i + 1) * band_h
        img[i * band_h : y1, :, :] = (r, g, b, 255)
    x = (n * 8) % width
    img[:, x : x + BAR_WIDTH, :3] = 0
    return img


def check_pattern(rgba: np.ndarray, tolerance: int = 45) -> tuple[bool, int | None]:
    """Whether a decoded RGBA frame shows the bands, and where the moving bar is."""
    h, w = rgba.shape[:2]
    band_h = h // len(BANDS)
    cols = rgba[:, :, :3].astype(int)
    # Column brightness finds the bar.
    lum = cols.mean(axis=(0, 2))
    bar = int(np.argmin(lum)) if lum.min() < 60 else None
    for i, expect in enumerate(BANDS):
        y = i * band_h + band_h // 2
        row = cols[y]
        mask = np.ones(w, dtype=bool)
        if bar is not None:
            mask[max(0, bar - 2 * BAR_WIDTH) : bar + 2 * BAR_WIDTH] = False
        colour = np.median(row[mask], axis=0)
        if np.abs(colour - np.array(expect)).max() > tolerance:
            return False, bar
    return True, bar


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    if len(samples) < 1024:
        return 0.0
    x = samples.astype(np.float64) * np.hanning(len(samples))
    spec = np.abs(np.fft.rfft(x))
    spec[0] = 0
    k = int(np.argmax(spec))
    return k * rate / len(samples)


class Publisher:
    """Publishes the pattern and/or a tone until stopped."""

    def __init__(self, room: rtc.Room):
        self.room = room
        self.tasks: list[asyncio.Task] = []
        self.video_pub: rtc.LocalTrackPublication | None = None
        self.audio_pub: rtc.LocalTrackPublication | None = None
        self.video_track: rtc.LocalVideoTrack | None = None
        self.audio_track: rtc.LocalAudioTrack | None = None

    async def video(self, width=640, height=360, fps=30, simulcast=False, bitrate=800_000, codec="VP8"):
        source = rtc.VideoSource(width, height)
        self.video_track = rtc.LocalVideoTrack.create_video_track("pattern", source)
        opts = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            simulcast=simulcast,
            video_codec=getattr(rtc.VideoCodec, codec),
            video_encoding=rtc.VideoEncoding(max_bitrate=bitrate, max_framerate=fps),
        )
        self.video_pub = await self.room.local_participant.publish_track(self.video_track, opts)

        async def run():
            n = 0
            start = time.monotonic()
            while True:
                img = pattern_frame(width, height, n)
                source.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, img.tobytes()))
                n += 1
                await asyncio.sleep(max(0, start + n / fps - time.monotonic()))

        self.tasks.append(asyncio.create_task(run()))

    async def tone(self, hz=440.0, rate=48000):
        source = rtc.AudioSource(rate, 1)
        self.audio_track = rtc.LocalAudioTrack.create_audio_track("tone", source)
        opts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        self.audio_pub = await self.room.local_participant.publish_track(self.audio_track, opts)
        chunk = rate // 100

        async def run():
            n = 0
            while True:
                t = (np.arange(chunk) + n * chunk) / rate
                pcm = (np.sin(2 * math.pi * hz * t) * 12000).astype(np.int16)
                frame = rtc.AudioFrame(pcm.tobytes(), rate, 1, chunk)
                await source.capture_frame(frame)
                n += 1

        self.tasks.append(asyncio.create_task(run()))

    async def sent_layers(self) -> dict:
        """rid -> (flowing, frame width) of the video layers libwebrtc is sending now. Under CPU
        pressure libwebrtc switches its top layers off by itself, so tests compare what a
        subscriber gets with what is actually sent."""
        stats = await self.video_track.get_stats()
        out = {}
        for s in stats:
            if s.HasField("outbound_rtp"):
                o = s.outbound_rtp.outbound
                out[o.rid] = (o.active and o.frames_per_second > 1, o.frame_width)
        return out

    async def top_sent_width(self) -> int:
        """Width of the largest layer actually flowing (active, with frames per second)."""
        layers = await self.sent_layers()
        return max((w for flowing, w in layers.values() if flowing), default=0)

    async def stop(self):
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass


@dataclass
class VideoStats:
    frames: int = 0
    pattern_ok: int = 0
    bars: set = field(default_factory=set)
    sizes: list = field(default_factory=list)


@dataclass
class Receiver:
    """Collects what a room delivers: decoded video and audio per track, data, chat, events."""

    room: rtc.Room
    video: dict = field(default_factory=dict)
    audio: dict = field(default_factory=dict)
    data: list = field(default_factory=list)
    chat: list = field(default_factory=list)
    events: list = field(default_factory=list)
    tasks: list = field(default_factory=list)

    def attach(self):
        room = self.room

        @room.on("track_subscribed")
        def _on_track(track, publication, participant):
            self.events.append(("subscribed", participant.identity, track.kind))
            if track.kind == rtc.TrackKind.KIND_VIDEO:
                self.tasks.append(asyncio.create_task(self._video(track, participant.identity)))
            elif track.kind == rtc.TrackKind.KIND_AUDIO:
                self.tasks.append(asyncio.create_task(self._audio(track, participant.identity)))

        @room.on("data_received")
        def _on_data(packet: rtc.DataPacket):
            who = packet.participant.identity if packet.participant else None
            self.data.append((who, packet.topic, bytes(packet.data)))

        @room.on("track_muted")
        def _on_muted(participant, publication):
            self.events.append(("muted", participant.identity, publication.sid))

        @room.on("track_unmuted")
        def _on_unmuted(participant, publication):
            self.events.append(("unmuted", participant.identity, publication.sid))

        @room.on("participant_connected")
        def _on_connected(participant):
            self.events.append(("connected", participant.identity, None))

        @room.on("participant_disconnected")
        def _on_disconnected(participant):
            self.events.append(("disconnected", participant.identity, None))

        @room.on("active_speakers_changed")
        def _on_speakers(speakers):
            self.events.append(("speakers", tuple(s.identity for s in speakers), None))

        async def on_chat(reader: rtc.TextStreamReader, identity: str):
            text = await reader.read_all()
            self.chat.append((identity, text))

        def chat_handler(reader, identity):
            self.tasks.append(asyncio.create_task(on_chat(reader, identity)))

        room.register_text_stream_handler("lk.chat", chat_handler)
        return self

    async def _video(self, track, identity):
        stats = self.video.setdefault(identity, VideoStats())
        async for ev in rtc.VideoStream(track):
            frame = ev.frame.convert(rtc.VideoBufferType.RGBA)
            img = np.frombuffer(frame.data, dtype=np.uint8).reshape(frame.height, frame.width, 4)
            stats.frames += 1
            stats.sizes.append((frame.width, frame.height))
            if stats.frames % 3 == 0:
                ok, bar = check_pattern(img)
                if ok:
                    stats.pattern_ok += 1
                    if bar is not None:
                        stats.bars.add(bar)

    async def _audio(self, track, identity):
        buf = self.audio.setdefault(identity, [])
        async for ev in rtc.AudioStream(track, sample_rate=48000, num_channels=1):
            buf.append(np.frombuffer(ev.frame.data, dtype=np.int16).copy())

    def audio_hz(self, identity, seconds=1.0) -> float:
        chunks = self.audio.get(identity, [])
        if not chunks:
            return 0.0
        samples = np.concatenate(chunks)[-int(48000 * seconds) :]
        return dominant_hz(samples, 48000)

    def audio_rms(self, identity, seconds=1.0) -> float:
        chunks = self.audio.get(identity, [])
        if not chunks:
            return 0.0
        s = np.concatenate(chunks)[-int(48000 * seconds) :].astype(np.float64)
        return float(np.sqrt(np.mean(s * s)))

    async def stop(self):
        for t in self.tasks:
            t.cancel()


async def wait_for(cond, timeout=15.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def join(url: str, room: str, identity: str, **kw) -> rtc.Room:
    r = rtc.Room()
    await r.connect(url, token(room, identity, **kw), rtc.RoomOptions(auto_subscribe=True))
    return r
