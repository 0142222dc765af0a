"""Local stand-ins for the platforms and for Slack's Web API, on 127.0.0.1 with an OS-chosen port.

banwatch reaches them through its production code path: BANWATCH_<PLATFORM>_BASE_URL points every
platform at FakePlatforms (which routes on the Host header banwatch sends), and BANWATCH_SLACK_API_URL
points slack-sdk at FakeSlack.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fixtures import Fixture, load


@dataclass(frozen=True)
class Canned:
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0  # seconds before answering: a slow or hanging platform


class _QuietServer(ThreadingHTTPServer):
    """A client that hung up before its answer was written (banwatch abandoning a hanging request at a stop) is
    not the test's failure: no traceback on stderr for it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """Base for the tests' own hostile servers: `send` one whole answer; no request log on stderr."""

    def send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LocalServer(_Server):
    """Serve `handler` on `address` (loopback) in a thread from construction until `close()`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], address: str = "127.0.0.1") -> None:
        self.httpd = _QuietServer((address, 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _PlatformHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        owner: FakePlatforms = self.server.owner  # type: ignore[attr-defined]
        host = (self.headers.get("Host") or "").lower()
        canned = owner.answer(host, self.path)
        if canned.delay:
            time.sleep(canned.delay)
        self.send_response(canned.status)
        for name, value in canned.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "content-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(canned.body)))
        self.end_headers()
        self.wfile.write(canned.body)

    def log_message(self, *args: object) -> None:
        pass


class FakePlatforms(_Server):
    """Serves saved responses; a test says what each URL answers now ("account X is suspended from now on")."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Canned] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        super().__init__(_PlatformHandler)

    def serve(self, fixture: Fixture, url: str | None = None, delay: float = 0.0) -> None:
        """Answer the fixture's request URL (or `url`) with the fixture's status, headers and body."""
        parts = urlsplit(url or fixture.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        with self.lock:
            self.routes[(parts.netloc.lower(), path)] = Canned(fixture.status, fixture.headers, fixture.body, delay)

    def serve_case(self, platform: str, case: str, url: str) -> None:
        self.serve(load(platform, case), url)

    def answer(self, host: str, path: str) -> Canned:
        with self.lock:
            self.requests.append((host, path))
            return self.routes.get((host, path), Canned(599, {"Content-Type": "text/plain"},
                                                       f"no route for {host}{path}".encode()))


class _SlackHandler(QuietHandler):
    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: Slack's clock, `clock_offset` from ours."""
        owner: FakeSlack = self.server.owner  # type: ignore[attr-defined]
        return super().date_time_string(time.time() + owner.clock_offset if timestamp is None else timestamp)

    def _answer(self, params: dict[str, Any]) -> None:
        owner: FakeSlack = self.server.owner  # type: ignore[attr-defined]
        method = urlsplit(self.path).path.rsplit("/", 1)[-1]
        status, headers, payload = owner.handle(method, self.headers.get("Authorization", ""), params)
        loss = owner.lost.loss if method == "chat.postMessage" else None
        owner.lost.loss = None
        if loss == "reset":  # stored, then the connection is reset before any answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if loss == "slow":  # stored, and answered after the client has given up
            time.sleep(owner.slow)
        if loss in ("500", "html"):  # stored, then a proxy's or Slack's own error page instead of the answer
            self.send(500 if loss == "500" else 200, {"Content-Type": "text/html"},
                      b"<html><body><h1>Internal Server Error</h1></body></html>")
            return
        self.send(status, {"Content-Type": "application/json; charset=utf-8", **headers}, json.dumps(payload).encode())

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/services/"):  # an incoming webhook: plain "ok", no ts, no channel choice
            owner: FakeSlack = self.server.owner  # type: ignore[attr-defined]
            owner.webhook_posts.append(json.loads(body))
            self.send(200, {"Content-Type": "text/html"}, b"ok")
            return
        if "json" in (self.headers.get("Content-Type") or ""):
            params = json.loads(body or b"{}")
        else:
            params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        self._answer(params)

    def do_GET(self) -> None:  # noqa: N802
        self._answer({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})


@dataclass
class SlackCall:
    method: str
    authorization: str
    payload: dict[str, Any]
    accepted: bool


def malformed(params: dict[str, Any]) -> str | None:
    """What Slack answers a message it will never accept, by its documented limits: a header's text over
    150 characters, a section's over 3,000 (a field's over 2,000), a context text over 3,000 or more than
    10 elements, more than 50 blocks (invalid_blocks); `text` over 40,000 (msg_too_long); neither (no_text)."""
    blocks = params.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    text = str(params.get("text") or "")
    if not text and not blocks:
        return "no_text"
    if len(text) > 40_000:
        return "msg_too_long"
    limits = {"header": 150, "section": 3000}
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        kind = block.get("type")
        if kind in limits and len((block.get("text") or {}).get("text", "")) > limits[kind]:
            return "invalid_blocks"
        if any(len(f.get("text", "")) > 2000 for f in block.get("fields") or []):
            return "invalid_blocks"
        if kind == "context" and (len(block.get("elements") or []) > 10 or
                                  any(len(e.get("text", "")) > 3000 for e in block.get("elements") or [])):
            return "invalid_blocks"
    return None


class FakeSlack(_Server):
    """A Slack Web API that keeps channels: chat.postMessage (with metadata and threads), chat.update,
    conversations.history / .replies / .list, auth.test. Every call is recorded.

    Scripting: `fail_with` answers every post with that (status, headers, body); `script` is a queue of
    such answers used first; a message beyond Block Kit's limits is rejected as Slack does (`malformed`);
    `hold` makes a post wait (after it is stored) before answering — the window
    in which a crash leaves an alert `sending`. Every answer to the right token names `scopes` in its
    `x-oauth-scopes` header, as Slack does; without channels:history, conversations.history / .replies answer
    missing_scope (every fake channel is public).

    History is paged as Slack pages it: `limit` messages a page (newest first for conversations.history,
    the thread in order for .replies) and a `next_cursor` while there are more.

    Lost answers: `lose` is a queue of what happens to the answer of the next accepted posts, AFTER the
    message is stored: "reset" (the connection is reset), "500" (an HTML 500 page), "html" (a 200 HTML page,
    not JSON), "slow" (the answer comes after `slow` seconds), None (answered normally). `clock_offset` is
    Slack's clock minus the host's, in seconds: a message's ts and every answer's Date header are Slack's time.
    """

    SCOPES = "chat:write,channels:history,groups:history,channels:read,groups:read"

    def __init__(self, token: str = "xoxb-e2e-secret") -> None:
        self.token = token
        self.calls: list[SlackCall] = []
        self.fail_with: tuple[int, dict[str, str], dict[str, Any]] | None = None
        self.script: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.hold = 0.0
        self.fail_channels: set[str] = set()  # posts to these answer channel_not_found
        self.webhook_posts: list[dict[str, Any]] = []
        self.channels: dict[str, str] = {}  # name -> id
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages, oldest first
        self.scopes = self.SCOPES  # the token's granted scopes, comma-separated
        self.lose: list[str | None] = []
        self.slow = 2.0
        self.clock_offset = 0.0
        self.lost = threading.local()  # the loss the current handler thread applies to its answer
        self.lock = threading.Lock()
        super().__init__(_SlackHandler)

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def channel_id(self, channel: str) -> str | None:
        if channel in self.messages:
            return channel
        name = channel.lstrip("#")
        return self.channels.setdefault(name, f"C{len(self.channels) + 1:08d}")

    def handle(self, method: str, auth: str, params: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        hold = 0.0
        with self.lock:
            if method == "chat.postMessage" and params.get("channel"):
                self.channel_id(str(params["channel"]))  # the channel exists whatever the post's fate
            answer = self._route(method, auth, params)
            if auth == f"Bearer {self.token}":
                answer = (answer[0], {"x-oauth-scopes": self.scopes, **answer[1]}, answer[2])
            self.calls.append(SlackCall(method, auth, params, accepted=bool(answer[2].get("ok"))))
            self.lost.loss = None
            if method == "chat.postMessage" and answer[2].get("ok"):
                hold = self.hold
                self.lost.loss = self.lose.pop(0) if self.lose else None
        if hold:
            time.sleep(hold)
        return answer

    def _route(self, method: str, auth: str, params: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if auth != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if method in ("chat.postMessage", "chat.update"):
            if self.script:
                return self.script.pop(0)
            if self.fail_with is not None:
                return self.fail_with
        if method == "auth.test":
            return 200, {}, {"ok": True, "team": "banwatch-test", "user": "banwatch", "bot_id": "B1"}
        if method in ("chat.postMessage", "chat.update") and (problem := malformed(params)):
            return 200, {}, {"ok": False, "error": problem}
        if method == "chat.postMessage" and str(params["channel"]) in self.fail_channels:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        if method == "chat.postMessage":
            cid = self.channel_id(str(params["channel"]))
            message = {"type": "message", "ts": self._next_ts(), "text": params.get("text", ""),
                       "blocks": params.get("blocks") or [], "metadata": params.get("metadata"),
                       "thread_ts": params.get("thread_ts")}
            self.messages.setdefault(cid, []).append(message)
            return 200, {}, {"ok": True, "channel": cid, "ts": message["ts"], "message": message}
        if method == "chat.update":
            for message in self.messages.get(str(params["channel"]), []):
                if message["ts"] == params["ts"]:
                    message.update(text=params.get("text", ""), blocks=params.get("blocks") or [], edited=True)
                    return 200, {}, {"ok": True, "channel": params["channel"], "ts": params["ts"]}
            return 200, {}, {"ok": False, "error": "message_not_found"}
        if method == "conversations.list":
            return 200, {}, {"ok": True, "channels": [{"id": i, "name": n} for n, i in self.channels.items()],
                             "response_metadata": {"next_cursor": ""}}
        if method in ("conversations.history", "conversations.replies") and \
                "channels:history" not in self.scopes.split(","):
            return 200, {}, {"ok": False, "error": "missing_scope", "needed": "channels:history",
                             "provided": self.scopes}
        if method in ("conversations.history", "conversations.replies"):
            if params.get("channel") not in {*self.messages, *self.channels.values()}:
                return 200, {}, {"ok": False, "error": "channel_not_found"}
            msgs = self.messages.get(params["channel"], [])
            if method == "conversations.replies":
                msgs = [m for m in msgs if m["ts"] == params["ts"] or m["thread_ts"] == params["ts"]]
            else:
                msgs = [m for m in msgs if not m["thread_ts"] and m["ts"] > str(params.get("oldest", "0"))]
            with_meta = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
            if method == "conversations.history":
                msgs = list(reversed(msgs))  # newest first, as Slack pages a channel's history
            start, limit = int(params.get("cursor") or 0), int(params.get("limit") or 100)
            page = msgs[start:start + limit]
            more = start + limit < len(msgs)
            shown = [m if with_meta else {k: v for k, v in m.items() if k != "metadata"} for m in page]
            return 200, {}, {"ok": True, "messages": shown, "has_more": more,
                             "response_metadata": {"next_cursor": str(start + limit) if more else ""}}
        return 200, {}, {"ok": False, "error": "unknown_method"}

    def _next_ts(self) -> str:
        """Slack's ts is the epoch time of the message, unique per channel: here, unique and increasing."""
        self._last = max(time.time() + self.clock_offset, getattr(self, "_last", 0.0) + 0.000001)
        return f"{self._last:.6f}"

    def posted(self) -> list[dict[str, Any]]:
        """Messages Slack accepted, in order (calls answered with a failure are not counted)."""
        return [c.payload for c in self.calls if c.method == "chat.postMessage" and c.accepted]

    def in_channel(self, channel: str) -> list[dict[str, Any]]:
        """What people see in the channel: every stored message (top level and replies), oldest first."""
        return self.messages.get(self.channel_id(channel) or "", [])
