"""The spider is configured by Scrapy settings, never by the environment; the settings module names only
settings Scrapy knows plus banwatch's own documented BANWATCH_* ones; no secret reaches the log, at DEBUG.

The crawls run in a subprocess (the reactor runs once per process): one through the composition
(monitor.runner.run_in_reactor) with the environment holding no base URL and no credential, the settings
holding both; one through the real `banwatch --log-level DEBUG check` with the log redaction switched off,
so that only what Scrapy and banwatch choose to log is seen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from scrapy.settings import default_settings
from scrapy.utils.test import get_crawler

import banwatch.spiders.settings as spider_settings
from banwatch.monitor.model import Account
from banwatch.monitor.redact import NO_LOG_FILTER
from banwatch.monitor.settings import secrets_from_env
from banwatch.spiders.middlewares import RedirectGuardMiddleware
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.status import StatusSpider
from tests.conftest import ROOT, Banwatch
from tests.fakes import FakePlatforms, LocalServer, QuietHandler
from tests.fixtures import by_rule

TWITCH = Account("twitch", "someone", "twitch:someone")
SECRETS = {"TWITCH_CLIENT_ID": "clientFromSettings0001", "TWITCH_APP_TOKEN": "tokenFromSettings0002"}
ENV_SECRETS = {"TWITCH_CLIENT_ID": "clientFromEnv0003", "TWITCH_APP_TOKEN": "tokenFromEnv0004"}


def forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe="")]


def settings_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment says something else: other credentials and another base URL."""
    for name, value in ENV_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BANWATCH_TWITCH_BASE_URL", "http://from-the-environment.invalid")


def test_the_spider_takes_base_urls_and_secrets_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_only(monkeypatch)
    crawler = get_crawler(StatusSpider, {"BANWATCH_BASE_URLS": {"twitch": "http://127.0.0.1:9"},
                                         "BANWATCH_SECRETS": SECRETS})
    spider = StatusSpider.from_crawler(crawler, accounts=[TWITCH])
    assert spider.base_urls == {"twitch": "http://127.0.0.1:9"}
    assert dict(spider.secrets) == SECRETS


def test_without_the_settings_the_environment_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_only(monkeypatch)
    spider = StatusSpider.from_crawler(get_crawler(StatusSpider, {}), accounts=[TWITCH])
    assert spider.base_urls == {} and dict(spider.secrets) == {}
    assert StatusSpider(accounts=[TWITCH]).secrets == {}


def test_json_settings_from_the_command_line_are_read() -> None:
    crawler = get_crawler(StatusSpider, {"BANWATCH_BASE_URLS": '{"twitch": "http://127.0.0.1:9"}',
                                         "BANWATCH_SECRETS": json.dumps(SECRETS)})
    spider = StatusSpider.from_crawler(crawler, accounts=[TWITCH])
    assert spider.base_urls == {"twitch": "http://127.0.0.1:9"} and dict(spider.secrets) == SECRETS


def test_constructor_arguments_take_the_settings_place() -> None:
    crawler = get_crawler(StatusSpider, {"BANWATCH_BASE_URLS": {"twitch": "http://127.0.0.1:9"},
                                         "BANWATCH_SECRETS": SECRETS})
    spider = StatusSpider.from_crawler(crawler, accounts=[TWITCH], base_urls={"twitch": "http://127.0.0.2:9"},
                                       secrets=ENV_SECRETS)
    assert spider.base_urls == {"twitch": "http://127.0.0.2:9"} and dict(spider.secrets) == ENV_SECRETS
    direct = StatusSpider(accounts=[TWITCH], base_urls={"twitch": "http://127.0.0.3:9"}, secrets=SECRETS)
    assert direct.base_urls == {"twitch": "http://127.0.0.3:9"} and dict(direct.secrets) == SECRETS


def test_the_redirect_guard_reads_the_same_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_only(monkeypatch)
    crawler = get_crawler(StatusSpider, {"BANWATCH_SECRETS": SECRETS})
    guard = RedirectGuardMiddleware.from_crawler(crawler)
    assert set(guard.secrets().values()) == set(SECRETS.values())
    crawler.spider = StatusSpider.from_crawler(crawler, accounts=[], secrets={"BANWATCH_REDDIT_TOKEN": "spiderOwn0005"})
    assert set(guard.secrets().values()) == {*SECRETS.values(), "spiderOwn0005"}


def test_secret_values_never_show_in_a_repr() -> None:
    shown = repr(secrets_from_env(ENV_SECRETS)) + str(secrets_from_env(ENV_SECRETS))
    assert "TWITCH_CLIENT_ID" in shown and not any(v in shown for v in ENV_SECRETS.values())
    spider = StatusSpider(accounts=[], secrets=SECRETS)
    assert not any(v in repr(spider.secrets) for v in SECRETS.values())


def test_the_settings_module_names_only_settings_scrapy_knows_and_documented_banwatch_ones() -> None:
    names = {n for n in dir(spider_settings) if n.isupper()}
    unknown = names - {n for n in dir(default_settings) if n.isupper()}
    documented = set(re.findall(r"^- (BANWATCH_[A-Z_]+):", spider_settings.__doc__ or "", re.M))
    assert unknown == documented, f"not a Scrapy 2.19 setting and not documented: {sorted(unknown - documented)}"
    assert documented == {"BANWATCH_BASE_URLS", "BANWATCH_SECRETS", "BANWATCH_ANSWER_MAXSIZE", "BANWATCH_PROXIES",
                          "BANWATCH_BIND_ADDRESS"}
    assert "REQUEST_FINGERPRINTER_IMPLEMENTATION" not in names


# -- crawls ----------------------------------------------------------------------------------------------

CRAWL = """
import json, logging, sys
logging.basicConfig(level="DEBUG", stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_to_future
from banwatch.monitor.model import Account
from banwatch.monitor.runner import run_in_reactor
from banwatch.spiders.status import StatusSpider

base_url, secrets = sys.argv[1], json.loads(sys.argv[2])
seen = []

async def main(runner):
    crawler = Crawler(StatusSpider, runner.settings)
    crawler.signals.connect(lambda item, **_: seen.append(item), signal=signals.item_scraped, weak=False)
    await deferred_to_future(runner.crawl(crawler, accounts=[Account("twitch", "someone", "twitch:someone")]))

run_in_reactor(main, {"LOG_LEVEL": "DEBUG", "BANWATCH_BASE_URLS": {"twitch": base_url},
                      "BANWATCH_SECRETS": secrets}, signal_handlers=False)
print(json.dumps([{"rule": o.rule, "probes": list(o.probes)} for o in seen]))
"""


class Recorder(LocalServer):
    """Answers 404 to everything; records each request's path and headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send(404, {"Content-Type": "application/json"}, b'{"error": "Not Found"}')

        super().__init__(Handler)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    try:
        yield server
    finally:
        server.close()


def clean_env() -> dict[str, str]:
    names = {n for p in PLATFORMS.values() for n in p.credentials}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BANWATCH_", "SLACK_", "SCRAPY_")) and k not in names}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_a_crawl_asks_the_configured_base_url_with_the_configured_secrets_and_logs_none(
        recorder: Recorder, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CRAWL, recorder.url, json.dumps(SECRETS)], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    observations = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [o["probes"][0].startswith(recorder.url) for o in observations] == [True], observations
    ((path, headers),) = recorder.seen
    assert path == "/helix/users?login=someone"
    assert headers["client-id"] == SECRETS["TWITCH_CLIENT_ID"]
    assert headers["authorization"] == f"Bearer {SECRETS['TWITCH_APP_TOKEN']}"
    log = proc.stdout + proc.stderr
    assert "Overridden settings" in log and "DEBUG scrapy.core.engine: Crawled (404)" in log, "DEBUG was logged"
    leaked = [f for secret in SECRETS.values() for f in forms(secret) if f in log]
    assert leaked == [], f"secrets in the log: {leaked}"


def test_banwatch_check_at_debug_without_the_log_filter_logs_no_secret(tmp_path: Path) -> None:
    token = "redditAppTokenSecret0006"
    with FakePlatforms() as platforms:
        (tmp_path / "watchlist.yaml").write_text("accounts:\n  - {platform: reddit, handle: spez}\n",
                                                 encoding="utf-8")
        banwatch = Banwatch(tmp_path, platforms, None)
        banwatch.env.update({"BANWATCH_REDDIT_TOKEN": token, NO_LOG_FILTER: "1"})
        platforms.serve(by_rule("reddit", "reddit.profile"), "https://oauth.reddit.com/user/spez/about?raw_json=1")
        out = banwatch("--log-level", "DEBUG", "check")
        assert platforms.requests == [("oauth.reddit.com", "/user/spez/about?raw_json=1")]
    log = out.stdout + out.stderr
    assert "Overridden settings" in log and "Crawled (200)" in log, "DEBUG was logged"
    assert [f for f in forms(token) if f in log] == []
