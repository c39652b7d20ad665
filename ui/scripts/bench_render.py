"""Rendering benchmark of the app's two video paths, side by side in one run, in WebKitGTK (the
engine of the Linux app): frames per second each tile draws and the CPU it costs, counting the
Rust side (the app's video lane, and its decoding on the I420 path) and the WebKit processes.

- **webcodecs**: the lane sends the encoded VP8 frames; the page decodes them with WebCodecs
  `VideoDecoder` and draws the `VideoFrame`s (WebGL texture).
- **i420**: the Rust side decodes (libvpx), scales to the tile's size, sends I420; the page draws
  it with WebGL (YUV -> RGB in a shader). This is the fallback (`?video=i420` forces it here).

The Rust side is `src-tauri/examples/lane_bench.rs`: the app's `VideoLane` fed with a pre-encoded
clip of the synthetic pattern per remote track, exactly as the meeting feeds it (network and SRTP
left out: the same on both paths). The page is ui/dist on the mock bridge pointed at that lane
(`?lane=ws://...`), in MiniBrowser driven by WebKitWebDriver. Scenarios: 1 x 1280x720 and
9 x 640x360 remote streams at 30 fps, each path.

Run (needs Xvfb, WebKitWebDriver, MiniBrowser, GStreamer's VP8 decoder: `make deps`; `make ui`):
    cargo build -p visio-desktop --example lane_bench
    WEBKIT_DISABLE_DMABUF_RENDERER=1 xvfb-run -a dbus-run-session \
        ~/.cache/visio-desktop/venv/bin/python ui/scripts/bench_render.py
Prints one line per scenario and path, and a table; asserts nothing.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiohttp import web
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions

DIST = Path(__file__).resolve().parent.parent / "dist"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/visio-desktop/target"))
LANE_BENCH = Path(os.environ.get("LANE_BENCH", TARGET / "debug/examples/lane_bench"))
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
CLK = os.sysconf("SC_CLK_TCK")


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


def serve_dist() -> tuple[int, asyncio.AbstractEventLoop]:
    app = web.Application()
    app.router.add_get("/", lambda r: web.FileResponse(DIST / "index.html"))
    app.router.add_static("/assets", DIST / "assets")
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    port = free_port()
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return port, loop


def run_scenario(name: str, path: str, tracks: int, width: int, height: int, seconds: float, fps: int, page_port: int, query: str = "") -> dict:
    host = subprocess.Popen(
        [str(LANE_BENCH), "--tracks", str(tracks), "--width", str(width), "--height", str(height), "--fps", str(fps)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert host.stdout is not None and host.stdin is not None
    lane_url = host.stdout.readline().strip()
    if not lane_url.startswith("ws://"):
        host.kill()
        raise SystemExit(f"lane_bench did not start: {lane_url!r}")
    driver_port = free_port()
    drv = subprocess.Popen(["WebKitWebDriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    opts = ArgOptions()
    opts.set_capability("browserName", "MiniBrowser")
    opts.set_capability("webkitgtk:browserOptions", {"binary": MINIBROWSER, "args": ["--automation"]})
    d = webdriver.Remote(command_executor=f"http://127.0.0.1:{driver_port}", options=opts)
    sids = [f"TR_v{i}" for i in range(tracks)]
    try:
        d.set_window_size(1280, 800)
        d.get(f"http://127.0.0.1:{page_port}/?participants={tracks + 1}&cameras=all&video={path}{query}&lane={lane_url}")
        wait = lambda js: any(d.execute_script(js) or time.sleep(0.2) for _ in range(150))  # noqa: E731
        wait("return !!document.querySelector('[data-testid=home-link-input]')")
        d.find_element(By.CSS_SELECTOR, "[data-testid=home-link-input]").send_keys("abcdefghij")
        d.find_element(By.CSS_SELECTOR, "[data-testid=home-join-button]").click()
        wait("return !!document.querySelector('[data-testid=prejoin-join-button]')")
        # The camera preview is off for the benchmark: only remote tiles draw.
        d.find_element(By.CSS_SELECTOR, "[data-testid=prejoin-camera-toggle]").click()
        d.find_element(By.CSS_SELECTOR, "[data-testid=prejoin-join-button]").click()
        wait(f"const s = window.__visioMock && window.__visioMock.subscriptions(); return s && s.length >= {tracks}")
        # What the app does with set_video_subscriptions: the lane sends those tracks at that size.
        tiles: dict[str, tuple[int, int]] = {}
        for _ in range(3):
            subs = d.execute_script("return window.__visioMock.subscriptions()")
            tiles = {s["trackSid"]: (s["width"], s["height"]) for s in subs if s["trackSid"] in sids}
            host.stdin.write(json.dumps(tiles) + "\n")
            host.stdin.flush()
            time.sleep(0.5)
        count_js = "return Object.fromEntries([...document.querySelectorAll('[data-testid=tile-canvas]')].map(c => [c.dataset.trackSid, Number(c.dataset.frames)]))"
        started = wait(f"const f = ({count_js[7:]}); return {sids!r}.every(s => f[s] > 10)")
        time.sleep(2)
        pids = webkit_pids()
        r0 = d.execute_script("return window.__visioLane.received")
        f0, cw0, ch0, t0 = d.execute_script(count_js), cpu_seconds(pids), cpu_seconds([host.pid]), time.monotonic()
        time.sleep(seconds)
        f1, cw1, ch1, t1 = d.execute_script(count_js), cpu_seconds(pids), cpu_seconds([host.pid]), time.monotonic()
        r1 = d.execute_script("return window.__visioLane.received")
        dt = t1 - t0
        drawn = [(f1.get(s, 0) - f0.get(s, 0)) / dt for s in sids]
        paths = d.execute_script("return [...new Set([...document.querySelectorAll('[data-testid=tile-canvas]')].map(c => c.dataset.path || '-'))]")
        decoded = d.execute_script("return window.__visioLane.decodedCodecs.join(',') || 'none'")
        row = {
            "scenario": name, "path": path, "drawn_min": min(drawn), "drawn_mean": sum(drawn) / len(drawn),
            "received": (r1 - r0) / dt / tracks, "webkit_cpu": 100 * (cw1 - cw0) / dt, "rust_cpu": 100 * (ch1 - ch0) / dt,
            "tile": "/".join(sorted({f"{w}x{h}" for w, h in tiles.values()})), "drawn_as": ",".join(paths),
            "started": bool(started), "webcodecs": decoded,
        }
        row["total_cpu"] = row["webkit_cpu"] + row["rust_cpu"]
        # CPU per drawn frame: comparable across paths even when a busy machine lowers the fps.
        row["ms_per_frame"] = 10 * row["total_cpu"] / max(0.1, row["drawn_mean"] * tracks)
        print(
            f"{name} {path}: tiles {row['tile']}, received {row['received']:.1f} msg/s/stream, drawn "
            f"{min(drawn):.1f}..{max(drawn):.1f} fps/tile (mean {row['drawn_mean']:.1f}), CPU Rust {row['rust_cpu']:.0f}% + "
            f"WebKit {row['webkit_cpu']:.0f}% = {row['total_cpu']:.0f}% of a core; drawn as {row['drawn_as']}, page decodes {decoded}",
            flush=True,
        )
        return row
    finally:
        d.quit()
        drv.terminate()
        drv.wait()
        host.stdin.close()
        try:
            host.wait(timeout=5)
        except subprocess.TimeoutExpired:
            host.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--query", default="", help="added to the page's URL, e.g. '&renderer=2d'")
    ap.add_argument("--only", choices=["1x720p", "9x360p"], help="one scenario")
    args = ap.parse_args()
    if not (DIST / "index.html").exists():
        raise SystemExit("ui/dist is missing: run `make ui` first")
    if not LANE_BENCH.exists():
        raise SystemExit(f"{LANE_BENCH} is missing: cargo build -p visio-desktop --example lane_bench")
    port, _loop = serve_dist()
    rows = []
    for name, tracks, w, h in (("1x720p", 1, 1280, 720), ("9x360p", 9, 640, 360)):
        if args.only and args.only != name:
            continue
        for path in ("webcodecs", "i420"):
            rows.append(run_scenario(name, path, tracks, w, h, args.seconds, args.fps, port, args.query))
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (2 cores; above 2 other work competed)")
    print("| scenario | path | tiles | fps/tile min (mean) | CPU Rust | CPU WebKit | CPU total | CPU ms per frame drawn |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['path']} | {r['tile']} | {r['drawn_min']:.1f} ({r['drawn_mean']:.1f}) | "
            f"{r['rust_cpu']:.0f} % | {r['webkit_cpu']:.0f} % | {r['total_cpu']:.0f} % | {r['ms_per_frame']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # the lane's event-loop threads need no orderly shutdown
