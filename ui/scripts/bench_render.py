"""Rendering benchmark of the web UI in WebKitGTK (the engine of the Linux app): how many frames per
second the tiles draw, and the CPU the web process spends, when a real WebSocket video lane (the
format of src-tauri/BRIDGE.md) delivers I420 frames at 30 fps.

Scenarios: 1 x 1280x720 and 9 x 640x360 remote streams, sent at that size, then scaled to the
size each tile asked for in `set_video_subscriptions` (what the Rust lane sends). The UI is ui/dist
on the mock bridge
pointed at this script's lane (`?lane=ws://...`), so the figures cover the UI's part of the path
(WebSocket receive, parse, WebGL upload and draw), not the Rust side's decoding and scaling.

Run (needs Xvfb, WebKitWebDriver, MiniBrowser: `make deps`; ui/dist: `make ui`):
    xvfb-run -a dbus-run-session ~/.cache/visio-desktop/venv/bin/python ui/scripts/bench_render.py
Prints figures; asserts nothing.
"""

import argparse
import asyncio
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from aiohttp import WSMsgType, web
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions

DIST = Path(__file__).resolve().parent.parent / "dist"
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
CLK = os.sysconf("SC_CLK_TCK")
EXTRA = os.environ.get("BENCH_QUERY", "")


def frame(track: str, w: int, h: int, counter: int, colour: tuple[int, int, int]) -> bytes:
    """One lane message: BRIDGE.md's header, then I420 planes (a flat colour and a moving bar)."""
    y = np.full((h, w), colour[0], np.uint8)
    bar = (counter * 8) % w
    y[:, bar : bar + 16] = 235
    cw, ch = (w + 1) // 2, (h + 1) // 2
    u = np.full((ch, cw), colour[1], np.uint8)
    v = np.full((ch, cw), colour[2], np.uint8)
    tid = track.encode()
    head = struct.pack("<BBBBHHIH", 0x56, 1, 1, 0, w, h, counter, len(tid))
    return head + tid + y.tobytes() + u.tobytes() + v.tobytes()


class Lane:
    """Sends every track at `fps`, the latest frame only: a frame is skipped while the socket
    still has a backlog, as the Rust lane does."""

    def __init__(self, tracks: list[tuple[str, int, int]], fps: int):
        self.tracks = tracks
        self.fps = fps
        self.sent = 0
        self.skipped = 0
        self.frames: dict[str, list[bytes]] = {}
        self.resize({t: (w, h) for t, w, h in tracks})

    def resize(self, sizes: dict[str, tuple[int, int]]) -> None:
        """Frames at these sizes from now on (the Rust lane scales to the size the UI asked)."""
        colours = [(41, 240, 110), (82, 90, 240), (144, 54, 34), (63, 102, 240)]
        # A few pre-built frames per track keep this process's CPU out of the figures.
        self.frames = {
            t: [frame(t, w, h, n, colours[i % len(colours)]) for n in range(8)]
            for i, (t, (w, h)) in enumerate(sizes.items())
        }
        self.sizes = sizes

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        n = 0
        period = 1 / self.fps
        next_t = time.monotonic()
        reader = asyncio.ensure_future(ws.receive())
        while not ws.closed:
            for t, _, _ in self.tracks:
                transport = request.transport
                if transport is not None and transport.get_write_buffer_size() > 4 * 1024 * 1024:
                    self.skipped += 1
                    continue
                await ws.send_bytes(self.frames[t][n % 8])
                self.sent += 1
            n += 1
            next_t += period
            delay = next_t - time.monotonic()
            if reader.done() and reader.result().type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
            await asyncio.sleep(max(0, delay))
        return ws


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK


def webkit_pids() -> list[int]:
    """The WebKit web/GPU/network processes and MiniBrowser itself."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                comm = (p / "comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith(("WebKitWebProces", "WebKitGPUProces", "MiniBrowser", "WebKitNetworkPr")):
                out.append(int(p.name))
    return out


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_scenario(name: str, tracks: list[tuple[str, int, int]], participants: int, seconds: float, fps: int, to_tiles: bool) -> None:
    lane = Lane(tracks, fps)
    app = web.Application()
    app.router.add_get("/video", lane.handler)
    app.router.add_get("/", lambda r: web.FileResponse(DIST / "index.html"))
    app.router.add_static("/assets", DIST / "assets")
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    port = free_port()
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    threading.Thread(target=loop.run_forever, daemon=True).start()

    driver_port = free_port()
    drv = subprocess.Popen(["WebKitWebDriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    opts = ArgOptions()
    opts.set_capability("browserName", "MiniBrowser")
    opts.set_capability("webkitgtk:browserOptions", {"binary": MINIBROWSER, "args": ["--automation"]})
    d = webdriver.Remote(command_executor=f"http://127.0.0.1:{driver_port}", options=opts)
    try:
        d.set_window_size(1280, 800)
        d.get(f"http://127.0.0.1:{port}/?participants={participants}&cameras=all&lane=ws://127.0.0.1:{port}/video{EXTRA}")
        wait = lambda js: any(d.execute_script(js) or time.sleep(0.2) for _ in range(150))  # noqa: E731
        wait("return !!document.querySelector('[data-testid=home-link-input]')")
        d.find_element(By.CSS_SELECTOR, "[data-testid=home-link-input]").send_keys("abcdefghij")
        d.find_element(By.CSS_SELECTOR, "[data-testid=home-join-button]").click()
        wait("return !!document.querySelector('[data-testid=prejoin-join-button]')")
        # The camera preview is off for the benchmark: only remote tiles draw.
        d.find_element(By.CSS_SELECTOR, "[data-testid=prejoin-camera-toggle]").click()
        d.find_element(By.CSS_SELECTOR, "[data-testid=prejoin-join-button]").click()
        sids = [t for t, _, _ in tracks]
        count_js = "return Object.fromEntries([...document.querySelectorAll('[data-testid=tile-canvas]')].map(c => [c.dataset.trackSid, Number(c.dataset.frames)]))"
        wait(f"const f = ({count_js[7:]}); return {sids!r}.every(s => f[s] > 10)")
        if to_tiles:
            subs = d.execute_script("return window.__visioMock.subscriptions()")
            lane.resize({s["trackSid"]: (s["width"] & ~1, s["height"] & ~1) for s in subs if s["trackSid"] in sids})
            name += " scaled to tiles"
        time.sleep(2)
        pids = webkit_pids()
        r0 = d.execute_script("return window.__visioLane.received")
        f0, c0, s0, t0 = d.execute_script(count_js), cpu_seconds(pids), lane.sent, time.monotonic()
        time.sleep(seconds)
        f1, c1, s1, t1 = d.execute_script(count_js), cpu_seconds(pids), lane.sent, time.monotonic()
        r1 = d.execute_script("return window.__visioLane.received")
        dt = t1 - t0
        drawn = [(f1.get(s, 0) - f0.get(s, 0)) / dt for s in sids]
        renderers = d.execute_script("return [...new Set([...document.querySelectorAll('[data-testid=tile-canvas]')].map(c => c.dataset.renderer))]")
        sizes = {f"{w}x{h}" for w, h in lane.sizes.values()}
        print(
            f"{name}: {len(tracks)} x {'/'.join(sorted(sizes))} sent {(s1 - s0) / dt / len(tracks):.1f} fps/stream, "
            f"received {(r1 - r0) / dt / len(tracks):.1f}, drawn {min(drawn):.1f}..{max(drawn):.1f} fps/stream (mean {sum(drawn) / len(drawn):.1f}), "
            f"WebKit CPU {100 * (c1 - c0) / dt:.0f}% of a core, renderer {','.join(renderers)}, skipped {lane.skipped}"
        )
    finally:
        d.quit()
        drv.terminate()
        drv.wait()
        loop.call_soon_threadsafe(loop.stop)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--fps", type=int, default=30)
    args = ap.parse_args()
    if not (DIST / "index.html").exists():
        raise SystemExit("ui/dist is missing: run `make ui` first")
    for to_tiles in (False, True):
        run_scenario("1x720p", [("TR_v0", 1280, 720)], 2, args.seconds, args.fps, to_tiles)
        run_scenario("9x360p", [(f"TR_v{i}", 640, 360) for i in range(9)], 10, args.seconds, args.fps, to_tiles)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # the lane's event-loop threads need no orderly shutdown
