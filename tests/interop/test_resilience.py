"""`visio join` survives a dropped signalling connection, seen by the official Python SDK.

The signalling WebSocket of `visio join --fake-devices` goes through a small TCP proxy that the
test cuts: the client resumes the same session (`reconnect=1&sid=`), the SDK participant never
sees it leave, its video keeps decoding, and `--json` reports the reconnection.
"""

import asyncio
import json

from lkpeer import Receiver, join, wait_for
from test_visio_join import visio_bin


class CuttableProxy:
    """Forwards TCP connections to the server; `cut()` closes the open ones."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.writers = []
        self.accepted = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer):
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(r, w):
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self):
        for w in self.writers:
            w.transport.abort()
        self.writers = []

    async def stop(self):
        self.cut()
        self.server.close()


async def test_visio_join_resumes_after_a_signalling_cut(server):
    proxy = CuttableProxy(server.http_port)
    port = await proxy.start()
    b = await join(server.url, "r1", "bob")
    rx = Receiver(b).attach()
    proc = await asyncio.create_subprocess_exec(
        visio_bin(), "join", f"ws://127.0.0.1:{port}",
        "--api-key", "devkey", "--api-secret", "secret", "--room", "r1", "--identity", "visio",
        "--fake-devices", "--video-size", "640x360", "--duration", "12", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_for(lambda: "visio" in rx.video and rx.video["visio"].frames >= 30, timeout=20, what="frames")
        before = rx.video["visio"].frames
        proxy.cut()
        await wait_for(lambda: proxy.accepted >= 2, timeout=10, what="a new signalling connection")
        await asyncio.sleep(2.0)
        after = rx.video["visio"].frames
        assert after - before > 30, (before, after)
        assert ("disconnected", "visio", None) not in rx.events, rx.events
        assert [p.identity for p in b.remote_participants.values()] == ["visio"]
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proxy.stop()
    try:
        assert proc.returncode == 0, err.decode()
        summary = json.loads(out.decode().strip().splitlines()[-1])
        print(summary["reconnections"])
        assert len(summary["reconnections"]) == 1, summary
        r = summary["reconnections"][0]
        assert r["resumed"] is True and r["attempts"] >= 1 and r["took_ms"] < 5000, r
        # Only the real leave at the end shows as a departure.
        await wait_for(lambda: ("disconnected", "visio", None) in rx.events, what="visio left")
        assert rx.events.count(("connected", "visio", None)) <= 1, rx.events
    finally:
        await rx.stop()
        await b.disconnect()
