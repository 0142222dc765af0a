"""Fault benchmark: the promises that must hold under faults, measured through the production path.

Every scenario runs the real `banwatch` command as subprocesses (`check`, `alerts send`, `run`, `validate`)
against small hostile servers on 127.0.0.1 defined here or in tests/fakes.py: a Slack that stores a message
and then loses the reply, a Slack whose clock is behind, platforms that answer walls, bombs and hostile
values. One row per fault kind (docs/performance.md, "Faults"):

    kind        the fault
    attempts    how many alerts, accounts or commands the scenario involved
    held        alerts still pending at the end, or accounts correctly left unknown
    duplicates  messages posted to Slack more than once for one alert (or one wave)
    lost        confirmed changes never alerted (dead, marked sent without a message, or no alert at all),
                or observations that were never recorded
    false       a wall or fault read as a loss (suspended, not_found, deactivated)
    peak MiB    the highest VmHWM of any banwatch process the scenario started
    s           the scenario's wall time; notes says what else was seen

A cell is "-" where it does not apply. Nothing here asserts: the table says what HEAD does.

    .venv/bin/python benchmarks/faults.py [--only KIND ...] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from banwatch.monitor.model import Account, Status, Verdict  # noqa: E402
from banwatch.spiders.platforms import PLATFORMS  # noqa: E402
from tests.conftest import Banwatch, wait_for  # noqa: E402
from tests.fakes import FakePlatforms, FakeSlack, LocalServer, QuietHandler  # noqa: E402
from tests.fixtures import Fixture, by_rule  # noqa: E402
from tests.sim import did_of, own  # noqa: E402
from tests.test_e2e import serve  # noqa: E402

MiB = 1024 * 1024
KEEP = False  # --keep: leave each scenario's working directory behind
CHANNEL = "#faults"
LOSSES = ("suspended", "not_found", "deactivated")
NO_HISTORY = "chat:write,channels:read,groups:read"
SLACK_CLIENT_TIMEOUT_S = 10  # alerts/slack.py: SlackNotifier's WebClient timeout


# -- running banwatch, measuring its peak RSS ----------------------------------------------------------------


class Proc:
    """One `banwatch` subprocess; a thread samples its VmHWM (the kernel's high-water mark) every 10 ms."""

    def __init__(self, bench: Bench, args: tuple[str, ...], env: dict[str, str] | None = None) -> None:
        n = len(bench.procs)
        self.bench, self.args = bench, args
        self.out_path, self.err_path = bench.dir / f"cmd{n:02d}.out", bench.dir / f"cmd{n:02d}.err"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.popen = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", *args], cwd=bench.dir,
                                          env=bench.env if env is None else env, stdout=out, stderr=err, text=True)
        self.started = time.monotonic()
        self.seconds = 0.0
        self.peak_kib = 0
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()
        bench.procs.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _watch(self) -> None:
        status = Path(f"/proc/{self.popen.pid}/status")
        while self.popen.poll() is None:
            with contextlib.suppress(OSError):
                found = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.M)
                if found:
                    self.peak_kib = max(self.peak_kib, int(found.group(1)))
            time.sleep(0.01)

    def wait(self, timeout: float = 120) -> int:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
            self.err_path.open("a").write(f"\n[faults.py: killed after {timeout}s]\n")
        self.seconds = time.monotonic() - self.started
        self.watcher.join(timeout=5)
        self.bench.peak_kib = max(self.bench.peak_kib, self.peak_kib)
        return code

    def stop(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM: (exit code, seconds from the signal to the exit)."""
        began = time.monotonic()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        code = self.wait(timeout)
        return code, time.monotonic() - began

    @property
    def code(self) -> int | None:
        return self.popen.returncode

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")


class Bench:
    """One scenario's working directory, environment (tests.conftest.Banwatch's) and processes."""

    def __init__(self, name: str, platforms: Any, slack: FakeSlack | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"banwatch-faults-{name}-"))
        self.banwatch = Banwatch(self.dir, platforms, slack)
        self.env = self.banwatch.env
        self.platforms, self.slack = platforms, slack
        self.procs: list[Proc] = []
        self.peak_kib = 0

    def watchlist(self, text: str) -> None:
        (self.dir / "watchlist.yaml").write_text(text, encoding="utf-8")

    def start(self, *args: str, env: dict[str, str] | None = None) -> Proc:
        return Proc(self, args, env)

    def cli(self, *args: str, timeout: float = 120) -> Proc:
        proc = Proc(self, args)
        proc.wait(timeout)
        return proc

    def rows(self, query: str, *params: Any) -> list[dict[str, Any]]:
        return self.banwatch.rows(query, *params)

    def close(self) -> None:
        for proc in self.procs:  # only processes this scenario started
            if proc.popen.poll() is None:
                proc.popen.kill()
                proc.wait(10)
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def peak_mib(self) -> float:
        return round(self.peak_kib / 1024, 1)


def traceback_in(*procs: Proc) -> bool:
    return any("Traceback" in p.stderr or "Traceback" in p.stdout for p in procs)


# -- a hostile Slack ------------------------------------------------------------------------------------------


class _SlackHandler(QuietHandler):
    """tests.fakes' Slack handler, with the faults: after FakeSlack has stored a post, its answer can be lost."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "json" in (self.headers.get("Content-Type") or ""):
            params = json.loads(body or b"{}")
        else:
            params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        self._answer(params)

    def do_GET(self) -> None:  # noqa: N802
        self._answer({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})

    def _answer(self, params: dict[str, Any]) -> None:
        owner: HostileSlack = self.server.owner  # type: ignore[attr-defined]
        method = urlsplit(self.path).path.rsplit("/", 1)[-1]
        status, headers, payload = owner.handle(method, self.headers.get("Authorization", ""), params)
        fault = owner.after(method, params, payload)
        try:
            if fault == "reset":  # RST, no answer: close the socket with SO_LINGER 0
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.wfile.close()
                self.rfile.close()
                self.connection.close()
                self.wfile = io.BytesIO()  # what http.server still flushes goes nowhere
                self.close_connection = True
                return
            if fault == "http500":
                self.send(500, {"Content-Type": "text/html"},
                          b"<html><head><title>500 Internal Server Error</title></head><body>"
                          b"<h1>Internal Server Error</h1></body></html>")
                return
            if fault == "not_json":
                self.send(200, {"Content-Type": "text/html; charset=utf-8"},
                          b"<html><body>upstream connect error or disconnect/reset before headers</body></html>")
                return
            if fault == "slow":
                time.sleep(owner.slow)
            self.send(status, {"Content-Type": "application/json; charset=utf-8", **headers},
                      json.dumps(payload).encode())
        except OSError:  # the client gave up (timeout) or was killed
            self.close_connection = True


class HostileSlack(FakeSlack):
    """FakeSlack (channels, metadata, threads, Block Kit limits, scopes) plus:

    - `fault`: the first post of each alert or wave is stored, then answered with `reset` (connection reset),
      `http500`, `not_json` (200 with an HTML body) or `slow` (after `slow` seconds, past the client timeout);
    - `kill`: a callable run once, right after a post of an alert not seen before is stored (a SIGKILL of the
      posting process: the crash between Slack storing a message and banwatch hearing of it);
    - `skew`: seconds added to Slack's clock, the ts it gives messages (negative: Slack is behind).
    """

    def __init__(self, *, fault: str | None = None, skew: float = 0.0, slow: float = SLACK_CLIENT_TIMEOUT_S + 2):
        super().__init__()
        self.httpd.RequestHandlerClass = _SlackHandler
        self.httpd.handle_error = lambda *_: None  # type: ignore[method-assign]
        self.fault, self.skew, self.slow = fault, skew, slow
        self.faulted: set[tuple[str, Any]] = set()
        self.seen: set[tuple[str, Any]] = set()
        self.kill: Callable[[], None] | None = None
        self.kills = 0

    @staticmethod
    def mark(params: dict[str, Any]) -> tuple[str, Any] | None:
        meta = params.get("metadata")
        if isinstance(meta, str):
            with contextlib.suppress(ValueError):
                meta = json.loads(meta)
        if not isinstance(meta, dict):
            return None
        payload = meta.get("event_payload") or {}
        key = "alert_id" if meta.get("event_type") == "banwatch_alert" else "wave_id"
        return str(meta.get("event_type")), payload.get(key)

    def handle(self, method: str, auth: str, params: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if method == "chat.postMessage" and params.get("channel"):
            with self.lock:
                self.channel_id(str(params["channel"]))  # the channel exists whatever the post's fate
        return super().handle(method, auth, params)

    def _route(self, method: str, auth: str, params: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if method in ("conversations.history", "conversations.replies") and params.get("channel") in \
                self.channels.values():
            self.messages.setdefault(str(params["channel"]), [])  # a known channel with no message yet: empty
        return super()._route(method, auth, params)

    def _next_ts(self) -> str:
        self._last = max(time.time() + self.skew, getattr(self, "_last", 0.0) + 0.000001)
        return f"{self._last:.6f}"

    def after(self, method: str, params: dict[str, Any], payload: dict[str, Any]) -> str | None:
        """The fault for this answer, decided once the post is stored."""
        if method != "chat.postMessage" or not payload.get("ok"):
            return None
        mark = self.mark(params)
        with self.lock:
            new = mark not in self.seen
            self.seen.add(mark)  # type: ignore[arg-type]
            kill, self.kill = (self.kill, None) if new and self.kill else (None, self.kill)
            fault = None
            if self.fault and mark not in self.faulted:
                self.faulted.add(mark)  # type: ignore[arg-type]
                fault = self.fault
        if kill:
            self.kills += 1
            kill()
        return fault

    def all_messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [m for msgs in self.messages.values() for m in msgs]

    def post_calls(self) -> int:
        return sum(c.method == "chat.postMessage" for c in self.calls)

    def history_calls(self) -> int:
        return sum(c.method in ("conversations.history", "conversations.replies") for c in self.calls)


def sigkill(proc: Proc) -> Callable[[], None]:
    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    return kill


# -- what reached the channel -----------------------------------------------------------------------------------


@dataclass
class Ledger:
    alerts: int
    held: int
    duplicates: int
    lost: int
    dead: int
    sent_without_message: int
    unalerted: int  # confirmed losses with no alert row, or expected changes never confirmed


def ledger(bench: Bench, slack: HostileSlack, expected: list[str] = ()) -> Ledger:  # type: ignore[assignment]
    per_alert: Counter[Any] = Counter()
    per_wave: Counter[Any] = Counter()
    for m in slack.all_messages():
        mark = HostileSlack.mark(m)
        if mark and mark[0] == "banwatch_alert":
            per_alert[str(mark[1])] += 1
        elif mark and mark[0] == "banwatch_wave":
            per_wave[str(mark[1])] += 1
    duplicates = sum(n - 1 for n in per_alert.values()) + sum(n - 1 for n in per_wave.values())
    rows = bench.rows("SELECT id, kind, state, wave_id, thread_ts FROM alerts")

    def delivered(a: dict[str, Any]) -> bool:
        in_wave = a["wave_id"] is not None and not a["thread_ts"] and per_wave[str(a["wave_id"])] > 0
        return per_alert[str(a["id"])] > 0 or in_wave

    held = sum(a["state"] not in ("sent", "dead") for a in rows)
    dead = sum(a["state"] == "dead" and not delivered(a) for a in rows)
    phantom = sum(a["state"] == "sent" and not delivered(a) for a in rows)
    unalerted = bench.rows(
        "SELECT count(*) AS n FROM changes c WHERE c.to_status IN ('suspended', 'not_found', 'deactivated') "
        "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.change_id = c.id)")
    missing = 0
    if expected:
        confirmed = {r["account_key"] for r in bench.rows("SELECT account_key FROM changes")}
        missing = sum(k not in confirmed for k in expected)
    unalerted_n = (unalerted[0]["n"] if unalerted else 0) + missing
    return Ledger(len(rows), held, duplicates, dead + phantom + unalerted_n, dead, phantom, unalerted_n)


def lost_note(book: Ledger) -> str:
    parts = [f"{book.dead} dead"] if book.dead else []
    if book.sent_without_message:
        parts.append(f"{book.sent_without_message} marked sent with no message")
    if book.unalerted:
        parts.append(f"{book.unalerted} change(s) never alerted")
    return "; ".join(parts)


# -- the table ---------------------------------------------------------------------------------------------------


@dataclass
class Row:
    kind: str
    attempts: int | None = None
    held: int | None = None
    duplicates: int | None = None
    lost: int | None = None
    false: int | None = None
    peak_mib: float | None = None
    seconds: float = 0.0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def reddit_watchlist(keys: list[str], alerts: str = "wave_size: 1000", service: str = "",
                     defaults: str = "interval: 10m, confirmations: 1, confirm_delay: 0s") -> str:
    text = f"defaults: {{{defaults}}}\n"
    text += f"alerts: {{slack_channel: \"{CHANNEL}\", retry_base: 1s, retry_max: 2s, {alerts}}}\n"
    if service:
        text += f"service: {{{service}}}\n"
    text += "platforms: {reddit: {delay: 0s, concurrency: 8}}\naccounts:\n"
    return text + "".join(f"  - {{platform: reddit, handle: {k.split(':', 1)[1]}}}\n" for k in keys)


def baseline(bench: Bench, keys: list[str], **watchlist: str) -> Proc:
    """`keys` active, watched and baselined by one `banwatch check` (a baseline never alerts)."""
    bench.watchlist(reddit_watchlist(keys, **watchlist))
    for key in keys:
        serve(bench.platforms, key, "reddit.profile")
    return bench.cli("check")


def suspend(bench: Bench, keys: list[str]) -> None:
    for key in keys:
        serve(bench.platforms, key, "reddit.is_suspended")


def held_rows(bench: Bench) -> list[dict[str, Any]]:
    """Alerts not delivered and not given up: pending, or `sending` (in flight, interrupted or in doubt)."""
    return bench.rows("SELECT id, state, next_attempt_at FROM alerts WHERE state NOT IN ('sent', 'dead')")


def until_due(bench: Bench, longest: float = 15.0) -> float:
    """Seconds until the oldest held alert is due (its next_attempt_at, banwatch's clock; a channel's alerts go
    in order, so nothing goes before it), within [0.2, longest]."""
    from banwatch.monitor.timeutil import parse_iso

    rows = sorted(held_rows(bench), key=lambda r: r["id"])
    if not rows or not rows[0]["next_attempt_at"]:
        return 0.2
    wait = (parse_iso(rows[0]["next_attempt_at"]) - datetime.now(UTC)).total_seconds() + 0.2
    return min(longest, max(0.2, wait))


def send_passes(bench: Bench, passes: int, posts: list[int] | None = None) -> list[Proc]:
    """`banwatch alerts send` up to `passes` times, each when the first held alert is due (a retry waits
    retry_base, 1 s), until no alert is held. `posts` gets each pass's chat.postMessage calls."""
    done: list[Proc] = []
    slack = bench.slack
    for _ in range(passes):
        if not held_rows(bench):
            break
        time.sleep(until_due(bench))
        before = slack.post_calls() if isinstance(slack, HostileSlack) else 0
        done.append(bench.cli("alerts", "send"))
        if posts is not None and isinstance(slack, HostileSlack):
            posts.append(slack.post_calls() - before)
    return done


# -- 1. Slack stored the message, the reply was lost -------------------------------------------------------------

LOST_REPLY = {"1a": ("reset", "connection reset after storing"), "1b": ("http500", "HTTP 500 after storing"),
              "1c": ("not_json", "200, non-JSON body, after storing"),
              "1d": ("slow", f"reply slower than the {SLACK_CLIENT_TIMEOUT_S} s client timeout")}


def lost_reply(kind: str) -> Row:
    fault, title = LOST_REPLY[kind]
    n = 2 if fault == "slow" else 3
    keys = [f"reddit:reply{i}" for i in range(n)]
    with FakePlatforms() as platforms, HostileSlack(fault=fault) as slack:
        bench = Bench(kind, platforms, slack)
        try:
            baseline(bench, keys)
            suspend(bench, keys)
            first = bench.cli("check")  # confirms the changes and makes the first delivery pass
            posts = [slack.post_calls()]
            passes = send_passes(bench, n + 3, posts)
            book = ledger(bench, slack, keys)
            notes = (f"{len(slack.all_messages())} messages stored for {n} alerts; chat.postMessage calls per "
                     f"delivery pass (check, then alerts send): {', '.join(map(str, posts))}")
            if lost_note(book):
                notes += f"; lost: {lost_note(book)}"
            if traceback_in(first, *passes):
                notes += "; a traceback was printed"
            return Row(f"{kind} lost reply: {title}", n, book.held, book.duplicates, book.lost, None, bench.peak_mib,
                       notes=notes)
        finally:
            bench.close()


def lost_reply_wave() -> Row:
    """1e: the same reset on a wave message (3 suspensions at once, wave_size 3), then on a reply in its thread."""
    keys = [f"reddit:wreply{i}" for i in range(4)]
    with FakePlatforms() as platforms, HostileSlack(fault="reset") as slack:
        bench = Bench("1e", platforms, slack)
        try:
            baseline(bench, keys, alerts="wave_size: 3, wave_window: 10m")
            procs, posts = [], []
            for batch in (keys[:3], keys[3:]):  # the wave message, then a reply in its thread
                suspend(bench, batch)
                before = slack.post_calls()
                procs.append(bench.cli("check"))
                posts.append(slack.post_calls() - before)
                procs += send_passes(bench, 4, posts)
            book = ledger(bench, slack, keys)
            waves = bench.rows("SELECT count(*) AS n FROM waves WHERE state = 'sent'")[0]["n"]
            notes = (f"{len(slack.all_messages())} messages stored ({waves} wave message(s) and its thread) for "
                     f"{len(keys)} alerts; chat.postMessage calls per delivery pass: {', '.join(map(str, posts))}")
            if lost_note(book):
                notes += f"; lost: {lost_note(book)}"
            if traceback_in(*procs):
                notes += "; a traceback was printed"
            return Row("1e lost reply: reset on a wave message and a thread reply", len(keys), book.held,
                       book.duplicates, book.lost, None, bench.peak_mib, notes=notes)
        finally:
            bench.close()


# -- 2. two dispatchers on one database ------------------------------------------------------------------------


def two_dispatchers() -> Row:
    n = 30
    keys = [f"reddit:both{i}" for i in range(n)]
    with FakePlatforms() as platforms, HostileSlack() as slack:
        bench = Bench("2", platforms, slack)
        try:
            baseline(bench, keys, service="tick: 0.3s, deliver_every: 0.3s, reload_every: 5s")
            suspend(bench, keys)
            slack.fail_with = (503, {}, {"ok": False, "error": "service_unavailable"})
            bench.cli("check")  # the alerts are confirmed, none delivered: pending, due within a second
            slack.fail_with = None
            slack.hold = 0.1  # each post takes a while: a delivery pass lasts seconds, the dispatchers overlap
            time.sleep(1.0)
            calls_before = slack.post_calls()
            run = bench.start("run")
            sends = [bench.start("alerts", "send")]  # at the same moment, then more while run delivers
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and held_rows(bench):
                time.sleep(0.5)
                if sum(p.popen.poll() is None for p in sends) < 3:
                    sends.append(bench.start("alerts", "send"))
            for p in sends:
                p.wait(60)
            time.sleep(1.0)  # a few more delivery passes of run: nothing new may appear
            code, _ = run.stop()
            book = ledger(bench, slack, keys)
            exits = Counter(p.code for p in sends)
            notes = (f"run + {len(sends)} `alerts send` started while it delivered (exit codes "
                     f"{', '.join(f'{c}×{k}' for c, k in sorted(exits.items(), key=lambda kv: str(kv[0])))}); "
                     f"{slack.post_calls() - calls_before} posts for {n} alerts; run exited {code}")
            if lost_note(book):
                notes += f"; lost: {lost_note(book)}"
            if traceback_in(run, *sends):
                notes += "; a traceback was printed"
            return Row("2 two dispatchers on one db (run + alerts send)", n, book.held, book.duplicates, book.lost,
                       None, bench.peak_mib, notes=notes)
        finally:
            bench.close()


# -- 3 / 4. kill -9 between Slack storing a post and banwatch hearing of it ---------------------------------------


def crash_rounds(bench: Bench, slack: HostileSlack, keys: list[str], kills: int) -> tuple[int, list[Proc]]:
    """The changes are confirmed by a `check` SIGKILLed right after Slack stored its first post; then `alerts
    send` restarts, each SIGKILLed after the first post of an alert Slack had not seen, `kills` in all; then
    clean passes. Returns (kills done, processes)."""
    suspend(bench, keys)
    first = bench.start("check")
    slack.kill = sigkill(first)
    first.wait(120)
    procs = [first]
    for _ in range(kills - 1):
        if not held_rows(bench):
            break
        proc = bench.start("alerts", "send")
        slack.kill = sigkill(proc)
        proc.wait(120)
        procs.append(proc)
    slack.kill = None
    procs += send_passes(bench, 4)
    return slack.kills, procs


def crash_clock_skew() -> Row:
    n = 4
    results: dict[float, tuple[Ledger, int, int, bool]] = {}
    peak = 0.0
    for skew in (-120.0, 0.0):  # the fault, then the control
        keys = [f"reddit:skew{i}" for i in range(n)]
        with FakePlatforms() as platforms, HostileSlack(skew=skew) as slack:
            bench = Bench("3", platforms, slack)
            try:
                baseline(bench, keys)
                kills, procs = crash_rounds(bench, slack, keys, n)
                results[skew] = (ledger(bench, slack, keys), kills, slack.history_calls(), traceback_in(*procs))
                peak = max(peak, bench.peak_mib)
            finally:
                bench.close()
    book, kills, history, traceback = results[-120.0]
    control = results[0.0][0]
    notes = (f"Slack's clock 120 s behind; {kills} SIGKILLs right after Slack stored a post; {history} history "
             f"calls; control with clocks in sync: {control.duplicates} duplicates, {control.lost} lost, "
             f"{control.held} held")
    if lost_note(book):
        notes += f"; lost: {lost_note(book)}"
    if traceback or results[0.0][3]:
        notes += "; a traceback was printed"
    return Row("3 kill -9 mid-post, Slack clock 2 min behind", n, book.held, book.duplicates, book.lost, None,
               peak, notes=notes)


def no_history_scope() -> Row:
    n = 3
    keys = [f"reddit:scope{i}" for i in range(n)]
    with FakePlatforms() as platforms, HostileSlack() as slack:
        slack.scopes = NO_HISTORY
        bench = Bench("4", platforms, slack)
        try:
            baseline(bench, keys)
            kills, procs = crash_rounds(bench, slack, keys, 1)
            book = ledger(bench, slack, keys)
            health = bench.rows("SELECT state FROM alerts WHERE kind = 'health'")
            notes = (f"no channels:history; {kills} SIGKILL right after Slack stored a post; {slack.history_calls()} "
                     f"history calls (reconcile attempts); {len(health)} health alert(s) "
                     f"({', '.join(sorted(h['state'] for h in health)) or '-'}); {book.dead} dead")
            if lost_note(book):
                notes += f"; lost: {lost_note(book)}"
            if traceback_in(*procs):
                notes += "; a traceback was printed"
            return Row("4 no history scope + kill -9 mid-post", book.alerts, book.held, book.duplicates, book.lost,
                       None, bench.peak_mib, notes=notes)
        finally:
            bench.close()


# -- 5. an oversized health alert ahead of a real suspension --------------------------------------------------------


def oversized() -> Row:
    key = "reddit:behind"
    with FakePlatforms() as platforms, HostileSlack() as slack:  # FakeSlack rejects what Block Kit would
        bench = Bench("5", platforms, slack)
        try:
            good = reddit_watchlist([key], service="tick: 0.3s, deliver_every: 0.5s, reload_every: 0.3s",
                                    defaults="interval: 1s, confirmations: 1, confirm_delay: 0s")
            bench.watchlist(good)
            serve(platforms, key, "reddit.profile")
            run = bench.start("run")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not bench.rows("SELECT 1 FROM accounts WHERE status = 'active'"):
                time.sleep(0.2)
            # A broken edit: 80 handles of ampersands, each quoted in its error; the health alert quotes them all.
            bad = good + "".join(f"  - {{platform: reddit, handle: \"{'&' * 200}{i}\"}}\n" for i in range(80))
            bench.watchlist(bad)
            while time.monotonic() < deadline and not bench.rows("SELECT 1 FROM alerts WHERE kind = 'health'"):
                time.sleep(0.2)
            suspend(bench, [key])  # the last good watchlist keeps running: this suspension is confirmed behind it
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (not bench.rows("SELECT 1 FROM alerts WHERE kind = 'suspended'")
                                                   or held_rows(bench)):
                time.sleep(0.3)
            code, _ = run.stop()
            book = ledger(bench, slack, [key])
            detail = bench.rows("SELECT detail FROM alerts WHERE kind = 'health'")
            amps = detail[0]["detail"].count("&") if detail else 0
            rejected = sum(c.method == "chat.postMessage" and not c.accepted for c in slack.calls)
            states = {r["kind"]: r["state"] for r in bench.rows("SELECT kind, state FROM alerts")}
            notes = (f"health alert with {amps} '&' (a broken watchlist edit under run) ahead of a suspension: "
                     f"health {states.get('health', 'absent')}, suspension {states.get('suspended', 'absent')}; "
                     f"{rejected} post(s) rejected by Slack; run exited {code}")
            if lost_note(book):
                notes += f"; lost: {lost_note(book)}"
            if traceback_in(run):
                notes += "; a traceback was printed"
            return Row("5 oversized health alert ahead of a suspension", book.alerts, book.held, book.duplicates,
                       book.lost, None, bench.peak_mib, notes=notes)
        finally:
            bench.close()


# -- 6. waves: two pending below the wave size, then more ---------------------------------------------------------


def waves() -> Row:
    keys = [f"reddit:wave{i}" for i in range(4)]
    with FakePlatforms() as platforms, HostileSlack() as slack:
        bench = Bench("6", platforms, slack)
        try:
            baseline(bench, keys, alerts="wave_size: 3, wave_window: 10m")
            reported = 0
            procs = []
            for batch in (keys[:2], keys[2:3], keys[3:]):  # two at once, then a third (the wave), then a reply
                suspend(bench, batch)
                proc = bench.cli("check")
                procs.append(proc)
                found = re.search(r"^alerts: (\d+) sent", proc.stdout, re.M)
                reported += int(found.group(1)) if found else 0
            book = ledger(bench, slack, keys)
            delivered = sum(1 for r in bench.rows("SELECT state FROM alerts WHERE kind = 'suspended'")
                            if r["state"] == "sent")
            tops = [m for m in slack.all_messages() if not m.get("thread_ts")]
            counts = [int(m.group(1)) for t in tops if (m := re.match(r"(\d+) Reddit accounts", t.get("text", "")))]
            wave_count = max(counts, default=0)
            alone_and_member = bench.rows("SELECT count(*) AS n FROM alerts WHERE wave_id IS NOT NULL AND "
                                          "thread_ts IS NULL AND id IN (SELECT id FROM alerts WHERE slack_ts IS NOT "
                                          "NULL) AND slack_ts NOT IN (SELECT slack_ts FROM waves WHERE slack_ts IS "
                                          "NOT NULL)")
            twice = max(0, reported - delivered) + max(0, wave_count - len(keys)) + alone_and_member[0]["n"]
            notes = (f"wave_size 3: 2 at once, then 1, then 1; `check` reported {reported} sent for {delivered} "
                     f"delivered; the wave message counts {wave_count} of {len(keys)}; {len(tops)} top-level "
                     f"messages; counted twice: {twice}")
            if lost_note(book):
                notes += f"; lost: {lost_note(book)}"
            if traceback_in(*procs):
                notes += "; a traceback was printed"
            return Row("6 waves: two pending, wave size 3", len(keys), book.held, book.duplicates + twice, book.lost,
                       None, bench.peak_mib, notes=notes)
        finally:
            bench.close()


# -- 7. Slack 429 with Retry-After 3600 -------------------------------------------------------------------------


def rate_limited() -> Row:
    limited = (429, {"Retry-After": "3600"}, {"ok": False, "error": "ratelimited"})
    service = "tick: 0.3s, deliver_every: 0.3s, reload_every: 5s"
    defaults = "interval: 1s, confirmations: 1, confirm_delay: 0s"
    with FakePlatforms() as platforms, HostileSlack() as slack:
        bench = Bench("7", platforms, slack)
        try:
            # `check` meets the 429 at its end
            keys = ["reddit:limited0", "reddit:limited1"]
            baseline(bench, keys, service=service, defaults=defaults)
            suspend(bench, keys)
            slack.fail_with = limited
            check = bench.cli("check", timeout=120)
            check_posts = slack.post_calls()
            book = ledger(bench, slack, keys)
            said = "says when" if "Slack asked to wait 3600s" in check.stdout else "does not say when"
            check_tb, peak = traceback_in(check), bench.peak_mib
        finally:
            bench.close()
    with FakePlatforms() as platforms, HostileSlack() as slack:
        bench = Bench("7", platforms, slack)
        try:
            # `run` meets it in its own delivery pass, then is stopped while the channel is held for an hour
            keys = ["reddit:limited2", "reddit:limited3"]
            baseline(bench, keys, service=service, defaults=defaults)
            slack.fail_with = limited
            run = bench.start("run")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not bench.rows("SELECT 1 FROM service WHERE key = 'last_tick_at'"):
                time.sleep(0.2)
            suspend(bench, keys)
            while time.monotonic() < deadline and not bench.rows("SELECT 1 FROM alerts WHERE last_error IS NOT NULL"):
                time.sleep(0.2)
            time.sleep(1.5)  # several more delivery passes: the channel is held, Slack is not asked again
            code, stop_s = run.stop()
            run_book = ledger(bench, slack, keys)
            run_posts = slack.post_calls()
            peak = max(peak, bench.peak_mib)
            run_tb = traceback_in(run)
        finally:
            bench.close()
    notes = (f"`check` returned in {check.seconds:.1f} s (exit {check.code}, {check_posts} post, {said}); `run` "
             f"got the 429 itself ({run_posts} post in all) and exited {stop_s:.1f} s after SIGTERM (exit {code})")
    if check_tb or run_tb:
        notes += "; a traceback was printed"
    return Row("7 Slack 429, Retry-After 3600", 4, book.held + run_book.held, book.duplicates + run_book.duplicates,
               book.lost + run_book.lost, None, peak, notes=notes,
               extra={"check_s": round(check.seconds, 2), "sigterm_exit_s": round(stop_s, 2)})


# -- 8. a wall on the second probe --------------------------------------------------------------------------------

CF = (b"<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body>"
      b"<noscript>Enable JavaScript and cookies to continue</noscript>"
      b"<script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8a1b2c3d4e5f6789\"></script>"
      b"</body></html>")
CAPTCHA = (b"<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>"
           b"<div class=\"cf-wrapper\"><h1>Please verify you are a human</h1>"
           b"<form id=\"challenge-form\"><div class=\"h-captcha\" data-sitekey=\"0000-0000\">"
           b"</div></form><script src=\"https://hcaptcha.com/1/api.js\" async defer></script></div></body></html>")
RECAPTCHA = (b"<!DOCTYPE html><html><head><title>Security check</title></head><body>"
             b"<p>Our systems have detected unusual traffic. Please confirm you are not a robot.</p>"
             b"<form method=\"post\"><div class=\"g-recaptcha\" data-sitekey=\"6Lc0000\"></div></form>"
             b"<script src=\"https://www.google.com/recaptcha/api.js\"></script></body></html>")
WALLS = {
    "cf_challenge_403": (403, {"Content-Type": "text/html", "cf-mitigated": "challenge", "Server": "cloudflare"}, CF),
    "cf_403_no_header": (403, {"Content-Type": "text/html", "Server": "cloudflare"}, CF),
    "captcha_200": (200, {"Content-Type": "text/html; charset=utf-8"}, CAPTCHA),
    "recaptcha_200": (200, {"Content-Type": "text/html; charset=utf-8"}, RECAPTCHA),
}


def second_probe_url(key: str, first: Verdict) -> str:
    platform, handle = key.split(":", 1)
    account = Account(platform, handle, key, platform_id=did_of(key) if platform == "bluesky" else None)
    probe = PLATFORMS[platform].second_probe(first, account, {})
    assert probe is not None, key
    return probe.url


def walls() -> Row:
    # (platform, first answer when the account "goes", the first verdict, its control second answer)
    shapes = {"mastodon": ("mastodon.suspended", Verdict(Status.SUSPENDED, "mastodon.suspended"),
                           "mastodon.html_suspended"),
              "bluesky": ("bluesky.profile_not_found", Verdict(Status.NOT_FOUND, "bluesky.profile_not_found"),
                          "bluesky.repo_deleted")}
    accounts = {"mastodon": lambda w: f"mastodon:{w.replace('_', '')}@mastodon.example",
                "bluesky": lambda w: f"bluesky:{w.replace('_', '')}.bsky.social"}
    active = {"mastodon": "mastodon.account", "bluesky": "bluesky.profile"}
    walled = {(p, w): accounts[p](w) for p in shapes for w in WALLS}
    controls = {p: accounts[p]("control") for p in shapes}
    every = [*walled.values(), *controls.values()]
    with FakePlatforms() as platforms, HostileSlack() as slack:
        bench = Bench("8", platforms, slack)
        try:
            bench.watchlist(
                f"defaults: {{confirmations: 1, confirm_delay: 0s}}\nalerts: {{slack_channel: \"{CHANNEL}\"}}\n"
                "platforms: {mastodon: {delay: 0s}, bluesky: {delay: 0s}}\naccounts:\n"
                + "".join(f"  - {{platform: {k.split(':')[0]}, handle: \"{k.split(':', 1)[1]}\"}}\n" for k in every))
            for key in every:
                serve(platforms, key, active[key.split(":")[0]])
            procs = [bench.cli("check")]
            for (platform, wall), key in walled.items():
                first_rule, first, _ = shapes[platform]
                serve(platforms, key, first_rule)
                status, headers, body = WALLS[wall]
                wall_fx = Fixture(platform, wall, status, headers, body, second_probe_url(key, first), key, "unknown",
                                  "", "faults.py")
                platforms.serve(wall_fx)
            for platform, key in controls.items():
                first_rule, first, control_rule = shapes[platform]
                serve(platforms, key, first_rule)
                platforms.serve(own(by_rule(platform, control_rule), key), second_probe_url(key, first))
            procs.append(bench.cli("check"))
            changes = {r["account_key"]: r["to_status"]
                       for r in bench.rows("SELECT account_key, to_status FROM changes")}
            rows = {r["key"]: r for r in bench.rows("SELECT key, status, last_rule FROM accounts")}
            false = sum(changes.get(k) in LOSSES for k in walled.values())
            held = sum(k not in changes and rows[k]["status"] == "active" for k in walled.values())
            rules = Counter(rows[k]["last_rule"] for k in walled.values())
            seen = ", ".join(f"{k.split(':')[0]} {changes.get(k, 'none')}" for k in controls.values())
            notes = (f"mastodon 'suspended' and bluesky 'not found' answers, second probe walled "
                     f"({', '.join(WALLS)}): rules {', '.join(f'{r} ×{n}' for r, n in rules.items())}; controls "
                     f"(the platform's own second answer): {seen}")
            if traceback_in(*procs):
                notes += "; a traceback was printed"
            return Row("8 wall or captcha on the second probe", len(walled), held, None, None, false,
                       bench.peak_mib, notes=notes)
        finally:
            bench.close()


# -- 9. hostile values beside real suspensions ------------------------------------------------------------------


def with_value(fx: Fixture, key_path: tuple[str, ...], value: object) -> Fixture:
    """The JSON answer with `value` at `key_path`, written with ASCII escapes (a lone surrogate stays `\\ud800`)."""
    data = json.loads(fx.body)
    node = data
    for k in key_path[:-1]:
        node = node[k]
    node[key_path[-1]] = value
    return replace(fx, body=json.dumps(data).encode())


def hostile_values() -> Row:
    real = {"reddit:realone": ("reddit.profile", "reddit.is_suspended"),
            "bluesky:realtwo.bsky.social": ("bluesky.profile", "bluesky.account_takedown"),
            "weibo:1234567890": ("weibo.user_info", "weibo.ban_notice"),
            "mastodon:realfour@mastodon.example": ("mastodon.account", "mastodon.suspended")}
    hostile = {"mastodon:surrogate@mastodon.example": ("mastodon.account", ("display_name",), "\ud800"),
               "mastodon:listname@mastodon.example": ("mastodon.account", ("display_name",), ["a", "b"]),
               "bluesky:listed.bsky.social": ("bluesky.profile", ("displayName",), ["a", "b"]),
               "bluesky:numbered.bsky.social": ("bluesky.profile", ("displayName",), 12345),
               "bluesky:lonely.bsky.social": ("bluesky.profile", ("displayName",), "\udfff\x00")}
    every = [*real, *hostile]
    with FakePlatforms() as platforms, HostileSlack() as slack:
        bench = Bench("9", platforms, slack)
        try:
            bench.watchlist(
                f"defaults: {{confirmations: 1, confirm_delay: 0s}}\nalerts: {{slack_channel: \"{CHANNEL}\", "
                "wave_size: 1000}\nplatforms: {reddit: {delay: 0s}, bluesky: {delay: 0s}, mastodon: {delay: 0s}, "
                "weibo: {delay: 0s}}\naccounts:\n"
                + "".join(f"  - {{platform: {k.split(':')[0]}, handle: \"{k.split(':', 1)[1]}\"}}\n" for k in every))
            for key, (active, _) in real.items():
                serve(platforms, key, active)
            for key, (rule, path, value) in hostile.items():
                platform, handle = key.split(":", 1)
                fx = with_value(own(by_rule(platform, rule), key), path, value)
                account = Account(platform, handle, key)
                platforms.serve(fx, PLATFORMS[platform].probe(account, {}).url)
                if platform == "bluesky":
                    platforms.serve(fx, PLATFORMS[platform].probe(replace(account, platform_id=did_of(key)), {}).url)
            procs = [bench.cli("check")]
            for key, (_, gone) in real.items():
                serve(platforms, key, gone)
                if key.startswith("mastodon:"):
                    first = Verdict(Status.SUSPENDED, "mastodon.suspended")
                    platforms.serve(own(by_rule("mastodon", "mastodon.html_suspended"), key),
                                    second_probe_url(key, first))
            procs.append(bench.cli("check"))
            book = ledger(bench, slack, list(real))
            observed = {r["account_key"] for r in bench.rows("SELECT DISTINCT account_key FROM observations")}
            unrecorded = sum(k not in observed for k in every)
            rows = {r["key"]: r for r in bench.rows("SELECT key, status, last_rule FROM accounts")}
            false = sum(rows[k]["status"] in LOSSES for k in hostile)
            errors = sum(rows[k]["last_rule"].endswith(("record_error", "classifier_error")) for k in hostile
                         if rows[k]["last_rule"])
            notes = (f"{len(real)} real suspensions beside {len(hostile)} accounts answering a lone surrogate, a "
                     f"list, a number or NUL as display name; {len(slack.all_messages())} alerts posted; "
                     f"{unrecorded} accounts with no observation; {errors} record/classifier errors; "
                     f"hostile accounts now: {dict(Counter(rows[k]['status'] for k in hostile))}")
            if lost_note(book):
                notes += f"; lost: {lost_note(book)}"
            if traceback_in(*procs):
                notes += "; a traceback was printed"
            return Row("9 hostile values beside real suspensions", len(every), book.held, book.duplicates,
                       book.lost + unrecorded, false, bench.peak_mib, notes=notes)
        finally:
            bench.close()


# -- 10. decompression bombs and endless bodies ------------------------------------------------------------------

BOMB_PADDING = 16 * MiB


def reddit_answer(handle: str) -> bytes:
    return own(by_rule("reddit", "reddit.profile"), f"reddit:{handle}").body


def compressed(kind: str, handle: str) -> tuple[str, bytes]:
    """(Content-Encoding, body): an active answer and BOMB_PADDING bytes of JSON whitespace, compressed."""
    if kind == "br":
        try:
            import brotli
        except ImportError:
            brotli = None
        if brotli is not None:
            c = brotli.Compressor(quality=5)
            parts = [c.process(reddit_answer(handle))] + [c.process(b" " * MiB) for _ in range(BOMB_PADDING // MiB)]
            return "br", b"".join(parts) + c.finish()
    encoding = "gzip" if kind == "gzip" else "deflate"
    z = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    parts = [z.compress(reddit_answer(handle))] + [z.compress(b" " * MiB) for _ in range(BOMB_PADDING // MiB)]
    return encoding, b"".join(parts) + z.flush()


class Bombs(LocalServer):
    """/user/<kind>_<n>/about.json: an honest answer until `armed`, then the attack <kind>."""

    def __init__(self) -> None:
        self.armed = False
        self.cache: dict[str, tuple[str, bytes]] = {}
        bombs = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                m = re.match(r"^/user/([A-Za-z0-9_-]+)/about\.json", self.path)
                handle = m.group(1) if m else "plain"
                kind = handle.rsplit("_", 1)[0] if bombs.armed else "plain"
                try:
                    if kind in ("gzip", "br", "deflate"):
                        if handle not in bombs.cache:
                            bombs.cache[handle] = compressed(kind, handle)
                        encoding, body = bombs.cache[handle]
                        self.head(len(body), {"Content-Encoding": encoding})
                        self.wfile.write(body)
                    elif kind == "endless":
                        self.head(None, {})
                        chunk = b" " * 65536
                        while True:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    elif kind == "huge":
                        self.head(len(reddit_answer(handle)) + 32 * MiB, {})
                        self.wfile.write(reddit_answer(handle))
                        for _ in range(32 * MiB // 65536):
                            self.wfile.write(b" " * 65536)
                    else:
                        body = reddit_answer(handle)
                        self.head(len(body), {})
                        self.wfile.write(body)
                except OSError:
                    self.close_connection = True

            def head(self, length: int | None, headers: dict[str, str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header(*(("Transfer-Encoding", "chunked") if length is None else
                                   ("Content-Length", str(length))))
                self.end_headers()

        super().__init__(Handler)
        self.httpd.handle_error = lambda *_: None  # type: ignore[method-assign]



def bombs() -> Row:
    kinds = ("gzip", "br", "deflate", "endless", "huge")
    handles = [f"{k}_{i}" for k in kinds for i in range(2)]
    server = Bombs()
    slack = HostileSlack()
    slack.__enter__()
    bench = Bench("10", server, slack)
    try:
        bench.env["BANWATCH_DOWNLOAD_TIMEOUT"] = "10"
        bench.watchlist(
            f"defaults: {{confirmations: 1, confirm_delay: 0s}}\nalerts: {{slack_channel: \"{CHANNEL}\"}}\n"
            "platforms: {reddit: {delay: 0s, concurrency: 8}}\naccounts:\n  - {platform: reddit, handle: plain}\n"
            + "".join(f"  - {{platform: reddit, handle: {h}}}\n" for h in handles))
        first = bench.cli("check")
        baseline_peak = first.peak_kib / 1024
        server.armed = True
        attacked = bench.cli("check", timeout=180)
        rows = {r["key"]: r for r in bench.rows("SELECT key, status, last_rule FROM accounts")}
        changes = {r["account_key"]: r["to_status"] for r in bench.rows("SELECT account_key, to_status FROM changes")}
        keys = [f"reddit:{h}" for h in handles]
        false = sum(changes.get(k) in LOSSES for k in keys)
        held = sum(k not in changes and rows[k]["status"] == "active" for k in keys)
        rules = Counter(rows[k]["last_rule"] for k in keys)
        notes = (f"2 accounts each of {', '.join(kinds)} (16 MiB bombs, 32 MiB body, endless chunks) and one honest "
                 f"account, after an honest baseline: rules {', '.join(f'{r} ×{n}' for r, n in rules.items())}; "
                 f"`check` {attacked.seconds:.1f} s, exit {attacked.code}, peak {attacked.peak_kib / 1024:.0f} MiB "
                 f"(baseline check {baseline_peak:.0f} MiB); {len(slack.posted())} alerts")
        if traceback_in(first, attacked):
            notes += "; a traceback was printed"
        return Row("10 decompression bombs, endless bodies", len(keys), held, None, None, false, bench.peak_mib,
                   notes=notes)
    finally:
        bench.close()
        slack.__exit__()
        server.close()


# -- 11. a locked database at start --------------------------------------------------------------------------------


def locked_db() -> Row:
    with FakePlatforms() as platforms:
        bench = Bench("11", platforms, None)
        holder = None
        try:
            keys = ["reddit:locked0"]
            baseline(bench, keys)  # the database exists; now another process holds its write lock
            bench.env["BANWATCH_BUSY_TIMEOUT"] = "1"
            holder = subprocess.Popen([sys.executable, "-c", (
                "import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(bench.dir / 'banwatch.db')!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "c.execute(\"INSERT INTO service (key, value, updated_at) VALUES ('holder', 'x', 'now')\")\n"
                "print('locked', flush=True)\n"
                "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            suspend(bench, keys)
            commands = [("check",), ("run",), ("alerts", "send"), ("prune",), ("status",)]
            results = [(c, bench.cli(*c, timeout=60)) for c in commands]
            says = []
            for command, proc in results:
                lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
                tb = "traceback" if traceback_in(proc) else "no traceback"
                says.append(f"{' '.join(command)}: exit {proc.code}, {len(lines)} `Error:` line(s), {tb}, "
                            f"{proc.seconds:.1f} s")
            traceback = sum(traceback_in(p) for _, p in results)
            changes = bench.rows("SELECT count(*) AS n FROM changes")[0]["n"]
            notes = "; ".join(says) + f"; BANWATCH_BUSY_TIMEOUT=1; {changes} change(s) written while locked"
            return Row("11 locked database at start", len(commands), None, None, None, None, bench.peak_mib,
                       notes=notes, extra={"tracebacks": traceback,
                                           "exit_codes": {" ".join(c): p.code for c, p in results}})
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
            bench.close()


# -- 12. watchlist bombs ---------------------------------------------------------------------------------------------


def laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 "lol"']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\naccounts: *l{levels}\n"


WATCHLIST_BOMBS = {
    "billion laughs": laughs(),
    "self alias": "accounts: &x [*x]\n",
    "alias cycle": "accounts:\n  - &x\n    name: X\n    accounts:\n      - *x\n",
}


def watchlist_bombs() -> Row:
    with FakePlatforms() as platforms:
        bench = Bench("12", platforms, None)
        try:
            says, bad = [], 0
            tries = 0
            for name, text in WATCHLIST_BOMBS.items():
                bench.watchlist(text)
                for command in ("validate", "check"):
                    proc = bench.cli(command, timeout=60)
                    tries += 1
                    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
                    one_line = proc.code != 0 and len(errors) == 1 and not traceback_in(proc)
                    bad += not one_line
                    says.append(f"{name} {command}: exit {proc.code}, {proc.seconds:.1f} s, "
                                f"{proc.peak_kib / 1024:.0f} MiB, " + ("one-line error" if one_line else
                                                                      f"{len(errors)} error lines"
                                                                      + (", traceback" if traceback_in(proc) else "")))
            db = (bench.dir / "banwatch.db").exists()
            notes = "; ".join(says) + f"; database {'created' if db else 'not created'}"
            return Row("12 watchlist bombs (billion laughs, self alias)", tries, None, None, None, None,
                       bench.peak_mib, notes=notes, extra={"not_one_line": bad})
        finally:
            bench.close()


# -- 13-16. scale-out: a coordinator, fetch workers and Redis --------------------------------------------------------

FLEET_REDDIT = [f"reddit:fleet{i}" for i in range(6)]
FLEET_WEIBO = ["weibo:1234567890", "weibo:2345678901"]
FLEET_VICTIM = "reddit:fleet0"  # suspended during each fleet fault
FLEET_CLAIM_S = "2"  # --claim-timeout of the workers that must re-claim a dead worker's checks
REDIS_OUTAGE_S = 30.0  # the issue's figure (tests/test_fleet_faults.py uses 8 s)
NO_WORKER_S = 60.0


def fleet_watchlist(keys: list[str]) -> str:
    text = ("service: {tick: 0.3s, deliver_every: 0.3s, reload_every: 5s}\n"
            "defaults: {interval: 1s, confirmations: 2, confirm_delay: 0.5s}\n"
            f"alerts: {{slack_channel: \"{CHANNEL}\", retry_base: 1s, retry_max: 2s}}\n"
            "platforms:\n  reddit: {delay: 0s, concurrency: 4}\n  weibo: {delay: 0s, concurrency: 4}\naccounts:\n")
    return text + "".join(f"  - {{platform: {k.split(':', 1)[0]}, handle: \"{k.split(':', 1)[1]}\"}}\n" for k in keys)


def fleet_serve(platforms: FakePlatforms, key: str, rule: str, delay: float = 0.0) -> None:
    """From now on `key` answers `rule`'s saved response, after `delay` seconds."""
    platform, handle = key.split(":", 1)
    platforms.serve(own(by_rule(platform, rule), key),
                    PLATFORMS[platform].probe(Account(platform, handle, key), {}).url, delay=delay)


FLEET_ACTIVE = {"reddit": "reddit.profile", "weibo": "weibo.user_info"}
FLEET_LOSS = {"reddit": "reddit.is_suspended", "weibo": "weibo.ban_notice"}


class FleetBench:
    """A scenario's Bench plus a real redis-server (tests/redis_server.py, append-only) in its directory, a
    coordinator (`banwatch run` with BANWATCH_REDIS_URL) and fetch workers (`banwatch worker`, whose
    environment has Redis and the platforms, never Slack, the watchlist or the database)."""

    def __init__(self, kind: str, platforms: FakePlatforms, slack: HostileSlack, keys: list[str]) -> None:
        from tests.redis_server import RedisServer

        self.bench = Bench(kind, platforms, slack)
        self.platforms, self.slack, self.keys = platforms, slack, keys
        platforms.httpd.handle_error = lambda *_: None  # a killed worker's unfinished fetch: not a finding
        self.redis = RedisServer(self.bench.dir / "redis")
        self.bench.env["BANWATCH_REDIS_URL"] = self.redis.url
        self.bench.watchlist(fleet_watchlist(keys))
        for key in keys:
            fleet_serve(platforms, key, FLEET_ACTIVE[key.split(":")[0]])
        self.redis.start()
        self.client = self.redis.client()
        self.run: Proc | None = None
        self.workers: dict[str, Proc] = {}

    def coordinator(self) -> Proc:
        self.run = self.bench.start("run")
        return self.run

    def worker(self, name: str, *args: str) -> Proc:
        env = {k: v for k, v in self.bench.env.items()
               if not k.startswith(("SLACK_", "BANWATCH_DB", "BANWATCH_WATCHLIST"))}
        self.workers[name] = self.bench.start("worker", "--name", name, *args, env=env)
        return self.workers[name]

    def rows(self, query: str, *params: Any) -> list[dict[str, Any]]:
        return self.bench.rows(query, *params)

    def answered(self) -> int:
        rows = self.rows("SELECT count(*) AS n FROM remote_checks WHERE answered_at IS NOT NULL")
        return rows[0]["n"] if rows else 0

    def observed(self) -> int:
        rows = self.rows("SELECT coalesce(sum(checks), 0) AS n FROM observations")
        return rows[0]["n"] if rows else 0

    def baseline(self, keys: list[str] | None = None) -> None:
        want = set(keys or self.keys)
        wait_for(lambda: want <= {r["key"] for r in self.rows("SELECT key FROM accounts WHERE status = 'active'")},
                 40, "the baseline of every account, fetched by the workers")

    def suspend(self, key: str, delay: float = 0.0) -> None:
        fleet_serve(self.platforms, key, FLEET_LOSS[key.split(":")[0]], delay)

    def slow(self, delay: float, suspended: tuple[str, ...] = ()) -> None:
        """Every account answers after `delay` seconds: active, or suspended for those in `suspended`."""
        for key in self.keys:
            rules = FLEET_LOSS if key in suspended else FLEET_ACTIVE
            fleet_serve(self.platforms, key, rules[key.split(":")[0]], delay)

    def alerted(self, key: str) -> bool:
        """A loss of `key` confirmed and its alert sent."""
        return bool(self.rows("SELECT 1 FROM alerts a JOIN changes c ON a.change_id = c.id "
                              "WHERE c.account_key = ? AND a.state = 'sent'", key))

    def sent_after(self, key: str, since: float) -> float:
        """Seconds from `since` (Unix) to the sending of the alert for `key`'s loss (alerts.sent_at), once sent."""
        from banwatch.monitor.timeutil import parse_iso

        wait_for(lambda: self.alerted(key), 40, f"the alert for {key}")
        rows = self.rows("SELECT min(a.sent_at) AS at FROM alerts a JOIN changes c ON a.change_id = c.id "
                         "WHERE c.account_key = ? AND a.state = 'sent'", key)
        return parse_iso(rows[0]["at"]).timestamp() - since

    def posts(self, *words: str) -> list[str]:
        return [p["text"] for p in self.slack.posted() if all(w in p["text"] for w in words)]

    def more_rounds(self, rounds: int = 2) -> None:
        after = self.answered()
        wait_for(lambda: self.answered() >= after + rounds * len(self.keys), 30, f"{rounds} more rounds")

    def held_by(self, consumer: str) -> dict[str, str]:
        """Check id -> stream, of the checks `consumer` holds (XPENDING of group workers)."""
        from banwatch.monitor import streams

        out = {}
        for platform in sorted({k.split(":")[0] for k in self.keys}):
            stream = streams.checks_stream(platform)
            try:
                pending = self.client.xpending_range(stream, streams.WORKER_GROUP, "-", "+", 1000,
                                                     consumername=consumer)
            except Exception:  # noqa: BLE001 - no group yet
                continue
            for p in pending:
                for _, fields in self.client.xrange(stream, p["message_id"], p["message_id"]):
                    out[fields[b"id"].decode()] = stream
        return out

    def results_pending(self) -> list[bytes]:
        """Entries of the answers given to the coordinator and not acknowledged."""
        from banwatch.monitor import streams

        try:
            return [p["message_id"] for p in self.client.xpending_range(
                streams.RESULTS, streams.COORDINATOR_GROUP, "-", "+", 10000)]
        except Exception:  # noqa: BLE001 - no group yet
            return []

    def stop_all(self) -> dict[str, int | None]:
        """SIGTERM to every process still running, at once, then wait for each: exit codes by name."""
        running = [p for p in self.bench.procs if p.popen.poll() is None]
        for proc in running:
            proc.popen.send_signal(signal.SIGTERM)
        for proc in running:
            proc.wait(30)
        names = {id(p): n for n, p in self.workers.items()}
        return {names.get(id(p), "run"): p.code for p in running}

    def close(self) -> None:
        """Kill what still runs (Bench.close), then stop this scenario's redis-server."""
        try:
            self.bench.close()
        finally:
            with contextlib.suppress(Exception):
                self.client.close()
            with contextlib.suppress(Exception):
                self.redis.stop()
            if self.redis.proc is not None and self.redis.proc.poll() is None:
                self.redis.proc.kill()
                self.redis.proc.wait()


@dataclass
class FleetCount:
    answered: int
    observed: int
    duplicates: int
    lost: int
    false: int
    held: int
    parts: list[str]


def logged_at(proc: Proc, words: str, timeout: float = 30) -> float:
    """Unix time of the first log line of `proc` holding `words` (its logging timestamp, local time)."""
    line = wait_for(lambda: next((ln for ln in proc.stderr.splitlines() if words in ln), None), timeout,
                    f"{words!r} in the log")
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def fleet_count(fb: FleetBench, suspended: list[str], health_expected: tuple[str, ...] = ()) -> FleetCount:
    """After the processes stopped. duplicates: Slack messages beyond the first per alert (ledger), changes
    beyond the first per suspended account, checks recorded more often than answered (observations' checks
    above the answered remote_checks rows), health alerts beyond one each way. lost: ledger's lost (a
    suspension never confirmed, or confirmed and not delivered) plus answered checks not recorded. false: a
    change of an account that was never suspended, or a loss status other than suspended; a "no worker" alert
    for a platform that had one."""
    book = ledger(fb.bench, fb.slack, suspended)
    answered, observed = fb.answered(), fb.observed()
    changes = fb.rows("SELECT account_key, to_status FROM changes")
    per_key = Counter(r["account_key"] for r in changes)
    extra_changes = sum(n - 1 for k, n in per_key.items() if k in suspended and n > 1)
    false = sum(1 for r in changes if r["account_key"] not in suspended or r["to_status"] != "suspended")
    health = [t for t in (p["text"] for p in fb.slack.posted()) if "Redis at" in t or "worker" in t]
    extra_health = 0
    for words in health_expected:
        n = sum(all(w in t for w in words.split("|")) for t in health)
        extra_health += max(0, n - 1)
    wanted = {w.split("|")[0] for w in health_expected}
    false += sum("no worker for" in t and not any(w in t for w in wanted) for t in health)
    duplicates = book.duplicates + extra_changes + max(0, observed - answered) + extra_health
    lost = book.lost + max(0, answered - observed)
    parts = [f"{answered} checks answered, {observed} recorded in observations"]
    if book.lost:
        parts.append(f"lost: {lost_note(book)}")
    if book.duplicates:
        parts.append(f"{book.duplicates} Slack message(s) beyond the first per alert")
    if extra_changes:
        parts.append(f"{extra_changes} change(s) beyond one per suspension")
    return FleetCount(answered, observed, duplicates, lost, false, book.held, parts)


def fleet_row(kind: str, fb: FleetBench, count: FleetCount, notes: list[str], exits: dict[str, int | None]) -> Row:
    notes = notes + count.parts
    notes.append("exit codes after SIGTERM: " + ", ".join(f"{n} {c}" for n, c in exits.items()))
    if traceback_in(*fb.bench.procs):
        notes.append("a traceback was printed")
    return Row(kind, count.answered, count.held, count.duplicates, count.lost, count.false, fb.bench.peak_mib,
               notes="; ".join(notes))


def settle(fb: FleetBench, timeout: float = 10) -> None:
    """Until no alert is held (delivered, or the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and held_rows(fb.bench):
        time.sleep(0.2)


def redis_outage() -> Row:
    """13: Redis stopped for 30 s under a coordinator and two workers checking steadily, then started again
    (append-only: its streams survive); an account is suspended while it is down."""
    keys = FLEET_REDDIT
    with FakePlatforms() as platforms, HostileSlack() as slack:
        fb = FleetBench("13", platforms, slack, keys)
        try:
            fb.coordinator()
            fb.worker("w1")
            fb.worker("w2")
            fb.baseline()
            wait_for(lambda: len(fb.rows("SELECT 1 FROM service WHERE key LIKE 'worker:%'")) >= 2, 15,
                     "both workers' heartbeats")
            time.sleep(2.0)  # steady checking
            fb.redis.stop()
            down = time.monotonic()
            at_stop = fb.answered()
            fb.suspend(FLEET_VICTIM)
            wait_for(lambda: fb.rows("SELECT 1 FROM service WHERE key = 'redis' AND value LIKE 'unreachable%'"),
                     15, "the service table saying Redis is unreachable")
            seen_down = time.monotonic() - down
            time.sleep(max(0.0, REDIS_OUTAGE_S - (time.monotonic() - down)))
            early = fb.alerted(FLEET_VICTIM)
            at_back = fb.answered()
            fb.redis.start()
            back, back_wall = time.monotonic(), time.time()
            first = wait_for(lambda: fb.answered() > at_back and time.monotonic(), 40,
                             "the first answer recorded after Redis came back", interval=0.05) - back
            alert = fb.sent_after(FLEET_VICTIM, back_wall)
            again = {name: logged_at(proc, "reachable again") - back_wall for name, proc in fb.workers.items()}
            wait_for(lambda: fb.rows("SELECT 1 FROM service WHERE key = 'redis' AND value = 'ok'"), 15,
                     "the service table saying Redis is back")
            fb.more_rounds()
            settle(fb)
            exits = fb.stop_all()
            count = fleet_count(fb, [FLEET_VICTIM], ("Redis at|unreachable", "Redis at|reachable again"))
            down_alerts = len(fb.posts("Redis at", "is unreachable"))
            up_alerts = len(fb.posts("Redis at", "reachable again"))
            logs = []
            for name, proc in fb.workers.items():
                text = proc.stderr
                logs.append(f"{name} {text.count('unreachable')}/{text.count('reachable again')}")
            run_log = fb.run.stderr if fb.run else ""
            logs.append(f"run {run_log.count('is unreachable')}/{run_log.count('reachable again')}")
            notes = [f"Redis down {REDIS_OUTAGE_S:.0f} s (SIGTERM, append-only), {FLEET_VICTIM} suspended meanwhile",
                     f"service table said unreachable after {seen_down:.1f} s",
                     f"{at_back - at_stop} answers recorded while down (read before the stop)",
                     f"first answer recorded {first:.1f} s after Redis was back",
                     "workers reconnected " + ", ".join(f"{n} {s:.1f} s" for n, s in again.items())
                     + " after it (their logs)",
                     f"suspension alerted {alert:.1f} s after Redis was back"
                     + (" (but already before: confirmed without Redis)" if early else ""),
                     f"health alerts: {down_alerts} 'unreachable', {up_alerts} 'reachable again'",
                     "log lines unreachable/reachable again: " + ", ".join(logs)]
            return fleet_row("13 Redis stopped 30 s under coordinator + 2 workers", fb, count, notes, exits)
        finally:
            fb.close()


def worker_killed() -> Row:
    """14: kill -9 of the only worker while it holds every account's check (each answer takes 10 s); a second
    worker with a 2 s claim timeout re-claims them. One account is suspended in the held checks."""
    from banwatch.monitor import streams

    keys = FLEET_REDDIT
    with FakePlatforms() as platforms, HostileSlack() as slack:
        fb = FleetBench("14", platforms, slack, keys)
        try:
            w1 = fb.worker("w1", "--claim-timeout", FLEET_CLAIM_S)
            wait_for(lambda: fb.client.hexists(streams.WORKERS, "w1"), 20, "w1's heartbeat")
            fb.coordinator()
            fb.baseline()
            fb.slow(10.0, suspended=(FLEET_VICTIM,))  # w1 takes the next checks and never finishes them
            held = wait_for(lambda: (h := fb.held_by("w1")) and len(h) == len(keys) and h, 15,
                            "w1 holding every account's check")
            sigkill(w1)()
            w1.wait(10)
            killed, killed_wall = time.monotonic(), time.time()
            fb.slow(0.0, suspended=(FLEET_VICTIM,))
            w2 = fb.worker("w2", "--claim-timeout", FLEET_CLAIM_S)

            def rows() -> dict[str, dict[str, Any]]:
                return {r["check_id"]: r for r in fb.rows(
                    f"SELECT check_id, worker, answered_at FROM remote_checks WHERE check_id IN "
                    f"({','.join('?' * len(held))})", *held)}
            rerun = wait_for(lambda: all(r["answered_at"] for r in rows().values()) and len(rows()) == len(held)
                             and time.monotonic(), 40, "every held check answered") - killed
            alert = fb.sent_after(FLEET_VICTIM, killed_wall)
            fb.more_rounds()
            settle(fb)
            still = fb.held_by("w1")
            exits = fb.stop_all()
            count = fleet_count(fb, [FLEET_VICTIM])
            done = rows()
            by = Counter(r["worker"] for r in done.values() if r["answered_at"])
            unanswered = sum(1 for c in held if not (done.get(c) or {}).get("answered_at"))
            count.lost += unanswered
            reclaimed = "re-claimed" in w2.stderr
            notes = [f"w1 SIGKILLed holding {len(held)} checks (XPENDING), {FLEET_VICTIM}'s among them",
                     f"w2 (claim timeout {FLEET_CLAIM_S} s) answered them all {rerun:.1f} s after the kill "
                     f"(answered by: {', '.join(f'{w} {n}' for w, n in sorted(by.items()))}; "
                     f"{unanswered} never answered)",
                     f"w2 logged a re-claim: {'yes' if reclaimed else 'no'}",
                     f"w1 still holds {len(still)} at the end",
                     f"suspension alerted {alert:.1f} s after the kill"]
            return fleet_row("14 kill -9 of a worker mid-batch", fb, count, notes, exits)
        finally:
            fb.close()


def coordinator_killed() -> Row:
    """15: kill -9 of the coordinator the moment it was given answers it has not recorded and acknowledged
    (each answer takes 0.5 s, one account turning suspended); the workers keep answering into the stream; then
    the coordinator starts again."""
    from banwatch.monitor import streams

    keys = FLEET_REDDIT
    with FakePlatforms() as platforms, HostileSlack() as slack:
        fb = FleetBench("15", platforms, slack, keys)
        try:
            run = fb.coordinator()
            fb.worker("w1")
            fb.worker("w2")
            fb.baseline()
            fb.slow(0.5, suspended=(FLEET_VICTIM,))
            # stopped (SIGSTOP) the moment it was given answers, so that XPENDING shows what it holds at the kill;
            # an answer recorded and acknowledged between the look and the stop does not count: look again
            deadline, given = time.monotonic() + 20, []
            while not given and time.monotonic() < deadline:
                wait_for(lambda: fb.results_pending(), 20, "answers given to the coordinator, unacknowledged",
                         interval=0.005)
                os.kill(run.pid, signal.SIGSTOP)
                given = fb.results_pending()
                if not given:
                    os.kill(run.pid, signal.SIGCONT)
            sigkill(run)()
            run.wait(10)
            if not given:
                raise AssertionError("never caught the coordinator holding an unacknowledged answer")
            given_ids = {f[b"id"].decode() for e in given for _, f in fb.client.xrange(streams.RESULTS, e, e)}
            wait_for(lambda: fb.client.xlen(streams.RESULTS) > len(fb.results_pending()), 20,
                     "answers the dead coordinator never read")
            time.sleep(1.0)  # more answers pile up
            waiting = {f[b"id"].decode() for _, f in fb.client.xrange(streams.RESULTS)}
            in_stream = fb.client.xlen(streams.RESULTS)
            pending_at_kill = len(fb.results_pending())
            fb.slow(0.0, suspended=(FLEET_VICTIM,))
            fb.coordinator()
            restarted, restarted_wall = time.monotonic(), time.time()
            wait_for(lambda: not any(fb.client.xrange(streams.RESULTS, e, e) for e in given), 30,
                     "the answers given before the kill, read again and acknowledged")
            reread = time.monotonic() - restarted
            alert = fb.sent_after(FLEET_VICTIM, restarted_wall)
            fb.more_rounds()
            settle(fb)
            exits = fb.stop_all()
            pending_end = len(fb.results_pending())
            count = fleet_count(fb, [FLEET_VICTIM])
            done = {r["check_id"] for r in fb.rows("SELECT check_id FROM remote_checks WHERE answered_at IS NOT NULL")}
            missing = len((waiting | given_ids) - done)
            count.lost += missing
            notes = [f"coordinator SIGKILLed holding {len(given)} unacknowledged answer(s)",
                     f"{in_stream} answers in the stream before the restart ({pending_at_kill} given to the dead "
                     f"coordinator and unacknowledged, {in_stream - pending_at_kill} never read)",
                     f"{len((waiting | given_ids) & done)} of {len(waiting | given_ids)} recorded after the restart"
                     f" ({missing} never)",
                     f"the answers given before the kill read again and acknowledged {reread:.1f} s after the restart",
                     f"suspension alerted {alert:.1f} s after the restart",
                     f"results pending after the final stop: {pending_end}"]
            return fleet_row("15 kill -9 of the coordinator with answers in flight", fb, count, notes, exits)
        finally:
            fb.close()


def no_worker() -> Row:
    """16: the only weibo worker stops (SIGTERM) for 60 s while a reddit worker carries on; a weibo and a
    reddit account are suspended meanwhile; then a weibo worker starts."""
    keys = FLEET_REDDIT[:3] + FLEET_WEIBO
    victims = [FLEET_VICTIM, FLEET_WEIBO[0]]
    with FakePlatforms() as platforms, HostileSlack() as slack:
        fb = FleetBench("16", platforms, slack, keys)
        try:
            fb.coordinator()
            fb.worker("r", "--platform", "reddit")
            wb = fb.worker("wb", "--platform", "weibo")
            fb.baseline()
            wb.stop()
            gone, gone_wall = time.monotonic(), time.time()
            for key in victims:
                fb.suspend(key)
            raised = wait_for(lambda: fb.posts("no worker for weibo") and time.monotonic(), 45,
                              "the 'no worker for weibo' alert") - gone
            reddit_alert = fb.sent_after(FLEET_VICTIM, gone_wall)
            weibo_early = fb.alerted(FLEET_WEIBO[0])
            time.sleep(max(0.0, NO_WORKER_S - (time.monotonic() - gone)))
            fb.worker("wb2", "--platform", "weibo")
            started, started_wall = time.monotonic(), time.time()
            recovered = wait_for(lambda: fb.posts("takes weibo checks again") and time.monotonic(), 30,
                                 "the 'worker again' alert") - started
            weibo_alert = fb.sent_after(FLEET_WEIBO[0], started_wall)
            fb.more_rounds()
            settle(fb)
            exits = fb.stop_all()
            count = fleet_count(fb, victims, ("no worker for weibo", "takes weibo checks again"))
            notes = [f"weibo's only worker stopped (SIGTERM) for {NO_WORKER_S:.0f} s; {', '.join(victims)} "
                     "suspended meanwhile",
                     f"health alerts: {len(fb.posts('no worker for weibo'))} 'no worker for weibo' "
                     f"({raised:.1f} s after the stop), {len(fb.posts('takes weibo checks again'))} 'takes weibo "
                     f"checks again' ({recovered:.1f} s after a worker started), "
                     f"{len(fb.posts('no worker for reddit'))} for reddit",
                     f"reddit suspension alerted {reddit_alert:.1f} s into the gap",
                     f"weibo suspension alerted {weibo_alert:.1f} s after a worker started"
                     + (" (but already during the gap)" if weibo_early else "")]
            return fleet_row("16 no worker for a platform for 60 s", fb, count, notes, exits)
        finally:
            fb.close()


# -- main -------------------------------------------------------------------------------------------------------

SCENARIOS: dict[str, tuple[str, Callable[[], Row]]] = {
    "1a": ("reply-reset", lambda: lost_reply("1a")),
    "1b": ("reply-500", lambda: lost_reply("1b")),
    "1c": ("reply-not-json", lambda: lost_reply("1c")),
    "1d": ("reply-slow", lambda: lost_reply("1d")),
    "1e": ("reply-reset-wave", lost_reply_wave),
    "2": ("two-dispatchers", two_dispatchers),
    "3": ("crash-clock-skew", crash_clock_skew),
    "4": ("no-history-scope", no_history_scope),
    "5": ("oversized", oversized),
    "6": ("waves", waves),
    "7": ("ratelimit", rate_limited),
    "8": ("walls", walls),
    "9": ("hostile-values", hostile_values),
    "10": ("bombs", bombs),
    "11": ("locked-db", locked_db),
    "12": ("watchlist-bombs", watchlist_bombs),
    "13": ("fleet-redis-outage", redis_outage),
    "14": ("fleet-worker-kill", worker_killed),
    "15": ("fleet-coordinator-kill", coordinator_killed),
    "16": ("fleet-no-worker", no_worker),
}


def selected(only: list[str]) -> list[str]:
    if not only:
        return list(SCENARIOS)
    wanted: list[str] = []
    for item in (w.strip() for o in only for w in o.split(",")):
        found = [k for k, (name, _) in SCENARIOS.items()
                 if item in (k, name) or re.fullmatch(rf"{re.escape(item)}[a-z]", k)]
        if not found:
            known = ", ".join(f"{k} ({name})" for k, (name, _) in SCENARIOS.items())
            raise SystemExit(f"--only {item}: unknown kind (known: {known})")
        wanted += [k for k in found if k not in wanted]
    return wanted


def run_one(key: str) -> Row:
    name, scenario = SCENARIOS[key]
    began = time.monotonic()
    try:
        row = scenario()
    except Exception as exc:  # noqa: BLE001 - a scenario that breaks is a row that says so
        row = Row(f"{key} {name}", notes=f"ERROR: {type(exc).__name__}: {exc}")
    row.seconds = round(time.monotonic() - began, 1)
    return row


def table(rows: list[Row]) -> str:
    from tabulate import tabulate

    def cell(value: Any) -> Any:
        return "-" if value is None else value

    body = [[r.kind, cell(r.attempts), cell(r.held), cell(r.duplicates), cell(r.lost), cell(r.false),
             cell(r.peak_mib), r.seconds, r.notes] for r in rows]
    return tabulate(body, headers=["kind", "attempts", "held", "duplicates", "lost", "false", "peak MiB", "s",
                                   "notes"], tablefmt="github", disable_numparse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="KIND",
                        help="run only this kind (repeatable, or comma-separated): a number such as 3 or 1b "
                             "(1 runs 1a-1d), or a name such as crash-clock-skew")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON document instead")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's working directory")
    args = parser.parse_args()
    keys = selected(args.only)
    global KEEP  # noqa: PLW0603
    KEEP = args.keep
    began = time.monotonic()
    rows = []
    for key in keys:
        if not args.json:
            print(f"running {key} {SCENARIOS[key][0]} ...", file=sys.stderr, flush=True)
        rows.append(run_one(key))
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "seconds": round(time.monotonic() - began, 1)},
                         indent=2, ensure_ascii=False))
    else:
        print(table(rows))
        print(f"\n{len(rows)} scenarios in {time.monotonic() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
