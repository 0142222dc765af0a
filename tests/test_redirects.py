"""Redirects through the production path (`banwatch check`, Scrapy, the redirect guard) and the guard alone.

Two local servers stand for two hosts: the platforms' API on 127.0.0.1 (the overridden base URL of X and
Twitch) and another host on 127.0.0.2. A redirect to the other host must arrive there without any credential
header or secret value; a redirect within the host keeps them (the control). A redirect to a private or
link-local address (the cloud metadata service) is refused before any connection is made and recorded as
`<platform>.redirect_refused`: the base URL is loopback, so only loopback targets are followed here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from banwatch.monitor.model import Account
from banwatch.spiders.middlewares import RedirectGuardMiddleware, RedirectRefused, non_public
from banwatch.spiders.platforms import PLATFORMS
from banwatch.spiders.platforms.base import rebase
from banwatch.spiders.platforms.canaries import BUILTIN
from banwatch.spiders.status import StatusSpider, failure_rule
from tests.conftest import Banwatch
from tests.fakes import LocalServer, QuietHandler

SECRETS = {
    "X_BEARER_TOKEN": "markerXbearer0001", "X_AUTH_TOKEN": "markerXauth0002", "X_CT0": "markerXct0csrf0003",
    "BANWATCH_X_WEB_BEARER_TOKEN": "markerXweb0004", "TWITCH_CLIENT_ID": "markerTwitchClient0005",
    "TWITCH_APP_TOKEN": "markerTwitchApp0006", "BANWATCH_REDDIT_TOKEN": "markerReddit0007",
    "BANWATCH_INSTAGRAM_SESSIONID": "markerInstagram0008", "BANWATCH_BILIBILI_COOKIE": "SESSDATA=markerBili0009",
}
X_SESSION = ("X_AUTH_TOKEN", "X_CT0", "BANWATCH_X_WEB_BEARER_TOKEN")
X_API = ("X_BEARER_TOKEN", *X_SESSION)  # with the API token set, X is asked through API v2 (Authorization only)
TWITCH = ("TWITCH_CLIENT_ID", "TWITCH_APP_TOKEN")
# handle -> where the API server sends it ("other": the other host; "same": a path on itself; else a URL)
TARGETS = {
    "cross": "other", "same": "same", "metadata": "http://169.254.169.254/latest/meta-data/",
    "tenzero": "http://10.0.0.1/helix/users", "oneninetwo": "http://192.168.0.1:8080/",
    "shorthand": "http://169.254.43518/latest/", "internal": "http://metadata.google.internal/computeMetadata/v1/",
}


class Server(LocalServer):
    """One host: records every request's path and headers; the API host redirects by handle."""

    def __init__(self, address: str, redirect: bool, other: Server | None = None) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                handle = next((h for h in TARGETS if any(f"{a}{h}{b}" in self.path for a, b in
                                                         (("=", ""), ("%22", "%22"), ("/", "?")))), None)
                if redirect and handle and not self.path.startswith("/landed"):
                    target = TARGETS[handle]
                    location = (f"{other.url}/landed{self.path}" if target == "other" and other else
                                f"/landed{self.path}" if target == "same" else target)
                    self.send(302, {"Location": location}, b"")
                    return
                user = {"data": [{"id": "4242", "login": handle, "display_name": "Someone"}]}
                self.send(200, {"Content-Type": "application/json"}, json.dumps(user).encode())

        super().__init__(Handler, address)


@pytest.fixture
def hosts() -> Iterator[tuple[Server, Server]]:
    other = Server("127.0.0.2", redirect=False)
    api = Server("127.0.0.1", redirect=True, other=other)
    yield api, other
    api.close()
    other.close()


def run_check(tmp_path: Path, api: Server, handles: list[str], x_credentials: tuple[str, ...]) -> Banwatch:
    (tmp_path / "watchlist.yaml").write_text(
        "defaults: {confirmations: 1, confirm_delay: 0s}\nplatforms: {x: {delay: 0s}, twitch: {delay: 0s}}\n"
        "accounts:\n" + "".join(f"  - {{platform: {p}, handle: {h}}}\n" for h in handles for p in ("x", "twitch")),
        encoding="utf-8")
    banwatch = Banwatch(tmp_path, api, None)  # type: ignore[arg-type]
    banwatch.env.update({"BANWATCH_X_BASE_URL": api.url, "BANWATCH_TWITCH_BASE_URL": api.url,
                         "BANWATCH_DOWNLOAD_TIMEOUT": "10"})
    for name in SECRETS:
        banwatch.env.pop(name, None)
    banwatch.env.update({name: SECRETS[name] for name in (*x_credentials, *TWITCH)})
    proc = banwatch("check")
    assert "Traceback" not in proc.stderr, proc.stderr
    return banwatch


def leaks(headers: dict[str, str], path: str = "") -> list[str]:
    text = path + "\n" + "\n".join(f"{k}: {v}" for k, v in headers.items())
    return [name for name, value in SECRETS.items() if value in text]


@pytest.mark.parametrize("x_credentials", [X_SESSION, X_API], ids=["x_web_session", "x_api_token"])
def test_a_redirect_to_another_host_carries_no_credential_and_one_within_the_host_keeps_them(
        tmp_path: Path, hosts: tuple[Server, Server], x_credentials: tuple[str, ...]) -> None:
    api, other = hosts
    banwatch = run_check(tmp_path, api, ["cross", "same"], x_credentials)
    rules = {r["key"]: r["last_rule"] for r in banwatch.rows("SELECT key, last_rule FROM accounts")}
    assert rules["twitch:cross"] == rules["twitch:same"] == "twitch.user", rules

    # the other host was asked twice (X and Twitch), with none of the secrets and a Host header of its own
    x_path = "i" if x_credentials == X_SESSION else "2"  # GraphQL with a web session, else API v2
    assert sorted(path.split("/")[2] for path, _ in other.seen) == sorted(["helix", x_path]), other.seen
    for path, headers in other.seen:
        assert leaks(headers, path) == [], (path, headers)
        assert not {"authorization", "cookie", "x-csrf-token", "client-id"} & set(headers), headers
        assert headers["host"] == other.url.split("//")[1], headers

    # the control: within the host, the platform's credentials arrive at the redirect's target
    landed = {path.split("/")[2]: headers for path, headers in api.seen if path.startswith("/landed")}
    assert landed["helix"]["client-id"] == SECRETS["TWITCH_CLIENT_ID"]
    assert landed["helix"]["authorization"] == f"Bearer {SECRETS['TWITCH_APP_TOKEN']}"
    if x_credentials == X_SESSION:
        assert landed["i"]["x-csrf-token"] == SECRETS["X_CT0"]
        assert landed["i"]["authorization"] == f"Bearer {SECRETS['BANWATCH_X_WEB_BEARER_TOKEN']}"
    else:
        assert landed["2"]["authorization"] == f"Bearer {SECRETS['X_BEARER_TOKEN']}"


def test_a_redirect_to_a_private_or_link_local_address_is_refused_before_any_connection(
        tmp_path: Path, hosts: tuple[Server, Server]) -> None:
    api, other = hosts
    refused = ["metadata", "tenzero", "oneninetwo", "shorthand", "internal"]
    started = time.monotonic()
    banwatch = run_check(tmp_path, api, refused, X_SESSION)
    elapsed = time.monotonic() - started
    rules = {r["key"]: (r["status"], r["last_rule"]) for r in banwatch.rows("SELECT key, status, last_rule FROM accounts")}
    # a connection attempt would have ended as a timeout, a refused connection or a DNS failure, not this rule
    assert rules == {f"{p}:{h}": (None, f"{p}.redirect_refused") for h in refused for p in ("x", "twitch")}, rules
    assert elapsed < 10, f"refused on the spot, not after a connection timed out ({elapsed:.1f}s)"
    assert len(api.seen) == 2 * len(refused) and other.seen == []
    reasons = [r["reason"] for r in banwatch.rows("SELECT reason FROM observations")]
    assert any("169.254.169.254 is a link-local address" in reason for reason in reasons), reasons


# The guard alone: every platform's probe, with every credential set.

def redirect(request: Request, location: str, status: int = 302) -> Request:
    crawler = get_crawler(settings_dict={"REDIRECT_ENABLED": True})
    middleware = RedirectMiddleware.from_crawler(crawler)
    if status == 200:  # a meta refresh, which MetaRefreshMiddleware follows the same way
        from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware

        refresh = MetaRefreshMiddleware.from_crawler(crawler)
        body = f'<html><head><meta http-equiv="refresh" content="0;url={location}"></head></html>'.encode()
        out = refresh.process_response(request, HtmlResponse(request.url, body=body, request=request))
    else:
        out = middleware.process_response(request, Response(request.url, status=status,
                                                            headers={"Location": location}, request=request))
    assert isinstance(out, Request), out
    return out


def probe_requests(base_url: str | None = None) -> Iterator[tuple[str, Request]]:
    for name, platform in PLATFORMS.items():
        handle = BUILTIN.get(name, {}).get("active")
        account = Account(platform=name, handle=handle.handle if handle else "MS4wLjABAAAA" + "x" * 40,
                          key=f"{name}:test")
        probe = platform.probe(account, SECRETS)
        url, extra = rebase(probe.url, base_url)
        yield name, Request(url, headers={**probe.headers, **extra})


def guard() -> RedirectGuardMiddleware:
    return RedirectGuardMiddleware(secrets=SECRETS)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, 200])
def test_every_probe_loses_every_secret_on_a_cross_host_redirect(status: int) -> None:
    carried = 0
    for name, request in probe_requests():
        sent = {k.decode(): b", ".join(v).decode() for k, v in request.headers.items()}
        carried += bool(leaks(sent))
        parts = urlsplit(request.url)
        for location in ("https://elsewhere.example/landing", f"http://{parts.hostname}{parts.path}",  # downgrade
                         f"{parts.scheme}://{parts.hostname}:8443/x"):  # another port
            redirected = redirect(request, location, status)
            assert guard().process_request(redirected) is None
            headers = {k.decode(): b", ".join(v).decode() for k, v in redirected.headers.items()}
            assert leaks(headers) == [], (name, location, headers)
            assert not {"authorization", "cookie", "x-csrf-token", "client-id"} & {h.lower() for h in headers}
    assert carried >= 5, "the probes do put the secrets in headers (x, twitch, reddit, instagram, bilibili)"


def test_a_same_origin_redirect_keeps_the_headers() -> None:
    for name, request in probe_requests():
        redirected = redirect(request, "/moved?to=here")
        before = dict(redirected.headers.items())
        guard().process_request(redirected)
        assert dict(redirected.headers.items()) == before, name


def test_the_host_header_of_an_overridden_base_url_does_not_travel() -> None:
    (_, request), *_ = [r for r in probe_requests("http://127.0.0.1:8080") if r[0] == "twitch"]
    assert request.headers["Host"] == b"api.twitch.tv"
    redirected = redirect(request, "http://127.0.0.2:9090/elsewhere")
    guard().process_request(redirected)
    assert b"Host" not in redirected.headers and b"Client-Id" not in redirected.headers
    within = redirect(request, "/within")
    guard().process_request(within)
    assert within.headers["Host"] == b"api.twitch.tv"  # one local server routes on it


@pytest.mark.parametrize("target, kind", [
    ("http://169.254.169.254/latest/meta-data/", "link-local"), ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.1/", "private"), ("http://192.168.0.1:8080/", "private"), ("http://172.16.5.4/", "private"),
    ("http://127.0.0.1/", "loopback"), ("http://127.1/", "loopback"), ("http://0x7f.0.0.1/", "loopback"),
    ("http://2130706433/", "loopback"), ("http://[::1]/", "loopback"), ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://localhost:8080/", "loopback"), ("http://api.localhost/", "loopback"), ("http://0.0.0.0/", "unspecified"),
    ("http://224.0.0.1/", "multicast"), ("http://240.0.0.1/", "reserved"), ("http://100.64.0.1/", "non-global"),
    ("http://metadata.google.internal/", "local name"), ("http://printer.local/", "local name"),
    ("http://metadata/", "local name"),
])
def test_a_redirect_from_a_public_host_to_a_non_public_one_is_refused(target: str, kind: str) -> None:
    assert non_public(target.split("/")[2].rsplit(":", 1)[0] if "]" not in target
                      else target.split("/")[2].strip("[]")) == kind
    for _, request in probe_requests():
        redirected = redirect(request, target)
        with pytest.raises(RedirectRefused, match=kind):
            guard().process_request(redirected)


def test_public_targets_are_followed_and_a_loopback_base_url_may_redirect_within_loopback_only() -> None:
    for host in ("8.8.8.8", "api.x.com", "[2606:4700::1111]", "example.social"):
        assert non_public(host.strip("[]")) is None, host
    request = Request("http://127.0.0.1:8080/helix/users?login=a", headers={"Client-Id": SECRETS["TWITCH_CLIENT_ID"]})
    for allowed in ("http://127.0.0.2:9090/x", "http://localhost:9090/x", "/same"):
        guard().process_request(redirect(request, allowed))
    for refused in ("http://169.254.169.254/", "http://10.0.0.1/", "http://192.168.0.1/"):
        with pytest.raises(RedirectRefused):
            guard().process_request(redirect(request, refused))


def test_a_refused_redirect_reads_as_its_own_rule() -> None:
    from twisted.python.failure import Failure

    try:
        raise RedirectRefused("redirect from http://a to http://169.254.169.254/ refused")
    except RedirectRefused:
        failure = Failure()
    assert failure_rule(failure) == "redirect_refused"


def test_the_guard_reads_the_spiders_secrets() -> None:
    spider = StatusSpider(accounts=[], base_urls={}, secrets={"TWITCH_CLIENT_ID": "fromthespider123"})
    crawler = get_crawler()
    crawler.spider = spider
    middleware = RedirectGuardMiddleware.from_crawler(crawler)
    request = Request("https://api.twitch.tv/helix/users?login=a", headers={"X-Odd": "id fromthespider123"})
    redirected = redirect(request, "https://elsewhere.example/")
    middleware.process_request(redirected)
    assert b"X-Odd" not in redirected.headers
