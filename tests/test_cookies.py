"""A probe's Cookie header reaches the platform as the platform module set it, through the production path.

Platforms that take a session credential send it as a cookie (X's web session, Instagram, Bilibili), and
YouTube's probe sends its consent cookie. Scrapy's cookie middleware used to replace the header with cookies
stored from earlier answers, so none of them was ever sent, and a cookie set by one account's answer was
sent with the next account's request.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import Banwatch


def test_session_and_consent_cookies_are_sent_and_answers_set_none(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append((self.path, self.headers.get("Cookie", "")))
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", "tracker=from-an-answer; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        (tmp_path / "watchlist.yaml").write_text(
            "platforms: {instagram: {delay: 0s, concurrency: 1}, bilibili: {delay: 0s, concurrency: 1}}\n"
            "accounts:\n  - {platform: instagram, handle: first}\n  - {platform: instagram, handle: second}\n"
            "  - {platform: bilibili, handle: \"2\"}\n", encoding="utf-8")
        server = type("S", (), {"url": url})()
        banwatch = Banwatch(tmp_path, server, None)  # type: ignore[arg-type]
        banwatch.env.update({"BANWATCH_INSTAGRAM_BASE_URL": url, "BANWATCH_BILIBILI_BASE_URL": url,
                             "BANWATCH_INSTAGRAM_SESSIONID": "ig-session-marker",
                             "BANWATCH_BILIBILI_COOKIE": "SESSDATA=bili-marker"})
        banwatch("check")
    finally:
        httpd.shutdown()
        httpd.server_close()
    cookies = [cookie for _, cookie in seen]
    assert len(seen) == 3, seen
    assert sum("sessionid=ig-session-marker" in c for c in cookies) == 2, cookies
    assert sum("SESSDATA=bili-marker" in c for c in cookies) == 1, cookies
    assert not any("tracker=from-an-answer" in c for c in cookies), "an answer's cookie was sent with a later probe"
