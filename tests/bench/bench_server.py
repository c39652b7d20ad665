#!/usr/bin/env python3
"""Benchmark of the `visio serve` room server, with official LiveKit SDK peers as load.

For each room size N it starts a fresh `visio serve --dev` on free loopback ports, then N
participants (official Python SDK, libwebrtc inside), spread over a few peer processes. Each
participant publishes one 640x360 30 fps VP8 camera track (the lkpeer moving pattern, no
simulcast, max ~500 kbps) and auto-subscribes to everybody else: N*(N-1) forwarded streams.
Subscribers do not read or convert frames (no VideoStream), to keep the load generator cheap.
Once the mesh is up (server reports N participants, every peer is subscribed to the N-1 others,
frames are flowing) and after a short warm-up, it measures over --seconds:

  * server CPU: utime+stime delta of the server process (/proc/PID/stat), % of one core;
  * in / out Mbit/s: bytes_in / bytes_out deltas from GET /debug/stats (all UDP payload bytes:
    RTP, RTCP, retransmissions, DTLS/ICE);
  * Mbit/s per core: out Mbit/s divided by the fraction of one core the server used;
  * forward latency p50/p95 (first packet of a frame in -> hand-off to the subscriber leg),
    as the server reports it over its latest frames;
  * server peak RSS (VmHWM);
  * what the peers saw (libwebrtc stats): encoded/sent fps per publisher, received fps per
    subscription, and the CPU the peer processes and the whole host used.

It prints one line per N, LiveKit's reference figure (~55 Mbit/s forwarded per core) and the
exact command to rerun. It asserts nothing: it is a benchmark, not a test.

Caveats:
  * The SDK peers run on the same machine as the server. Each of them encodes its own video and
    libwebrtc decodes every subscribed stream, even with nobody reading the frames, so the
    peers' CPU grows with N*(N-1) and quickly dwarfs the server's. Once the host is saturated
    (see "host%"), encoders drop frame rate / resolution, the offered load stops growing, and
    the server itself gets less CPU time: the figures then describe a starved setup, not the
    server's ceiling. Watch the "tx fps" and "rx fps" columns.
  * Traffic goes over loopback: no real network loss, jitter or MTU effects.
  * Mbit/s per core is only meaningful when the server did measurable work; with little
    traffic, a few ms of housekeeping dominate the ratio.
  * The lkpeer pattern (flat bands and a moving bar) is cheap to encode: VP8 sends only
    ~70-110 kbit/s of it although its target is ~500 kbit/s, so the offered load is well below
    N*(N-1)*500 kbit/s. --noise 20 (say) makes every frame noisy so encoders use their budget.
  * libwebrtc's bandwidth estimate ramps up after joining; a warm-up (--warmup) precedes the
    measurement.

Usage:
  $HOME/.cache/visio-desktop/venv/bin/python tests/bench/bench_server.py \
      --visio PATH_TO_VISIO [--sizes 2,4,8,12] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE.parent / "peers"
MSG = "@@bench "  # prefix of the peer processes' protocol lines on stdout

WIDTH, HEIGHT, FPS = 640, 360, 30
LIVEKIT_MBPS_PER_CORE = 55.0


# --------------------------------------------------------------------------------------------
# Peer process: several participants of one room in one asyncio loop.
# --------------------------------------------------------------------------------------------


try:
    import ctypes

    _PRCTL = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except Exception:  # noqa: BLE001  (not glibc Linux: no parent-death signal, cleanup still runs)
    _PRCTL = None


def _set_pdeathsig() -> None:
    """Have the kernel SIGKILL this process when its parent dies (also used as preexec_fn, so
    it must not import or allocate much)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _say(kind: str, **payload) -> None:
    sys.stdout.write(MSG + json.dumps({"kind": kind, **payload}) + "\n")
    sys.stdout.flush()


async def peer_main(args) -> None:
    sys.path.insert(0, str(PEERS_DIR))
    import lkpeer  # noqa: E402  (needs the venv with livekit + numpy)
    from livekit import rtc

    loop = asyncio.get_running_loop()
    identities = [i for i in args.identities.split(",") if i]
    rooms: dict[str, rtc.Room] = {}
    subscribed: dict[str, set] = {i: set() for i in identities}
    sources: list[tuple[rtc.VideoSource, int]] = []

    # The lkpeer pattern repeats every WIDTH/8 frames: precompute it once, in I420, so the
    # peers spend their CPU on encoding rather than on drawing and colour conversion.
    import numpy as np

    rng = np.random.default_rng(1)
    frames = []
    for n in range(WIDTH // 8):
        img = lkpeer.pattern_frame(WIDTH, HEIGHT, n)
        if args.noise:  # fresh noise every frame: the encoder can no longer coast
            noise = rng.integers(-args.noise, args.noise + 1, size=(HEIGHT, WIDTH, 3))
            img[:, :, :3] = np.clip(img[:, :, :3].astype(np.int16) + noise, 0, 255).astype(np.uint8)
        rgba = rtc.VideoFrame(WIDTH, HEIGHT, rtc.VideoBufferType.RGBA, img.tobytes())
        frames.append(rgba.convert(rtc.VideoBufferType.I420))

    async def one(idx: int, identity: str):
        room = rtc.Room()

        @room.on("track_subscribed")
        def _sub(track, publication, participant, identity=identity):
            if track.kind == rtc.TrackKind.KIND_VIDEO:
                subscribed[identity].add(participant.identity)

        @room.on("track_unsubscribed")
        def _unsub(track, publication, participant, identity=identity):
            subscribed[identity].discard(participant.identity)

        tok = lkpeer.token(args.room, identity)
        await asyncio.wait_for(
            room.connect(args.url, tok, rtc.RoomOptions(auto_subscribe=True)), timeout=20
        )
        rooms[identity] = room
        source = rtc.VideoSource(WIDTH, HEIGHT)
        track = rtc.LocalVideoTrack.create_video_track("pattern", source)
        opts = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            simulcast=False,
            video_codec=rtc.VideoCodec.VP8,
            video_encoding=rtc.VideoEncoding(max_bitrate=args.bitrate, max_framerate=FPS),
        )
        await asyncio.wait_for(room.local_participant.publish_track(track, opts), timeout=20)
        sources.append((source, idx * 7))

    async def pump():
        start = time.monotonic()
        n = 0
        while True:
            for source, offset in list(sources):
                source.capture_frame(frames[(n + offset) % len(frames)])
            n += 1
            await asyncio.sleep(max(0.0, start + n / FPS - time.monotonic()))

    async def stats() -> dict:
        out = {}
        for identity, room in list(rooms.items()):
            entry = {"in": {}, "out": {}}
            try:
                st = await asyncio.wait_for(room.get_rtc_stats(), timeout=5)
            except Exception as e:  # noqa: BLE001
                entry["error"] = repr(e)
                out[identity] = entry
                continue
            for s in list(st.subscriber_stats) + list(st.publisher_stats):
                which = s.WhichOneof("stats")
                if which == "inbound_rtp" and s.inbound_rtp.stream.kind == "video":
                    r = s.inbound_rtp
                    entry["in"][str(r.stream.ssrc)] = {
                        "frames_received": r.inbound.frames_received,
                        "frames_decoded": r.inbound.frames_decoded,
                        "bytes": r.inbound.bytes_received,
                        "packets_lost": r.received.packets_lost,
                        "packets": r.received.packets_received,
                        "freezes": r.inbound.freeze_count,
                        "w": r.inbound.frame_width,
                        "h": r.inbound.frame_height,
                    }
                elif which == "outbound_rtp" and s.outbound_rtp.stream.kind == "video":
                    o = s.outbound_rtp
                    entry["out"][str(o.stream.ssrc)] = {
                        "frames_sent": o.outbound.frames_sent,
                        "frames_encoded": o.outbound.frames_encoded,
                        "bytes": o.sent.bytes_sent,
                        "w": o.outbound.frame_width,
                        "h": o.outbound.frame_height,
                        "target_bitrate": o.outbound.target_bitrate,
                        "limitation": int(o.outbound.quality_limitation_reason),
                    }
            out[identity] = entry
        return out

    async def watchdog():
        await asyncio.sleep(args.max_seconds)
        _say("error", error=f"peer process gave up after {args.max_seconds}s")
        os._exit(3)

    tasks = [asyncio.create_task(watchdog())]
    try:
        await asyncio.gather(*(one(i, ident) for i, ident in enumerate(identities)))
    except Exception as e:  # noqa: BLE001
        _say("error", error=f"join/publish failed: {e!r}")
        os._exit(2)
    tasks.append(asyncio.create_task(pump()))
    _say("joined", identities=identities)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":  # EOF: the bench process is gone
            break
        if line == "subs":
            _say("subs", subs={i: sorted(s) for i, s in subscribed.items()})
        elif line == "stats":
            _say("stats", stats=await stats())
    for t in tasks:
        t.cancel()
    for room in rooms.values():
        try:
            await asyncio.wait_for(room.disconnect(), timeout=3)
        except Exception:  # noqa: BLE001
            pass
    _say("bye")
    os._exit(0)  # do not wait on the FFI runtime's teardown


# --------------------------------------------------------------------------------------------
# Bench process.
# --------------------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is fields[0], utime is field 14 overall -> index 11 here.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return total - idle, total


class Proc:
    """A child process in its own session, with its stdout lines and stderr kept."""

    def __init__(self, name: str, argv: list[str], logdir: Path, stdin=False, env=None):
        self.name = name
        self.argv = argv
        self.err_path = logdir / f"{name}.stderr"
        self.out_path = logdir / f"{name}.stdout"
        self._err = open(self.err_path, "wb")
        self.lines: queue.Queue[str] = queue.Queue()
        self.p = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._err,
            start_new_session=True,
            preexec_fn=_set_pdeathsig,
            env=env,
        )
        self._out = open(self.out_path, "w")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode(errors="replace")
            self._out.write(line)
            self._out.flush()
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # EOF marker

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def send(self, line: str) -> None:
        try:
            self.p.stdin.write((line + "\n").encode())
            self.p.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError):
            pass

    def expect(self, kind: str, timeout: float) -> dict:
        """Next protocol message of `kind` (skipping SDK chatter); raise on error/EOF/timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.name}: no {kind!r} reply within {timeout:.0f}s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise BenchError(f"{self.name} exited (rc={self.p.poll()}); {self.tail()}")
            if not line.startswith(MSG):
                continue
            msg = json.loads(line[len(MSG) :])
            if msg["kind"] == "error":
                raise BenchError(f"{self.name}: {msg['error']}")
            if msg["kind"] == kind:
                return msg

    def tail(self, n: int = 6) -> str:
        try:
            lines = self.err_path.read_text(errors="replace").splitlines()[-n:]
        except OSError:
            return ""
        return "stderr tail: " + " | ".join(lines) if lines else "stderr empty"

    def stop(self, grace: float = 5.0) -> None:
        if self.alive():
            if self.p.stdin:
                self.send("quit")
                try:
                    self.p.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    pass
            else:
                try:
                    os.killpg(self.p.pid, signal.SIGTERM)
                    self.p.wait(timeout=grace)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        # Whatever is left in the session (the process or anything it spawned).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self._err.close()


def get_stats(http: str) -> dict:
    with urllib.request.urlopen(f"http://{http}/debug/stats", timeout=3) as r:
        return json.loads(r.read())


def wait_until(cond, timeout: float, what: str, interval: float = 0.25, check=None):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        if check:
            check()
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last_exc = e
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({last_exc!r})" if last_exc else ""))


def run_size(n: int, args, logdir: Path, procs: list[Proc]) -> dict:
    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    http = f"127.0.0.1:{http_port}"
    server = Proc(
        f"server-n{n}",
        [args.visio, "serve", "--dev", "--bind", http, "--udp-port", str(udp_port)],
        logdir,
        env={**os.environ, "NO_COLOR": "1"},
    )
    procs.append(server)

    def check_server():
        if not server.alive():
            raise BenchError(f"server exited (rc={server.p.poll()}); {server.tail()}")

    wait_until(lambda: get_stats(http), 20, "the server's /debug/stats", check=check_server)

    n_procs = max(1, min(args.peer_procs, n))
    groups = [[f"p{i:02d}" for i in range(n) if i % n_procs == k] for k in range(n_procs)]
    peers = []
    for k, ids in enumerate(groups):
        argv = [
            sys.executable, str(Path(__file__).resolve()), "--peer",
            "--url", f"ws://{http}", "--room", f"bench-{n}", "--identities", ",".join(ids),
            "--bitrate", str(args.bitrate), "--noise", str(args.noise), "--max-seconds", str(int(args.size_timeout + 30)),
        ]
        p = Proc(f"peers-n{n}-{k}", argv, logdir, stdin=True)
        procs.append(p)
        peers.append(p)

    def check_all():
        check_server()
        for p in peers:
            if not p.alive():
                raise BenchError(f"{p.name} exited (rc={p.p.poll()}); {p.tail()}")

    t_join = time.monotonic()
    for p in peers:
        p.expect("joined", timeout=30 + 3 * n)
    wait_until(lambda: get_stats(http)["participants"] == n, 20, f"{n} participants on the server", check=check_all)

    def all_subscribed():
        total = 0
        for p in peers:
            p.send("subs")
            subs = p.expect("subs", timeout=10)["subs"]
            total += sum(len(v) for v in subs.values())
        return total == n * (n - 1)

    wait_until(all_subscribed, 30 + 2 * n, f"{n * (n - 1)} video subscriptions", interval=0.5, check=check_all)
    s0 = get_stats(http)
    time.sleep(1.0)
    wait_until(lambda: get_stats(http)["frames_forwarded"] > s0["frames_forwarded"], 15, "forwarded frames", check=check_all)
    mesh_s = time.monotonic() - t_join
    time.sleep(args.warmup)
    check_all()

    def peer_stats():
        merged = {}
        for p in peers:
            p.send("stats")
            merged.update(p.expect("stats", timeout=15)["stats"])
        return merged

    # Measurement window. Peer stats are taken outside the [t0, t1] server window so that the
    # getStats round trips do not count; their window is slightly longer, which only matters
    # for the fps columns (normalised by their own window).
    p_t0 = time.monotonic()
    ps0 = peer_stats()
    st0, cpu0, w0, h0 = get_stats(http), proc_cpu_seconds(server.pid), time.monotonic(), host_cpu()
    pcpu0 = sum(proc_cpu_seconds(p.pid) for p in peers)
    time.sleep(args.seconds)
    check_all()
    st1, cpu1, w1, h1 = get_stats(http), proc_cpu_seconds(server.pid), time.monotonic(), host_cpu()
    pcpu1 = sum(proc_cpu_seconds(p.pid) for p in peers)
    ps1 = peer_stats()
    p_t1 = time.monotonic()
    hwm_kb = proc_status_kb(server.pid, "VmHWM")

    dt = w1 - w0
    cpu_frac = (cpu1 - cpu0) / dt
    out_mbps = (st1["bytes_out"] - st0["bytes_out"]) * 8 / dt / 1e6
    in_mbps = (st1["bytes_in"] - st0["bytes_in"]) * 8 / dt / 1e6
    fwd_fps = (st1["frames_forwarded"] - st0["frames_forwarded"]) / dt

    pdt = p_t1 - p_t0
    tx_fps, tx_kbps, targets = [], [], []
    rx_fps, res, limits, lost, rx_pk, errors = [], set(), {}, 0, 0, []
    for ident, e1 in ps1.items():
        e0 = ps0.get(ident, {"in": {}, "out": {}})
        if "error" in e1:
            errors.append(f"{ident}: {e1['error']}")
        for ssrc, o in e1["out"].items():
            prev = e0["out"].get(ssrc, {"frames_sent": 0, "bytes": 0})
            tx_fps.append((o["frames_sent"] - prev["frames_sent"]) / pdt)
            tx_kbps.append((o["bytes"] - prev["bytes"]) * 8 / pdt / 1000)
            targets.append(o["target_bitrate"] / 1000)
            res.add(f"{o['w']}x{o['h']}")
            limits[o["limitation"]] = limits.get(o["limitation"], 0) + 1
        for ssrc, i in e1["in"].items():
            prev = e0["in"].get(ssrc, {"frames_received": 0, "packets_lost": 0, "packets": 0})
            rx_fps.append((i["frames_received"] - prev["frames_received"]) / pdt)
            lost += i["packets_lost"] - prev["packets_lost"]
            rx_pk += i["packets"] - prev["packets"]

    return {
        "n": n,
        "streams": n * (n - 1),
        "in_mbps": in_mbps,
        "out_mbps": out_mbps,
        "cpu_pct": cpu_frac * 100,
        "mbps_per_core": out_mbps / cpu_frac if cpu_frac > 0 else float("inf"),
        "p50_us": st1.get("forward_latency_p50_us", "n/a"),
        "p95_us": st1.get("forward_latency_p95_us", "n/a"),
        "rss_mb": hwm_kb / 1024,
        "fwd_fps": fwd_fps,
        "tx_fps": sum(tx_fps) / len(tx_fps) if tx_fps else 0.0,
        "tx_fps_min": min(tx_fps) if tx_fps else 0.0,
        "tx_kbps": sum(tx_kbps) / len(tx_kbps) if tx_kbps else 0.0,
        "target_kbps": sum(targets) / len(targets) if targets else 0.0,
        "rx_fps": sum(rx_fps) / len(rx_fps) if rx_fps else 0.0,
        "rx_fps_min": min(rx_fps) if rx_fps else 0.0,
        "rx_streams": len(rx_fps),
        "tx_res": sorted(res),
        "limits": limits,
        "loss_pct": 100.0 * lost / (lost + rx_pk) if lost + rx_pk > 0 else 0.0,
        "peers_cpu_pct": (pcpu1 - pcpu0) / dt * 100,
        "host_pct": 100.0 * (h1[0] - h0[0]) / max(1, h1[1] - h0[1]) * os.cpu_count(),
        "mesh_s": mesh_s,
        "errors": errors,
        "server": server,
    }


ANSI = re.compile(r"\x1b\[[0-9;]*m")
LIMITATION = {0: "none", 1: "cpu", 2: "bandwidth", 3: "other"}


def server_log_summary(server: Proc, max_lines: int = 5) -> list[str]:
    try:
        lines = server.err_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    lines = [ANSI.sub("", l) for l in lines]
    bad = [l for l in lines if " WARN " in l or " ERROR " in l or "panicked" in l]
    if not bad:
        return []
    counts: dict[str, int] = {}
    for l in bad:  # group by message, without the timestamp
        key = l.split(" ", 1)[1].strip() if l[:4].isdigit() else l.strip()
        counts[key] = counts.get(key, 0) + 1
    out = [f" server stderr: {len(bad)} WARN/ERROR line(s), {len(counts)} distinct:"]
    out += [f"   {c}x {k[:200]}" for k, c in list(counts.items())[:max_lines]]
    return out


def bench_main(args) -> int:
    visio = Path(args.visio)
    if not visio.is_file() or not os.access(visio, os.X_OK):
        print(f"bench: {visio} is not an executable", file=sys.stderr)
        return 2
    args.visio = str(visio.resolve())
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(n < 2 for n in sizes):
        print("bench: room sizes must be >= 2", file=sys.stderr)
        return 2

    rerun = shlex.join(
        [sys.executable, str(Path(__file__).resolve()), "--visio", args.visio,
         "--sizes", ",".join(map(str, sizes)), "--seconds", f"{args.seconds:g}"]
        + ([] if args.warmup == 3 else ["--warmup", f"{args.warmup:g}"])
        + ([] if args.bitrate == 500_000 else ["--bitrate", str(args.bitrate)])
        + ([] if args.peer_procs == 2 else ["--peer-procs", str(args.peer_procs)])
        + ([] if not args.noise else ["--noise", str(args.noise)])
    )
    logdir = Path(tempfile.mkdtemp(prefix="visio-bench-"))
    print(
        f"visio room server benchmark: {WIDTH}x{HEIGHT} {FPS} fps VP8, 1 camera track per peer, "
        f"max {args.bitrate / 1000:.0f} kbps, no simulcast"
        + (f", noise +-{args.noise}" if args.noise else "")
        + f"; {args.seconds:g} s per size after "
        f"{args.warmup:g} s warm-up; host has {os.cpu_count()} cores; logs in {logdir}",
        flush=True,
    )

    procs: list[Proc] = []
    results, notes = [], []

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    rc = 0
    try:
        for n in sizes:
            args.size_timeout = 120 + 8 * n + args.warmup + args.seconds
            print(f"  N={n}: starting server and {n} peers ...", flush=True)
            t = time.monotonic()
            started = len(procs)
            try:
                r = run_with_deadline(lambda: run_size(n, args, logdir, procs), args.size_timeout)
                results.append(r)
                print(
                    f"  N={n}: mesh up in {r['mesh_s']:.1f} s, measured; "
                    f"{time.monotonic() - t:.0f} s for this size",
                    flush=True,
                )
            except Exception as e:  # noqa: BLE001  (report, clean up, go on with the next size)
                rc = 1
                msg = str(e) if isinstance(e, BenchError) else f"{type(e).__name__}: {e}"
                notes.append(f"N={n}: FAILED: {msg}")
                print(f"  N={n}: FAILED: {msg}", flush=True)
            finally:
                for p in reversed(procs[started:]):
                    p.stop()
                for p in procs[started:]:
                    if p.name.startswith("server"):
                        notes += [f"N={n}:" + l for l in server_log_summary(p)]
                        if p.p.returncode not in (0, -signal.SIGTERM, None):
                            notes.append(f"N={n}: server exit code {p.p.returncode}")
    except KeyboardInterrupt as e:
        rc = 130
        notes.append(f"interrupted ({e})")
    finally:
        for p in reversed(procs):
            p.stop(grace=2)

    print_table(results, notes, rerun)
    return rc


def run_with_deadline(fn, seconds: float):
    """Run fn in this thread; SIGALRM turns an overrun into a BenchError."""

    def alarm(_s, _f):
        raise BenchError(f"size took longer than {seconds:.0f}s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def print_table(results: list[dict], notes: list[str], rerun: str) -> None:
    cols = [
        ("N", "{n}", 3),
        ("streams", "{streams}", 7),
        ("in Mb/s", "{in_mbps:.2f}", 8),
        ("out Mb/s", "{out_mbps:.2f}", 8),
        ("srv CPU%", "{cpu_pct:.1f}", 8),
        ("Mb/s/core", "{mbps_per_core:.0f}", 9),
        ("p50 us", "{p50_us}", 7),
        ("p95 us", "{p95_us}", 7),
        ("RSS MB", "{rss_mb:.1f}", 7),
        ("fwd fr/s", "{fwd_fps:.0f}", 8),
        ("tx fps", "{tx_fps:.1f}", 6),
        ("tx kb/s", "{tx_kbps:.0f}", 7),
        ("rx fps", "{rx_fps:.1f}", 6),
        ("rx min", "{rx_fps_min:.1f}", 6),
        ("loss%", "{loss_pct:.2f}", 5),
        ("peers CPU%", "{peers_cpu_pct:.0f}", 10),
        ("host%", "{host_pct:.0f}", 5),
    ]
    print()
    print("  ".join(h.rjust(w) for h, _, w in cols))
    for r in results:
        print("  ".join(f.format(**r).rjust(w) for _, f, w in cols))
    print()
    print(
        "srv CPU% = server process CPU as % of one core; Mb/s/core = out Mb/s / (srv CPU%/100); "
        "host% = whole machine, % of one core (max "
        f"{100 * os.cpu_count()}); tx fps, tx kb/s (RTP payload) = mean per publisher, rx fps = mean "
        "per subscription, rx min = worst subscription (libwebrtc stats)."
    )
    print(
        f"Reference: LiveKit's own benchmark forwards about {LIVEKIT_MBPS_PER_CORE:.0f} Mbit/s per core."
    )
    for r in results:
        extra = []
        if r["tx_res"] != [f"{WIDTH}x{HEIGHT}"]:
            extra.append(f"publisher resolutions {r['tx_res']}")
        lim = {LIMITATION.get(k, k): v for k, v in r["limits"].items() if k != 0}
        if lim:
            extra.append(f"encoders quality-limited by {lim}")
        if r["rx_streams"] != r["streams"]:
            extra.append(f"{r['rx_streams']} inbound video streams in peer stats, {r['streams']} expected")
        extra.append(f"mean encoder target {r['target_kbps']:.0f} kb/s")
        if r["tx_fps"] < FPS * 0.9 or r["rx_fps_min"] < FPS * 0.5:
            extra.append("frame rate below target (see caveats: peers share the host)")
        if r["errors"]:
            extra.append("peer stats errors: " + "; ".join(r["errors"][:3]))
        if extra:
            print(f"note N={r['n']}: " + "; ".join(extra))
    for note in notes:
        print("note " + note)
    print(f"Rerun: {rerun}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visio", help="path to the visio binary (release build recommended)")
    ap.add_argument("--sizes", default="2,4,8,12", help="comma-separated room sizes")
    ap.add_argument("--seconds", type=float, default=15.0, help="measurement window per size")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds between mesh-up and measuring")
    ap.add_argument("--bitrate", type=int, default=500_000, help="publishers' max video bitrate, bit/s")
    ap.add_argument(
        "--noise", type=int, default=0, metavar="AMPLITUDE",
        help="add per-frame random noise (0-255) to the pattern so encoders use their bitrate",
    )
    ap.add_argument("--peer-procs", type=int, default=2, help="processes the SDK peers are spread over")
    # Internal: peer process mode.
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--room", help=argparse.SUPPRESS)
    ap.add_argument("--identities", help=argparse.SUPPRESS)
    ap.add_argument("--max-seconds", type=float, default=300, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        _set_pdeathsig()
        asyncio.run(peer_main(args))
        return 0
    if not args.visio:
        ap.error("--visio is required")
    return bench_main(args)


if __name__ == "__main__":
    sys.exit(main())
