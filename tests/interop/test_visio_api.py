"""Visio's REST API on the room server, with official LiveKit SDK peers in the meeting:
the lobby of a restricted room, a raised hand, moderation (mute, remove) and bad input.

HTTP calls go through aiohttp with a cookie jar per client, as a browser would: the room's
owner holds the local session (`sessionid`, `csrftoken`), a guest holds `lobbyParticipantId`.
"""

import asyncio
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import aiohttp
from livekit import rtc

import lkpeer
from lkpeer import Publisher, join, wait_for
from visio_http import API, Client

ROOT = Path(__file__).resolve().parents[2]


async def sdk_join(access, **kw) -> rtc.Room:
    room = rtc.Room()
    for event, handler in kw.items():
        room.on(event, handler)
    await room.connect(access["url"], access["token"])
    return room


async def test_restricted_room_lobby_admit(server):
    owner, guest = Client(server), Client(server)
    admin_room = guest_room = None
    try:
        status, room = await owner.call("POST", "/rooms/", {"access_level": "restricted"})
        assert status == 201, room
        assert room["access_level"] == "restricted" and room["is_administrable"], room
        assert owner.cookie("sessionid") and owner.cookie("csrftoken")
        status, me = await owner.call("GET", "/users/me/")
        assert status == 200 and me["id"], me

        notices = []
        admin_room = await sdk_join(
            room["livekit"], data_received=lambda p: notices.append(json.loads(p.data.decode()))
        )
        assert admin_room.local_participant.attributes.get("room_role") == "owner"

        # The guest finds the room closed to it: no token, the lobby instead.
        status, seen = await guest.call("GET", f"/rooms/{room['slug']}/?username=Guest")
        assert status == 200 and "livekit" not in seen, seen
        status, entry = await guest.call("POST", f"/rooms/{room['id']}/request-entry/", {"username": "Guest"})
        assert status == 200, entry
        assert entry["status"] == "waiting" and entry["livekit"] is None, entry
        assert guest.cookie("lobbyParticipantId") == entry["id"]

        await wait_for(lambda: {"type": "participantWaiting"} in notices, what="participantWaiting")
        status, waiting = await owner.call("GET", f"/rooms/{room['id']}/waiting-participants/")
        assert status == 200, waiting
        assert [(p["id"], p["username"]) for p in waiting["participants"]] == [(entry["id"], "Guest")]

        # A poll keeps the guest waiting (and does not notify again).
        status, again = await guest.call("POST", f"/rooms/{room['id']}/request-entry/", {"username": "Guest"})
        assert again["status"] == "waiting" and again["id"] == entry["id"], again

        status, done = await owner.call(
            "POST", f"/rooms/{room['id']}/enter/", {"participant_id": entry["id"], "allow_entry": True}
        )
        assert status == 200 and done == {"message": "Participant was updated."}, done
        status, accepted = await guest.call("POST", f"/rooms/{room['id']}/request-entry/", {"username": "Guest"})
        assert accepted["status"] == "accepted", accepted
        access = accepted["livekit"]
        assert access["room"] == room["id"], access

        guest_room = await sdk_join(access)
        await wait_for(
            lambda: entry["id"] in [p.identity for p in admin_room.remote_participants.values()],
            what="the admitted guest in the admin's room",
        )
        guest_seen = next(p for p in admin_room.remote_participants.values() if p.identity == entry["id"])
        assert guest_seen.name == "Guest"
        status, waiting = await owner.call("GET", f"/rooms/{room['id']}/waiting-participants/")
        assert waiting["participants"] == [], waiting
        assert notices.count({"type": "participantWaiting"}) == 1, notices
    finally:
        for r in (admin_room, guest_room):
            if r:
                await r.disconnect()
        await owner.close()
        await guest.close()


async def test_lobby_denial_and_admin_only(server):
    owner, guest = Client(server), Client(server)
    try:
        _, room = await owner.call("POST", "/rooms/", {"access_level": "trusted"})
        _, entry = await guest.call("POST", f"/rooms/{room['slug']}/request-entry/", {"username": "Eve"})
        assert entry["status"] == "waiting", entry
        # The guest is no admin: it cannot list or admit itself.
        status, body = await guest.call("GET", f"/rooms/{room['id']}/waiting-participants/")
        assert status == 401, body
        status, body = await guest.call(
            "POST", f"/rooms/{room['id']}/enter/", {"participant_id": entry["id"], "allow_entry": True}
        )
        assert status == 401 and "detail" in body, body
        # Without the CSRF header the owner's session is refused, as Django does.
        async with owner.http.post(
            server.http + API + f"/rooms/{room['id']}/enter/",
            json={"participant_id": entry["id"], "allow_entry": True},
        ) as r:
            assert r.status == 403 and "CSRF" in (await r.json())["detail"]
        status, body = await owner.call(
            "POST", f"/rooms/{room['id']}/enter/", {"participant_id": entry["id"], "allow_entry": False}
        )
        assert status == 200, body
        _, denied = await guest.call("POST", f"/rooms/{room['id']}/request-entry/", {"username": "Eve"})
        assert denied["status"] == "denied" and denied["livekit"] is None, denied
        # Unknown participant, bad UUID.
        status, body = await owner.call(
            "POST", f"/rooms/{room['id']}/enter/",
            {"participant_id": "00000000-0000-4000-8000-000000000000", "allow_entry": True},
        )
        assert status == 404 and body == {"message": "Participant not found."}, body
        status, body = await owner.call(
            "POST", f"/rooms/{room['id']}/enter/", {"participant_id": "nope", "allow_entry": True}
        )
        assert status == 400 and "participant_id" in body, body
    finally:
        await owner.close()
        await guest.close()


async def test_raised_hand_is_an_attribute_change(server):
    a_http, b_http = Client(server), Client(server)
    a = b = None
    try:
        _, ra = await a_http.call("GET", "/rooms/abc-defg-hij/?username=Alice")
        _, rb = await b_http.call("GET", "/rooms/abc-defg-hij/?username=Bob")
        changes = []
        a = await sdk_join(ra["livekit"])
        b = await sdk_join(
            rb["livekit"],
            participant_attributes_changed=lambda changed, p: changes.append((p.identity, dict(changed))),
        )
        alice = a.local_participant.identity
        await wait_for(lambda: alice in [p.identity for p in b.remote_participants.values()], what="alice seen")

        status, body = await a_http.call("POST", "/rooms/abc-defg-hij/toggle-hand/", {"raised": True},
                                         token=ra["livekit"]["token"])
        assert status == 200 and body == {"status": "success"}, body
        await wait_for(lambda: any(i == alice and c.get("handRaisedAt") for i, c in changes),
                       what="handRaisedAt on alice")
        raised_at = next(c["handRaisedAt"] for i, c in changes if i == alice and c.get("handRaisedAt"))
        assert raised_at[:2] == "20" and "T" in raised_at, raised_at
        seen = next(p for p in b.remote_participants.values() if p.identity == alice)
        assert seen.attributes.get("handRaisedAt") == raised_at
        # Alice sees her own hand too.
        await wait_for(lambda: a.local_participant.attributes.get("handRaisedAt") == raised_at, what="own hand")

        status, _ = await a_http.call("POST", "/rooms/abc-defg-hij/toggle-hand/", {"raised": False},
                                      token=ra["livekit"]["token"])
        assert status == 200
        await wait_for(lambda: not seen.attributes.get("handRaisedAt"), what="hand lowered")
    finally:
        for r in (a, b):
            if r:
                await r.disconnect()
        await a_http.close()
        await b_http.close()


async def test_admin_mutes_then_removes_a_participant(server):
    owner, member = Client(server), Client(server)
    admin_room = b = None
    pub = None
    try:
        _, room = await owner.call("POST", "/rooms/", {"access_level": "public"})
        _, rb = await member.call("GET", f"/rooms/{room['slug']}/?username=Bob")
        admin_token = room["livekit"]["token"]
        muted, gone = [], []
        admin_room = await sdk_join(
            room["livekit"],
            track_muted=lambda p, pub: muted.append((p.identity, pub.sid)),
        )
        b = await sdk_join(rb["livekit"], disconnected=lambda reason: gone.append(reason))
        bob = b.local_participant.identity
        pub = Publisher(b)
        await pub.tone(440)
        await wait_for(
            lambda: any(p.identity == bob and p.track_publications for p in admin_room.remote_participants.values()),
            what="bob's track at the admin",
        )
        seen = next(p for p in admin_room.remote_participants.values() if p.identity == bob)
        track_sid = next(iter(seen.track_publications))

        # Bob is no admin: he cannot mute or remove anyone.
        status, body = await member.call("POST", f"/rooms/{room['id']}/mute-participant/",
                                         {"participant_identity": bob, "track_sid": track_sid},
                                         token=rb["livekit"]["token"])
        assert status == 403, body
        status, body = await member.call("POST", f"/rooms/{room['id']}/remove-participant/",
                                         {"participant_identity": bob}, token=rb["livekit"]["token"])
        assert status == 403, body
        # Unknown track, malformed body.
        status, body = await owner.call("POST", f"/rooms/{room['id']}/mute-participant/",
                                        {"participant_identity": bob, "track_sid": "TR_nope"}, token=admin_token)
        assert status == 404 and "Track" in body["error"], body
        status, body = await owner.call("POST", f"/rooms/{room['id']}/mute-participant/",
                                        {"participant_identity": bob}, token=admin_token)
        assert status == 400 and body == {"track_sid": ["This field is required."]}, body

        status, body = await owner.call("POST", f"/rooms/{room['id']}/mute-participant/",
                                        {"participant_identity": bob, "track_sid": track_sid}, token=admin_token)
        assert status == 200 and body == {"status": "success"}, body
        await wait_for(lambda: (bob, track_sid) in muted, what="the admin's SDK sees bob's track muted")
        assert seen.track_publications[track_sid].muted

        status, body = await owner.call("POST", f"/rooms/{room['id']}/remove-participant/",
                                        {"participant_identity": bob}, token=admin_token)
        assert status == 200, body
        await wait_for(lambda: gone, what="bob disconnected")
        assert gone[0] == rtc.DisconnectReason.PARTICIPANT_REMOVED, gone
        await wait_for(lambda: bob not in [p.identity for p in admin_room.remote_participants.values()],
                       what="bob gone from the admin's room")
        status, body = await owner.call("POST", f"/rooms/{room['id']}/remove-participant/",
                                        {"participant_identity": bob}, token=admin_token)
        assert status == 404, body
    finally:
        if pub:
            await pub.stop()
        for r in (admin_room, b):
            if r:
                await r.disconnect()
        await owner.close()
        await member.close()


async def test_bad_input_gets_json_errors(server):
    c = Client(server)
    try:
        status, body = await c.call("GET", "/rooms/not-a-room-code-at-all/?username=x")
        assert status == 404 and body == {"detail": "No Room matches the given query."}, body
        status, body = await c.call("POST", "/rooms/abc-defg-hij/toggle-hand/", {"raised": True}, token="bad.jwt.here")
        assert status == 401 and body["detail"].startswith("Invalid LiveKit token"), body
        status, body = await c.call("POST", "/rooms/abc-defg-hij/toggle-hand/", {"raised": True})
        assert status == 401, body
        wrong = lkpeer.token("abc-defg-hij", "eve", secret="not-the-secret")
        status, body = await c.call("POST", "/rooms/abc-defg-hij/toggle-hand/", {"raised": True}, token=wrong)
        assert status == 401, body
        other_room = lkpeer.token("xyz-wxyz-xyz", "eve")
        status, body = await c.call("POST", "/rooms/abc-defg-hij/toggle-hand/", {"raised": True}, token=other_room)
        assert status == 403, body
        good = lkpeer.token("abc-defg-hij", "eve")
        status, body = await c.call("POST", "/rooms/abc-defg-hij/toggle-hand/", raw="{not json", token=good)
        assert status == 400 and body["detail"].startswith("JSON parse error"), body
        status, body = await c.call("POST", "/rooms/abc-defg-hij/toggle-hand/", {"raised": "maybe"}, token=good)
        assert status == 400 and body == {"raised": ["Must be a valid boolean."]}, body
        status, body = await c.call("POST", "/rooms/abc-defg-hij/request-entry/", raw="[1,2]")
        assert status == 400 and "detail" in body, body
        status, body = await c.call("POST", "/rooms/", {"name": "no", "access_level": "secret"})
        assert status == 400 and set(body) == {"name", "access_level"}, body
        status, body = await c.call("GET", "/nothing-here/")
        assert status == 404 and body == {"detail": "Not found."}, body
        status, body = await c.call("POST", "/rooms/abc-defg-hij/start-subtitle/", {}, token=good)
        assert status == 200 and body["agent"] is False and "no transcription agent" in body["detail"], body
    finally:
        await c.close()
    # The server lives on: a room still answers.
    assert server.get(API + "/config/")[0] == 200


class HtmlHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_visio_join_refuses_a_server_that_is_not_visio():
    httpd = HTTPServer(("127.0.0.1", 0), HtmlHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        binary = os.environ.get("VISIO_BIN") or str(
            Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "visio"
        )
        link = f"http://127.0.0.1:{httpd.server_address[1]}/abc-defg-hij"
        out = subprocess.run([binary, "join", link, "--duration", "1"], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        assert "is not a Visio server" in out.stderr, out.stderr
        assert "panicked" not in out.stderr, out.stderr
    finally:
        httpd.shutdown()
