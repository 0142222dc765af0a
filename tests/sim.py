"""The platform simulator: one local HTTP server that speaks every supported platform's endpoints.

Tests, `make demo` and the benchmarks share it. banwatch reaches it through its production code path
(`BANWATCH_<PLATFORM>_BASE_URL` points every platform here; the original host arrives in the Host header).
Each account has a state — active, suspended, not_found, deactivated, restricted, renamed — and
optionally a fault (429 with Retry-After, 503, slow beyond the timeout, connection reset, captcha page,
login wall, truncated body, unrecognised layout); a fault can also be set for a whole platform. Answers are
the saved responses under tests/fixtures/, made the account's own (its handle, its id).

Control at run time: in process (`sim.set(...)`), or over HTTP: `POST /_sim/set` with
`{"account": KEY, "state": STATE}`, `{"account": KEY, "fault": FAULT}` or `{"platform": NAME, "fault": FAULT}`
(`"fault": null` clears it); `GET /_sim/stats` (requests, accounts, rate_per_address, and requests and 429s per
client address: by_address, limited_by_address).

`rate_per_address` (requests a second per client IP address, `request.remote`) answers a client beyond it with
the "rate_limit" fault's 429. The simulator listens on 127.0.0.1; clients bound to 127.0.0.2, 127.0.0.3, ...
(Linux loopback is 127/8) reach it as other addresses.

    python -m tests.sim --accounts KEY,KEY,... [--port 0] [--rate-per-address 20]   # standalone: prints its URL
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from banwatch.monitor.model import Account, Status, Verdict
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import Fixture, all_fixtures, by_rule

STATES = ("active", "suspended", "not_found", "deactivated", "restricted", "renamed")
FAULTS = ("rate_limit", "server_error", "slow", "reset", "captcha", "login_wall", "truncated", "unrecognised")
SLOW_SECONDS = 30.0

# Which saved response shows each state on each platform (absent: the platform cannot show it).
STATE_RULES: dict[str, dict[str, str]] = {
    "weibo": {"active": "weibo.user_info", "suspended": "weibo.ban_notice", "not_found": "weibo.user_not_found",
              "deactivated": "weibo.closed_by_user", "restricted": "weibo.security_lock"},
    "reddit": {"active": "reddit.profile", "suspended": "reddit.is_suspended", "not_found": "reddit.not_found"},
    "bluesky": {"active": "bluesky.profile", "suspended": "bluesky.account_takedown",
                "not_found": "bluesky.profile_not_found", "deactivated": "bluesky.account_deactivated",
                "restricted": "bluesky.moderation_label"},
    "mastodon": {"active": "mastodon.account", "suspended": "mastodon.suspended",
                 "not_found": "mastodon.record_not_found", "restricted": "mastodon.limited"},
    "youtube": {"active": "youtube.channel", "suspended": "youtube.terminated",
                "not_found": "youtube.channel_does_not_exist"},
    "telegram": {"active": "telegram.profile", "not_found": "telegram.no_profile_card"},
    "tiktok": {"active": "tiktok.user_detail", "suspended": "tiktok.user_ban", "not_found": "tiktok.user_not_exist",
               "restricted": "tiktok.user_private"},
    "bilibili": {"active": "bilibili.card", "suspended": "bilibili.spacesta_banned", "not_found": "bilibili.not_found"},
    "instagram": {"active": "instagram.profile", "not_found": "instagram.not_found"},
    "facebook": {"active": "facebook.profile", "not_found": "facebook.content_unavailable"},
}
# The second probe's answer for a state, where the platform asks one.
SECOND_RULES = {("mastodon", "suspended"): "mastodon.html_suspended",
                ("bluesky", "not_found"): "bluesky.repo_not_found"}
# Platform-specific walls; platforms without one get a Cloudflare-style challenge.
WALL_RULES = {
    "captcha": {"weibo": "weibo.captcha", "reddit": "reddit.blocked", "tiktok": "tiktok.verify_page",
                "youtube": "youtube.bot_wall", "bilibili": "bilibili.risk_control"},
    "login_wall": {"weibo": "weibo.visitor_system", "instagram": "instagram.login_wall",
                   "facebook": "facebook.login_wall", "youtube": "youtube.consent_wall"},
}
CHALLENGE = (b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
             b"<div id=\"challenge-running\">Checking your browser before accessing.</div></body></html>")


def did_of(key: str) -> str:
    """A stable, valid-looking DID per account (did:plc: + 24 base32 characters)."""
    return "did:plc:" + hashlib.sha256(key.encode()).hexdigest()[:24].translate(str.maketrans("01890", "abcde"))


def id_of(key: str, like: str) -> str:
    """A stable id per account, shaped like `like` (a saved response's id): its prefix up to the last `_` or
    `:` (and a two-letter upper-case prefix such as YouTube's `UC`) kept, every other digit, lower- and
    upper-case letter replaced in kind."""
    digest = hashlib.sha256(key.encode()).digest()
    keep = max(like.rfind("_"), like.rfind(":")) + 1
    if like[:2].isalpha() and like[:2].isupper() and len(like) > 2:
        keep = max(keep, 2)
    out = []
    for i, c in enumerate(like):
        b = digest[i % len(digest)]
        if i < keep or not c.isalnum():
            out.append(c)
        elif c.isdigit():
            out.append(str(b % 10) if i > keep else str(1 + b % 9))
        else:
            out.append(chr((ord("a") if c.islower() else ord("A")) + b % 26))
    return "".join(out)


@functools.lru_cache(maxsize=None)
def _reference_id(platform: str) -> str | None:
    """The id in the platform's first saved active response: the shape every account's own id takes."""
    for fx in all_fixtures():
        if fx.platform == platform and fx.expected_status == "active" and not fx.first:
            found = PLATFORMS[platform].classify(fx.reply(), Account(platform, fx.handle, "")).platform_id
            if found and found.lower() != fx.handle.lower() and not found.startswith("did:"):
                return found
    return None


def replace_id(body: bytes, old: str, new: str) -> bytes:
    """`old` replaced by `new` in `body` as a whole token only: a short id ("1") must not rewrite the digits
    inside a handle ("m10") or another id."""
    return re.sub(rb"(?<![\w])" + re.escape(old.encode()) + rb"(?![\w])", new.encode(), body)


def own(fx: Fixture, key: str, handle_now: str | None = None) -> Fixture:
    """A saved response made this account's: its handle (or the handle it was renamed to), its DID and its
    stable id, the same in every saved response of the account (as on the real platform)."""
    platform, handle = key.split(":", 1)
    old, new = fx.handle.split("@")[0], (handle_now or handle).split("@")[0]
    body = re.sub(re.escape(old).encode(), new.encode(), fx.body, flags=re.I) if old else fx.body
    body = re.sub(rb"did:plc:[a-z2-7]{24}", did_of(key).encode(), body)
    mine = replace(fx, body=body)
    try:
        found = PLATFORMS[platform].classify(mine.reply(), Account(platform, handle, key)).platform_id
    except Exception:
        found = None
    reference = _reference_id(platform)
    if found and reference and found.lower() not in (old.lower(), new.lower()) and not found.startswith("did:"):
        mine = replace(mine, body=replace_id(body, found, id_of(key, reference)))
    return mine


def probe_urls(key: str) -> list[tuple[str, bool]]:
    """(URL, is_second_probe) that banwatch may ask about this account, by handle and by stable id."""
    platform, handle = key.split(":", 1)
    spec, account = PLATFORMS[platform], Account(platform, handle, key)
    urls = [(spec.probe(account, {}).url, False)]
    if platform == "bluesky":
        with_did = replace(account, platform_id=did_of(key))
        urls.append((spec.probe(with_did, {}).url, False))
        second = spec.second_probe(Verdict(Status.NOT_FOUND, "bluesky.profile_not_found"), with_did, {})  # type: ignore[misc]
        urls.append((second.url, True))  # type: ignore[union-attr]
    if platform == "mastodon":
        second = spec.second_probe(Verdict(Status.SUSPENDED, "mastodon.suspended"), account, {})  # type: ignore[misc]
        urls.append((second.url, True))  # type: ignore[union-attr]
    return urls


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    reset: bool = False
    truncated: bool = False


RATE_LIMITED = Answer(429, {"Content-Type": "application/json", "Retry-After": "30"},
                      b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}')


class TokenBucket:
    """`rate` tokens a second, at most `burst` held (full at the start): `take(now)` spends one and says whether
    there was one. `now` is a monotonic time in seconds."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Simulator:
    """The simulated platforms. `rate_per_address` (requests a second per client IP address, None: no limit)
    answers a client beyond it with the "rate_limit" fault's 429, from a token bucket per address whose burst is
    max(1, rate). `by_address` counts the requests per client address, `limited_by_address` the 429s it gave them
    for that limit."""

    def __init__(self, slow: float = SLOW_SECONDS, rate_per_address: float | None = None) -> None:
        if rate_per_address is not None and rate_per_address <= 0:
            raise ValueError("rate_per_address must be more than 0 requests a second")
        self.slow = slow  # how long the "slow" fault keeps a request waiting
        self.rate_per_address = rate_per_address
        self.by_address: Counter[str] = Counter()
        self.limited_by_address: Counter[str] = Counter()
        self._buckets: dict[str, TokenBucket] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.routes: dict[tuple[str, str], tuple[str, bool]] = {}
        self.platform_faults: dict[str, str | None] = {}
        self.requests = 0
        self.lock = threading.Lock()
        self._cache: dict[tuple[str, str, str | None, bool], Answer] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    # -- scripting -------------------------------------------------------------------------------

    def add(self, *keys: str, state: str = "active") -> None:
        with self.lock:
            for key in keys:
                self.accounts[key] = {"state": state, "fault": None, "renamed_to": None}
                for url, second in probe_urls(key):
                    parts = urlsplit(url)
                    self.routes[(parts.netloc.lower(), parts.path + (f"?{parts.query}" if parts.query else ""))] = (
                        key, second)

    def set(self, key: str | None = None, *, state: str | None = None, fault: str | None | bool = False,
            platform: str | None = None, renamed_to: str | None = None) -> None:
        """Change an account's state or fault (`fault=None` clears), or a whole platform's fault."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if fault not in (False, None) and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self.lock:
            if platform is not None:
                self.platform_faults[platform] = fault or None
            if key is not None:
                account = self.accounts[key]
                if state is not None:
                    account["state"] = state
                if fault is not False:
                    account["fault"] = fault
                if renamed_to is not None:
                    account["renamed_to"] = renamed_to

    # -- answering -------------------------------------------------------------------------------

    def admit(self, address: str) -> bool:
        """Count a request from client `address`; False when it is beyond `rate_per_address` (then it is counted
        in `limited_by_address` and must be answered 429)."""
        with self.lock:
            self.by_address[address] += 1
            if self.rate_per_address is None:
                return True
            now = time.monotonic()
            bucket = self._buckets.get(address)
            if bucket is None:
                rate = self.rate_per_address
                bucket = self._buckets[address] = TokenBucket(rate, max(1.0, rate), now)
            if bucket.take(now):
                return True
            self.limited_by_address[address] += 1
            return False

    def answer(self, host: str, path: str) -> Answer:
        with self.lock:
            self.requests += 1
            hit = self.routes.get((host, path))
            if hit is None:
                return Answer(404, {"Content-Type": "text/plain"}, f"simulator: no account at {host}{path}".encode())
            key, second = hit
            account = self.accounts[key]
            platform = key.split(":", 1)[0]
            fault = account["fault"] or self.platform_faults.get(platform)
            cache_key = (key, account["state"] + (account["renamed_to"] or ""), fault, second)
            cached = self._cache.get(cache_key)
            if cached is None:
                cached = self._cache[cache_key] = self._render(key, platform, account, fault, second)
            return cached

    def _render(self, key: str, platform: str, account: dict[str, Any], fault: str | None, second: bool) -> Answer:
        if fault == "rate_limit":
            return RATE_LIMITED
        if fault == "server_error":
            return Answer(503, {"Content-Type": "text/html"}, b"<html><body><h1>503 Service Unavailable</h1></body></html>")
        if fault == "reset":
            return Answer(0, {}, b"", reset=True)
        if fault in WALL_RULES:
            rule = WALL_RULES[fault].get(platform)
            if rule is None:
                return Answer(403, {"Content-Type": "text/html", "cf-mitigated": "challenge"}, CHALLENGE)
            fx = own(by_rule(platform, rule), key)
            return Answer(fx.status, dict(fx.headers), fx.body)
        if fault == "unrecognised":
            fx = by_rule(platform, f"{platform}.unrecognised")
            return Answer(fx.status, dict(fx.headers), fx.body)
        state = account["state"]
        if second:
            rule = SECOND_RULES.get((platform, state))
            if rule is None:
                return Answer(404, {"Content-Type": "text/plain"}, b"not found")
        else:
            rule = STATE_RULES[platform].get("active" if state == "renamed" else state)
            if rule is None:
                raise ValueError(f"{platform} cannot show {state}")
        fx = own(by_rule(platform, rule), key, account["renamed_to"] if state == "renamed" else None)
        answer = Answer(fx.status, dict(fx.headers), fx.body)
        if fault == "slow":
            answer.delay = self.slow
        if fault == "truncated":
            answer.truncated = True
        return answer

    # -- serving ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await self._control(request)
        if self.admit(request.remote or ""):
            answer = self.answer((request.headers.get("Host") or "").lower(), request.path_qs)
        else:
            with self.lock:
                self.requests += 1
            answer = RATE_LIMITED
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.reset:
            request.transport.close()  # type: ignore[union-attr]
            return web.Response(status=500)
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-encoding",
                                                                                   "transfer-encoding")}
        if answer.truncated:  # promise the whole body, send half of it, hang up
            response = web.StreamResponse(status=answer.status, headers=headers)
            response.content_length = len(answer.body)
            await response.prepare(request)
            await response.write(answer.body[: len(answer.body) // 2])
            request.transport.close()  # type: ignore[union-attr]
            return response
        return web.Response(status=answer.status, headers=headers, body=answer.body)

    async def _control(self, request: web.Request) -> web.Response:
        if request.path == "/_sim/stats":
            with self.lock:
                return web.json_response({"requests": self.requests, "accounts": len(self.accounts),
                                          "rate_per_address": self.rate_per_address,
                                          "by_address": dict(self.by_address),
                                          "limited_by_address": dict(self.limited_by_address)})
        if request.path == "/_sim/set" and request.method == "POST":
            data = await request.json()
            try:
                self.set(data.get("account"), state=data.get("state"), fault=data.get("fault", False),
                         platform=data.get("platform"), renamed_to=data.get("renamed_to"))
            except (KeyError, ValueError) as exc:
                return web.json_response({"ok": False, "error": str(exc)}, status=400)
            return web.json_response({"ok": True})
        return web.json_response({"ok": False, "error": "unknown control path"}, status=404)

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        return self.url

    # -- in a thread, for tests ------------------------------------------------------------------

    def __enter__(self) -> Simulator:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._runner:
                await self._runner.shutdown()
                await self._runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(self.slow + 5)
        except TimeoutError:
            pass  # a request still held by the "slow" fault; the thread is a daemon
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def env_for(url: str) -> dict[str, str]:
    """The environment that points every platform at the simulator."""
    return {f"BANWATCH_{name.upper()}_BASE_URL": url for name in PLATFORMS}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="banwatch platform simulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--accounts", default="", help="comma-separated platform:handle keys, all active")
    parser.add_argument("--rate-per-address", type=float, default=None,
                        help="requests a second per client IP address; beyond it: 429 (default: no limit)")
    args = parser.parse_args()
    sim = Simulator(rate_per_address=args.rate_per_address)
    if args.accounts:
        sim.add(*args.accounts.split(","))

    async def serve() -> None:
        print(json.dumps({"url": await sim.start(args.port)}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
