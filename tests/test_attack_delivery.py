"""Hostile Slack answers against exactly-once delivery with a bot token.

Each test drives the production path (Dispatcher -> SlackNotifier -> slack-sdk -> HTTP) against a local
Slack on 127.0.0.1 that stores a post and then answers it in a way the existing suites do not: a redirect, a
Slack-shaped ok:false that Slack documents as "some aspect of the operation may have succeeded", a body cut
mid-way (Content-Length or chunked), an ok:true without `ts`, a 429 with an odd Retry-After, a history API
that stays down, a host clock 12-15 minutes off Slack's. Messages are counted per alert (or wave) by their
Slack message metadata.

The promise: every confirmed alert appears exactly once, in order, never lost, never blocking its channel
for ever (an alert may become dead after give_up, with its reason). Each attack here broke it once; the
tests keep it from breaking again.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from banwatch.monitor.timeutil import later, now_iso
from tests.fakes import FakeSlack, _SlackHandler
from tests.test_delivery import World, people
from tests.test_lost_reply import copies, world

DAY = 86400.0


class _HostileHandler(_SlackHandler):
    """FakeSlack's handler with more ways to lose (or garble) the answer of a post Slack has stored."""

    def _answer(self, params: dict[str, Any]) -> None:
        owner: HostileSlack = self.server.owner  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        if path.startswith("/maintenance"):  # where a proxy's redirect may point: a page, not Slack's JSON
            return self.send(200, {"Content-Type": "text/html"}, b"<html>Back soon</html>")
        method = path.rsplit("/", 1)[-1]
        if method in owner.down:  # this API method is down (a 503 page), whatever it is asked
            with owner.lock:
                owner.down_calls += 1
            return self.send(503, {"Content-Type": "text/html"}, b"<html>503 Service Unavailable</html>")
        if method in owner.endless:  # a history that always has one more (empty) page
            with owner.lock:
                owner.pages += 1
                cursor = f"page{owner.pages}"
            return self.send(200, {"Content-Type": "application/json"}, json.dumps({
                "ok": True, "messages": [], "has_more": True, "response_metadata": {"next_cursor": cursor}}).encode())
        status, headers, payload = owner.handle(method, self.headers.get("Authorization", ""), params)
        loss = owner.lost.loss if method == "chat.postMessage" else None
        owner.lost.loss = None
        data = json.dumps(payload).encode()
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        if loss == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return None
        if loss == "500":
            return self.send(500, {"Content-Type": "text/html"}, b"<html>Internal Server Error</html>")
        if loss == "redirect":  # stored, then sent elsewhere: urllib follows a 302 to a POST with a bare GET
            return self.send(302, {"Location": self.path}, b"")
        if loss == "redirect_page":
            return self.send(303, {"Location": "/maintenance"}, b"")
        if loss == "redirect_307":  # urllib does not follow a 307 for a POST: an HTTPError with no Slack JSON
            return self.send(307, {"Location": "/maintenance"}, b"")
        if loss in ("fatal_error", "internal_error", "some_new_error"):  # Slack's words, after storing
            return self.send(200, json_type, json.dumps({"ok": False, "error": loss}).encode())
        if loss == "no_error":  # ok:false and no error code at all
            return self.send(200, json_type, b'{"ok": false}')
        if loss == "json_list":
            return self.send(200, json_type, b"[]")
        if loss == "no_ts":  # ok:true, the channel, but no ts (a trimmed or proxied answer)
            return self.send(200, json_type, json.dumps({"ok": True, "channel": payload["channel"]}).encode())
        if loss == "cut":  # Content-Length promises the whole answer; half arrives, then the connection closes
            self.send_response(200)
            self.send_header("Content-Type", json_type["Content-Type"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return None
        if loss == "cut_exact":  # a whole HTTP answer whose JSON is truncated
            return self.send(200, json_type, data[: len(data) // 2])
        if loss == "chunked_cut":  # a chunked answer cut mid-way: no terminating chunk
            part = data[: len(data) // 2]
            self.send_response(200)
            self.send_header("Content-Type", json_type["Content-Type"])
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(f"{len(data):x}\r\n".encode() + part)
            self.wfile.flush()
            self.close_connection = True
            return None
        return self.send(status, {**json_type, **headers}, data)



class HostileSlack(FakeSlack):
    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()
        self.down_calls = 0
        self.endless: set[str] = set()
        self.pages = 0
        # FakeSlack built its server with its own handler: serve ours instead (same server, same owner).
        self.httpd.RequestHandlerClass = _HostileHandler


@pytest.fixture
def hostile() -> Any:
    with HostileSlack() as server:
        yield server


def setup(tmp_path: Path, slack: FakeSlack, n: int = 3, accounts: int = 0, **settings: Any) -> tuple[World, str]:
    """`n` suspensions (each its own message) of `accounts` (at least n) watched accounts; when all are due."""
    t0 = now_iso()
    w = world(tmp_path, slack, people(max(n, accounts)), **{"wave_size": 1000, **settings})
    for i in range(n):
        w.suspend(f"reddit:user{i}", later(t0, i))
    return w, later(t0, n)


def passes(w: World, start: str, until: str, n: int = 12) -> list[Any]:
    """Delivery passes, each at the earliest moment anything is due (never past `until`), then one at `until`."""
    now, reports = start, []
    for _ in range(n):
        report = w.deliver(now)
        reports.append(report)
        if not report.kept or now >= until:
            break
        now = min(until, max(later(now, 0.001), report.next_attempt_at or now))
    reports.append(w.deliver(until))
    return reports


def settled(w: World) -> dict[int, str]:
    """Each alert's state; the promise allows only `sent`, or `dead` with a reason."""
    return {r["id"]: r["state"] if r["state"] != "dead" or r["last_error"] else "dead-silently" for r in w.alerts()}


def order(slack: FakeSlack) -> list[int]:
    return [m["metadata"]["event_payload"]["alert_id"] for m in slack.in_channel("#banwatch")
            if (m.get("metadata") or {}).get("event_type") == "banwatch_alert"]


# -- a redirect after Slack stored the post -------------------------------------------------------------


def test_a_redirect_after_the_post_was_stored_posts_it_once(tmp_path: Path, hostile: HostileSlack) -> None:
    w, t1 = setup(tmp_path, hostile, n=2)
    hostile.lose = ["redirect", "redirect"]  # a proxy that redirects every post it has forwarded
    passes(w, t1, later(t1, 2 * DAY))
    assert copies(hostile) == {1: 1, 2: 1}, f"copies per alert: {dict(copies(hostile))}"
    assert settled(w) == {1: "sent", 2: "sent"}


@pytest.mark.parametrize("loss", ("redirect_page", "redirect_307"))
def test_a_redirect_to_a_page_is_an_answer_lost_and_looked_for(tmp_path: Path, hostile: HostileSlack,
                                                               loss: str) -> None:
    w, t1 = setup(tmp_path, hostile)
    hostile.lose = [loss]
    first = w.deliver(t1)
    assert first.sent == 0 and w.alerts()[0]["state"] == "sending", "in doubt, not refused"
    passes(w, t1, later(t1, 60))
    assert copies(hostile) == {1: 1, 2: 1, 3: 1} and order(hostile) == [1, 2, 3]
    assert settled(w) == {1: "sent", 2: "sent", 3: "sent"}


# -- ok:false in Slack's words, for an error Slack says may have half-succeeded ----------------------------


@pytest.mark.parametrize("code", ("fatal_error", "internal_error"))
def test_a_documented_maybe_succeeded_error_is_not_posted_again_blind(tmp_path: Path, hostile: HostileSlack,
                                                                     code: str) -> None:
    w, t1 = setup(tmp_path, hostile)
    hostile.lose = [code]
    passes(w, t1, later(t1, 60))
    assert copies(hostile) == {1: 1, 2: 1, 3: 1}, f"copies per alert: {dict(copies(hostile))}"


def test_an_unknown_ok_false_code_after_storing_is_not_posted_again_blind(tmp_path: Path,
                                                                          hostile: HostileSlack) -> None:
    w, t1 = setup(tmp_path, hostile, n=1)
    hostile.lose = ["some_new_error"]
    passes(w, t1, later(t1, 60))
    assert copies(hostile) == {1: 1}, f"copies per alert: {dict(copies(hostile))}"


# -- HOLDS: bodies cut mid-way, answers that are not Slack's JSON --------------------------------------------------


@pytest.mark.parametrize("loss", ("cut", "cut_exact", "chunked_cut", "no_error", "json_list"))
def test_a_garbled_answer_after_the_post_was_stored_is_looked_for_not_reposted(
        tmp_path: Path, hostile: HostileSlack, loss: str) -> None:
    w, t1 = setup(tmp_path, hostile)
    hostile.lose = [loss]
    first = w.deliver(t1)
    assert first.sent == 0 and w.alerts()[0]["state"] == "sending", f"{loss}: in doubt"
    assert sum(c.method == "chat.postMessage" for c in hostile.calls) == 1, "not retried inside the call"
    passes(w, t1, later(t1, 60))
    assert copies(hostile) == {1: 1, 2: 1, 3: 1} and order(hostile) == [1, 2, 3]
    assert settled(w) == {1: "sent", 2: "sent", 3: "sent"}


def test_ok_true_without_ts_for_a_single_alert_is_sent_once(tmp_path: Path, hostile: HostileSlack) -> None:
    w, t1 = setup(tmp_path, hostile)
    hostile.lose = ["no_ts"]
    passes(w, t1, later(t1, 60))
    assert copies(hostile) == {1: 1, 2: 1, 3: 1} and order(hostile) == [1, 2, 3]
    assert settled(w) == {1: "sent", 2: "sent", 3: "sent"}


# -- a wave message answered ok:true without ts -------------------------------------------------------------


def _wave_without_ts(tmp_path: Path, hostile: HostileSlack) -> tuple[World, str]:
    t0 = now_iso()
    w = world(tmp_path, hostile, people(4), wave_size=3)
    for i in range(3):
        w.suspend(f"reddit:user{i}", later(t0, i))
    hostile.lose = ["no_ts"]  # the wave message is stored; its answer has no ts
    t1 = later(t0, 3)
    passes(w, t1, later(t1, 60))  # the wave is looked for (its ts is Slack's) rather than posted again
    assert copies(hostile, "banwatch_wave", "wave_id") == {1: 1}
    assert [r["state"] for r in w.alerts()] == ["sent"] * 3
    t1 = later(t1, 60)
    w.suspend("reddit:user3", later(t1, 1))  # a later member: a reply in the wave's thread
    return w, later(t1, 2)


def test_a_wave_answered_without_ts_still_gets_its_replies_in_its_thread(tmp_path: Path,
                                                                         hostile: HostileSlack) -> None:
    w, t2 = _wave_without_ts(tmp_path, hostile)
    passes(w, t2, later(t2, 60))
    (wave,) = [m for m in hostile.in_channel("#banwatch") if (m.get("metadata") or {}).get("event_type") ==
               "banwatch_wave"]
    (reply,) = [m for m in hostile.in_channel("#banwatch") if (m.get("metadata") or {}).get("event_type") ==
                "banwatch_alert"]
    assert reply["thread_ts"] == wave["ts"], "the fourth suspension is a reply in the wave's thread"


def test_a_lost_reply_to_a_wave_without_ts_is_neither_lost_nor_stuck(tmp_path: Path, hostile: HostileSlack) -> None:
    w, t2 = _wave_without_ts(tmp_path, hostile)
    hostile.script = [(502, {}, {"ok": False, "error": "bad_gateway"})]  # a gateway's 502: the post never stored
    passes(w, t2, later(t2, 2 * DAY))
    assert copies(hostile) == {4: 1} or settled(w)[4] == "dead", f"alert 4: {w.alerts()[3]}"
    assert settled(w)[4] in ("sent", "dead")


# -- 429 with odd Retry-After values -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ("0", "-1", "soon", "nan", "", "Wed, 21 Oct 2015 07:28:00 GMT", "1.5"))
def test_an_odd_but_harmless_retry_after_keeps_exactly_once_and_order(tmp_path: Path, hostile: HostileSlack,
                                                                      value: str) -> None:
    w, t1 = setup(tmp_path, hostile)
    limited = (429, {"Retry-After": value}, {"ok": False, "error": "ratelimited"})
    hostile.script = [limited, limited]  # the call's own retry is limited too: the alert goes back to the outbox
    passes(w, t1, later(t1, 3600))
    assert copies(hostile) == {1: 1, 2: 1, 3: 1} and order(hostile) == [1, 2, 3]
    assert settled(w) == {1: "sent", 2: "sent", 3: "sent"}


@pytest.mark.parametrize("value", ("inf", "1e400", "1e12"))
def test_a_retry_after_beyond_any_date_does_not_crash_the_pass(tmp_path: Path, hostile: HostileSlack,
                                                               value: str) -> None:
    w, t1 = setup(tmp_path, hostile)
    hostile.script = [(429, {"Retry-After": value}, {"ok": False, "error": "ratelimited"})] * 50
    passes(w, t1, later(t1, 2 * DAY))
    assert set(settled(w).values()) <= {"sent", "dead"}, settled(w)


def test_a_retry_after_of_decades_does_not_block_the_channel_past_give_up(tmp_path: Path,
                                                                          hostile: HostileSlack) -> None:
    w, t1 = setup(tmp_path, hostile)
    hostile.script = [(429, {"Retry-After": "1e9"}, {"ok": False, "error": "ratelimited"})]
    passes(w, t1, later(t1, 30 * DAY))
    assert set(settled(w).values()) <= {"sent", "dead"}, settled(w)


# -- a history API that stays down must not block the channel for ever --------------------------------------------


def test_a_history_outage_does_not_block_the_channel_past_give_up(tmp_path: Path, hostile: HostileSlack) -> None:
    w, t1 = setup(tmp_path, hostile)
    hostile.lose = ["500"]  # stored, answer lost: in doubt
    hostile.down = {"conversations.history", "conversations.replies"}  # posting works; reading never does
    assert w.deliver(t1).sent == 0
    passes(w, t1, later(t1, 30 * DAY))
    assert hostile.down_calls > 0
    assert set(settled(w).values()) <= {"sent", "dead"}, settled(w)


def test_an_endless_history_does_not_hang_the_delivery_pass(tmp_path: Path, hostile: HostileSlack) -> None:
    done = threading.Event()

    def deliver() -> None:  # its own thread (and SQLite connection): a hung pass must not hang the suite
        w, t1 = setup(tmp_path, hostile)
        hostile.lose = ["500"]
        w.deliver(t1)  # in doubt: looked for in the history from its next_attempt_at on
        hostile.endless = {"conversations.history"}
        w.deliver(later(t1, 60))
        done.set()

    threading.Thread(target=deliver, daemon=True).start()
    try:
        assert done.wait(5), f"the pass still runs after 5 s and {hostile.pages} history pages"
    finally:
        hostile.endless = set()  # the next page is the last: a hung pass ends before the server goes
        done.wait(5)


# -- a host clock 12-15 minutes off Slack's --------------------------------------------------------------


@pytest.mark.parametrize("minutes", (12, 15))
def test_a_host_clock_minutes_ahead_does_not_hide_the_first_lost_post(tmp_path: Path, slack: FakeSlack,
                                                                      minutes: int) -> None:
    slack.clock_offset = -60.0 * minutes  # Slack's clock minus ours: the host is ahead
    w, t1 = setup(tmp_path, slack, n=1)
    slack.lose = ["500"]
    passes(w, t1, later(t1, 60))
    assert copies(slack) == {1: 1}, f"copies per alert: {dict(copies(slack))}"


def test_a_host_clock_fifteen_minutes_behind_slack_finds_the_lost_post(tmp_path: Path, slack: FakeSlack) -> None:
    slack.clock_offset = 900.0  # Slack ahead: its ts is after our window's start whatever the margin
    w, t1 = setup(tmp_path, slack)
    slack.lose = ["reset"]
    passes(w, t1, later(t1, 60))
    assert copies(slack) == {1: 1, 2: 1, 3: 1} and order(slack) == [1, 2, 3]


def test_a_stale_measured_offset_after_the_host_clock_is_corrected_does_not_hide_a_lost_post(
        tmp_path: Path, slack: FakeSlack) -> None:
    slack.clock_offset = 900.0  # the host is 15 minutes behind Slack (Slack's clock minus ours)
    w, t1 = setup(tmp_path, slack, n=2, accounts=3)
    first = w.deliver(t1)  # a post measures the offset: +900 is stored ...
    assert first.sent == 2 and abs(float(w.store.get_service("slack:clock_offset") or 0) - 900) < 5
    # ... then NTP steps the host's clock 15 minutes forward, onto Slack's: our `now` is Slack's time from here.
    t2 = later(now_iso(), 900)
    w.suspend("reddit:user2", t2)
    slack.lose = ["500"]  # the first post after the step: stored, its answer lost
    passes(w, later(t2, 1), later(t2, 60))
    assert copies(slack) == {1: 1, 2: 1, 3: 1}, f"copies per alert: {dict(copies(slack))}"
