"""`banwatch run --metrics-port`: Prometheus metrics on /metrics and a liveness check on /healthz, served from
a small WSGI server (wsgiref, one thread per request) in a daemon thread, beside the service's event loop.

What is counted as it happens (the service calls `Metrics.crawled` after each crawl) lives in this process
and starts from zero with it: checks by platform and status, crawl durations. What is state is read when
Prometheus asks: the outbox's pending and dead alerts and each platform's unknown share over the health
window, from the database over a read-only connection (`monitor.query.service_metrics`; reading never waits
for the service's writes), and the age of the last tick, from the service in memory.

/healthz answers 200 while the scheduler ticks, and 503 once no tick has completed for `stale_after(tick)`
seconds (3 tick intervals, at least 10 s), and while the service stops (docs/deploy.md).
Composition: imported by `monitor.cli.run` only; the service (`monitor.scheduler`) sees a `Metrics` only as
the object it reports its crawls to.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from banwatch.monitor.errors import BanwatchError
from banwatch.monitor.model import Status
from banwatch.monitor.query import service_metrics
from banwatch.monitor.timeutil import iso

if TYPE_CHECKING:
    from banwatch.monitor.scheduler import Service

log = logging.getLogger("banwatch.metrics")
disable_created_metrics()  # no `_created` series beside each counter and histogram: only `run` imports this

STALE_TICKS = 3  # /healthz: no completed tick for this many tick intervals ...
STALE_FLOOR_S = 10.0  # ... and at least this long, is a scheduler that stopped ticking
CRAWL_BUCKETS_S = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


def stale_after(tick: float) -> float:
    """Seconds without a completed tick after which /healthz answers 503, for a tick interval of `tick` seconds:
    STALE_TICKS intervals, at least STALE_FLOOR_S (a tiny tick must not flap on one slow database write)."""
    return max(STALE_TICKS * tick, STALE_FLOOR_S)


def health(last_tick: float | None, started: float, now: float, tick: float,
           stopping: bool = False) -> tuple[bool, dict[str, Any]]:
    """The /healthz decision, pure: (healthy, body). Times are seconds on one monotonic clock: `last_tick` when
    the last tick completed (None before the first), `started` when the service started, `now`; `tick` the
    tick interval in seconds. Healthy while the last tick (or, before the first, the start) is at most
    `stale_after(tick)` old and the service is not stopping."""
    limit = stale_after(tick)
    since = now - (last_tick if last_tick is not None else started)
    body: dict[str, Any] = {"last_tick_age_seconds": None if last_tick is None else round(since, 3),
                            "stale_after_seconds": limit}
    if stopping:
        return False, {"status": "stopping", **body}
    if since > limit:
        return False, {"status": "stale", **body}
    return True, {"status": "ok" if last_tick is not None else "starting", **body}


class Metrics:
    """The service's metrics: in-process counters the service reports to (`crawled`), a collector that reads the
    database and the service's last tick at scrape time, and Python's process metrics, in a registry of its own.
    `attach(service)` before serving; `wsgi_app()` is what the HTTP server serves."""

    def __init__(self, db_path: str, platforms: Iterable[str] = ()) -> None:
        self.db_path = db_path
        self.service: Service | None = None
        self.started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.checks = Counter("banwatch_checks", "Accounts checked by completed crawls, by platform and status read "
                              "(unknown proves nothing).", ["platform", "status"], registry=self.registry)
        self.crawl_seconds = Histogram("banwatch_crawl_duration_seconds", "Duration of one crawl of a platform's "
                                       "due accounts, in seconds.", ["platform"], buckets=CRAWL_BUCKETS_S,
                                       registry=self.registry)
        self._known: set[str] = set()
        for platform in platforms:
            self._declare(platform)
        self.registry.register(_Readings(self))

    def attach(self, service: Service) -> None:
        """Read the last tick, the tick interval and the health window from `service` from now on."""
        self.service = service
        self.started = service.clock.monotonic()
        for platform in {a.platform for a in service.watchlist.accounts}:
            self._declare(platform)

    def _declare(self, platform: str) -> None:
        """Every status of `platform` at 0, so the first crawl is an increase, not the birth of a series."""
        if platform not in self._known:
            self._known.add(platform)
            for status in Status:
                self.checks.labels(platform, status.value)
            self.crawl_seconds.labels(platform)

    def crawled(self, platform: str, counts: Mapping[str, int], seconds: float) -> None:
        """A crawl of `platform` completed in `seconds`, reading `counts` (status value -> accounts)."""
        self._declare(platform)
        for status, n in counts.items():
            self.checks.labels(platform, status).inc(n)
        self.crawl_seconds.labels(platform).observe(seconds)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """`health()` of the attached service now: (healthy, body). Not attached yet: starting."""
        service = self.service
        if service is None:
            return health(None, self.started, time.monotonic(), 0.0)
        last = service.last_tick
        return health(last[1] if last else None, self.started, service.clock.monotonic(),
                      service.watchlist.service.tick, service.stopping)

    def wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        """The WSGI application: /metrics (Prometheus text, or OpenMetrics when asked), /healthz, else 404."""
        metrics = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO") or "/"
            if path == "/metrics":
                return metrics(environ, start_response)  # type: ignore[no-any-return]
            if path == "/healthz":
                ok, body = self.health()
                return _reply(start_response, "200 OK" if ok else "503 Service Unavailable",
                              json.dumps(body) + "\n", "application/json")
            if path == "/":
                return _reply(start_response, "200 OK", "banwatch: /metrics, /healthz\n")
            return _reply(start_response, "404 Not Found", "not found: /metrics, /healthz\n")

        return app


def _reply(start_response: Callable[..., Any], status: str, text: str,
           content_type: str = "text/plain; charset=utf-8") -> list[bytes]:
    data = text.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store")])
    return [data]


class _Readings(Collector):
    """What is read at scrape time: the last tick, and from the database the outbox and the unknown share."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []  # read at scrape time: nothing to check for duplicates at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        service = self.metrics.service
        if service is None:
            return
        if service.last_tick is not None:
            wall, monotonic = service.last_tick
            yield GaugeMetricFamily("banwatch_last_tick_timestamp_seconds",
                                    "Wall-clock time (Unix seconds) of the scheduler's last completed tick.", wall)
            yield GaugeMetricFamily("banwatch_last_tick_age_seconds",
                                    "Seconds since the scheduler's last completed tick (monotonic clock).",
                                    service.clock.monotonic() - monotonic)
        yield GaugeMetricFamily("banwatch_tick_stale_after_seconds", "/healthz answers 503 once the last tick is "
                                "older than this.", stale_after(service.watchlist.service.tick))
        window = service.watchlist.service.health_window
        try:
            states, runs = service_metrics(self.metrics.db_path, iso(service.clock.wall() - timedelta(seconds=window)))
        except Exception as exc:  # a scrape must not fail on it: the database's own metrics are left out
            log.warning("metrics: the database could not be read (%s); outbox and unknown share left out", exc)
            return
        yield GaugeMetricFamily("banwatch_outbox_pending_alerts", "Alerts in the outbox not delivered yet "
                                "(pending, or sending: in flight or in doubt).",
                                states.get("pending", 0) + states.get("sending", 0))
        yield GaugeMetricFamily("banwatch_outbox_dead_alerts", "Alerts given up on (`banwatch alerts retry` "
                                "revives them).", states.get("dead", 0))
        share = GaugeMetricFamily("banwatch_unknown_ratio", "Share (0..1) of a platform's checks that read unknown "
                                  "over the health window (service.health_window).", labels=["platform"])
        for platform, (accounts, unknown) in sorted(runs.items()):
            if accounts:
                share.add_metric([platform], unknown / accounts)
        yield share
        yield GaugeMetricFamily("banwatch_health_window_seconds", "The window of banwatch_unknown_ratio, in "
                                "seconds.", window)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds the process up at exit


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Requests are not logged: a scrape every 15 s would drown the service's own lines."""


class MetricsServer:
    """The HTTP server of /metrics and /healthz: bound at construction (so a port in use fails before the
    service starts), serving from a daemon thread after `start(app)`, stopped by `close()`."""

    def __init__(self, host: str, port: int) -> None:
        """Bind `host`:`port` (0: a free port; `port` then says which). Raises BanwatchError, one line, when it
        cannot: the port is in use, the address is not this machine's, the host does not resolve."""
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            server_class = type("_Bound", (_Server,), {"address_family": family})
            self.server = server_class((host, port), _Quiet, bind_and_activate=True)
        except OSError as exc:
            raise BanwatchError(f"cannot serve metrics on {_address(host, port)}: {exc.strerror or exc} "
                                "(choose another --metrics-port or --metrics-host)") from None
        self.host, self.port = host, self.server.server_address[1]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """http://HOST:PORT of the server."""
        return f"http://{_address(self.host, self.port)}"

    def start(self, app: Callable[..., Iterable[bytes]]) -> None:
        """Serve `app` from a daemon thread."""
        self.server.set_app(app)
        self.thread = threading.Thread(target=self.server.serve_forever, name="banwatch-metrics", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving (when started) and close the socket."""
        if self.thread is not None:
            self.server.shutdown()
        self.server.server_close()


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
