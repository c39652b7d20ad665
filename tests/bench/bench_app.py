"""Benchmarks of the desktop app (prints figures and a table against the targets, asserts
nothing). Run by `make bench-app` (release builds), under Xvfb in its own session bus:

    dbus-run-session -- xvfb-run -a -s "-screen 0 1920x1080x24" \
        python tests/bench/bench_app.py --visio target/release/visio \
        --app target/release/visio-desktop --deb target/release/bundle/deb/*.deb

- cold start: from the app process's start (its start time in /proc) to the home screen's link
  input present in the page (polled every 20 ms through tauri-driver), median of 3;
- rendering: frames drawn per second per tile (the UI's `data-frames`) with 1x720p and 9x360p
  remote streams (`visio join --fake-devices` publishers), the path each tile was drawn by
  (`data-path`: webcodecs or i420), and the CPU of the app's processes (app + WebKit web/network
  processes) meanwhile;
- memory: peak PSS of each process tree (shared library pages counted once), summed RSS too;
- 4-person meeting: the app publishing 720p30 and showing three 360p, then Chromium running
  livekit-client doing the same in the same kind of room: CPU and peak memory side by side;
- floors: the app in the same meeting with no remote video (low-bandwidth "audio only"), and
  WebKitGTK's MiniBrowser on an empty page (peak PSS), against Chromium's meeting;
- installed size: of the .deb given with --deb (built by `npx @tauri-apps/cli@2 build --bundles deb`).
CPU is in % of one core, from /proc (utime+stime of the process tree).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")
PAGE = 4096


def process_age(pid: int) -> float:
    """Seconds since a process started (from /proc/uptime and its start time, 10 ms precision)."""
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    return float(Path("/proc/uptime").read_text().split()[0]) - ticks / TICK


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except OSError:
                pass
    return out


def tree(pid: int, skip: tuple[str, ...] = ()) -> list[int]:
    """pid and its descendants, minus processes whose name is in `skip` (their children stay)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        todo.extend(children(p))
        try:
            name = Path(f"/proc/{p}/comm").read_text().strip()
        except OSError:
            continue
        if name not in skip:
            seen.append(p)
    return seen


def cpu_ticks(pids) -> int:
    total = 0
    for p in pids:
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total


def rss_bytes(pids) -> int:
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
        except OSError:
            pass
    return total


def pss_bytes(pids) -> int:
    """Proportional set size: shared pages (the WebKit and GTK libraries every process of a tree
    maps) counted once across the tree instead of once per process as RSS does."""
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            pass
    return total


class Meter:
    """CPU, peak summed RSS and peak summed PSS of a process tree over a window, sampled every
    0.25 s."""

    def __init__(self, root_pid: int, skip=()):
        self.root, self.skip = root_pid, skip
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._prev: dict[int, int] = {}
        self.ticks = 0
        # Where the time goes: ticks per process name, and per thread name of the app's own
        # process and WebKit's web process.
        self.by_process: dict[str, int] = {}
        self.by_thread: dict[str, int] = {}
        self._prev_thread: dict[int, int] = {}

    def _sample(self):
        pids = tree(self.root, self.skip)
        tasks = []
        for p in pids:
            t = cpu_ticks([p])
            d = max(0, t - self._prev.get(p, t))
            self.ticks += d
            self._prev[p] = t
            name = _comm(Path(f"/proc/{p}"))
            if d:
                self.by_process[name] = self.by_process.get(name, 0) + d
            if name in ("visio-desktop", "WebKitWebProces"):
                try:
                    tasks += list(Path(f"/proc/{p}/task").iterdir())
                except OSError:
                    pass
        for task in tasks:
            try:
                f = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            t, tid = int(f[11]) + int(f[12]), int(task.name)
            d = max(0, t - self._prev_thread.get(tid, t))
            self._prev_thread[tid] = t
            if d:
                name = _comm(task)
                self.by_thread[name] = self.by_thread.get(name, 0) + d
        self.peak = max(self.peak, rss_bytes(pids))
        self.peak_pss = max(self.peak_pss, pss_bytes(pids))

    def run(self, seconds: float) -> tuple[float, int]:
        self._sample()
        self.ticks = 0
        self.by_process.clear()
        self.by_thread.clear()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(0.25)
            self._sample()
        self.elapsed = time.monotonic() - t0
        return 100.0 * self.ticks / TICK / self.elapsed, self.peak

    def breakdown(self, top: int = 10) -> str:
        """'name 12%, ...' for processes, then the app's and WebKit's threads, in % of a core."""
        def fmt(d):
            items = sorted(d.items(), key=lambda kv: -kv[1])[:top]
            return ", ".join(f"{k} {100.0 * v / TICK / self.elapsed:.0f}%" for k, v in items)
        return f"processes: {fmt(self.by_process)}; threads (app and web process): {fmt(self.by_thread)}"


def _comm(proc_dir: Path) -> str:
    try:
        return (proc_dir / "comm").read_text().strip()
    except OSError:
        return "?"


def start_server(visio: str):
    http, udp = free_port(), free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [visio, "serve", "--dev", "--bind", f"127.0.0.1:{http}", "--udp-port", str(udp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "VISIO_LOG": "warn"},
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{http}"


def server_bytes_in(http: str) -> int:
    """Bytes the room server received so far (all rooms), from its /debug/stats."""
    try:
        with urllib.request.urlopen(f"{http}/debug/stats", timeout=2) as r:
            return int(json.loads(r.read())["bytes_in"])
    except (OSError, ValueError, KeyError):
        return 0


def bots_ingress(http: str, seconds: float = 6.0) -> float:
    """Mbit/s the server receives from the bots alone (after 2 s to settle)."""
    time.sleep(2)
    in0, t0 = server_bytes_in(http), time.monotonic()
    time.sleep(seconds)
    return (server_bytes_in(http) - in0) * 8 / (time.monotonic() - t0) / 1e6


def bots(visio: str, link: str, n: int, size: str, fps: int = 30, simulcast: bool = True):
    return [
        subprocess.Popen(
            # --no-decode: the bots receive (the server forwards to them as to anyone) but do
            # not decode, so they do not take the CPU the app and Chromium are measured on
            # (nine bots decoding each other's 360p were most of the 2 cores).
            [visio, "join", link, "--name", f"bot{i}", "--fake-devices", "--video-size", size, "--fps", str(fps),
             "--no-decode", *([] if simulcast else ["--no-simulcast"])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


class App:
    """The app under tauri-driver, driven with Selenium."""

    def __init__(self, app: str, args: list[str]):
        from selenium import webdriver
        from selenium.webdriver.common.options import ArgOptions

        self.port = free_port()
        self.config = tempfile.mkdtemp(prefix="visio-desktop-bench-")
        driver_bin = shutil.which("tauri-driver") or str(Path.home() / ".cargo/bin/tauri-driver")
        self.proc = subprocess.Popen(
            [driver_bin, "--port", str(self.port), "--native-port", str(free_port())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "VISIO_DESKTOP_CONFIG_DIR": self.config, "VISIO_LOG": "warn"},
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": app, "args": args})
        self.t0 = time.monotonic()
        self.driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{self.port}", options=opts)

    def app_pid(self) -> int | None:
        """The visio-desktop process under tauri-driver and WebKitWebDriver."""
        for p in tree(self.proc.pid):
            try:
                if Path(f"/proc/{p}/comm").read_text().strip() == "visio-desktop":
                    return p
            except OSError:
                pass
        return None

    def paths(self) -> list[str]:
        """How the remote tiles were drawn: webcodecs (encoded frames) or i420."""
        return self.js(
            "return [...new Set([...document.querySelectorAll('[data-testid=\"tile-canvas\"]')]"
            ".filter(c => c.dataset.trackSid !== 'local-camera').map(c => c.dataset.path || '-'))]"
        )

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, script, timeout, *args):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.js(script, *args)
            if v:
                return v
            time.sleep(0.02)
        raise TimeoutError(script)

    def frames(self) -> dict:
        return self.js(
            "const o = {}; document.querySelectorAll('[data-testid=\"tile-canvas\"]').forEach("
            "c => { if (c.dataset.trackSid && c.dataset.trackSid !== 'local-camera') "
            "o[c.dataset.trackSid] = Number(c.dataset.frames || 0) }); return o;"
        )

    def close(self):
        # The app outlives a killed WebDriver, and its single-instance lock would then hand the
        # next launch over to it (that launch exits and its session never starts): end it too.
        pid = self.app_pid()
        try:
            self.driver.quit()
        except Exception:  # already gone; cleanup continues
            pass
        stop([self.proc])
        if pid:
            try:
                os.kill(pid, 15)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.config, ignore_errors=True)


SKIP = ("tauri-driver", "WebKitWebDriver")
# Frames the page's video lane received so far (ui/src/video/lane.ts exposes its counters).
LANE_COUNT = "return window.__visioLane ? window.__visioLane.received : null"

# The app's window (src-tauri/tauri.conf.json), given to Chromium too.
APP_WINDOW = "1280,800"


def cold_start(app_bin: str) -> list[float]:
    times = []
    for _ in range(3):
        app = App(app_bin, [])
        try:
            app.wait("return document.querySelector('[data-testid=\"home-link-input\"]')", 30)
            pid = app.app_pid()
            # From the process's own start; without it, from the WebDriver session's start.
            times.append(process_age(pid) if pid else time.monotonic() - app.t0)
        finally:
            app.close()
        time.sleep(1)
    return times


def rendering(args, n: int, size: str, seconds: float = 10.0):
    server, http = start_server(args.visio)
    link = f"{http}/ben-chre-ndr"
    # One layer per publisher: the app receives what the scenario names (720p30, 360p30), not a
    # simulcast layer picked for the tile (15-20 fps).
    peers = bots(args.visio, link, n, size, simulcast=False)
    app = None
    try:
        time.sleep(2)
        app = App(args.app, [link, "--name", "Bench", "--join", "--camera-size", "320x180", "--fake-devices"])
        app.wait("return document.querySelectorAll('[data-testid=\"tile-canvas\"][data-track-sid^=\"TR_\"]').length >= arguments[0]", 60, n)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(1 for v in app.frames().values() if v > 0) < n:
            time.sleep(0.5)
        time.sleep(3)  # settle
        app.js("const b = document.querySelector('[data-testid=\"control-camera\"]');"
               "if (b && b.getAttribute('aria-pressed') === 'true') b.click();")
        before, lane0 = app.frames(), app.js(LANE_COUNT)
        meter = Meter(app.proc.pid, SKIP)
        cpu, peak = meter.run(seconds)
        after, lane1 = app.frames(), app.js(LANE_COUNT)
        fps = sorted(round((after.get(k, 0) - v) / seconds, 1) for k, v in before.items())
        # What reached the page per second, all tiles together: drawn < received means the page
        # dropped frames (a newer one came before the paint); received < sent, the network or
        # the publishers.
        received = (lane1 - lane0) / seconds if lane0 is not None and lane1 is not None else None
        print(f"  page received {received:.0f} frames/s for {n} tiles; CPU by {meter.breakdown()}"
              if received is not None else f"  CPU by {meter.breakdown()}", flush=True)
        return fps, cpu, peak, app.paths()
    finally:
        if app:
            app.close()
        stop(peers + [server])


class Reports(BaseHTTPRequestHandler):
    latest: dict = {}

    def do_POST(self):
        Reports.latest = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        files = {
            "/meeting.html": ROOT / "tests/bench/web_meeting.html",
            "/livekit-client.umd.js": ROOT / "tests/browser/node_modules/livekit-client/dist/livekit-client.umd.js",
        }
        f = files.get(self.path.split("#")[0])
        if not f:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(f.read_bytes())

    def log_message(self, *a):
        pass


def meeting(args, seconds: float = 15.0):
    """The app, then Chromium, each as the 4th person of a room with three 360p publishers."""
    results = {}
    # What the room server received during each window (three bots + the 4th person): the
    # same bots in both rooms, so a difference is what the app or Chromium really sent.
    ingress: dict[str, float] = {}
    server, http = start_server(args.visio)
    try:
        link = f"{http}/mee-ting-app"
        peers = bots(args.visio, link, 3, "640x360")
        app = None
        try:
            ingress["bots alone"] = bots_ingress(http)
            app = App(args.app, [link, "--name", "Bench", "--join", "--fake-devices"])
            app.wait("return Object.values((() => { const o = {}; document.querySelectorAll('[data-testid=\"tile-canvas\"][data-track-sid^=\"TR_\"]').forEach(c => o[c.dataset.trackSid] = Number(c.dataset.frames)); return o; })()).filter(v => v > 0).length >= 3", 60)
            time.sleep(5)
            before, in0 = app.frames(), server_bytes_in(http)
            m = Meter(app.proc.pid, SKIP)
            cpu, peak = m.run(seconds)
            after, in1 = app.frames(), server_bytes_in(http)
            results["app"] = (cpu, m.peak_pss, peak, [round((after[k] - v) / seconds, 1) for k, v in before.items() if k in after])
            ingress["app"] = (in1 - in0) * 8 / m.elapsed / 1e6
            print(f"  app CPU by {m.breakdown()}", flush=True)
            print(f"  (app tiles drawn by: {', '.join(app.paths())})", flush=True)
            # The same app in the same meeting with the low-bandwidth mode "audio only": no
            # remote video is received, decoded or drawn (the self view stays, still publishing
            # 720p30 simulcast). What is left is the floor no way of showing video can go under.
            app.js("document.querySelector('[data-testid=\"control-devices\"]').click()")
            app.wait("return !!document.getElementById('pop-lowbw')", 10)
            app.js("const s = document.getElementById('pop-lowbw'); s.value = 'audio-only';"
                   " s.dispatchEvent(new Event('change', {bubbles: true}));")
            app.wait("return document.querySelectorAll('[data-testid=\"tile-canvas\"][data-track-sid^=\"TR_\"]').length === 0", 10)
            time.sleep(4)
            m = Meter(app.proc.pid, SKIP)
            cpu, peak = m.run(seconds)
            results["app, audio only"] = (cpu, m.peak_pss, peak, [])
            print(f"  app (audio only) CPU by {m.breakdown()}", flush=True)
        finally:
            if app:
                app.close()
            stop(peers)

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromium or args.skip_chromium:
            return results
        sys.path.insert(0, str(ROOT / "tests/peers"))
        import lkpeer

        peers = bots(args.visio, f"{http}/mee-ting-web", 3, "640x360")
        page_srv = ThreadingHTTPServer(("127.0.0.1", 0), Reports)
        threading.Thread(target=page_srv.serve_forever, daemon=True).start()
        profile = tempfile.mkdtemp(prefix="bench-chromium-")
        url = (f"http://127.0.0.1:{page_srv.server_address[1]}/meeting.html#url=ws://{http.split('//')[1]}"
               f"&token={lkpeer.token('mee-ting-web', 'web')}")
        # A real browser window on the same X display as the app (what a civil servant runs),
        # of the app's window size; --chromium-headless measures the old headless run (which
        # never presents a picture, so it skips the work of showing the meeting).
        web = subprocess.Popen(
            [chromium, *(["--headless=new"] if args.chromium_headless else []), "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=30",
             "--autoplay-policy=no-user-gesture-required", f"--window-size={APP_WINDOW}",
             f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                f = Reports.latest.get("frames", {})
                if len([v for v in f.values() if v > 0]) >= 3:
                    break
                time.sleep(0.5)
            time.sleep(5)
            before, in0 = dict(Reports.latest.get("frames", {})), server_bytes_in(http)
            m = Meter(web.pid)
            cpu, peak = m.run(seconds)
            after, in1 = Reports.latest.get("frames", {}), server_bytes_in(http)
            ingress["chromium"] = (in1 - in0) * 8 / m.elapsed / 1e6
            print(f"  chromium sends (its own sender stats): {Reports.latest.get('sent')}", flush=True)
            results["chromium"] = (cpu, m.peak_pss, peak, [round((after[k] - v) / seconds, 1) for k, v in before.items() if k in after])
            print(f"  chromium CPU by {m.breakdown()}", flush=True)
        finally:
            stop([web] + peers)
            page_srv.shutdown()
            shutil.rmtree(profile, ignore_errors=True)
    finally:
        stop([server])
    base = ingress.pop("bots alone", 0.0)
    print(f"  server ingress from the three bots alone: {base:.2f} Mbit/s", flush=True)
    for who, mbps in ingress.items():
        print(f"  {who} sends about {mbps - base:.2f} Mbit/s (server ingress {mbps:.2f} with the bots)", flush=True)
    return results


# WebKitGTK's own test browser, shipped with the library the app is built on (libwebkit2gtk-4.1-0).
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"


def webkit_floor(seconds: float = 5.0) -> tuple[float, int] | None:
    """CPU and peak PSS of WebKitGTK's MiniBrowser showing an empty page (about:blank) in a window
    of the app's size: what any Tauri app on Linux pays before its own page and engine (the
    memory floor under the app's figures). Same environment as the app without a GPU."""
    if not os.path.exists(MINIBROWSER):
        return None
    w, h = APP_WINDOW.split(",")
    proc = subprocess.Popen([MINIBROWSER, f"--geometry={w}x{h}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "WEBKIT_DISABLE_DMABUF_RENDERER": "1"})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                _comm(Path(f"/proc/{p}")) == "WebKitWebProces" for p in tree(proc.pid)):
            time.sleep(0.2)
        time.sleep(3)
        m = Meter(proc.pid)
        cpu, _ = m.run(seconds)
        return cpu, m.peak_pss
    finally:
        stop([proc])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visio", required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--deb", help="the .deb to report the installed size of")
    ap.add_argument("--only", nargs="*", default=["start", "render", "meeting", "size"])
    ap.add_argument("--skip-chromium", action="store_true",
                    help="the app only (to compare settings of the app quickly; no ratio)")
    ap.add_argument("--chromium-headless", action="store_true",
                    help="run the reference Chromium headless (no window) instead of in a window")
    args = ap.parse_args()
    print(f"# visio-desktop benchmarks ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}); rerun: make bench-app", flush=True)
    rows = []
    if "start" in args.only:
        t = cold_start(args.app)
        med = statistics.median(t)
        print(f"cold start to interactive home: median {med*1000:.0f} ms (runs {', '.join(f'{x*1000:.0f}' for x in t)} ms)", flush=True)
        rows.append(("cold start to interactive home (median of 3)", f"{med*1000:.0f} ms", "< 1000 ms", med < 1.0))
    if "render" in args.only:
        for n, size in [(1, "1280x720"), (9, "640x360")]:
            fps, cpu, peak, paths = rendering(args, n, size)
            print(f"rendering {n}x{size}: fps per tile {fps}, app CPU {cpu:.0f}% of a core (app + WebKit, decoding included), "
                  f"peak RSS {peak/2**20:.0f} MiB, drawn by {','.join(paths)}", flush=True)
            ok = None if n == 1 else (min(fps or [0]) >= 27 and cpu < 100)
            rows.append((f"rendering {n}x{size}", f"{min(fps or [0]):.1f}..{max(fps or [0]):.1f} fps/tile, CPU {cpu:.0f} %",
                         "30 fps under one core" if n == 9 else "-", ok))
    if "meeting" in args.only:
        r = meeting(args)
        for who, (cpu, pss, peak, fps) in r.items():
            print(f"4-person meeting, {who}: CPU {cpu:.0f}% of a core, peak PSS {pss/2**20:.0f} MiB "
                  f"(summed RSS {peak/2**20:.0f} MiB), fps shown {fps}", flush=True)
            rows.append((f"4-person meeting, {who}", f"CPU {cpu:.0f} %, peak PSS {pss/2**20:.0f} MiB (RSS sum {peak/2**20:.0f}), fps {fps}", "-", None))
        if "app" in r and "chromium" in r:
            cr, mr = r["app"][0] / max(r["chromium"][0], 1e-9), r["app"][1] / max(r["chromium"][1], 1)
            rr = r["app"][2] / max(r["chromium"][2], 1)
            print(f"4-person meeting, app/chromium: CPU ratio {cr:.2f}, memory ratio {mr:.2f} (PSS; {rr:.2f} by summed RSS)", flush=True)
            rows.append(("4-person meeting, app/Chromium CPU", f"{cr:.2f}", "<= 0.50", cr <= 0.5))
            floor = webkit_floor()
            if floor:
                print(f"WebKitGTK MiniBrowser on about:blank: CPU {floor[0]:.0f}% of a core, peak PSS {floor[1]/2**20:.0f} MiB "
                      f"= {floor[1] / max(r['chromium'][1], 1):.2f} of Chromium's meeting peak (the target is 0.33)", flush=True)
                rows.append(("WebKitGTK MiniBrowser, empty page: peak PSS / Chromium's meeting",
                             f"{floor[1]/2**20:.0f} MiB = {floor[1] / max(r['chromium'][1], 1):.2f}", "-", None))
            if "app, audio only" in r:
                fr = r["app, audio only"][0] / max(r["chromium"][0], 1e-9)
                print(f"4-person meeting, app receiving no video / chromium showing all: CPU ratio {fr:.2f}", flush=True)
                rows.append(("app receiving no video (audio only) / Chromium showing all, CPU", f"{fr:.2f}", "-", None))
            rows.append(("4-person meeting, app/Chromium peak memory (PSS)", f"{mr:.2f} (summed RSS: {rr:.2f})", "<= 0.33", mr <= 1 / 3))
    if "size" in args.only and args.deb:
        size = os.path.getsize(args.deb)
        info = subprocess.run(["dpkg-deb", "-f", args.deb, "Installed-Size"], capture_output=True, text=True)
        inst = int(info.stdout.strip() or 0) / 1024
        print(f"installed size: .deb {size/2**20:.1f} MiB, Installed-Size {inst:.1f} MiB", flush=True)
        rows.append(("installed size (dpkg Installed-Size)", f"{inst:.1f} MiB (.deb {size/2**20:.1f} MiB)", "-", None))
    print("\n| measure | result | target | met |\n|---|---|---|---|")
    for name, result, target, ok in rows:
        print(f"| {name} | {result} | {target} | {'-' if ok is None else ('yes' if ok else 'no')} |")


if __name__ == "__main__":
    main()
