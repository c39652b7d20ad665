"""Interop with the official LiveKit Python SDK (libwebrtc) through `visio serve --dev`.

Every test asserts on what a peer decoded: the publisher's colour pattern with its moving bar,
the frequency of its tone, the bytes of its data packets, the text of its chat messages.
"""

import asyncio

from livekit import rtc

import lkpeer
from lkpeer import Publisher, Receiver, join, wait_for


async def test_media_data_and_chat_reach_the_other_participant(server):
    a = await join(server.url, "r1", "alice")
    b = await join(server.url, "r1", "bob")
    rx = Receiver(b).attach()
    pub = Publisher(a)
    await pub.video(640, 360)
    await pub.tone(440)
    await wait_for(lambda: "alice" in rx.video and rx.video["alice"].pattern_ok >= 10, what="pattern frames")
    await wait_for(lambda: len(rx.audio.get("alice", [])) > 150, what="1.5 s of audio")
    await a.local_participant.publish_data(b"hello bob", reliable=True, topic="greeting")
    await a.local_participant.publish_data(b"lossy", reliable=False, topic="fast")
    await a.local_participant.send_text("Bonjour à tous", topic="lk.chat")
    await wait_for(lambda: rx.chat and any(d[2] == b"hello bob" for d in rx.data), what="data and chat")

    v = rx.video["alice"]
    assert v.sizes[-1] == (640, 360)
    assert len(v.bars) >= 5, f"the bar should move across frames, saw {sorted(v.bars)}"
    assert abs(rx.audio_hz("alice") - 440) < 5, rx.audio_hz("alice")
    assert rx.audio_rms("alice") > 2000
    assert ("alice", "greeting", b"hello bob") in rx.data
    assert rx.chat == [("alice", "Bonjour à tous")]
    # The tone is loud: alice becomes an active speaker.
    await wait_for(lambda: any(e[0] == "speakers" and "alice" in e[1] for e in rx.events), what="active speaker")
    # Loopback loses nothing: the quality the server reports for alice is EXCELLENT (the SDK's
    # default before any report is POOR).
    await wait_for(
        lambda: b.remote_participants["alice"].connection_quality == rtc.ConnectionQuality.QUALITY_EXCELLENT,
        timeout=10,
        what="connection quality report",
    )
    await pub.stop()
    await rx.stop()
    await a.disconnect()
    await b.disconnect()


async def test_late_joiner_gets_a_keyframe_and_decodes(server):
    a = await join(server.url, "late", "alice")
    pub = Publisher(a)
    await pub.video(640, 360)
    await asyncio.sleep(3)  # alice's first keyframe is long gone
    b = await join(server.url, "late", "bob")
    rx = Receiver(b).attach()
    await wait_for(lambda: "alice" in rx.video and rx.video["alice"].pattern_ok >= 5, timeout=10, what="late frames")
    await pub.stop()
    await a.disconnect()
    await b.disconnect()


async def test_mute_unmute_and_leave_are_seen(server):
    a = await join(server.url, "events", "alice")
    b = await join(server.url, "events", "bob")
    rx = Receiver(b).attach()
    pub = Publisher(a)
    await pub.tone(300)
    await wait_for(lambda: len(rx.audio.get("alice", [])) > 50, what="audio")
    pub.audio_track.mute()
    await wait_for(lambda: any(e[0] == "muted" and e[1] == "alice" for e in rx.events), what="mute event")
    pub.audio_track.unmute()
    await wait_for(lambda: any(e[0] == "unmuted" and e[1] == "alice" for e in rx.events), what="unmute event")
    await asyncio.sleep(1)
    assert abs(rx.audio_hz("alice", 0.5) - 300) < 5, "audio flows again after unmute"
    await pub.stop()
    await a.disconnect()
    await wait_for(lambda: ("disconnected", "alice", None) in rx.events, what="participant disconnected")
    assert "alice" not in [p.identity for p in b.remote_participants.values()]
    await b.disconnect()


async def test_two_rooms_stay_isolated(server):
    a = await join(server.url, "room-one", "alice")
    b = await join(server.url, "room-one", "bob")
    c = await join(server.url, "room-two", "carol")
    rb, rc = Receiver(b).attach(), Receiver(c).attach()
    pa, pc = Publisher(a), Publisher(c)
    await pa.video(320, 180)
    await pc.tone(600)
    await a.local_participant.publish_data(b"only room one", reliable=True)
    await wait_for(lambda: "alice" in rb.video and rb.video["alice"].frames > 10, what="room one video")
    await asyncio.sleep(1)
    assert set(p.identity for p in b.remote_participants.values()) == {"alice"}
    assert set(p.identity for p in c.remote_participants.values()) == set()
    assert rc.video == {} and rc.data == []
    assert "carol" not in rb.audio
    for p in (pa, pc):
        await p.stop()
    for r in (a, b, c):
        await r.disconnect()


async def wait_for_top_layer(pub, rx, identity, timeout=20.0):
    """Waits until the subscriber decodes the widest layer the publisher is sending."""
    deadline = asyncio.get_event_loop().time() + timeout
    while True:
        top = await pub.top_sent_width()
        got = rx.video[identity].sizes[-1][0]
        if top > 400 and got == top:
            return
        assert asyncio.get_event_loop().time() < deadline, f"decoding {got} wide, top layer sent is {top}: {await pub.sent_layers()}"
        await asyncio.sleep(0.2)


async def test_simulcast_layer_follows_the_requested_quality(server):
    a = await join(server.url, "simulcast", "alice")
    b = await join(server.url, "simulcast", "bob")
    rx = Receiver(b).attach()
    pub = Publisher(a)
    await pub.video(1280, 720, simulcast=True, bitrate=1_700_000)
    await wait_for(lambda: "alice" in rx.video and rx.video["alice"].frames > 20, what="video")
    alice = b.remote_participants["alice"]
    publication = next(p for p in alice.track_publications.values() if p.kind == rtc.TrackKind.KIND_VIDEO)
    assert publication.simulcasted
    publication.set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_LOW)
    await wait_for(lambda: rx.video["alice"].sizes[-1][0] <= 400, timeout=15, what="low layer")
    low = rx.video["alice"].sizes[-1]
    publication.set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_HIGH)
    # The top layer the publisher sends: 1280 wide unless libwebrtc's CPU adaptation turned
    # it off on this 2-core machine; either way it is larger than the low one.
    await wait_for_top_layer(pub, rx, "alice")
    high = rx.video["alice"].sizes[-1]
    assert low[0] < high[0] and low[1] < high[1], (low, high)
    await pub.stop()
    await a.disconnect()
    await b.disconnect()


async def test_same_identity_replaces_the_old_session(server):
    first = await join(server.url, "dup", "alice")
    gone = asyncio.Event()
    first.on("disconnected", lambda reason: gone.set())
    second = await join(server.url, "dup", "alice")
    await asyncio.wait_for(gone.wait(), 10)
    observer = await join(server.url, "dup", "bob")
    await asyncio.sleep(0.5)
    assert [p.identity for p in observer.remote_participants.values()] == ["alice"]
    await second.disconnect()
    await observer.disconnect()


import pytest


@pytest.mark.parametrize("codec", ["VP9", "H264"])
async def test_other_codecs_are_forwarded(server, codec):
    """VP9 is what the Visio web app publishes; H264 is common on hardware encoders."""
    a = await join(server.url, f"codec-{codec}", "alice")
    b = await join(server.url, f"codec-{codec}", "bob")
    rx = Receiver(b).attach()
    pub = Publisher(a)
    await pub.video(640, 360, codec=codec)
    await wait_for(lambda: "alice" in rx.video and rx.video["alice"].pattern_ok >= 10, what=f"{codec} frames")
    publication = next(iter(b.remote_participants["alice"].track_publications.values()))
    assert codec.lower() in publication.mime_type.lower(), publication.mime_type
    assert len(rx.video["alice"].bars) >= 3
    await pub.stop()
    await a.disconnect()
    await b.disconnect()


async def test_data_goes_only_to_its_destinations(server):
    a = await join(server.url, "dest", "alice")
    b = await join(server.url, "dest", "bob")
    c = await join(server.url, "dest", "carol")
    rb, rc = Receiver(b).attach(), Receiver(c).attach()
    await asyncio.sleep(0.5)
    await a.local_participant.publish_data(b"for carol", reliable=True, destination_identities=["carol"])
    await a.local_participant.send_text("psst carol", topic="lk.chat", destination_identities=["carol"])
    await a.local_participant.publish_data(b"for all", reliable=True)
    await wait_for(lambda: len(rc.data) >= 2 and rc.chat and rb.data, what="data")
    await asyncio.sleep(0.5)
    assert [d[2] for d in rc.data] == [b"for carol", b"for all"]
    assert [d[2] for d in rb.data] == [b"for all"]
    assert rc.chat == [("alice", "psst carol")] and rb.chat == []
    for r in (a, b, c):
        await r.disconnect()


async def test_unsubscribe_stops_video_and_resubscribe_resumes(server):
    a = await join(server.url, "subs", "alice")
    b = await join(server.url, "subs", "bob")
    rx = Receiver(b).attach()
    pub = Publisher(a)
    await pub.video(320, 180)
    await wait_for(lambda: "alice" in rx.video and rx.video["alice"].frames > 10, what="video")
    publication = next(iter(b.remote_participants["alice"].track_publications.values()))
    publication.set_subscribed(False)
    await wait_for(lambda: not publication.subscribed, what="unsubscribed")
    await asyncio.sleep(1)
    stopped_at = sum(v.frames for v in rx.video.values())
    await asyncio.sleep(1.5)
    assert sum(v.frames for v in rx.video.values()) <= stopped_at + 2, "no video while unsubscribed"
    publication.set_subscribed(True)
    await wait_for(lambda: sum(v.frames for v in rx.video.values()) > stopped_at + 15, what="video again")
    await pub.stop()
    await a.disconnect()
    await b.disconnect()


async def test_dynacast_pauses_unwatched_layers_and_late_joiners_still_get_video(server):
    """With dynacast (as Visio's web app uses), a publisher nobody watches pauses its layers;
    a subscriber arriving later must still get video, and its choice drives the layers."""
    a = rtc.Room()
    await a.connect(server.url, lkpeer.token("dyn", "alice"), rtc.RoomOptions(dynacast=True))
    pub = Publisher(a)
    await pub.video(1280, 720, simulcast=True, bitrate=1_700_000)
    await asyncio.sleep(2)  # alone: every layer is unwatched

    b = await join(server.url, "dyn", "bob")
    rx = Receiver(b).attach()
    await wait_for(lambda: "alice" in rx.video and rx.video["alice"].pattern_ok >= 5, timeout=15, what="video after dynacast pause")
    alice = b.remote_participants["alice"]
    publication = next(p for p in alice.track_publications.values() if p.kind == rtc.TrackKind.KIND_VIDEO)
    publication.set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_LOW)
    await wait_for(lambda: rx.video["alice"].sizes[-1][0] <= 400, timeout=15, what="low layer")

    async def active_rids():
        stats = await pub.video_track.get_stats()
        return {s.outbound_rtp.outbound.rid: s.outbound_rtp.outbound.active for s in stats if s.HasField("outbound_rtp")}

    # Only the low layer is watched: the publisher turns the others off.
    async def high_paused():
        rids = await active_rids()
        return rids.get("f") is False

    deadline = asyncio.get_event_loop().time() + 10
    while not await high_paused():
        assert asyncio.get_event_loop().time() < deadline, await active_rids()
        await asyncio.sleep(0.3)
    publication.set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_HIGH)
    await wait_for_top_layer(pub, rx, "alice")
    assert rx.video["alice"].sizes[-1][0] > 400, "a larger layer than LOW came back"
    await pub.stop()
    await a.disconnect()
    await b.disconnect()
