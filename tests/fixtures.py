"""Saved platform responses: tests/fixtures/<platform>/<case>.<ext> + <case>.meta.json.

The meta file holds the request URL, HTTP status, headers, the expected verdict, and where the shape
comes from. The classifier tests and the local fake platform server both read them.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from banwatch.monitor.model import Reply

ROOT = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Fixture:
    platform: str
    case: str
    status: int
    headers: dict[str, str]
    body: bytes
    url: str
    handle: str
    expected_status: str
    expected_rule: str
    source: str
    first: dict[str, str] | None = None  # for a second probe's reply: the first verdict it follows
    platform_id: str | None = None  # the stable id banwatch knows for the account, if any
    redirects: tuple[str, ...] = ()  # URLs the request was redirected from before `url` answered

    def reply(self) -> Reply:
        return Reply(url=self.url, status=self.status, body=self.body, redirects=self.redirects,
                     headers={k.lower(): v for k, v in self.headers.items()})


def load(platform: str, case: str, root: str | Path | None = None) -> Fixture:
    """One saved response; `root` reads it from another fixtures directory (e.g. `banwatch selftest --save`)."""
    meta_path = Path(root if root is not None else ROOT) / platform / f"{case}.meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    bodies = [p for p in meta_path.parent.glob(f"{case}.*") if not p.name.endswith(".meta.json")]
    body = bodies[0].read_bytes() if bodies else b""
    return Fixture(platform=platform, case=case, status=meta["status"], headers=meta.get("headers", {}),
                   body=body, url=meta["url"], handle=meta["handle"],
                   expected_status=meta["expected"]["status"], expected_rule=meta["expected"]["rule"],
                   source=meta.get("source", ""), first=meta.get("first"), platform_id=meta.get("platform_id"),
                   redirects=tuple(meta.get("redirects", ())))


@functools.lru_cache(maxsize=1)
def _all() -> tuple[Fixture, ...]:
    return tuple(load(meta.parent.name, meta.name[: -len(".meta.json")]) for meta in sorted(ROOT.glob("*/*.meta.json")))


def all_fixtures() -> list[Fixture]:
    """Every saved response (read once per process; fixtures are immutable)."""
    return list(_all())


@functools.lru_cache(maxsize=None)
def by_rule(platform: str, rule: str) -> Fixture:
    """The first saved response that the platform's classifier must read as `rule`."""
    for fx in _all():
        if fx.platform == platform and fx.expected_rule == rule:
            return fx
    raise LookupError(f"no fixture for {platform} with rule {rule}")
