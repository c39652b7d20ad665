"""Interop with livekit-client, the SDK the Visio web app runs, in headless Chromium.

The page (tests/browser/peer.html) joins through `visio serve`, publishes Chromium's fake
camera (VP9 simulcast, as Visio does) and microphone, says hello on `lk.chat`, and reports what
it decodes back to this test: frame count, size and the colours of the SDK peer's pattern bands.
"""

import asyncio
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from aiohttp import web

import lkpeer
from lkpeer import Publisher, Receiver, join, wait_for

BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or not (BROWSER_DIR / "node_modules" / "livekit-client").exists(),
    reason="needs chromium and `npm install` in tests/browser (make test installs both)",
)


async def serve_page(reports: list):
    async def report(request):
        reports.append(json.loads(await request.text()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/report", report)
    app.router.add_get("/peer.html", lambda r: web.FileResponse(BROWSER_DIR / "peer.html"))
    app.router.add_get(
        "/livekit-client.umd.js",
        lambda r: web.FileResponse(BROWSER_DIR / "node_modules/livekit-client/dist/livekit-client.umd.js"),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def launch(url: str, profile: str):
    return subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def test_web_client_and_sdk_exchange_media_and_chat(server):
    reports: list = []
    runner, origin = await serve_page(reports)
    sdk = await join(server.url, "web", "sdk-peer")
    rx = Receiver(sdk).attach()
    pub = Publisher(sdk)
    await pub.video(640, 360)
    token = lkpeer.token("web", "browser")
    with tempfile.TemporaryDirectory() as profile:
        chrome = launch(f"{origin}/peer.html#url={server.url}&token={token}&publish=1", profile)
        try:
            last = lambda: reports[-1] if reports else {}
            await wait_for(lambda: last().get("error") or last().get("frames", 0) > 30, timeout=40,
                           what="the browser decoding the SDK's video")
            assert not last().get("error"), last()["error"]
            assert (last()["width"], last()["height"]) == (640, 360)
            assert "vp8" in (last()["codec"] or "").lower()
            # The bands the browser sees are the SDK's colours.
            for seen, expect in zip(last()["bands"], lkpeer.BANDS):
                assert max(abs(a - b) for a, b in zip(seen, expect)) < 50, (last()["bands"], lkpeer.BANDS)
            # And the SDK decodes the browser's VP9 camera, hears its microphone, reads its chat.
            await wait_for(lambda: "browser" in rx.video and rx.video["browser"].frames > 30, timeout=30,
                           what="the SDK decoding the browser's camera")
            await wait_for(lambda: rx.chat, what="browser chat")
            assert rx.chat == [("browser", "Bonjour depuis le navigateur")]
            assert rx.video["browser"].sizes[-1][0] >= 320
            await wait_for(lambda: len(rx.audio.get("browser", [])) > 100, what="browser audio")
            pubs = sdk.remote_participants["browser"].track_publications.values()
            assert any("vp9" in p.mime_type.lower() for p in pubs), [p.mime_type for p in pubs]
            await sdk.local_participant.send_text("Bonjour le web", topic="lk.chat")
            await wait_for(lambda: ["sdk-peer", "Bonjour le web"] in last().get("chat", []), what="chat to browser")
        finally:
            chrome.terminate()
            try:
                chrome.wait(5)
            except subprocess.TimeoutExpired:
                chrome.kill()
            await pub.stop()
            await sdk.disconnect()
            await runner.cleanup()
