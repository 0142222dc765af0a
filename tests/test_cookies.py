"""A probe's Cookie header reaches the platform as the platform module set it, through the production path.

Platforms that take a session credential send it as a cookie (X's web session, Instagram, Bilibili), and
YouTube's probe sends its consent cookie. Scrapy's cookie middleware used to replace the header with cookies
stored from earlier answers, so none of them was ever sent, and a cookie set by one account's answer was
sent with the next account's request.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Banwatch
from tests.fakes import LocalServer, QuietHandler


def test_session_and_consent_cookies_are_sent_and_answers_set_none(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append((self.path, self.headers.get("Cookie", "")))
            self.send(200, {"Content-Type": "application/json", "Set-Cookie": "tracker=from-an-answer; Path=/"},
                      b"{}")

    server = LocalServer(Handler)
    url = server.url
    try:
        (tmp_path / "watchlist.yaml").write_text(
            "platforms: {instagram: {delay: 0s, concurrency: 1}, bilibili: {delay: 0s, concurrency: 1}}\n"
            "accounts:\n  - {platform: instagram, handle: first}\n  - {platform: instagram, handle: second}\n"
            "  - {platform: bilibili, handle: \"2\"}\n", encoding="utf-8")
        banwatch = Banwatch(tmp_path, server, None)  # type: ignore[arg-type]
        banwatch.env.update({"BANWATCH_INSTAGRAM_BASE_URL": url, "BANWATCH_BILIBILI_BASE_URL": url,
                             "BANWATCH_INSTAGRAM_SESSIONID": "ig-session-marker",
                             "BANWATCH_BILIBILI_COOKIE": "SESSDATA=bili-marker"})
        banwatch("check")
    finally:
        server.close()
    cookies = [cookie for _, cookie in seen]
    assert len(seen) == 3, seen
    assert sum("sessionid=ig-session-marker" in c for c in cookies) == 2, cookies
    assert sum("SESSDATA=bili-marker" in c for c in cookies) == 1, cookies
    assert not any("tracker=from-an-answer" in c for c in cookies), "an answer's cookie was sent with a later probe"
