"""The record path of one observation: read once, decide, write once.

Recording an observation asks the store once for what deciding needs (`Store.context`) and writes once
(`Store.apply`); the watchdog decides without touching the store. The classifier version of the platform that
read an observation is what its span records.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from scrapy.http import Request, TextResponse

from banwatch.monitor.model import Observation, Status
from banwatch.monitor.runner import Checker
from banwatch.monitor.store import Store
from banwatch.monitor.watchdog import Watchdog
from banwatch.monitor.watchlist import AlertSettings, parse
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.status import StatusSpider
from tests.fixtures import load

T = "2026-06-05T10:{:02d}:00.000Z"
WATCHLIST = """\
platforms:
  reddit: {canaries: {active: spez}}
accounts:
  - {platform: reddit, handle: someone, confirmations: 1}
  - {platform: bluesky, handle: alice.bsky.social, confirmations: 1}
"""


class CountingStore:
    """A Store seen through a proxy that lists every method called on it, and every attribute read."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._store, name)


def world(tmp_path: Path) -> tuple[Store, CountingStore, Checker]:
    wl = parse(WATCHLIST, "w.yaml")
    store = Store.open(tmp_path / "b.db")
    store.sync_watchlist(wl, T.format(0))
    counting = CountingStore(store)
    checker = Checker(counting, list(wl.accounts), {}, "#c", wl.politeness, AlertSettings())  # type: ignore[arg-type]
    counting.calls.clear()  # construction reads the stored platform ids once; recording is what is pinned
    return store, counting, checker


OBSERVATIONS = [  # each one recorded on its own, in order: baseline, steady, change, watchdog alerts, rename
    Observation("reddit:someone", Status.ACTIVE, "reddit.profile", "ok", T.format(1)),
    Observation("reddit:someone", Status.ACTIVE, "reddit.profile", "ok", T.format(2)),
    Observation("reddit:someone", Status.SUSPENDED, "reddit.is_suspended", "banned", T.format(3)),
    Observation("reddit:someone", Status.UNKNOWN, "reddit.credential_rejected", "401", T.format(4)),
    Observation("reddit:spez", Status.SUSPENDED, "reddit.is_suspended", "drift", T.format(5)),
    Observation("reddit:spez", Status.ACTIVE, "reddit.profile", "ok", T.format(6)),
    Observation("reddit:someone", Status.ACTIVE, "reddit.profile", "back", T.format(7)),
    Observation("bluesky:alice.bsky.social", Status.ACTIVE, "bluesky.profile", "ok", T.format(8),
                platform_id="did:plc:x", handle="alice.bsky.social"),
    Observation("bluesky:alice.bsky.social", Status.ACTIVE, "bluesky.profile", "ok", T.format(9),
                platform_id="did:plc:x", handle="alice.example.com"),
]


def test_one_observation_reads_the_store_once_and_writes_once(tmp_path: Path) -> None:
    store, counting, checker = world(tmp_path)
    for obs in OBSERVATIONS:
        counting.calls.clear()
        checker.record(obs)
        assert counting.calls == ["context", "apply"], (obs.rule, counting.calls)
    # the path did all it does: a change with its alert, health alerts both ways, a rename
    kinds = [r["kind"] for r in store.db.query("SELECT kind FROM alerts ORDER BY id")]
    assert kinds.count("suspended") == 1 and kinds.count("reinstated") == 1 and kinds.count("renamed") == 1
    assert kinds.count("health") == 4  # credentials rejected / work again, canary drifting / right again
    assert store.get_service("credentials:reddit") == "ok" and store.get_service("drift:reddit") == ""


def test_the_batch_path_reads_and_writes_each_observation_once(tmp_path: Path) -> None:
    """flush: one transaction per batch, one savepoint per observation, and still one read and one write each."""
    _, counting, checker = world(tmp_path)
    for obs in OBSERVATIONS[:3]:
        checker._batch.append(obs)
    checker.flush()
    assert [c for c in counting.calls if c != "db"] == ["context", "apply"] * 3


def test_the_watchdog_does_not_touch_the_store(tmp_path: Path) -> None:
    _, _, checker = world(tmp_path)
    assert not any(isinstance(v, (Store, CountingStore)) for v in vars(checker.watchdog).values())
    dog = Watchdog("#c", frozenset({"health"}))
    wants = dog.wants("reddit")
    assert wants.keys == ("credentials:reddit", "drift:reddit") and wants.prefix == "api:"
    dog.learn({"credentials:reddit": None, "drift:reddit": None}, {"api:": frozenset()})
    assert dog.wants("reddit").keys == () and dog.wants("reddit").prefix is None  # read once per process
    account = checker.accounts["reddit:someone"]
    obs = Observation(account.key, Status.UNKNOWN, "reddit.no_credentials", "unset", T.format(1))
    watch = dog.observe(account, obs)
    assert watch.service == (("credentials:reddit", "no_credentials"),)
    (alert,) = watch.health
    assert alert.subject == "platform:reddit" and alert.channels == ("#c",) and "no credentials" in alert.detail


def test_decide_touches_no_store(tmp_path: Path) -> None:
    store, counting, checker = world(tmp_path)
    wants = checker.watchdog.wants("reddit")
    context = store.context("reddit:someone", wants.keys, wants.prefix)
    counting.calls.clear()
    todo = checker.decide(checker.accounts["reddit:someone"],
                          Observation("reddit:someone", Status.ACTIVE, "reddit.profile", "ok", T.format(1)), context)
    assert counting.calls == [] and todo.baseline and todo.state.status is Status.ACTIVE and todo.extend is None


# -- the classifier version ------------------------------------------------------------------------------


def observe_through_the_spider(platform: str, case: str) -> Observation:
    fx = load(platform, case)
    wl = parse(f"accounts:\n  - {{platform: {platform}, handle: \"{fx.handle}\"}}\n", "w.yaml")
    (account,) = wl.accounts
    spider = StatusSpider(accounts=[account], base_urls={}, secrets={})
    request = Request(fx.url, cb_kwargs={"key": account.key})
    response = TextResponse(fx.url, status=fx.status, headers=fx.headers, body=fx.body, request=request)
    obs = spider.parse(response, key=account.key)
    assert isinstance(obs, Observation), obs
    return obs


def stored_versions(tmp_path: Path, obs: Observation) -> list[int]:
    platform, handle = obs.account_key.split(":", 1)
    wl = parse(f"accounts:\n  - {{platform: {platform}, handle: \"{handle}\"}}\n", "w.yaml")
    tmp_path.mkdir(exist_ok=True)
    store = Store.open(tmp_path / "b.db")
    store.sync_watchlist(wl, T.format(0))
    Checker(store, list(wl.accounts), {}, "#c", wl.politeness, AlertSettings()).record(obs)
    return [r["classifier_version"] for r in store.db.query("SELECT classifier_version FROM observations")]


def test_a_bumped_classifier_version_is_recorded_with_the_observation(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    control = observe_through_the_spider("reddit", "active")
    assert control.classifier_version == PLATFORMS["reddit"].version == 1
    assert stored_versions(tmp_path / "control", control) == [1]
    monkeypatch.setitem(PLATFORMS, "reddit", replace(PLATFORMS["reddit"], version=7))
    bumped = observe_through_the_spider("reddit", "active")
    assert bumped.status is Status.ACTIVE and bumped.classifier_version == 7
    assert stored_versions(tmp_path / "bumped", bumped) == [7]


def test_an_unknown_observation_carries_the_version_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLATFORMS, "reddit", replace(PLATFORMS["reddit"], version=3))
    wl = parse("accounts:\n  - {platform: reddit, handle: someone}\n", "w.yaml")
    spider = StatusSpider(accounts=list(wl.accounts), base_urls={}, secrets={})
    assert spider._unknown("reddit:someone", "reddit.timeout", "slow", ()).classifier_version == 3


def test_a_record_error_keeps_the_version_of_the_observation_it_replaces(tmp_path: Path) -> None:
    store, _, checker = world(tmp_path)
    bad = Observation("reddit:someone", Status.ACTIVE, "reddit.profile", "ok", T.format(1), display_name="\ud800",
                      classifier_version=5)
    with store.db.atomic():
        checker.record_isolated(bad)
    (row,) = store.db.query("SELECT rule, classifier_version FROM observations")
    assert row == {"rule": "reddit.record_error", "classifier_version": 5}


def test_a_version_bump_opens_a_new_span_and_a_steady_account_still_costs_no_row(tmp_path: Path) -> None:
    store, _, checker = world(tmp_path)
    for minute, version in ((1, 1), (2, 1), (3, 2), (4, 2)):
        checker.record(Observation("reddit:someone", Status.ACTIVE, "reddit.profile", "ok", T.format(minute),
                                   classifier_version=version))
    spans = list(store.db.query("SELECT checks, classifier_version FROM observations ORDER BY id"))
    assert spans == [{"checks": 2, "classifier_version": 1}, {"checks": 2, "classifier_version": 2}]
