"""Bad input gets a clear refusal or is dropped, and a meeting in the same server goes on."""

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request

import aiohttp
import jwt
import pytest
from livekit import rtc

import lkpeer
from lkpeer import Publisher, Receiver, join, wait_for


def expired_token(room="r1"):
    now = int(time.time())
    claims = {"iss": "devkey", "sub": "late", "nbf": now - 7200, "exp": now - 3600,
              "video": {"roomJoin": True, "room": room}}
    return jwt.encode(claims, "secret", algorithm="HS256")


def validate(server, token):
    req = urllib.request.Request(server.http + "/rtc/validate", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.parametrize(
    "name, make_token, reason",
    [
        ("wrong secret", lambda: lkpeer.token("r1", "eve", secret="not-the-secret"), "invalid token"),
        ("expired", expired_token, "expired"),
        ("no join grant", lambda: jwt.encode({"iss": "devkey", "sub": "x", "exp": int(time.time()) + 60,
                                              "video": {"room": "r1"}}, "secret", algorithm="HS256"), "roomJoin"),
        ("unknown key", lambda: lkpeer.token("r1", "eve", key="nokey"), "unknown API key"),
        ("garbage", lambda: "definitely-not-a-jwt", "invalid token"),
    ],
)
async def test_bad_tokens_are_refused_with_a_reason(server, name, make_token, reason):
    token = make_token()
    status, body = validate(server, token)
    assert status == 401 and reason in body, (name, status, body)
    room = rtc.Room()
    with pytest.raises(Exception) as err:
        await asyncio.wait_for(room.connect(server.url, token), 30)
    assert "401" in str(err.value) or reason.lower() in str(err.value).lower() or "nauthorized" in str(err.value), str(err.value)


async def test_a_token_only_opens_its_own_room(server):
    a = await join(server.url, "private", "alice")
    other = await join(server.url, "elsewhere", "mallory")
    await asyncio.sleep(0.5)
    assert list(other.remote_participants) == []
    assert list(a.remote_participants) == []
    await a.disconnect()
    await other.disconnect()


async def test_malformed_frames_and_udp_garbage_leave_the_meeting_running(server):
    a = await join(server.url, "steady", "alice")
    b = await join(server.url, "steady", "bob")
    rx = Receiver(b).attach()
    pub = Publisher(a)
    await pub.video(320, 180)
    await wait_for(lambda: "alice" in rx.video and rx.video["alice"].frames > 10, what="meeting video")

    # A client that sends protobuf garbage after a valid join is closed after a few frames.
    token = lkpeer.token("steady", "fuzzer")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(server.url + "/rtc", headers={"Authorization": f"Bearer {token}"}) as ws:
            first = await ws.receive(timeout=5)
            assert first.type == aiohttp.WSMsgType.BINARY  # the JoinResponse
            closed_by_server = False
            for i in range(40):
                if ws.closed:
                    break
                try:
                    await ws.send_bytes(bytes([0xFF, 0xFF, 0xFF, 0x0F, i]) * 7)
                except aiohttp.ClientConnectionResetError:
                    closed_by_server = True  # the server already hung up on us
                    break
            try:
                while not closed_by_server:
                    msg = await ws.receive(timeout=5)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        closed_by_server = True
                        break
            except asyncio.TimeoutError:
                pass
            assert closed_by_server or ws.closed, "a session sending only garbage is closed"
        # Text frames and oversized frames on a fresh session.
        async with http.ws_connect(server.url + "/rtc", headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.receive(timeout=5)
            await ws.send_str("{\"not\": \"protobuf\"}")
            await ws.send_bytes(b"\x0a" * 3)  # truncated field

    # Garbage datagrams on the media port: random bytes, fake STUN, fake DTLS, fake RTP.
    junk = [b"\x00" * 20, b"\x00\x01\x00\x00" + b"\x21\x12\xa4\x42" + b"x" * 12, b"\x16\xfe\xfd" + b"\x00" * 60,
            b"\x80\x60" + b"\x00" * 40, bytes(range(256)) * 5]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(200):
            for j in junk:
                s.sendto(j, ("127.0.0.1", server.udp_port))

    before = rx.video["alice"].frames
    await asyncio.sleep(2)
    assert rx.video["alice"].frames > before + 20, "the meeting kept flowing"
    assert rx.video["alice"].pattern_ok > 5
    assert server.alive()
    assert server.get("/")[0] == 200
    await pub.stop()
    await a.disconnect()
    await b.disconnect()


async def test_visio_api_gives_a_joinable_room(server):
    status, body = server.get("/api/v1.0/config/")
    cfg = json.loads(body)
    assert status == 200 and cfg["livekit"]["url"].startswith("ws://127.0.0.1:")

    status, body = server.get("/api/v1.0/rooms/ABCDEFGHIJ/?username=Marie%20Curie")
    room = json.loads(body)
    assert status == 200
    assert room["slug"] == "abc-defg-hij" and room["access_level"] == "public"
    lk = room["livekit"]
    assert lk["room"] == "abc-defg-hij"
    claims = jwt.decode(lk["token"], "secret", algorithms=["HS256"], issuer="devkey")
    assert claims["name"] == "Marie Curie" and claims["video"]["room"] == "abc-defg-hij"

    marie = rtc.Room()
    await marie.connect(lk["url"], lk["token"])
    assert marie.local_participant.name == "Marie Curie"
    await marie.disconnect()

    for bad in ["not-a-room", "abc-defg-hi", "abcdefghi1"]:
        with pytest.raises(urllib.error.HTTPError) as err:
            server.get(f"/api/v1.0/rooms/{bad}/")
        assert err.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as err:
        server.get("/api/v1.0/users/me/")
    assert err.value.code == 401
