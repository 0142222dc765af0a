"""Observations are recorded in batches, and a batch holds at most BATCH_BYTES of evidence: an answer can be
several MiB (a platform's max_answer), and 50 of them held for one transaction would be hundreds of MiB.

The Checker is fed as Scrapy feeds it (its item_scraped handler); what it holds before a flush is measured
in bytes of evidence. The control: with the byte bound lifted, the same feed holds a whole count batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from banwatch.monitor import runner
from banwatch.monitor.model import Observation, Reply, Status
from banwatch.monitor.runner import Checker
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import AlertSettings, parse
from banwatch.spiders.platforms.base import Politeness

MiB = 1024 * 1024
N = 60
WL = parse("defaults: {confirmations: 1, confirm_delay: 0s}\naccounts:\n" +
           "".join(f"  - {{platform: reddit, handle: big{i}}}\n" for i in range(N)), "w.yaml")


def feed(tmp_path: Path, body_mib: int) -> tuple[int, int]:
    """Feed N observations, each carrying `body_mib` MiB of evidence: the most evidence held at once, in
    bytes, and how many observations were recorded in the end."""
    store = Store.open(tmp_path / "b.db")
    store.sync_watchlist(WL, "2026-01-01T00:00:00.000Z")
    check = Checker(store, list(WL.accounts), {}, "#c", lambda _p: Politeness(), AlertSettings())
    peak = 0
    for i, account in enumerate(WL.accounts):
        body = bytes([65 + i % 26]) * (body_mib * MiB)  # distinct bodies: nothing is deduplicated
        reply = Reply(url=f"https://www.reddit.com/user/big{i}/about.json", status=200, headers={}, body=body)
        check._on_item(Observation(account.key, Status.ACTIVE, "reddit.profile", "ok", "2026-01-01T00:01:00.000Z",
                                   evidence=reply))
        peak = max(peak, sum(len(o.evidence.body) for o in check._batch if o.evidence is not None))
    check.flush()
    recorded = store.db.execute("SELECT count(*) FROM observations").fetchone()[0]
    store.close()
    return peak, recorded


def test_a_batch_never_holds_more_than_its_byte_bound(tmp_path: Path) -> None:
    peak, recorded = feed(tmp_path, 3)
    assert peak < runner.BATCH_BYTES, f"{peak / MiB:.0f} MiB of evidence held for one transaction"
    assert recorded == N, "every observation recorded"


def test_control_without_the_byte_bound_a_count_batch_holds_150_mib(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "BATCH_BYTES", 1 << 62)
    peak, recorded = feed(tmp_path, 3)
    assert peak >= 49 * 3 * MiB and recorded == N
