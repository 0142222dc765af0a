"""No secret in any log line at any level, in the database or in an alert — while Slack fails.

Every secret below carries the marker `sekrit`; a run passes when the marker appears nowhere in its stdout,
its DEBUG stderr, the SQLite files' bytes or what Slack received (URL-encoded, scheme-less and path-only
forms all keep the marker; the base64 forms are looked for on their own). The control run switches the log
filter off and finds the webhook URL in slack-sdk's own log lines: the grep can see a leak.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from banwatch.monitor.redact import NO_LOG_FILTER, RedactingFilter, Redactor
from tests.conftest import Banwatch
from tests.fakes import FakePlatforms, FakeSlack, LocalServer, QuietHandler
from tests.test_delivery import _seed

MARK = "sekrit"
PROXY_USERINFO = "sekritProxyUser:sekritProxyPass9"
BASE_USERINFO = "sekritBaseUser:sekritBasePass7"
CREDENTIALS = {
    "X_BEARER_TOKEN": "AAAAsekritXBearer0001", "X_AUTH_TOKEN": "sekritXAuth0002", "X_CT0": "sekritCt0x0003",
    "TWITCH_CLIENT_ID": "sekritTwitchClient04", "TWITCH_APP_TOKEN": "sekritTwitchApp0005",
    "BANWATCH_REDDIT_TOKEN": "sekritReddit0006", "BANWATCH_INSTAGRAM_SESSIONID": "12345%3Asekrit%3A0007",
    "BANWATCH_BILIBILI_COOKIE": "SESSDATA=sekritSess0008; bili_jct=sekritJct0009",
}
BOT_TOKEN = "xoxb-sekrit-bot-0010"


class _HookHandler(QuietHandler):
    """An incoming-webhook endpoint that fails with 500 and, like some proxies do, echoes what it was asked."""

    def do_POST(self) -> None:  # noqa: N802
        owner: HookServer = self.server.owner  # type: ignore[attr-defined]
        owner.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        body = f"no such hook: {self.path} (https://hooks.slack.com{self.path})".encode()
        self.send(500, {"Content-Type": "text/plain"}, body)


class HookServer(LocalServer):
    def __init__(self) -> None:
        self.bodies: list[str] = []
        super().__init__(_HookHandler)


@pytest.fixture
def hook() -> Iterator[HookServer]:
    server = HookServer()
    yield server
    server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_send(workdir: Path, platforms: FakePlatforms, slack: FakeSlack | None, env: dict[str, str],
             command: tuple[str, ...] = ("alerts", "send")) -> tuple[Banwatch, str]:
    """Seed pending alerts, run `banwatch --log-level DEBUG <command>` with `env`, return all it left behind."""
    workdir.mkdir()
    (workdir / "watchlist.yaml").write_text(
        "alerts: {slack_channel: '#banwatch', wave_size: 1000}\naccounts: []\n", encoding="utf-8")
    banwatch = Banwatch(workdir, platforms, slack)
    banwatch.env.update(CREDENTIALS)
    banwatch.env.update(env)
    _seed(banwatch, 2)
    proc = banwatch("--log-level", "DEBUG", *command)
    seen = proc.stdout + proc.stderr + json.dumps(banwatch.rows("SELECT * FROM alerts"))
    seen += json.dumps(banwatch.rows("SELECT * FROM waves"))
    for db_file in workdir.glob("banwatch.db*"):  # the database, its -wal and -shm
        seen += db_file.read_bytes().decode("latin-1")
    if slack is not None:
        # what Slack was sent (the Authorization header is where the token belongs, so it is not searched)
        seen += json.dumps([c.payload for c in slack.calls]) + json.dumps(slack.webhook_posts)
    return banwatch, seen


def assert_clean(seen: str) -> None:
    lowered = seen.lower()
    at = lowered.find(MARK)
    assert at < 0, f"a secret leaked: ...{seen[max(0, at - 200):at + 100]}..."
    for userinfo in (PROXY_USERINFO, BASE_USERINFO):
        assert base64.b64encode(userinfo.encode()).decode() not in seen


def failures(banwatch: Banwatch) -> list[str]:
    return [r["last_error"] for r in banwatch.rows("SELECT last_error FROM alerts ORDER BY id")]


def test_webhook_500_echoing_its_url_leaks_nothing(tmp_path: Path, platforms: FakePlatforms, hook: HookServer) -> None:
    url = f"{hook.url}/services/TSEKRIT01/BSEKRIT02/sekritHookToken0011"
    banwatch, seen = run_send(tmp_path / "w", platforms, None, {
        "SLACK_WEBHOOK_URL": url,
        "BANWATCH_MASTODON_BASE_URL": f"http://{BASE_USERINFO}@127.0.0.1:{closed_port()}"})
    assert hook.bodies, "the webhook was posted to"
    assert failures(banwatch)[0].startswith("webhook answered HTTP 500: no such hook: <secret>")
    assert_clean(seen + "".join(hook.bodies))


def test_webhook_connection_refused_and_a_proxy_with_credentials_leak_nothing(
        tmp_path: Path, platforms: FakePlatforms) -> None:
    port = closed_port()
    banwatch, seen = run_send(tmp_path / "w", platforms, None, {
        "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{port}/services/TSEKRIT01/BSEKRIT02/sekritHookToken0012",
        "HTTPS_PROXY": f"http://{PROXY_USERINFO}@127.0.0.1:{port}"})
    assert all(e and "Connection refused" in e for e in failures(banwatch)[:1]), failures(banwatch)
    assert "Going to retry" in seen or "Failed to send" in seen, "slack-sdk's own log lines were captured"
    assert_clean(seen)


def test_webhook_url_without_scheme_leaks_nothing(tmp_path: Path, platforms: FakePlatforms) -> None:
    banwatch, seen = run_send(tmp_path / "w", platforms, None, {
        "SLACK_WEBHOOK_URL": "hooks.slack.com/services/TSEKRIT01/BSEKRIT02/sekritHookToken0013"})
    assert "unknown url type" in failures(banwatch)[0]
    assert_clean(seen)


def test_bot_token_and_credentials_leak_nothing_while_slack_fails_during_check(
        tmp_path: Path, platforms: FakePlatforms) -> None:
    with FakeSlack(token=BOT_TOKEN) as slack:
        slack.fail_with = (500, {}, {"ok": False, "error": "internal_error"})
        banwatch, seen = run_send(tmp_path / "w", platforms, slack, {"SLACK_BOT_TOKEN": BOT_TOKEN},
                                  command=("check",))
        assert any(c.method == "chat.postMessage" for c in slack.calls), "check delivered (and Slack failed)"
    assert failures(banwatch)[0] == "Slack said HTTP 500, internal_error"
    assert_clean(seen)


def test_control_without_the_log_filter_slack_sdk_logs_the_webhook_url(tmp_path: Path, platforms: FakePlatforms,
                                                                       hook: HookServer) -> None:
    url = f"{hook.url}/services/TSEKRIT01/BSEKRIT02/sekritHookToken0014"
    banwatch, seen = run_send(tmp_path / "w", platforms, None, {"SLACK_WEBHOOK_URL": url, NO_LOG_FILTER: "1"})
    leaks = [line for line in seen.splitlines() if url in line and " slack_sdk." in line]
    assert any(" DEBUG " in line for line in leaks), "slack-sdk logs the full webhook URL at DEBUG"
    stored = "".join(e for e in failures(banwatch) if e)
    assert "<secret>" in stored and MARK not in stored.lower(), "stored error texts are redacted regardless"
    # A post that never reached the hook (connection refused) is retried in the call, and the retry is
    # logged at INFO with the full URL.
    refused = f"http://127.0.0.1:{closed_port()}/services/TSEKRIT01/BSEKRIT02/sekritHookToken0015"
    _, seen = run_send(tmp_path / "r", platforms, None, {"SLACK_WEBHOOK_URL": refused, NO_LOG_FILTER: "1"})
    assert any(" INFO " in line and refused in line and " slack_sdk." in line for line in seen.splitlines()), \
        "slack-sdk logs the full webhook URL at INFO when it retries: the grep above can see a leak"


# -- the redactor and the filter on their own -----------------------------------------------------------------


def test_every_form_of_a_secret_is_masked() -> None:
    hook = "https://hooks.example.com/services/T0/B0/sekritHook0015"
    r = Redactor([hook, "http://user:sekritPw16@proxy.example:3128", "SESSDATA=sekritSess17; x=1"])
    lines = [hook, hook.split("://")[1], "/services/T0/B0/sekritHook0015", "sekritHook0015".upper(),
             "https%3A%2F%2Fhooks.example.com%2Fservices%2FT0%2FB0%2FsekritHook0015", hook.replace("/", "\\/"),
             "user:sekritPw16", base64.b64encode(b"user:sekritPw16").decode(), "sekritSess17",
             "xoxb-123-456-sekritAbc", "xoxp-1-sekrit", "https://hooks.slack.com/services/T1/B2/sekritZ"]
    for line in lines:
        out = r.text(f"before {line} after")
        assert MARK not in out.lower() and "<secret>" in out and out.startswith("before "), (line, out)
    assert base64.b64encode(b"user:sekritPw16").decode() not in r.text(base64.b64encode(b"user:sekritPw16").decode())
    assert r.text("https://proxy.example:3128/x is a host") != "", "hosts alone are not secrets"
    assert Redactor(["ab"]).text("abc ab") == "abc ab", "values too short to be secrets are left alone"


def test_the_filter_redacts_arguments_exceptions_and_every_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "http://127.0.0.1:9/services/T0/B0/sekritHook0018"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    others = root.handlers[:]  # handlers (and their filters) an earlier CLI run in this process installed
    root.handlers = [handler]
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        from banwatch.monitor import redact

        handler.addFilter(RedactingFilter())
        logging.getLogger("slack_sdk.webhook.client").debug("Sending a request - url: %s", secret)
        logging.getLogger("x").info("retry %(url)s", {"url": secret})
        try:
            raise ValueError(f"unknown url type: {secret.split('://')[1]!r}")
        except ValueError:
            logging.getLogger("y").exception("failed")
        logging.getLogger("z").warning("stack", stack_info=True, extra={"u": secret})
        text = stream.getvalue()
        assert text.count("<secret>") >= 3 and "Traceback" in text and MARK not in text.lower(), text
        # Control: the same lines through a handler without the filter show the secret.
        handler.filters.clear()
        logging.getLogger("slack_sdk.webhook.client").debug("Sending a request - url: %s", secret)
        assert secret in stream.getvalue()
        assert redact.redact(secret) == "<secret>"
    finally:
        root.handlers = others
        root.setLevel(old)
