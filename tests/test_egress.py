"""How probes leave the machine: per-platform proxies (BANWATCH_<PLATFORM>_PROXY, round-robin, credentials sent as
Proxy-Authorization and never shown or stored) and the local address they are sent from (--bind-address)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from banwatch.monitor.errors import ConfigError
from banwatch.monitor.redact import NO_LOG_FILTER
from banwatch.monitor.settings import proxies_from_env
from banwatch.spiders.egress import Egress
from tests.conftest import ROOT, Banwatch
from tests.fixtures import all_fixtures
from tests.sim import Simulator

ACCOUNTS = ("weibo:1000000001", "weibo:1000000002", "reddit:alice", "reddit:bob")
WATCHLIST = """\
defaults: {interval: 10m, confirmations: 2, confirm_delay: 0s}
platforms:
  weibo: {delay: 0s, concurrency: 4}
  reddit: {delay: 0s, concurrency: 4}
accounts:
""" + "".join(f"  - {{platform: {k.split(':')[0]}, handle: \"{k.split(':', 1)[1]}\"}}\n" for k in ACCOUNTS)
USER = "egressuser"


@pytest.fixture(scope="module")
def fixture_bytes() -> bytes:
    return b"\n".join(f.body for f in all_fixtures())


def fresh_port(avoid: bytes) -> int:
    """A free local port whose number appears nowhere in `avoid` (the saved answers): a port found in the
    database or the output afterwards can then only have come from the proxy configuration."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not re.search(rb"(?<![0-9])%d(?![0-9])" % port, avoid):
            return port


class ForwardProxy:
    """A plain HTTP forward proxy: it reads `GET http://host:port/path HTTP/1.1`, records the request line and
    its Proxy-Authorization, asks the origin with the path alone and relays the answer (one request per
    connection). A CONNECT (an https target) is refused with 407, as a proxy that rejects the credentials would."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[str, str | None]] = []  # (request line, Proxy-Authorization)
        self.url = f"127.0.0.1:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *lines = head.decode("latin-1").split("\r\n")
            headers = [h for h in lines if h]
            auth = next((h.split(":", 1)[1].strip() for h in headers
                         if h.lower().startswith("proxy-authorization:")), None)
            self.seen.append((line, auth))
            method, target, version = line.split(" ")
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            parts = urlsplit(target)
            upstream_r, upstream_w = await asyncio.open_connection(parts.hostname, parts.port or 80)
            keep = [h for h in headers if not h.lower().startswith(("proxy-", "connection:"))]
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            upstream_w.write(f"{method} {path} {version}\r\n".encode("latin-1")
                             + "".join(f"{h}\r\n" for h in keep).encode("latin-1") + b"Connection: close\r\n\r\n")
            await upstream_w.drain()
            while chunk := await upstream_r.read(65536):
                writer.write(chunk)
                await writer.drain()
            upstream_w.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> ForwardProxy:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(slow=4.0) as s:
        s.add(*ACCOUNTS)
        yield s


def banwatch_for(tmp_path: Path, sim: Simulator) -> Banwatch:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    return Banwatch(tmp_path, sim, None)  # type: ignore[arg-type]


def statuses(banwatch: Banwatch) -> dict[str, tuple[str, str]]:
    """Each account's latest observation: (status, rule)."""
    return {r["account_key"]: (r["status"], r["rule"]) for r in banwatch.rows(
        "SELECT account_key, status, rule FROM observations o WHERE id = "
        "(SELECT max(id) FROM observations WHERE account_key = o.account_key)")}


def basic(password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()


# -- proxies -----------------------------------------------------------------------------------------

def test_round_robin_is_per_platform_and_a_platform_without_proxies_gets_none() -> None:
    egress = Egress({"weibo": ["http://a:1", "http://b:2"], "reddit": []}, "")
    assert [egress.meta("weibo")["proxy"] for _ in range(5)] == ["http://a:1", "http://b:2"] * 2 + ["http://a:1"]
    assert egress.meta("reddit") == {} and egress.meta("bluesky") == {}
    assert Egress({}, "127.0.0.2").meta("weibo") == {"bindaddress": ("127.0.0.2", 0)}
    assert "a:1" not in repr(egress) and "weibo" in repr(egress)


def test_the_spider_takes_proxies_and_bind_address_from_its_settings_into_each_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from scrapy.utils.test import get_crawler

    from banwatch.monitor.model import Account
    from banwatch.spiders.platforms import PLATFORMS
    from banwatch.spiders.status import StatusSpider

    monkeypatch.setenv("BANWATCH_WEIBO_PROXY", "http://from-the-environment.invalid:1")  # never read by the spider
    weibo = Account("weibo", "1000000001", "weibo:1000000001")
    for proxies in ({"weibo": ["http://u:p@127.0.0.1:1", "http://u:p@127.0.0.1:2"]},
                    '{"weibo": ["http://u:p@127.0.0.1:1", "http://u:p@127.0.0.1:2"]}'):  # -s: JSON text
        crawler = get_crawler(StatusSpider, {"BANWATCH_PROXIES": proxies, "BANWATCH_BIND_ADDRESS": "127.0.0.2"})
        spider = StatusSpider.from_crawler(crawler, accounts=[weibo])
        requests = [spider._request(weibo, PLATFORMS["weibo"].probe(weibo, {}), spider.parse) for _ in range(3)]
        assert [r.meta["proxy"] for r in requests] == [
            "http://u:p@127.0.0.1:1", "http://u:p@127.0.0.1:2", "http://u:p@127.0.0.1:1"]
        assert {r.meta["bindaddress"] for r in requests} == {("127.0.0.2", 0)}
    plain = StatusSpider.from_crawler(get_crawler(StatusSpider, {}), accounts=[weibo])  # control: no settings
    request = plain._request(weibo, PLATFORMS["weibo"].probe(weibo, {}), plain.parse)
    assert "proxy" not in request.meta and "bindaddress" not in request.meta


def test_a_platform_proxy_list_is_parsed_and_validated_without_echoing_it() -> None:
    env = {"BANWATCH_WEIBO_PROXY": " http://u:pw@127.0.0.1:1,https://h.example:3128\n\thttp://h2.example ",
           "BANWATCH_REDDIT_PROXY": " ", "BANWATCH_NOPLATFORM_PROXY": "junk"}
    assert dict(proxies_from_env(env)) == {
        "weibo": ("http://u:pw@127.0.0.1:1", "https://h.example:3128", "http://h2.example")}
    assert "pw" not in repr(proxies_from_env(env)) and "pw" not in str(proxies_from_env(env))
    for bad, entry in (("http://u:topsecret1@h:1, socks5://u:topsecret1@h:2", 2), ("topsecret1@h:3128", 1),
                       ("http://u:topsecret1@h:port", 1), ("http://topsecret1@", 1)):
        with pytest.raises(ConfigError) as caught:
            proxies_from_env({"BANWATCH_WEIBO_PROXY": bad})
        assert str(caught.value).startswith(f"BANWATCH_WEIBO_PROXY: entry {entry} is not an http(s) URL with a host")
        assert "topsecret1" not in str(caught.value)


def test_requests_go_through_the_platform_proxies_in_turn_with_their_credentials(
        tmp_path: Path, sim: Simulator, fixture_bytes: bytes) -> None:
    banwatch = banwatch_for(tmp_path, sim)
    with ForwardProxy(fresh_port(fixture_bytes)) as a, ForwardProxy(fresh_port(fixture_bytes)) as b:
        banwatch("check", "--no-progress")  # control: no proxy variable, the proxies see nothing
        assert a.seen == [] and b.seen == [] and sim.requests == 4
        banwatch.env["BANWATCH_WEIBO_PROXY"] = f"http://{USER}:pw-a1@{a.url}, http://{USER}:pw-b2@{b.url}"
        out = banwatch("check", "--no-progress")
        assert "4 observations in 1 round: 4 active" in out.stdout, out.stdout + out.stderr
        # the two weibo probes, one through each proxy, asked with an absolute URI; reddit went direct
        assert len(a.seen) == 1 and len(b.seen) == 1, (a.seen, b.seen)
        for proxy, password in ((a, "pw-a1"), (b, "pw-b2")):
            line, auth = proxy.seen[0]
            assert re.fullmatch(rf"GET {re.escape(sim.url)}/api/container/getIndex\?\S+ HTTP/1.1", line), line
            assert auth == basic(password)
        assert sim.requests == 8
    assert statuses(banwatch) == {k: ("active", f"{k.split(':')[0]}.{'user_info' if 'weibo' in k else 'profile'}")
                                  for k in ACCOUNTS}


def test_a_bad_proxy_variable_is_a_one_line_error_naming_it_not_its_value(tmp_path: Path, sim: Simulator) -> None:
    banwatch = banwatch_for(tmp_path, sim)
    banwatch.env["BANWATCH_REDDIT_PROXY"] = "http://u:hunter2secret@127.0.0.1:3128 ftp://u:hunter2secret@x:21"
    for command in (("check", "--no-progress"), ("run",)):
        out = banwatch(*command, check=False)
        assert out.returncode == 1, out.stderr
        assert out.stderr.strip().splitlines() == [
            "Error: BANWATCH_REDDIT_PROXY: entry 2 is not an http(s) URL with a host "
            "(expected e.g. http://user:password@proxy.example:3128)"], out.stderr
        assert "hunter2" not in out.stdout + out.stderr
    assert sim.requests == 0 and not (tmp_path / "banwatch.db").exists(), "refused before anything is written"


def _leaks(secrets: list[bytes], text: bytes) -> list[bytes]:
    return [s for s in secrets if re.search(rb"(?<![0-9A-Za-z])" + re.escape(s) + rb"(?![0-9A-Za-z])", text)]


def _run_with_secret_proxies(tmp_path: Path, sim: Simulator, fixture_bytes: bytes,
                             env: dict[str, str]) -> tuple[bytes, bytes, list[bytes]]:
    """`--log-level DEBUG check`: weibo through a working proxy; reddit (its own https host: no base URL) through a
    closed port, then through the proxy, which refuses its CONNECT (Scrapy's TunnelError names the proxy's
    host:port). (output, the database files' bytes, the secrets: the passwords and the ports)."""
    token_a, token_b, token_c = "Tok3nWorkingProxyA9", "Tok3nRefusedProxyB7", "Tok3nTunnelProxyC5"
    closed = fresh_port(fixture_bytes)
    banwatch = banwatch_for(tmp_path, sim)
    banwatch.env.update(env)
    del banwatch.env["BANWATCH_REDDIT_BASE_URL"]
    with ForwardProxy(fresh_port(fixture_bytes)) as proxy:
        banwatch.env["BANWATCH_WEIBO_PROXY"] = f"http://{USER}:{token_a}@{proxy.url}"
        banwatch.env["BANWATCH_REDDIT_PROXY"] = (f"http://{USER}:{token_b}@127.0.0.1:{closed}\n"
                                                 f"http://{USER}:{token_c}@{proxy.url}")
        out = banwatch("--log-level", "DEBUG", "check", "--no-progress")
        seen = dict(proxy.seen)
        port = proxy.port
    assert [auth for line, auth in proxy.seen if line.startswith("GET")] == [basic(token_a)] * 2
    assert [auth for line, auth in proxy.seen if line.startswith("CONNECT www.reddit.com:443")] == [basic(token_c)] * 2, seen
    assert "Crawled (200)" in out.stderr, "DEBUG was logged"
    found = statuses(banwatch)
    assert {k: found[k] for k in ACCOUNTS[:2]} == {"weibo:1000000001": ("active", "weibo.user_info"),
                                                   "weibo:1000000002": ("active", "weibo.user_info")}
    assert sorted(found[k] for k in ACCOUNTS[2:]) == [("unknown", "reddit.connection_refused"),
                                                      ("unknown", "reddit.network_error")], found
    assert banwatch.rows("SELECT count(*) AS n FROM changes") == [{"n": 0}], "an unknown is never a finding"
    db = b"".join(p.read_bytes() for p in tmp_path.glob("banwatch.db*"))
    secrets = [token_a.encode(), token_b.encode(), token_c.encode(), str(port).encode(), str(closed).encode()]
    return (out.stdout + out.stderr).encode(), db, secrets


def test_proxy_passwords_and_ports_reach_no_log_line_and_no_stored_error(
        tmp_path: Path, sim: Simulator, fixture_bytes: bytes) -> None:
    output, db, secrets = _run_with_secret_proxies(tmp_path, sim, fixture_bytes, {})
    assert _leaks(secrets, output) == [], output.decode()[-3000:]
    assert _leaks(secrets, db) == []
    assert b"<secret>" in db, "the refused proxy's address was in the error text, masked"


def test_control_without_the_masking_the_proxy_address_is_logged_and_stored(
        tmp_path: Path, sim: Simulator, fixture_bytes: bytes) -> None:
    # Off: the log filter (its switch for tests) and the spider's scrub (a sitecustomize that disables it).
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import banwatch.spiders.egress as e\ne.Egress.scrub = lambda self, text: text\n", encoding="utf-8")
    output, db, secrets = _run_with_secret_proxies(
        tmp_path, sim, fixture_bytes, {NO_LOG_FILTER: "1", "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}"})
    assert _leaks(secrets, output), "without the filter, Scrapy's DEBUG lines name the proxies"
    assert _leaks(secrets, db), "without the scrub, the refused connection's error names the proxy"


# -- bind address ------------------------------------------------------------------------------------

def test_bind_address_is_the_source_of_every_request(tmp_path: Path, sim: Simulator) -> None:
    banwatch = banwatch_for(tmp_path, sim)
    banwatch("check", "--no-progress")  # control: the system's choice
    assert dict(sim.by_address) == {"127.0.0.1": 4}
    banwatch("check", "--no-progress", "--bind-address", "127.0.0.2")
    banwatch.env["BANWATCH_BIND_ADDRESS"] = "127.0.0.3"  # the same, from the environment
    banwatch("check", "--no-progress")
    assert dict(sim.by_address) == {"127.0.0.1": 4, "127.0.0.2": 4, "127.0.0.3": 4}
    assert {s for s, _ in statuses(banwatch).values()} == {"active"}


def test_a_bad_bind_address_is_a_usage_error(tmp_path: Path, sim: Simulator) -> None:
    banwatch = banwatch_for(tmp_path, sim)
    for command in ("check", "run"):
        out = banwatch(command, "--bind-address", "127.0.0.300", check=False)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "Invalid value for '--bind-address'" in out.stderr and "is not an IP address" in out.stderr
    assert sim.requests == 0 and not (tmp_path / "banwatch.db").exists()
