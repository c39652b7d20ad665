"""The Visio login window end to end: the real app signs in to the local room server through its
`login` window (the server's `authenticate/` page, as Visio's ProConnect flow starts), keeps the
`sessionid` cookie in a real Secret Service (gnome-keyring in a private D-Bus session) and
nowhere on disk, finds the session again at the next launch, and signing out removes it (and
ends it on the server)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from conftest import ARTIFACTS
from secret_service import SecretService
from test_app import by, click, until

NAME = "Camille Martin"


def me(server: str, sessionid: str) -> tuple[int, dict]:
    """`users/me/` with a session cookie: (status, body)."""
    req = urllib.request.Request(f"{server}/api/v1.0/users/me/", headers={"Cookie": f"sessionid={sessionid}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {}


def files_holding(secret: str, *dirs: Path) -> list[Path]:
    return [p for d in dirs if d.exists() for p in d.rglob("*")
            if p.is_file() and secret.encode() in p.read_bytes()]


async def open_accounts(driver):
    await click(driver, "home-accounts-button")
    await until(driver, f"return document.querySelector('{by('add-server')}')", 20, "the accounts panel")


async def signed_in_as(driver, name: str, timeout: float, what: str):
    await until(
        driver,
        "const p = document.querySelector('[data-testid=\"profile\"][data-state=\"online\"]');"
        "return p && p.textContent.includes(arguments[0]) && p.textContent",
        timeout,
        what,
        name,
    )


@pytest.mark.asyncio
async def test_visio_login_window_keeps_the_session_in_the_keychain(server, launch_app, tmp_path):
    started = time.monotonic()
    keyring = SecretService({"PATH": os.environ["PATH"]}, tmp_path / "keyring")
    (tmp_path / "keyring").mkdir()
    keyring.start()
    try:
        config, data, cache = (tmp_path / d for d in ("config", "data", "cache"))
        for d in (config, data, cache):
            d.mkdir()
        # The app's bus is the Secret Service's; its webview data (WebKit's cookie store) and
        # cache go to directories the test scans afterwards.
        app_env = {
            "DBUS_SESSION_BUS_ADDRESS": keyring.env["DBUS_SESSION_BUS_ADDRESS"],
            "XDG_DATA_HOME": str(data),
            "XDG_CACHE_HOME": str(cache),
        }
        driver = await asyncio.to_thread(launch_app, env=app_env, config=str(config))
        main = driver.current_window_handle
        await open_accounts(driver)
        # Add a Visio server: the local room server. Signing in opens the login window.
        # (the form and its server field share the test id `add-server`: the field by its id)
        await asyncio.to_thread(
            driver.execute_script,
            """const el = document.getElementById('add-server');
               Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, arguments[0]);
               el.dispatchEvent(new Event('input', {bubbles: true}));""",
            server.http,
        )
        await click(driver, "add-submit")

        # WebDriver sees the app's second window (label `login`): fill the local sign-in form.
        deadline = time.monotonic() + 30
        while len(handles := await asyncio.to_thread(lambda: driver.window_handles)) < 2:
            assert time.monotonic() < deadline, f"no login window among {handles}"
            await asyncio.sleep(0.2)
        login = next(h for h in handles if h != main)
        await asyncio.to_thread(driver.switch_to.window, login)
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(driver.find_elements, By.ID, "name"):
            assert time.monotonic() < deadline, "no sign-in form in the login window"
            await asyncio.sleep(0.2)
        assert "/api/v1.0/authenticate/" in await asyncio.to_thread(lambda: driver.current_url)
        await asyncio.to_thread(lambda: driver.find_element(By.ID, "name").send_keys(NAME))
        await asyncio.to_thread(lambda: driver.find_element(By.ID, "submit").click())

        # The app reads the cookie, checks it with users/me/, closes the window, shows the user.
        await asyncio.to_thread(driver.switch_to.window, main)
        await signed_in_as(driver, NAME, 30, "signed in through the login window")
        deadline = time.monotonic() + 10
        while len(await asyncio.to_thread(lambda: driver.window_handles)) != 1:
            assert time.monotonic() < deadline, "the login window stayed open"
            await asyncio.sleep(0.2)

        # The session cookie is in the keychain, and it is the server's real session.
        items = keyring.items()
        key = f"{server.http}|session_cookie"
        assert key in items, items.keys()
        sessionid = items[key]
        assert len(sessionid) >= 43
        status, user = me(server.http, sessionid)
        assert status == 200 and user["full_name"] == NAME, (status, user)
        profiles = json.loads((config / "profiles.json").read_text())
        assert profiles["profiles"][0]["login"] == {"type": "sessionCookie"}, profiles
        assert profiles["profiles"][0]["identity"]["name"] == NAME

        # A new launch (same config and keychain) is still signed in: whoami asks the server.
        await asyncio.to_thread(driver.quit)
        driver = await asyncio.to_thread(launch_app, env=app_env, config=str(config))
        await open_accounts(driver)
        await signed_in_as(driver, NAME, 30, "still signed in after a relaunch")

        # Nothing on disk holds the cookie: the config dir, the webview's data (WebKit's cookie
        # store: the app deletes the login's cookies) and cache, the app's logs.
        assert list(data.rglob("cookies")), "WebKit's cookie store is among the scanned files"
        logs = sorted(ARTIFACTS.glob("e2e-app-test_visio_login_window*.log"))
        assert logs, "the app's logs"
        leaks = files_holding(sessionid, config, data, cache) + [p for p in logs if sessionid in p.read_text(errors="replace")]
        assert not leaks, f"the session cookie is in {leaks}"

        # Sign out: the keychain item is gone, the server ended the session, the profile too.
        await click(driver, "profile-logout")
        await until(driver, f"return !document.querySelector('{by('profile')}')", 20, "the profile removed")
        assert key not in keyring.items()
        assert me(server.http, sessionid)[0] == 401, "the server session ended at logout/"
        assert json.loads((config / "profiles.json").read_text())["profiles"] == []
        elapsed = time.monotonic() - started
        print(f"login window e2e: {elapsed:.1f} s")
        assert elapsed < 100, f"took {elapsed:.0f} s"
    finally:
        keyring.close()
