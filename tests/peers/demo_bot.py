"""`make run`: the local room server with a demo room and a synthetic participant in it.

Starts `visio serve --dev`, joins the demo room as "Visio Bot" with the official LiveKit SDK,
publishes the moving test pattern and a quiet 440 Hz tone, says hello in the chat and answers
every chat message. Ctrl-C stops both.
"""

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request

from livekit import rtc

import lkpeer


async def run_bot(http: str, room_slug: str, stop: asyncio.Event):
    with urllib.request.urlopen(f"{http}/api/v1.0/rooms/{room_slug}/?username=Visio%20Bot", timeout=5) as r:
        info = json.loads(r.read())
    lk = info["livekit"]
    room = rtc.Room()
    await room.connect(lk["url"], lk["token"])
    pub = lkpeer.Publisher(room)
    await pub.video(1280, 720, simulcast=True, bitrate=1_700_000)
    await pub.tone(440)

    async def reply(reader: rtc.TextStreamReader, identity: str):
        text = await reader.read_all()
        who = room.remote_participants.get(identity)
        name = who.name if who and who.name else identity
        await room.local_participant.send_text(f"Bonjour {name}, bien reçu : « {text} »", topic="lk.chat")

    room.register_text_stream_handler("lk.chat", lambda r, i: asyncio.ensure_future(reply(r, i)))

    @room.on("participant_connected")
    def greet(p):
        asyncio.ensure_future(room.local_participant.send_text(f"Bonjour {p.name or p.identity} !", topic="lk.chat"))

    await room.local_participant.send_text("Bonjour, je suis le participant de démonstration.", topic="lk.chat")
    await stop.wait()
    await pub.stop()
    await room.disconnect()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visio", required=True)
    ap.add_argument("--room", default="vis-iode-mos")
    ap.add_argument("--bind", default="127.0.0.1:7880")
    args = ap.parse_args()
    server = subprocess.Popen([args.visio, "serve", "--dev", "--bind", args.bind, "--demo-room", args.room])
    http = f"http://{args.bind}"
    for _ in range(100):
        try:
            urllib.request.urlopen(http + "/", timeout=1)
            break
        except OSError:
            if server.poll() is not None:
                sys.exit(f"the room server did not start (exit code {server.returncode}); is port {args.bind} in use?")
            time.sleep(0.1)
    token = lkpeer.token(args.room, "guest", ttl=6 * 3600)
    print(f"\nDemo room ready: {args.room}\n"
          f"  Join with any LiveKit client: URL ws://{args.bind}  token {token}\n"
          f"  or through the Visio API: {http}/api/v1.0/rooms/{args.room}/?username=YourName\n"
          f"Ctrl-C to stop.\n", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        loop.run_until_complete(run_bot(http, args.room, stop))
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
