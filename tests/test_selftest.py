"""`banwatch selftest`: canaries asked through the production path, against the platform simulator.

The command runs in a subprocess (Scrapy's reactor can be installed once per process), with every platform's
BANWATCH_<PLATFORM>_BASE_URL pointing at a simulator started in the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from banwatch.monitor.model import Account, Reply, Status, Verdict
from banwatch.monitor.selftest import CAPTURED, DRIFT, INCONCLUSIVE, OK, SKIPPED, Scrubber, judge
from banwatch.monitor.watchlist import CANARY_STATES
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.platforms.canaries import BUILTIN
from tests.fixtures import load
from tests.sim import STATE_RULES, Answer, Simulator, env_for

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = {name for p in PLATFORMS.values() for name in p.credentials}
# Built-in canaries the simulator can answer for (X and Twitch need credentials, so they are skipped).
SIMULATED = {p: f"{p}:{c.handle}" for p, known in BUILTIN.items() for c in known.values() if p in STATE_RULES}
COOKIE_VALUE = "c0ffee5e55da7a-not-a-real-session"  # one value of the cookie string below
COOKIE = f"SESSDATA={COOKIE_VALUE}; bili_jct=0123456789abcdef"


class EchoingSimulator(Simulator):
    """Bilibili's answers also echo `echo` back: whole in a header, and its SESSDATA value in the JSON body."""

    echo = ""

    def _render(self, key: str, platform: str, account: dict[str, Any], fault: str | None, second: bool) -> Answer:
        answer = super()._render(key, platform, account, fault, second)
        if platform != "bilibili" or not self.echo:
            return answer
        doc = json.loads(answer.body)
        doc["echo"] = self.echo.split(";")[0].partition("=")[2]
        return replace(answer, body=json.dumps(doc).encode(),
                       headers={**answer.headers, "X-Echo": self.echo, "Set-Cookie": "buvid3=abc; Path=/"})


@pytest.fixture
def sim() -> Iterator[EchoingSimulator]:
    with EchoingSimulator(slow=4.0) as s:
        s.add(*SIMULATED.values())
        yield s


class Selftest:
    """`python -m banwatch.monitor selftest ...` in tmp_path (no watchlist.yaml there unless a test writes one)."""

    def __init__(self, workdir: Path, sim: Simulator) -> None:
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("BANWATCH_", "SLACK_", "SCRAPY_")) and k not in CREDENTIALS}
        self.env.update(env_for(sim.url))
        self.env.update({"PYTHONPATH": str(ROOT), "BANWATCH_DOWNLOAD_TIMEOUT": "2",
                         "BANWATCH_DB": str(workdir / "banwatch.db")})

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "banwatch.monitor", *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == code, f"selftest {args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def json(self, *args: str, code: int = 0) -> dict[str, Any]:
        return json.loads(self("selftest", "--json", *args, code=code).stdout)


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {p["platform"]: p["outcome"] for p in report["platforms"]}


# -- without the network -------------------------------------------------------------------------


def test_builtin_canaries_are_canonical_handles_of_platforms_that_can_prove_their_state() -> None:
    for name, known in BUILTIN.items():
        platform = PLATFORMS[name]
        assert platform.findings, f"{name}: a platform that proves no state cannot have a canary"
        for status, canary in known.items():
            assert status in CANARY_STATES and canary.why
            assert platform.normalise(canary.handle) == canary.handle, f"{name}: {canary.handle} is not canonical"
    assert "douyin" not in BUILTIN


@pytest.mark.parametrize(("known", "status", "rule", "outcome"), [
    ("active", Status.ACTIVE, "reddit.profile", OK),
    ("suspended", Status.SUSPENDED, "mastodon.html_suspended", OK),
    ("active", Status.SUSPENDED, "weibo.ban_notice", DRIFT),  # conclusive, but not what is known
    ("suspended", Status.NOT_FOUND, "bluesky.profile_not_found", DRIFT),
    ("active", Status.UNKNOWN, "reddit.unrecognised", DRIFT),  # the page is no longer one the classifier knows
    ("active", Status.UNKNOWN, "x.user_unavailable:offboarded_v2", DRIFT),  # a value no rule knows (named_rule)
    ("active", Status.UNKNOWN, "tiktok.classifier_error", DRIFT),
    ("active", Status.UNKNOWN, "tiktok.rate_limited", INCONCLUSIVE),
    ("active", Status.UNKNOWN, "weibo.captcha", INCONCLUSIVE),
    ("active", Status.UNKNOWN, "youtube.timeout", INCONCLUSIVE),
    ("active", Status.UNKNOWN, "reddit.credential_rejected", INCONCLUSIVE),
    ("active", Status.UNKNOWN, "x.no_credentials", SKIPPED),
])
def test_what_counts_as_drift(known: str, status: Status, rule: str, outcome: str) -> None:
    assert judge(known, status, rule) == outcome


def test_scrubber_keeps_allowed_headers_masks_token_parameters_and_replaces_secret_values() -> None:
    """More in tests/test_selftest_scrub.py."""
    scrub = Scrubber({"X_BEARER_TOKEN": 'AAAA"bearer/value+1'})
    scrubbed = scrub.scrub(Reply(
        url="https://api.example/u?name=spez&access_token=abc123&oauth_signature=zz&q=AAAA%22bearer%2Fvalue%2B1",
        status=200, body=b'{"echo":"AAAA\\"bearer/value+1","raw":"AAAA"bearer/value+1"}',
        headers={"content-type": "application/json", "set-cookie": "sid=1", "authorization": "Bearer x",
                 "x-csrf-token": "t", "x-echo": 'AAAA"bearer/value+1', "server": 'AAAA"bearer/value+1'}))
    reply = scrubbed.reply
    assert reply.url == "https://api.example/u?name=spez&access_token=REDACTED&oauth_signature=REDACTED" \
                        "&q=[REDACTED X_BEARER_TOKEN]"
    assert reply.headers == {"content-type": "application/json", "set-cookie": "sid=REDACTED",
                             "server": "[REDACTED X_BEARER_TOKEN]"}
    assert scrubbed.dropped_headers == ("authorization", "x-csrf-token", "x-echo")
    assert b"bearer/value" not in reply.body and reply.body.count(b"[REDACTED X_BEARER_TOKEN]") == 2


# -- against the simulator -----------------------------------------------------------------------


def test_every_canary_as_known_exits_0_and_writes_nothing(tmp_path: Path, sim: EchoingSimulator) -> None:
    report = Selftest(tmp_path, sim).json()
    assert report["exit_code"] == 0 and report["watchlist"] is None
    assert outcomes(report) == {**{p: OK for p in SIMULATED}, "x": SKIPPED, "twitch": SKIPPED, "douyin": "none"}
    by_platform = {p["platform"]: p for p in report["platforms"]}
    assert "X_BEARER_TOKEN" in by_platform["x"]["note"] and "TWITCH_CLIENT_ID" in by_platform["twitch"]["note"]
    for name, key in SIMULATED.items():
        (canary,) = by_platform[name]["canaries"]
        assert (canary["key"], canary["known"], canary["read"], canary["source"]) == (key, "active", "active",
                                                                                     "built-in")
        assert canary["rule"] == STATE_RULES[name]["active"] and canary["reason"]
    assert report["counts"] == {OK: len(SIMULATED), DRIFT: 0, INCONCLUSIVE: 0, SKIPPED: 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no database, no file of any kind"


def test_a_changed_page_or_state_is_drift_on_that_platform_only_and_exits_1(
        tmp_path: Path, sim: EchoingSimulator) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "platforms:\n  mastodon: {delay: 0s, canaries: {suspended: gone@mastodon.example}}\n"
        "accounts:\n  - {platform: reddit, handle: notacanary}\n", encoding="utf-8")
    sim.add("mastodon:gone@mastodon.example", state="suspended")
    sim.set(platform="reddit", fault="unrecognised")  # Reddit's page changed under the classifier
    sim.set(SIMULATED["weibo"], state="suspended")  # Weibo's canary reads another conclusive state
    proc = Selftest(tmp_path, sim)("selftest", code=1)
    out = proc.stdout
    assert "canaries: the watchlist's (watchlist.yaml) and the built-in ones" in out
    assert "Reddit: DRIFT" in out and "Weibo: DRIFT" in out
    reddit = next(line for line in out.splitlines() if line.startswith("  ✗ spez"))
    assert "known active" in reddit and "read unknown" in reddit and "reddit.unrecognised" in reddit
    weibo = next(line for line in out.splitlines() if line.startswith("  ✗ 1642909335"))
    assert "read suspended" in weibo and "weibo.ban_notice" in weibo
    for title in ("Bluesky", "YouTube", "Telegram", "TikTok", "Instagram", "Bilibili", "Facebook", "Mastodon"):
        assert f"{title}: ok" in out, out
    gone = next(line for line in out.splitlines() if "gone@mastodon.example" in line)  # the watchlist's canary,
    assert gone.startswith("  ✓") and "known suspended" in gone and "mastodon.html_suspended" in gone  # 2 probes
    assert "notacanary" not in out, "watched accounts are not canaries"
    assert f"{len(SIMULATED) - 1} ok, 2 drifted, 0 inconclusive, 2 skipped; exit 1" in out
    assert not (tmp_path / "banwatch.db").exists()


def test_a_blocked_canary_is_inconclusive_not_drift_unless_strict(tmp_path: Path, sim: EchoingSimulator) -> None:
    sim.set(platform="tiktok", fault="rate_limit")
    sim.set(platform="weibo", fault="captcha")
    selftest = Selftest(tmp_path, sim)
    report = selftest.json("tiktok", "weibo", "reddit")
    assert outcomes(report) == {"tiktok": INCONCLUSIVE, "weibo": INCONCLUSIVE, "reddit": OK}
    rules = {c["key"]: c["rule"] for p in report["platforms"] for c in p["canaries"]}
    assert rules == {SIMULATED["tiktok"]: "tiktok.rate_limited", SIMULATED["weibo"]: "weibo.captcha",
                     SIMULATED["reddit"]: "reddit.profile"}
    strict = selftest.json("tiktok", "reddit", "--strict", code=3)
    assert strict["exit_code"] == 3 and strict["counts"][INCONCLUSIVE] == 1
    sim.set(platform="tiktok", fault=None)
    assert selftest.json("tiktok", "--strict")["exit_code"] == 0  # control: readable again, strict passes


def test_saved_responses_load_back_as_fixtures_and_classify_to_the_recorded_verdict(
        tmp_path: Path, sim: EchoingSimulator) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "platforms:\n  mastodon: {delay: 0s, canaries: {suspended: gone@mastodon.example}}\naccounts: []\n",
        encoding="utf-8")
    sim.add("mastodon:gone@mastodon.example", state="suspended")
    sim.set(platform="reddit", fault="unrecognised")
    report = Selftest(tmp_path, sim).json("reddit", "mastodon", "bluesky", "--save", "captures", code=1)
    out = tmp_path / "captures"
    assert report["saved_to"] == str(out)
    saved = sorted(case for p in report["platforms"] for c in p["canaries"] for case in c["saved"])
    assert saved == sorted(f"{m.parent.name}/{m.name[:-len('.meta.json')]}" for m in out.glob("*/*.meta.json"))
    assert saved == ["bluesky/selftest_active_bsky_app", "mastodon/selftest_active_mastodon_mastodon_social",
                     "mastodon/selftest_suspended_gone_mastodon_example",  # first probe: the API says suspended
                     "mastodon/selftest_suspended_gone_mastodon_example_second",  # second: the profile page
                     "reddit/selftest_active_spez"]
    verdicts = {}
    for case in saved:
        platform, name = case.split("/")
        fx = load(platform, name, root=out)
        assert fx.source.startswith("banwatch selftest 2") and fx.body
        assert json.loads((out / platform / f"{name}.meta.json").read_text())["captured"] == CAPTURED
        account = Account(platform, fx.handle, f"{platform}:{fx.handle}", platform_id=fx.platform_id)
        first = Verdict(Status(fx.first["status"]), fx.first["rule"]) if fx.first else None
        verdict = PLATFORMS[platform].read(fx.reply(), account, first)
        assert (verdict.status.value, verdict.rule) == (fx.expected_status, fx.expected_rule), case
        verdicts[case] = verdict.rule
    assert verdicts["reddit/selftest_active_spez"] == "reddit.unrecognised"  # the drifted page, as it came
    assert verdicts["mastodon/selftest_suspended_gone_mastodon_example"] == "mastodon.suspended"
    assert verdicts["mastodon/selftest_suspended_gone_mastodon_example_second"] == "mastodon.html_suspended"
    assert load("mastodon", "selftest_suspended_gone_mastodon_example_second", root=out).first == {
        "status": "suspended", "rule": "mastodon.suspended"}


def test_a_configured_secret_echoed_by_the_platform_is_never_saved(tmp_path: Path, sim: EchoingSimulator) -> None:
    sim.echo = COOKIE
    selftest = Selftest(tmp_path, sim)
    selftest.env["BANWATCH_BILIBILI_COOKIE"] = COOKIE  # a credential: sent to Bilibili, echoed back
    proc = selftest("selftest", "bilibili", "--save", "scrubbed", "--json")
    scrubbed = _files(tmp_path / "scrubbed")
    assert set(scrubbed) == {"bilibili/selftest_active_2.json", "bilibili/selftest_active_2.meta.json"}
    everything = "".join(scrubbed.values()) + proc.stdout + proc.stderr
    assert COOKIE_VALUE not in everything and "0123456789abcdef" not in everything
    meta = json.loads(scrubbed["bilibili/selftest_active_2.meta.json"])
    assert "x-echo" not in meta["headers"] and "x-echo" in meta["dropped_headers"]  # not on the allow-list
    assert meta["headers"]["set-cookie"] == "buvid3=REDACTED"  # the cookie's name, not its value
    assert '"echo": "[REDACTED BANWATCH_BILIBILI_COOKIE]"' in scrubbed["bilibili/selftest_active_2.json"]
    assert meta["expected"] == {"status": "active", "rule": "bilibili.card"}

    del selftest.env["BANWATCH_BILIBILI_COOKIE"]  # control: the same value, not configured as a secret
    selftest("selftest", "bilibili", "--save", "verbatim")
    verbatim = _files(tmp_path / "verbatim")
    meta = json.loads(verbatim["bilibili/selftest_active_2.meta.json"])
    assert COOKIE_VALUE in verbatim["bilibili/selftest_active_2.json"]
    assert "x-echo" not in meta["headers"] and meta["headers"]["set-cookie"] == "buvid3=REDACTED", \
        "headers are kept or dropped by name, and cookie values masked, whatever their value"


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in root.rglob("*") if p.is_file()}


def test_user_errors_exit_2_with_a_message_and_no_traceback(tmp_path: Path, sim: EchoingSimulator) -> None:
    selftest = Selftest(tmp_path, sim)
    unknown = selftest("selftest", "reddit", "myspace", code=2)
    assert "Error: unknown platform 'myspace' (known: bilibili, bluesky" in unknown.stderr
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    bad_dir = selftest("selftest", "reddit", "--save", "a-file", code=2)
    assert "Error: --save a-file: exists and is not a directory" in bad_dir.stderr
    missing = selftest("--watchlist", "nope.yaml", "selftest", code=2)
    assert "nope.yaml: file not found" in missing.stderr
    assert not any("Traceback" in p.stderr for p in (unknown, bad_dir, missing))
    assert sim.requests == 0, "a user error is found before anything is asked"
