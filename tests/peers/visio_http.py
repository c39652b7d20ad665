"""Visio's REST API as a browser calls it, for tests: one cookie jar per client (the room's
owner holds the local session `sessionid`/`csrftoken`, a guest `lobbyParticipantId`) and the
CSRF header on unsafe requests, as Django wants."""

from __future__ import annotations

import json

import aiohttp

API = "/api/v1.0"


class Client:
    """One browser-like HTTP client: its own cookies, CSRF header on unsafe requests."""

    def __init__(self, server):
        self.server = server
        # unsafe=True: keep cookies set by an IP-address host (127.0.0.1).
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    def cookie(self, name):
        for c in self.http.cookie_jar:
            if c.key == name:
                return c.value
        return None

    async def call(self, method, path, body=None, token=None, raw=None):
        headers = {"Accept": "application/json"}
        csrf = self.cookie("csrftoken")
        if csrf and method != "GET":
            headers["X-CSRFToken"] = csrf
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kw = {}
        if raw is not None:
            kw["data"] = raw
            headers["Content-Type"] = "application/json"
        elif body is not None:
            kw["json"] = body
        async with self.http.request(method, self.server.http + API + path, headers=headers, **kw) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                raise AssertionError(f"{method} {path}: HTTP {r.status}, not JSON: {text[:200]}")

    async def close(self):
        await self.http.close()
