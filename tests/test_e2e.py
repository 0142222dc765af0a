"""End to end: the real `banwatch` command against local fake platforms and a local fake Slack."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from banwatch.monitor.model import Account
from banwatch.spiders.platforms import PLATFORMS
from tests.conftest import Banwatch
from tests.fakes import FakePlatforms, FakeSlack
from tests.fixtures import by_rule
from tests.sim import did_of, own

WATCHLIST = """\
defaults: {interval: 10m, confirmations: 2, confirm_delay: 0s}
alerts: {slack_channel: "#banwatch-test"}
platforms:
  weibo: {delay: 0s, concurrency: 4}
  reddit: {delay: 0s, concurrency: 4}
  bluesky: {delay: 0s}
accounts:
  - name: Example Crypto Daily
    tags: [crypto, media]
    accounts: {weibo: "1234567890", bluesky: cryptodaily.bsky.social, mastodon: cd@mastodon.example}
  - {platform: reddit, handle: spez}
  - {platform: bluesky, handle: gone.bsky.social}
  - {platform: mastodon, handle: old@mastodon.example}
  - {platform: reddit, handle: ratelimited}
  - {platform: weibo, id: "2345678901"}
"""

ACTIVE = {"weibo": "weibo.user_info", "reddit": "reddit.profile", "bluesky": "bluesky.profile",
          "mastodon": "mastodon.account"}


def serve(fake: FakePlatforms, key: str, rule: str) -> None:
    """From now on, the account `key` answers what the saved response for `rule` says.

    The saved body is made this account's own (its handle, and on Bluesky its own DID), and Bluesky
    answers for the DID too, since banwatch asks by DID once it has seen one.
    """
    platform, handle = key.split(":", 1)
    fx = own(by_rule(platform, rule), key)
    account = Account(platform, handle, key)
    fake.serve(fx, PLATFORMS[platform].probe(account, {}).url)
    if platform == "bluesky":
        fake.serve(fx, PLATFORMS[platform].probe(replace(account, platform_id=did_of(key)), {}).url)


def setup(tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack | None) -> Banwatch:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    for key in ("weibo:1234567890", "bluesky:cryptodaily.bsky.social", "mastodon:cd@mastodon.example",
                "reddit:spez", "bluesky:gone.bsky.social", "mastodon:old@mastodon.example"):
        serve(platforms, key, ACTIVE[key.split(":")[0]])
    serve(platforms, "reddit:ratelimited", "reddit.rate_limited")  # the whole time
    serve(platforms, "weibo:2345678901", "weibo.captcha")  # the whole time
    return Banwatch(tmp_path, platforms, slack)


FLIPS = {
    "weibo:1234567890": ("weibo.ban_notice", "suspended"),
    "reddit:spez": ("reddit.is_suspended", "suspended"),
    "bluesky:gone.bsky.social": ("bluesky.account_deactivated", "deactivated"),
    "mastodon:old@mastodon.example": ("mastodon.record_not_found", "not_found"),
}


def test_baseline_then_one_alert_per_confirmed_change(tmp_path: Path, platforms: FakePlatforms,
                                                      slack: FakeSlack) -> None:
    banwatch = setup(tmp_path, platforms, slack)
    first = banwatch("check")
    assert slack.calls == [], "a baseline never alerts"
    status = {r["account"]: r["status"] for r in banwatch.sql(
        "SELECT key AS account, coalesce(status, 'unchecked') AS status FROM accounts")}
    assert status == {"weibo:1234567890": "active", "bluesky:cryptodaily.bsky.social": "active",
                      "mastodon:cd@mastodon.example": "active", "reddit:spez": "active",
                      "bluesky:gone.bsky.social": "active", "mastodon:old@mastodon.example": "active",
                      "reddit:ratelimited": "unchecked", "weibo:2345678901": "unchecked"}
    assert "8 observations in 1 round: 6 active, 2 unknown" in first.stdout

    for key, (rule, _) in FLIPS.items():
        serve(platforms, key, rule)
    second = banwatch("check")
    posted = slack.posted()
    assert len(posted) == len(FLIPS), [p["text"] for p in posted]
    for key, (_, to_status) in FLIPS.items():
        handle = key.split(":", 1)[1]
        (message,) = [p for p in posted if handle in p["text"]]
        assert message["channel"] == "#banwatch-test" and message["blocks"]
        assert f"change: {key} active → {to_status}" in second.stdout
    weibo = next(p["text"] for p in posted if "1234567890" in p["text"])
    assert weibo.startswith("Suspended on Weibo: Example Crypto Daily")
    assert "Still active on Bluesky, Mastodon." in weibo
    assert not any("ratelimited" in p["text"] or "2345678901" in p["text"] for p in posted)
    assert "xoxb-e2e-secret" not in second.stdout + second.stderr

    changes = banwatch.sql("SELECT account_key, from_status, to_status, evidence_id FROM changes ORDER BY account_key")
    assert [(c["account_key"], c["to_status"]) for c in changes] == sorted(
        (k, s) for k, (_, s) in FLIPS.items())
    assert all(c["evidence_id"] for c in changes)
    sent = banwatch.sql("SELECT state, slack_ts FROM alerts")
    assert len(sent) == 4 and all(a["state"] == "sent" and a["slack_ts"] for a in sent)

    banwatch("check")  # nothing changed: nothing is sent again
    assert len(slack.posted()) == len(FLIPS)

    serve(platforms, "reddit:spez", ACTIVE["reddit"])
    banwatch("check")
    assert len(slack.posted()) == len(FLIPS) + 1
    assert slack.posted()[-1]["text"].startswith("Reinstated on Reddit: spez")
    history = banwatch("history", "reddit:spez").stdout
    assert "active → suspended" in history and "suspended → active" in history


def test_transient_answers_between_checks_never_alert(tmp_path: Path, platforms: FakePlatforms,
                                                      slack: FakeSlack) -> None:
    banwatch = setup(tmp_path, platforms, slack)
    banwatch("check")
    for key, rule in (("weibo:1234567890", "weibo.http_418"), ("reddit:spez", "reddit.blocked"),
                      ("bluesky:gone.bsky.social", "bluesky.server_error"),
                      ("mastodon:old@mastodon.example", "mastodon.auth_required")):
        serve(platforms, key, rule)
    out = banwatch("check")
    assert slack.calls == [] and "change:" not in out.stdout
    assert banwatch.sql("SELECT count(*) AS n FROM changes") == [{"n": 0}]


def test_alerts_survive_a_slack_outage(tmp_path: Path, platforms: FakePlatforms, slack: FakeSlack) -> None:
    banwatch = setup(tmp_path, platforms, slack)
    banwatch("check")
    serve(platforms, "reddit:spez", "reddit.is_suspended")
    slack.fail_with = (503, {}, {"ok": False, "error": "service_unavailable"})
    out = banwatch("check")
    assert "1 not delivered (kept in the outbox" in out.stdout and slack.posted() == []
    # A 503 may come after Slack stored the post: the alert is in doubt (sending), looked for before a new try.
    assert banwatch.sql("SELECT state FROM alerts") == [{"state": "sending"}]
    slack.fail_with = None
    banwatch.sql("SELECT 1")  # the outbox row waits for its backoff; make it due now (as time would):
    import sqlite3
    with sqlite3.connect(tmp_path / "banwatch.db") as conn:
        conn.execute("UPDATE alerts SET next_attempt_at = '2000-01-01T00:00:00.000Z'")
    banwatch("check")
    banwatch("check")
    assert len(slack.posted()) == 1 and "spez" in slack.posted()[0]["text"]
    assert banwatch.sql("SELECT state FROM alerts") == [{"state": "sent"}]


def test_without_slack_credentials_alerts_go_to_the_console(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch = setup(tmp_path, platforms, None)
    first = banwatch("check", "--progress")
    assert "alerts go to the console" in first.stderr
    assert "checking" in first.stderr  # the progress bar, forced on (off a terminal click shows its label)
    serve(platforms, "weibo:1234567890", "weibo.ban_notice")
    out = banwatch("check").stdout
    assert "ALERT Suspended on Weibo: Example Crypto Daily" in out
    assert "alerts: 1 sent via console" in out


def serve_second(fake: FakePlatforms, key: str, rule: str) -> None:
    """The second probe of `key` (asked after the first verdict in the saved response) answers with `rule`."""
    from banwatch.monitor.model import Status, Verdict

    platform, handle = key.split(":", 1)
    fx = by_rule(platform, rule)
    assert fx.first, f"{rule} is not a second-probe response"
    account = Account(platform, handle, key, platform_id=did_of(key) if platform == "bluesky" else None)
    probe = PLATFORMS[platform].second_probe(Verdict(Status(fx.first["status"]), fx.first["rule"]), account, {})
    assert probe is not None
    fake.serve(own(fx, key), probe.url)


def test_second_probes_separate_what_one_endpoint_cannot(tmp_path: Path, platforms: FakePlatforms,
                                                         slack: FakeSlack) -> None:
    banwatch = setup(tmp_path, platforms, slack)
    banwatch("check")  # baseline: banwatch learns gone.bsky.social's DID
    assert banwatch.sql("SELECT platform_id FROM accounts WHERE key = 'bluesky:gone.bsky.social'") == [
        {"platform_id": did_of("bluesky:gone.bsky.social")}]
    serve(platforms, "bluesky:gone.bsky.social", "bluesky.profile_not_found")
    serve_second(platforms, "bluesky:gone.bsky.social", "bluesky.repo_deleted")
    serve(platforms, "mastodon:old@mastodon.example", "mastodon.suspended")
    serve_second(platforms, "mastodon:old@mastodon.example", "mastodon.html_suspended")
    out = banwatch("check").stdout
    assert "change: bluesky:gone.bsky.social active → deactivated (bluesky.repo_deleted)" in out
    assert "change: mastodon:old@mastodon.example active → suspended (mastodon.html_suspended)" in out
    evidence = banwatch.sql("SELECT c.account_key, e.url, e.http_status FROM changes c "
                            "JOIN evidence e ON e.id = c.evidence_id ORDER BY c.account_key")
    assert evidence == [
        {"account_key": "bluesky:gone.bsky.social", "http_status": 200,
         "url": evidence[0]["url"]},
        {"account_key": "mastodon:old@mastodon.example", "http_status": 403, "url": evidence[1]["url"]}]
    assert "getRepoStatus" in evidence[0]["url"] and evidence[1]["url"].endswith("/@old")
    assert any(host == "bsky.network" for host, _ in platforms.requests), "the relay was asked"


def test_a_platform_without_credentials_is_unknown_with_one_health_alert(tmp_path: Path, platforms: FakePlatforms,
                                                                          slack: FakeSlack) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "alerts: {slack_channel: '#h'}\naccounts:\n  - {platform: x, handle: jack}\n  - {platform: x, handle: sama}\n",
        encoding="utf-8")
    banwatch = Banwatch(tmp_path, platforms, slack)
    banwatch.env.pop("X_BEARER_TOKEN", None)
    first = banwatch("check").stdout
    assert "unknown (proves nothing, checked again next run): x.no_credentials ×2" in first
    banwatch("check")
    health = [m["text"] for m in slack.in_channel("#h")]
    assert len(health) == 1 and "banwatch has no credentials on X (set X_BEARER_TOKEN" in health[0]
    assert platforms.requests == [], "nothing was asked without the credential"


def test_reddit_with_an_app_token_asks_oauth_reddit_com(tmp_path: Path, platforms: FakePlatforms,
                                                         slack: FakeSlack) -> None:
    (tmp_path / "watchlist.yaml").write_text(
        "alerts: {slack_channel: '#r'}\naccounts:\n  - {platform: reddit, handle: spez}\n", encoding="utf-8")
    banwatch = Banwatch(tmp_path, platforms, slack)
    banwatch.env["BANWATCH_REDDIT_TOKEN"] = "reddit-app-token-xyz"
    platforms.serve(by_rule("reddit", "reddit.profile"), "https://oauth.reddit.com/user/spez/about?raw_json=1")
    banwatch("check")
    assert banwatch.sql("SELECT status, last_rule FROM accounts") == [{"status": "active", "last_rule": "reddit.profile"}]
    assert platforms.requests == [("oauth.reddit.com", "/user/spez/about?raw_json=1")]
    platforms.serve(by_rule("reddit", "reddit.credential_rejected"))  # the token expired
    out = banwatch("check")
    assert "reddit.credential_rejected ×1" in out.stdout
    (health,) = [m["text"] for m in slack.in_channel("#r")]
    assert "had its own credential rejected" in health and "reddit-app-token-xyz" not in out.stdout + health
