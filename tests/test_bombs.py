"""Decompression bombs and endless bodies, through the production path (`banwatch check`, Scrapy, the errback).

A hostile server on 127.0.0.1 stands in for Reddit (whose answers are a few KiB; its limit is the default
1 MiB) and answers each account with one attack: a gzip or brotli bomb (16 MiB of a valid answer's padding
compressed to a few KiB), an endless chunked body, or a 20 MiB body with no compression. Six accounts of the
one attack are checked at once, with one ordinary account beside them. Each attacked account must read
`reddit.too_large` (unknown: nothing confirmed, nothing alerted), the ordinary one active, and the
`banwatch check` process must stay under 200 MiB at its peak (its VmHWM).

The control: the same server, with BANWATCH_REDDIT_MAX_ANSWER raised above the bombs, reads every finite
attack as the active account it is (the padding is JSON whitespace): the limit, not the content, decided.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Banwatch
from tests.fakes import FakeSlack, LocalServer, QuietHandler
from tests.fixtures import load
from tests.sim import own

MiB = 1024 * 1024
PEAK_LIMIT_MIB = 200
COPIES = 6  # accounts per attack, checked at once
PADDING = 16 * MiB  # what a bomb decompresses to: 16 times Reddit's limit
HUGE = 20 * MiB  # an uncompressed body: 20 times the limit

try:
    import brotli
except ImportError:  # pragma: no cover - Scrapy's brotli support is optional
    brotli = None


@functools.cache
def answer(handle: str) -> bytes:
    """Reddit's own answer for an active `handle`."""
    return own(load("reddit", "active"), f"reddit:{handle}").body


@functools.cache
def bomb(kind: str, handle: str) -> tuple[str, bytes]:
    """(Content-Encoding, body) of a bomb that decompresses to an active answer and PADDING bytes of JSON
    whitespace, compressed in pieces: the test itself never holds the 16 MiB."""
    if kind == "br" and brotli is not None:
        encoding, compressor = "br", brotli.Compressor(quality=5)
        feed, end = compressor.process, compressor.finish
    else:  # gzip, or deflate where brotli is not installed
        encoding = "gzip" if kind == "gzip" else "deflate"
        z = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
        feed, end = z.compress, z.flush
    parts, chunk = [feed(answer(handle))], b" " * MiB
    parts += [feed(chunk) for _ in range(PADDING // MiB)]
    return encoding, b"".join(parts) + end()


class Hostile(LocalServer):
    """/user/<kind>_<n>/about.json answers with attack <kind>; /user/plain/about.json answers normally."""

    def __init__(self) -> None:
        self.served: dict[str, int] = {}

        hostile = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"  # chunked bodies need it

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                m = re.match(r"^/user/([A-Za-z0-9_-]+)/about\.json", self.path)
                handle = m.group(1) if m else "plain"
                kind = handle.rsplit("_", 1)[0]
                hostile.served[kind] = hostile.served.get(kind, 0) + 1
                try:
                    if kind in ("gzip", "br"):
                        encoding, body = bomb(kind, handle)
                        self._head(len(body), {"Content-Encoding": encoding})
                        self.wfile.write(body)
                    elif kind == "endless":
                        self._head(None, {})
                        chunk = b" " * 65536
                        while True:  # until the client hangs up
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    elif kind == "huge":
                        self._head(len(answer(handle)) + HUGE, {})  # sent in pieces, as a server would
                        self.wfile.write(answer(handle))
                        chunk = b" " * 65536
                        for _ in range(HUGE // len(chunk)):
                            self.wfile.write(chunk)
                    else:
                        body = answer(handle)
                        self._head(len(body), {})
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _head(self, length: int | None, headers: dict[str, str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                for k, v in headers.items():
                    self.send_header(k, v)
                if length is None:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(length))
                self.end_headers()

        super().__init__(Handler)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    yield server
    server.close()


def watchlist(path: Path, kind: str) -> None:
    handles = ["plain"] + [f"{kind}_{n}" for n in range(COPIES)]
    path.write_text(
        "defaults: {confirmations: 1, confirm_delay: 0s}\nalerts: {slack_channel: '#bombs'}\n"
        "platforms: {reddit: {delay: 0s, concurrency: 8}}\naccounts:\n"
        + "".join(f"  - {{platform: reddit, handle: {h}}}\n" for h in handles), encoding="utf-8")


def check_measured(banwatch: Banwatch) -> tuple[int, str, str, float]:
    """`banwatch check` as a subprocess: (exit code, stdout, stderr, its peak RSS in MiB).

    The peak is the process's own VmHWM, polled every 10 ms until it exits (the high-water mark only grows,
    so only the last few ms are unseen). Not ru_maxrss: Linux carries the spawning process's own high-water
    mark across fork and exec into the child's, so it would report pytest's size, not banwatch's."""
    out, err = banwatch.workdir / "check.out", banwatch.workdir / "check.err"
    peak_kib = 0
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "banwatch.monitor", "check"], cwd=banwatch.workdir, env=banwatch.env,
                                stdout=stdout, stderr=stderr, text=True)
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                hwm = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.M)
            except OSError:
                hwm = None
            if hwm:
                peak_kib = max(peak_kib, int(hwm.group(1)))
            time.sleep(0.01)
    return proc.returncode, out.read_text(), err.read_text(), peak_kib / 1024


def banwatch_for(tmp_path: Path, hostile: Hostile, slack: FakeSlack) -> Banwatch:
    banwatch = Banwatch(tmp_path, hostile, slack)  # type: ignore[arg-type]
    banwatch.env["BANWATCH_DOWNLOAD_TIMEOUT"] = "10"
    return banwatch


@pytest.mark.parametrize("kind", ["gzip", "br", "endless", "huge"])
def test_a_bomb_or_endless_body_is_too_large_and_memory_stays_bounded(
        tmp_path: Path, hostile: Hostile, slack: FakeSlack, kind: str) -> None:
    watchlist(tmp_path / "watchlist.yaml", kind)
    banwatch = banwatch_for(tmp_path, hostile, slack)
    code, stdout, stderr, peak = check_measured(banwatch)
    print(f"{kind}: peak RSS {peak:.1f} MiB")  # shown with -s
    assert code == 0, stdout + stderr
    assert "Traceback" not in stderr, stderr
    rows = {r["key"]: r for r in banwatch.rows("SELECT key, status, last_rule FROM accounts")}
    assert rows.pop("reddit:plain")["status"] == "active"
    assert len(rows) == COPIES
    for key, row in rows.items():
        assert row["last_rule"] == "reddit.too_large", (key, row, stderr)
        assert row["status"] is None, f"nothing may be concluded from an answer not read: {row}"
    assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}]
    assert slack.posted() == []
    assert hostile.served[kind] == COPIES, "not retried: a too-large answer is as large the second time"
    assert peak < PEAK_LIMIT_MIB, f"{kind}: peak RSS {peak:.0f} MiB"


@pytest.mark.parametrize("kind", ["gzip", "br", "huge"])
def test_control_the_same_answers_read_normally_under_a_raised_limit(
        tmp_path: Path, hostile: Hostile, slack: FakeSlack, kind: str) -> None:
    watchlist(tmp_path / "watchlist.yaml", kind)
    banwatch = banwatch_for(tmp_path, hostile, slack)
    banwatch.env["BANWATCH_REDDIT_MAX_ANSWER"] = "64MiB"
    code, stdout, stderr, peak = check_measured(banwatch)
    print(f"{kind} under a 64 MiB limit: peak RSS {peak:.1f} MiB")
    assert code == 0, stdout + stderr
    rows = banwatch.rows("SELECT key, status, last_rule FROM accounts")
    assert len(rows) == COPIES + 1
    assert {(r["status"], r["last_rule"]) for r in rows} == {("active", "reddit.profile")}, rows


def test_a_bad_limit_is_refused_before_anything_is_asked(tmp_path: Path, hostile: Hostile, slack: FakeSlack) -> None:
    watchlist(tmp_path / "watchlist.yaml", "gzip")
    banwatch = banwatch_for(tmp_path, hostile, slack)
    banwatch.env["BANWATCH_REDDIT_MAX_ANSWER"] = "lots"
    proc = banwatch("check", check=False)
    assert proc.returncode != 0
    assert "BANWATCH_REDDIT_MAX_ANSWER" in proc.stdout + proc.stderr
    assert hostile.served == {}
