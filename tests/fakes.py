"""Local stand-ins for the platforms and for Slack's Web API, on 127.0.0.1 with an OS-chosen port.

banwatch reaches them through its production code path: BANWATCH_<PLATFORM>_BASE_URL points every
platform at FakePlatforms (which routes on the Host header banwatch sends), and BANWATCH_SLACK_API_URL
points slack-sdk at FakeSlack.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fixtures import Fixture, load


@dataclass(frozen=True)
class Canned:
    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0  # seconds before answering: a slow or hanging platform


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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


class _SlackHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        owner: FakeSlack = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, payload = owner.handle(self.path, dict(self.headers), body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class SlackCall:
    method: str
    authorization: str
    payload: dict[str, Any]
    accepted: bool


class FakeSlack(_Server):
    """Slack Web API: records every call; while `fail_with` is set, chat.postMessage answers with it."""

    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.fail_with: tuple[int, dict[str, str], dict[str, Any]] | None = None
        self._ts = itertools.count(1)
        self.lock = threading.Lock()
        super().__init__(_SlackHandler)

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        method = path.rsplit("/", 1)[-1]
        payload = json.loads(body or b"{}")
        with self.lock:
            if method != "chat.postMessage":
                answer: tuple[int, dict[str, str], dict[str, Any]] = (200, {}, {"ok": False, "error": "unknown_method"})
            elif self.fail_with is not None:
                answer = self.fail_with
            else:
                answer = (200, {}, {"ok": True, "channel": "C0BANWATCH", "ts": f"1764000000.{next(self._ts):06d}",
                                    "message": {"text": payload.get("text", "")}})
            self.calls.append(SlackCall(method, headers.get("Authorization", ""), payload,
                                        accepted=bool(answer[2].get("ok"))))
            return answer

    def posted(self) -> list[dict[str, Any]]:
        """Messages Slack accepted (calls answered with a failure are not counted)."""
        return [c.payload for c in self.calls if c.method == "chat.postMessage" and c.accepted]
