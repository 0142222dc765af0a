"""Alerts where the team is: `alerts.routes` with `apprise:` reach any Apprise service through the outbox, at
least once, in order, retried while the service is down — and its URL (a secret) never leaks.

Every service here is a local fake on 127.0.0.1 (no network): a generic JSON webhook (Apprise's
`json://127.0.0.1:PORT/path`, a POST of {"title", "message", ...}) and a self-hosted ntfy (Apprise's
`ntfy://user:password@127.0.0.1:PORT/topic`, which posts {"topic", "title", "message"} to the server's root
with HTTP Basic credentials). The webhook can be down (connection refused), failing (503, echoing the path
it was asked, token included) or up. Every secret carries the marker `sekrit`.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from banwatch.alerts import apprise_notifier
from banwatch.alerts.apprise_notifier import AppriseNotifier, title_and_body
from banwatch.alerts.console import ConsoleNotifier
from banwatch.alerts.dispatch import Dispatcher
from banwatch.alerts.notifier import Message
from banwatch.monitor import redact
from banwatch.monitor.cli import cli
from banwatch.monitor.model import Account, Observation, Status
from banwatch.monitor.redact import NO_LOG_FILTER, RedactingFilter, Redactor, secrets_in_env
from banwatch.monitor.runner import Checker
from banwatch.monitor.store import Store
from banwatch.monitor.timeutil import later, now_iso
from banwatch.monitor.watchlist import AlertSettings, Route, Watchlist
from tests.conftest import Banwatch
from tests.fakes import FakePlatforms

MARK = "sekrit"
HOOK_VAR = "TEAM_HOOK_URL"  # not BANWATCH_/SLACK_: tests.conftest.Banwatch passes it through
NTFY_VAR = "TEAM_NTFY_URL"
T0 = "2026-03-01T10:42:00.000Z"


def at(seconds: float) -> str:
    return later(T0, seconds)


# -- the fake services -------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        owner: Service = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        owner.asked.append((self.path, body))
        if owner.failing:
            answer = f"upstream down for {self.path} (http://{self.headers.get('Host')}{self.path})".encode()
            self.send_response(503)
        else:
            owner.received.append({"path": self.path, "auth": self.headers.get("Authorization"), **json.loads(body)})
            answer = b"{}"
            self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


class Service:
    """A JSON endpoint on a fixed loopback port that can be down (nothing listening), failing (503) or up."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.httpd: ThreadingHTTPServer | None = None
        self.failing = False
        self.asked: list[tuple[str, str]] = []  # every request (path, body), answered or not
        self.received: list[dict[str, Any]] = []  # the JSON of every request answered 200

    def up(self) -> None:
        if self.httpd is None:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
            self.httpd.owner = self  # type: ignore[attr-defined]
            self.httpd.daemon_threads = True
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def titles(self) -> list[str]:
        return [r["title"] for r in self.received]


@pytest.fixture
def service() -> Iterator[Service]:
    s = Service()
    yield s
    s.down()


@pytest.fixture(autouse=True)
def apprise_logs_at_debug() -> Iterator[None]:
    """Apprise (and urllib3) log at DEBUG in every test: what they say there is what must not leak."""
    loggers = [logging.getLogger(n) for n in ("apprise", "urllib3")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in zip(loggers, levels):
        lg.setLevel(level)


def hook_url(service: Service) -> str:
    return f"json://127.0.0.1:{service.port}/hooks/{MARK}HookToken0001"


# -- a store whose alerts route to an Apprise channel ------------------------------------------------------

def people(n: int, tags: tuple[str, ...] = ("team",)) -> list[Account]:
    return [Account("reddit", f"user{i}", f"reddit:user{i}", tags=tags, confirmations=1) for i in range(n)]


class World:
    """A store with accounts, a Checker that confirms suspensions as the pipeline does, and a dispatcher whose
    default notifier is the console (Slack channels); `apprise:` channels go to the real AppriseNotifier."""

    def __init__(self, path: Path, accounts: list[Account], **settings: Any) -> None:
        settings.setdefault("routes", (Route(("team",), f"apprise:{HOOK_VAR}"),))
        self.settings = AlertSettings(**{"retry_base": 1.0, "retry_max": 4.0, **settings})
        self.store = Store.open(path)
        self.store.sync_watchlist(Watchlist(path="w.yaml", accounts=tuple(accounts)), T0)
        self.checker = Checker(self.store, accounts, {}, "#banwatch", lambda p: None,  # type: ignore[arg-type]
                               self.settings)
        self.printed: list[str] = []
        for account in accounts:
            self.checker.record(Observation(account.key, Status.ACTIVE, "reddit.x", "ok", T0))

    def suspend_all(self, start: float = 1.0) -> None:
        for i, key in enumerate(self.checker.accounts):
            self.checker.record(Observation(key, Status.SUSPENDED, "reddit.x", "banned", at(start + i)))

    def deliver(self, now: str) -> Any:
        return Dispatcher(self.store, ConsoleNotifier(self.printed.append), self.settings).deliver(now)

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.store.db.query("SELECT * FROM alerts ORDER BY id"))


# -- delivery --------------------------------------------------------------------------------------------------

def test_a_json_webhook_down_then_failing_then_back_gets_every_alert_at_least_once_in_order(
        tmp_path: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_VAR, hook_url(service))
    world = World(tmp_path / "b.db", people(5), wave_size=2)  # Slack would make these 5 one wave
    world.suspend_all()
    # Down: nothing listens. The first alert fails, the channel keeps its order: nothing after it goes.
    report = world.deliver(at(10))
    assert (report.sent, report.failed) == (0, 1) and not service.asked
    rows = world.alerts()
    assert rows[0]["state"] == "pending" and rows[0]["attempts"] == 1
    assert rows[0]["last_error"].startswith(f"Apprise ({HOOK_VAR}) could not send: ")
    assert "Connection error" in rows[0]["last_error"], rows[0]["last_error"]
    assert all(r["attempts"] == 0 for r in rows[1:])
    # Failing: it answers 503 (echoing the URL it was asked, token and all). Backed off, then tried again.
    service.up()
    service.failing = True
    assert world.deliver(at(10.5)).failed == 0, "within its backoff the row is not tried"
    report = world.deliver(at(30))
    assert (report.sent, report.failed) == (0, 1) and len(service.asked) == 1
    assert "error=503" in world.alerts()[0]["last_error"] and MARK not in world.alerts()[0]["last_error"].lower()
    # Back: everything goes, oldest first, each its own message (no waves for Apprise).
    service.failing = False
    report = world.deliver(at(60))
    assert (report.sent, report.failed, report.waves) == (5, 0, 0)
    assert service.titles() == [f"Suspended on Reddit: user{i}" for i in range(5)]
    assert {r["state"] for r in world.alerts()} == {"sent"}
    assert not world.printed, "nothing went to the default notifier"
    first = service.received[0]
    assert first["path"] == f"/hooks/{MARK}HookToken0001" and "reddit.com" in first["message"]
    seen = json.dumps(world.alerts()) + json.dumps(service.received, ensure_ascii=False)
    assert MARK not in seen.replace(f"/hooks/{MARK}HookToken0001", ""), "the URL is in no row and no message"


def test_a_lost_answer_means_sending_again_at_least_once(tmp_path: Path, service: Service,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after the post and before `sent` leaves the row `sending`: Apprise cannot look, so it goes again."""
    monkeypatch.setenv(HOOK_VAR, hook_url(service))
    service.up()
    world = World(tmp_path / "b.db", people(2))
    world.suspend_all()
    first = world.alerts()[0]["id"]
    world.store.db.execute("UPDATE alerts SET state = 'sending', attempted_at = ? WHERE id = ?", [at(5), first])
    report = world.deliver(at(10))
    assert report.sent == 2 and report.reconciled == 0
    assert service.titles() == ["Suspended on Reddit: user0", "Suspended on Reddit: user1"]


def test_slack_channels_keep_their_waves_while_apprise_channels_get_plain_messages(
        tmp_path: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_VAR, hook_url(service))
    service.up()
    routes = (Route(("team",), f"apprise:{HOOK_VAR}"), Route(("team",), "#desk"))
    world = World(tmp_path / "b.db", people(3), routes=routes, wave_size=3)
    world.suspend_all()
    report = world.deliver(at(10))
    assert report.waves == 1, "the console (a Slack stand-in) got one wave"
    assert world.printed[0].startswith("ALERT 3 Reddit accounts suspended")
    assert service.titles() == [f"Suspended on Reddit: user{i}" for i in range(3)]


def test_a_self_hosted_ntfy_gets_title_and_body_with_its_credentials(
        tmp_path: Path, service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"ntfy://{MARK}User:{MARK}Pass0002@127.0.0.1:{service.port}/{MARK}Topic0003"
    monkeypatch.setenv(NTFY_VAR, url)
    service.up()
    world = World(tmp_path / "b.db", people(1), routes=(Route(("team",), f"apprise:{NTFY_VAR}"),))
    world.suspend_all()
    assert world.deliver(at(10)).sent == 1
    [got] = service.received
    assert got["topic"] == f"{MARK}Topic0003" and got["title"] == "Suspended on Reddit: user0"
    assert got["auth"].startswith("Basic ") and "reddit.com/user/user0" in got["message"]


# -- missing variables, URLs in the watchlist ------------------------------------------------------------------

def test_the_reason_is_kept_even_when_apprise_logs_nothing_at_the_chosen_level(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    service.up()
    service.failing = True
    monkeypatch.setenv(HOOK_VAR, hook_url(service))
    logging.getLogger("apprise").setLevel(logging.ERROR)  # as under `--log-level error`
    result = AppriseNotifier().send(f"apprise:{HOOK_VAR}", Message(text="a | b"))
    assert not result.ok and "503" in (result.error or ""), result.error
    assert logging.getLogger("apprise").level == logging.ERROR and logging.getLogger("apprise").propagate


def test_a_route_whose_variable_is_unset_fails_its_rows_with_the_reason(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOOK_VAR, raising=False)
    world = World(tmp_path / "b.db", people(2))
    world.suspend_all()
    report = world.deliver(at(10))
    assert (report.sent, report.failed) == (0, 1)
    assert world.alerts()[0]["last_error"] == (f"environment variable {HOOK_VAR} is not set: it must hold the "
                                               f"Apprise URL for route apprise: {HOOK_VAR}")


def write_watchlist(path: Path, route: str) -> Path:
    path.write_text("alerts:\n  slack_channel: '#banwatch'\n  routes:\n"
                    "    - {tags: [team], channel: '#desk'}\n"
                    f"    - {route}\n"
                    "accounts:\n  - {platform: reddit, handle: someone, tags: [team]}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["validate"], ["check"], ["alerts", "send"]])
def test_a_route_naming_an_unset_variable_is_a_clear_error_at_start(tmp_path: Path, command: list[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOOK_VAR, raising=False)
    wl = write_watchlist(tmp_path / "watchlist.yaml", f"{{tags: [team], apprise: {HOOK_VAR}}}")
    out = CliRunner().invoke(cli, ["--watchlist", str(wl), "--db", str(tmp_path / "b.db"), *command])
    assert out.exit_code == 1, out.output
    assert (f"{wl}:5: alerts.routes.apprise: environment variable {HOOK_VAR} is not set: it must hold the "
            "Apprise URL this route sends to") in out.output
    assert "Traceback" not in out.output
    # Control: with the variable set, the same watchlist validates.
    monkeypatch.setenv(HOOK_VAR, "json://127.0.0.1:9/x")
    ok = CliRunner().invoke(cli, ["--watchlist", str(wl), "--db", str(tmp_path / "b.db"), "validate"])
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("route", [
    f"{{tags: [team], apprise: 'discord://1234/{MARK}Tok0004'}}",
    f"{{tags: [team], apprise: 'json://hooks.example.org/{MARK}Tok0005'}}",
    f"{{tags: [team], channel: 'tgram://123:{MARK}Tok0006/456'}}",
])
def test_a_url_in_the_watchlist_is_refused_at_its_line_without_quoting_it(tmp_path: Path, route: str) -> None:
    wl = write_watchlist(tmp_path / "watchlist.yaml", route)
    out = CliRunner().invoke(cli, ["--watchlist", str(wl), "validate"])
    assert out.exit_code == 1, out.output
    assert f"{wl}:5: alerts.routes." in out.output and "live only in the environment" in out.output
    assert MARK not in out.output.lower()


# -- secrets ---------------------------------------------------------------------------------------------------

def seed(workdir: Path, n: int) -> None:
    accounts = people(n)
    store = Store.open(workdir / "banwatch.db")
    store.sync_watchlist(Watchlist(path="w.yaml", accounts=tuple(accounts)), T0)
    settings = AlertSettings(routes=(Route(("team",), f"apprise:{HOOK_VAR}"),))
    checker = Checker(store, accounts, {}, "#banwatch", lambda p: None, settings)  # type: ignore[arg-type]
    start = now_iso()
    for i, a in enumerate(accounts):
        checker.record(Observation(a.key, Status.ACTIVE, "reddit.x", "ok", later(start, -60 + i)))
        checker.record(Observation(a.key, Status.SUSPENDED, "reddit.x", "banned", later(start, -59.5 + i)))
    store.close()


def run_send(workdir: Path, platforms: FakePlatforms, service: Service, extra: dict[str, str]) -> tuple[Banwatch, str]:
    """`banwatch --log-level DEBUG alerts send` against a failing webhook; all it left behind, as text."""
    workdir.mkdir()
    (workdir / "watchlist.yaml").write_text(
        f"alerts: {{routes: [{{tags: [team], apprise: {HOOK_VAR}}}]}}\naccounts: []\n", encoding="utf-8")
    banwatch = Banwatch(workdir, platforms, None)
    banwatch.env.update({HOOK_VAR: hook_url(service), **extra})
    seed(workdir, 2)
    proc = banwatch("--log-level", "DEBUG", "alerts", "send", check=False)
    seen = proc.stdout + proc.stderr + json.dumps(banwatch.rows("SELECT * FROM alerts"))
    for db_file in workdir.glob("banwatch.db*"):
        seen += db_file.read_bytes().decode("latin-1")
    return banwatch, seen


def test_the_apprise_url_never_reaches_a_log_line_the_database_or_an_alert(
        tmp_path: Path, platforms: FakePlatforms, service: Service) -> None:
    service.up()
    service.failing = True  # a 503 whose body echoes the URL it was asked, token included
    banwatch, seen = run_send(tmp_path / "w", platforms, service, {})
    assert service.asked, "the webhook was posted to"
    assert " DEBUG apprise: " in seen, "Apprise's own DEBUG lines were captured"
    errors = [r["last_error"] for r in banwatch.rows("SELECT last_error FROM alerts ORDER BY id")]
    assert errors[0].startswith(f"Apprise ({HOOK_VAR}) could not send: ")
    at_ = seen.lower().find(MARK)
    assert at_ < 0, f"a secret leaked: ...{seen[max(0, at_ - 200):at_ + 100]}..."
    # Back up: what the service received (the alert text) carries no secret either.
    service.failing = False
    import sqlite3

    with sqlite3.connect(banwatch.workdir / "banwatch.db") as db:  # its backoff is over
        db.execute("UPDATE alerts SET next_attempt_at = ?", [now_iso()])
    proc = banwatch("--log-level", "DEBUG", "alerts", "send", check=False)
    assert service.received and MARK not in (proc.stdout + proc.stderr).lower()
    assert MARK not in json.dumps([{k: v for k, v in r.items() if k != "path"} for r in service.received]).lower()


def test_control_without_the_log_filter_apprise_logs_the_url(tmp_path: Path, platforms: FakePlatforms,
                                                             service: Service) -> None:
    service.up()
    service.failing = True
    banwatch, seen = run_send(tmp_path / "w", platforms, service, {NO_LOG_FILTER: "1"})
    leaks = [line for line in seen.splitlines() if f"{MARK}HookToken0001" in line and " apprise: " in line]
    assert any(" DEBUG " in line for line in leaks), "Apprise logs the URL's token at DEBUG: the grep can see it"
    stored = "".join(r["last_error"] or "" for r in banwatch.rows("SELECT last_error FROM alerts"))
    assert stored and MARK not in stored.lower(), "stored error texts are redacted regardless"


def capture(fn: Any) -> str:
    """What the root logger's handlers would write (with the redacting filter) while `fn` runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    others, level = root.handlers[:], root.level
    root.handlers, root.level = [handler], logging.DEBUG
    try:
        fn()
    finally:
        root.handlers, root.level = others, level
    return stream.getvalue()


def test_control_without_the_secret_registration_the_filter_cannot_see_the_url(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    service.up()
    service.failing = True
    var = "TEAM_UNREGISTERED_HOOK"
    monkeypatch.setenv(var, hook_url(service))
    message = Message(text="Suspended on Reddit: someone | reddit someone https://reddit.com/user/someone")
    registered = capture(lambda: AppriseNotifier().send(f"apprise:{var}", message))
    assert "DEBUG apprise:" in registered and MARK not in registered.lower() and "<secret>" in registered
    monkeypatch.setattr(redact, "_SECRET_VARS", set())
    monkeypatch.setattr(apprise_notifier, "register_secret_vars", lambda names: None)
    unregistered = capture(lambda: AppriseNotifier().send(f"apprise:{var}", message))
    assert f"{MARK}HookToken0001" in unregistered, "without the registration the token is in the log"


def test_every_piece_of_a_registered_apprise_url_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"TEAM_DISCORD": f"discord://112233/{MARK}DiscordTok07", "TEAM_TG": f"tgram://123456:{MARK}Bot08/-100",
           "TEAM_MAIL": f"mailtos://alerts:{MARK}Pw09@smtp.example.org?to=desk@example.org"}
    monkeypatch.setattr(redact, "_SECRET_VARS", set())
    assert not [s for s in secrets_in_env(env) if MARK in s.lower()], "not secrets before registration"
    redact.register_secret_vars(env)
    r = Redactor(secrets_in_env(env))
    for line in [f"POST https://discord.com/api/webhooks/112233/{MARK}DiscordTok07", f"bot123456:{MARK}Bot08 said",
                 f"auth {MARK}Pw09 refused", env["TEAM_MAIL"]]:
        assert MARK not in r.text(line).lower(), line
    assert "smtp.example.org" in r.text("connecting to smtp.example.org"), "a host name alone is not a secret"


def test_the_message_is_a_title_and_a_body_with_untrusted_text_disarmed() -> None:
    text = ("Suspended on X: &lt;@everyone&gt; | X evil (@here [click](https://evil.example)) https://x.com/evil | "
            "last seen active never")
    header = {"type": "header", "text": {"type": "plain_text", "text": "Suspended on X: <@everyone>"}}
    title, body = title_and_body(Message(text=text, blocks=[header]))
    assert title == "Suspended on X: <\u200b@\u200beveryone>"
    assert "@\u200bhere" in body and "\\[click\\](https://evil.example)" in body and "&lt;" not in body
    assert body.splitlines()[-1] == "last seen active never"
