"""Hostile values in an answer: one account's reply must never take the others down.

A platform controls every value it sends: a display name can be a lone surrogate (valid JSON `"\\ud800"`, which
no UTF-8 store accepts), a list or a number where a string is expected, or a megabyte long. `Platform.read`
passes every verdict through `base.clean_verdict`, so these reach the store as bounded, valid text; and
`Checker.flush` records each observation in its own savepoint, so one that still fails to record is recorded
as unknown (`<platform>.record_error`) and the rest of its batch commits.

Controls: the module's raw `classify` (the boundary bypassed) carries the hostile value, and the store refuses
it; an observation carrying it, handed straight to the Checker, fails alone.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest

from banwatch.monitor.model import Account, Observation, Status, Verdict
from banwatch.monitor.runner import Checker
from banwatch.monitor.state import advance
from banwatch.monitor.store import Store
from banwatch.monitor.watchlist import AlertSettings, parse
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.platforms.base import CAPS, Politeness, clean_verdict
from tests.conftest import Banwatch
from tests.fakes import FakePlatforms, FakeSlack
from tests.fixtures import Fixture, by_rule, load
from tests.sim import own

MB = 1_000_000
HOSTILE: dict[str, object] = {"surrogate": "\ud800", "list": ["a", "b"], "megabyte": "A" * MB, "number": 12345}

# Every platform whose classifier copies a display name into its verdict: (platform, fixture, JSON key).
DISPLAY_NAMES = [
    ("mastodon", "active", "display_name"), ("bluesky", "active", "displayName"), ("reddit", "near_miss_bio_says_suspended", "title"),
    ("weibo", "active", "screen_name"), ("twitch", "active", "display_name"), ("tiktok", "active", "nickname"),
    ("instagram", "active", "full_name"), ("bilibili", "active", "name"), ("x", "graphql_user", "name"),
    ("x", "v2_user", "name"), ("youtube", "active", "title"),
]
# Display names read from HTML text (no JSON types there; a surrogate cannot be UTF-8): only the megabyte.
HTML_NAMES = [("telegram", "active_user"), ("facebook", "active_page")]
# Every platform whose classifier quotes a platform message (or error name) in its verdict: (platform, fixture, key).
MESSAGES = [
    ("bluesky", "account_takedown", "message"), ("bluesky", "invalid_request_other", "message"),
    ("bluesky", "profile_not_found", "message"), ("bluesky", "account_takedown", "error"),
    ("mastodon", "record_not_found", "error"), ("twitch", "bad_request", "message"),
    ("instagram", "please_wait", "message"), ("instagram", "checkpoint_required", "message"),
    ("bilibili", "not_found", "message"), ("weibo", "ban_notice", "msg"), ("x", "v2_suspended", "detail"),
    ("x", "v2_suspended", "title"), ("reddit", "not_found", "message"),
]


def account(fx: Fixture) -> Account:
    spec = PLATFORMS[fx.platform]
    handle = spec.normalise(fx.handle) or fx.handle
    return Account(fx.platform, handle, f"{fx.platform}:{handle}", platform_id=fx.platform_id)


def swap(body: bytes, key: str, value: object, original: str | None = None) -> bytes:
    """`"key": <original string>` (every occurrence; the first string value when `original` is None) -> `"key": value`."""
    pattern = rb'("' + re.escape(key.encode()) + rb'"\s*:\s*)'
    if original is None:
        found = re.search(pattern + rb'("(?:[^"\\]|\\.)*")', body)
        assert found, f"no string under {key!r}"
        original = json.loads(found.group(2))
    target = re.compile(pattern + re.escape(json.dumps(original).encode()))
    if not target.search(body):  # saved with non-ASCII characters as they are
        target = re.compile(pattern + re.escape(json.dumps(original, ensure_ascii=False).encode()))
    new, n = target.subn(lambda m: m.group(1) + json.dumps(value).encode(), body)
    assert n, f"{key!r}: {original!r} not found"
    return new


def assert_clean(verdict: Verdict) -> None:
    for name in ("rule", "reason", "display_name", "handle", "platform_id"):
        value = getattr(verdict, name)
        assert value is None or isinstance(value, str), (name, type(value))
        if value is not None:
            value.encode("utf-8")  # strict: no lone surrogate survives
            assert len(value) <= CAPS[name] and "\x00" not in value, (name, len(value))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "b.db")
    yield s
    s.close()


def record(store: Store, acc: Account, verdict: Verdict) -> None:
    """Record a verdict as the spider would, through the store's own transaction (for an account of the same
    platform: a fixture of a malformed request may name an invalid handle)."""
    handle = acc.handle if PLATFORMS[acc.platform].normalise(acc.handle) else "example"
    wl = parse(f"accounts:\n  - {{platform: {acc.platform}, handle: {json.dumps(handle)}}}\n", "w.yaml")
    store.sync_watchlist(wl, "2026-01-01T00:00:00.000Z")
    acc = wl.accounts[0]
    obs = Observation(acc.key, verdict.status, verdict.rule, verdict.reason, "2026-01-01T00:01:00.000Z",
                      http_status=200, platform_id=verdict.platform_id, display_name=verdict.display_name,
                      handle=verdict.handle)
    store.record(acc, obs, advance(store.state(acc.key), obs.status, obs.checked_at, 1))


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.parametrize(("platform", "case", "key"), DISPLAY_NAMES)
def test_a_hostile_display_name_reads_as_the_account_with_a_clean_name(
        store: Store, platform: str, case: str, key: str, hostile: str) -> None:
    fx = load(platform, case)
    spec, acc = PLATFORMS[platform], account(fx)
    before = spec.read(fx.reply(), acc)
    assert before.status is Status.ACTIVE and before.display_name, "the fixture names the account"
    reply = replace(fx.reply(), body=swap(fx.body, key, HOSTILE[hostile], before.display_name))
    raw = spec.classify(reply, acc)
    verdict = spec.read(reply, acc)
    assert (verdict.status, verdict.rule) == (before.status, before.rule)
    assert_clean(verdict)
    expected = {"surrogate": "\ufffd", "list": None, "number": "12345",
                "megabyte": "A" * (CAPS["display_name"] - 1) + "…"}[hostile]
    if raw.display_name is not None:  # (a module may drop a non-string name itself)
        assert verdict.display_name == expected
    record(store, acc, verdict)
    row = next(store.db.query("SELECT status, display_name FROM accounts"))
    assert row == {"status": "active", "display_name": expected if raw.display_name is not None else None}


@pytest.mark.parametrize(("platform", "case"), HTML_NAMES)
def test_a_megabyte_display_name_in_html_is_cut(store: Store, platform: str, case: str) -> None:
    fx = load(platform, case)
    spec, acc = PLATFORMS[platform], account(fx)
    before = spec.read(fx.reply(), acc)
    assert before.display_name
    reply = replace(fx.reply(), body=fx.body.replace(before.display_name.encode(), b"A" * MB))
    assert len(spec.classify(reply, acc).display_name or "") >= MB  # control: the module copies it all
    verdict = spec.read(reply, acc)
    assert (verdict.status, verdict.rule) == (before.status, before.rule)
    assert_clean(verdict)
    assert verdict.display_name == "A" * (CAPS["display_name"] - 1) + "…"
    record(store, acc, verdict)


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.parametrize(("platform", "case", "key"), MESSAGES)
def test_a_hostile_message_never_raises_never_finds_and_records(
        store: Store, platform: str, case: str, key: str, hostile: str) -> None:
    fx = load(platform, case)
    spec, acc = PLATFORMS[platform], account(fx)
    before = spec.read_safely(fx.reply(), acc)
    reply = replace(fx.reply(), body=swap(fx.body, key, HOSTILE[hostile]))
    verdict = spec.read_safely(reply, acc)
    assert verdict.status in (before.status, Status.UNKNOWN), "a hostile message is never another finding"
    assert_clean(verdict)
    record(store, acc, verdict)


@pytest.mark.parametrize("hostile", ["surrogate", "list"])
@pytest.mark.parametrize(("platform", "case", "key"), DISPLAY_NAMES)
def test_control_the_raw_classifier_carries_the_hostile_value_and_the_store_refuses_it(
        store: Store, platform: str, case: str, key: str, hostile: str) -> None:
    fx = load(platform, case)
    spec, acc = PLATFORMS[platform], account(fx)
    name = spec.read(fx.reply(), acc).display_name
    raw = spec.classify(replace(fx.reply(), body=swap(fx.body, key, HOSTILE[hostile], name)), acc)
    if raw.display_name is None:
        pytest.skip(f"{platform} drops a non-string display name itself")
    assert raw.display_name == HOSTILE[hostile]
    with pytest.raises(Exception) as raised:
        record(store, acc, raw)
    assert type(raised.value).__name__ in {"UnicodeEncodeError", "ProgrammingError"}
    assert store.db.execute("SELECT count(*) FROM observations").fetchone()[0] == 0


def test_clean_verdict_caps_and_keeps() -> None:
    ok = Verdict(Status.ACTIVE, "x.v2_user", "fine", platform_id="123", display_name="Ada", handle="ada")
    assert clean_verdict(ok) is ok
    hostile = Verdict(Status.ACTIVE, "x.v2_user", ["not", "a", "string"], platform_id=["1"],  # type: ignore[arg-type]
                      display_name={"n": 1}, handle="a\ud800")  # type: ignore[arg-type]
    cleaned = clean_verdict(hostile)
    assert cleaned.reason == '["not", "a", "string"]'  # what was sent stays visible
    assert (cleaned.platform_id, cleaned.display_name, cleaned.handle) == (None, None, None)
    assert clean_verdict(replace(ok, platform_id="9" * 500)).platform_id is None  # a cut id is not the id
    assert clean_verdict(replace(ok, platform_id=42)).platform_id == "42"  # type: ignore[arg-type]
    assert clean_verdict(replace(ok, display_name="\ud83d\ude00\x00")).display_name == "\U0001f600\ufffd"


# -- recording: one observation that fails is rolled back alone ---------------------------------------------

BATCH_WL = parse("defaults: {confirmations: 1, confirm_delay: 0s}\naccounts:\n"
                 "  - {platform: reddit, handle: one}\n  - {platform: reddit, handle: two}\n"
                 "  - {platform: mastodon, handle: bad@example.social}\n  - {platform: reddit, handle: three}\n",
                 "w.yaml")


def checker(store: Store) -> Checker:
    store.sync_watchlist(BATCH_WL, "2026-01-01T00:00:00.000Z")
    return Checker(store, list(BATCH_WL.accounts), {}, "#c", lambda _p: Politeness(), AlertSettings())


def test_an_observation_that_fails_to_record_is_unknown_and_the_batch_commits(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    check = checker(store)
    at = "2026-01-01T00:01:00.000Z"
    for acc in BATCH_WL.accounts:  # baseline
        check._on_item(Observation(acc.key, Status.ACTIVE, f"{acc.platform}.x", "", at))
    check.flush()
    at = "2026-01-01T00:02:00.000Z"
    for acc in BATCH_WL.accounts:  # the boundary bypassed: a raw hostile value beside three real suspensions
        if acc.platform == "mastodon":
            check._on_item(Observation(acc.key, Status.ACTIVE, "mastodon.account", "", at, display_name="\ud800"))
        else:
            check._on_item(Observation(acc.key, Status.SUSPENDED, "reddit.is_suspended", "", at))
    with caplog.at_level(logging.ERROR, logger="banwatch.monitor.runner"):
        check.flush()
    rows = {r["key"]: (r["status"], r["last_rule"]) for r in store.db.query(
        "SELECT key, status, last_rule FROM accounts")}
    assert rows == {"reddit:one": ("suspended", "reddit.is_suspended"),
                    "reddit:two": ("suspended", "reddit.is_suspended"),
                    "reddit:three": ("suspended", "reddit.is_suspended"),
                    "mastodon:bad@example.social": ("active", "mastodon.record_error")}
    assert store.db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 3
    (span,) = store.db.query("SELECT status, reason FROM observations WHERE account_key = ? ORDER BY id DESC "
                             "LIMIT 1", ["mastodon:bad@example.social"])
    assert span == {"status": "unknown", "reason": "recording the observation failed: UnicodeEncodeError"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "UnicodeEncodeError" in errors[0].getMessage()
    assert not any(r.exc_info for r in errors), "logged once, without a traceback"
    assert check.summary.counts["suspended"] == 3 and check.summary.unknown_rules == {"mastodon.record_error": 1}


def test_an_error_of_the_database_itself_still_fails_the_batch(store: Store) -> None:
    import sqlite3

    check = checker(store)
    acc = BATCH_WL.accounts[0]
    check.store.apply = lambda *a, **k: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked"))
    check._on_item(Observation(acc.key, Status.ACTIVE, "reddit.x", "", "2026-01-01T00:01:00.000Z"))
    from banwatch.monitor.errors import StoreError

    with pytest.raises(StoreError, match="database is locked"):  # the batch fails, as one clear error
        check.flush()


# -- end to end: `banwatch check` with hostile accounts beside real suspensions ---------------------------

E2E_WL = """\
defaults: {confirmations: 1, confirm_delay: 0s}
alerts: {slack_channel: "#hostile"}
platforms: {reddit: {delay: 0s}, bluesky: {delay: 0s}, mastodon: {delay: 0s}, weibo: {delay: 0s}}
accounts:
  - {platform: reddit, handle: spez}
  - {platform: bluesky, handle: gone.bsky.social}
  - {platform: weibo, id: "1234567890"}
  - {platform: mastodon, handle: surrogate@mastodon.example}
  - {platform: mastodon, handle: huge@mastodon.example}
  - {platform: bluesky, handle: listed.bsky.social}
  - {platform: reddit, handle: numbered}
  - {platform: bluesky, handle: message.bsky.social}
"""
REAL = {"reddit:spez": ("reddit.profile", "reddit.is_suspended", "suspended"),
        "bluesky:gone.bsky.social": ("bluesky.profile", "bluesky.account_takedown", "suspended"),
        "weibo:1234567890": ("weibo.user_info", "weibo.ban_notice", "suspended")}


def serve_hostile(fake: FakePlatforms, key: str, case: str, field: str, value: object) -> None:
    platform, handle = key.split(":", 1)
    fx = own(load(platform, case), key)
    name = PLATFORMS[platform].read(fx.reply(), account(replace(fx, handle=handle))).display_name
    body = swap(fx.body, field, value, name if field != "message" else None)
    fake.serve(replace(fx, body=body), PLATFORMS[platform].probe(Account(platform, handle, key), {}).url)


def test_check_confirms_real_suspensions_beside_hostile_accounts(tmp_path: Path, platforms: FakePlatforms,
                                                                 slack: FakeSlack) -> None:
    from tests.test_e2e import serve

    (tmp_path / "watchlist.yaml").write_text(E2E_WL, encoding="utf-8")
    for key, (active, _, _) in REAL.items():
        serve(platforms, key, active)
    # as large as the platform lets an answer be: a megabyte, or just under the platform's answer size limit
    limit = getattr(PLATFORMS["mastodon"], "max_answer", 2 * MB)
    huge = "A" * min(MB, limit - len(by_rule("mastodon", "mastodon.account").body) - 4096)
    serve_hostile(platforms, "mastodon:surrogate@mastodon.example", "active", "display_name", "\ud800")
    serve_hostile(platforms, "mastodon:huge@mastodon.example", "active", "display_name", huge)
    serve_hostile(platforms, "bluesky:listed.bsky.social", "active", "displayName", ["a", "b"])
    serve_hostile(platforms, "reddit:numbered", "near_miss_bio_says_suspended", "title", 12345)
    serve_hostile(platforms, "bluesky:message.bsky.social", "profile_not_found", "message", ["a", "b"])
    banwatch = Banwatch(tmp_path, platforms, slack)
    first = banwatch("check")
    assert "Traceback" not in first.stderr, first.stderr
    for key, (_, suspended, _) in REAL.items():
        serve(platforms, key, suspended)
    second = banwatch("check")  # exits 0, or Banwatch raises
    assert "Traceback" not in second.stderr, second.stderr
    rows = {r["key"]: r for r in banwatch.rows("SELECT key, status, last_rule, display_name FROM accounts")}
    for key, (_, rule, status) in REAL.items():
        assert (rows[key]["status"], rows[key]["last_rule"]) == (status, rule), rows[key]
        assert f"change: {key} active → {status}" in second.stdout
    assert len(slack.posted()) == len(REAL), [p["text"] for p in slack.posted()]
    assert rows["mastodon:surrogate@mastodon.example"]["display_name"] == "\ufffd"
    assert rows["mastodon:huge@mastodon.example"]["display_name"] == "A" * (CAPS["display_name"] - 1) + "…"
    assert rows["reddit:numbered"]["display_name"] == "12345"
    for key in ("mastodon:surrogate@mastodon.example", "mastodon:huge@mastodon.example",
                "bluesky:listed.bsky.social", "reddit:numbered"):
        assert rows[key]["status"] == "active", rows[key]
    assert rows["bluesky:listed.bsky.social"]["display_name"] is None
    message = rows["bluesky:message.bsky.social"]
    assert message["status"] is None and message["last_rule"].startswith("bluesky."), message
