import asyncio, sys
sys.path.insert(0, "tests/peers")
import lkpeer
URL = sys.argv[1]
async def main():
    a = await lkpeer.join(URL, "r1", "alice")
    print("alice joined")
    b = await lkpeer.join(URL, "r1", "bob")
    print("bob joined")
    rx = lkpeer.Receiver(b).attach()
    pub = lkpeer.Publisher(a)
    await pub.video()
    await pub.tone(440)
    print("published")
    await asyncio.sleep(5)
    await a.local_participant.publish_data(b"hello", reliable=True, topic="t1")
    await a.local_participant.send_text("bonjour", topic="lk.chat")
    await asyncio.sleep(2)
    for k, v in rx.video.items(): print("video", k, v.frames, v.pattern_ok, len(v.bars), v.sizes[-1:] )
    print("audio hz", rx.audio_hz("alice"), "rms", rx.audio_rms("alice"))
    print("data", rx.data, "chat", rx.chat, "events", rx.events)
    await pub.stop(); await a.disconnect(); await asyncio.sleep(1); print("events", rx.events[-2:]); await b.disconnect()
asyncio.run(main())
