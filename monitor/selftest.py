"""`banwatch selftest`: ask each platform about its canaries, and say whether each still reads as known.

This is banwatch's counterpart to Maigret's `--self-check`, where every site names a claimed and an unclaimed
username, and a site whose answers no longer match is disabled. Maigret also disables a site when a claimed
name reads unknown. Here a platform that refused to answer is kept apart from a page that changed:

- **ok**: the canary read as its known status.
- **drift**: it read another conclusive status, or an unknown that means the page is no longer the one the
  classifier knows: `<platform>.unrecognised`, a named-rule value (`<platform>.<rule>:<value>`, see
  `base.named_rule`) or `<platform>.classifier_error`. Exit 1.
- **inconclusive**: any other unknown, such as a rate limit, a wall or block page, a timeout, or the
  monitor's own credential rejected. It proves nothing either way, so the exit code is 0, or 3 with `--strict`.
- **skipped**: the platform needs a credential the environment lacks; nothing is asked.

The canaries are the watchlist's (`platforms: {NAME: {canaries: …}}`) plus the built-in ones
(`spiders/platforms/canaries.py`). They are crawled through the production path (StatusSpider, Platform.read),
and nothing is written to the database. `--save DIR` writes every response received as a fixture in the
tests' own format (`DIR/<platform>/<case>.<ext>` + `<case>.meta.json`, read back by
`tests.fixtures.load(platform, case, root=DIR)`). Cookies, auth, CSRF and token headers are dropped, token-like
query parameters are masked, and every configured credential's value is replaced wherever it appears.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

from monitor.errors import ConfigError
from monitor.model import Account, Observation, Reply, Status, Verdict
from monitor.watchlist import Watchlist
from spiders.platforms import PLATFORMS
from spiders.platforms.base import MissingCredentials, Politeness, drift_rule
from spiders.platforms.canaries import BUILTIN

OK, DRIFT, INCONCLUSIVE, SKIPPED, NONE = "ok", "drift", "inconclusive", "skipped", "none"
EXIT_OK, EXIT_DRIFT, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3
CAPTURED = "live capture by banwatch selftest"


@dataclass(frozen=True)
class Canary:
    account: Account  # account.canary is the known status
    source: str  # "watchlist" or "built-in"
    why: str = ""

    @property
    def known(self) -> str:
        return self.account.canary or ""


@dataclass
class Result:
    canary: Canary
    outcome: str  # OK, DRIFT, INCONCLUSIVE or SKIPPED
    status: str | None  # what it read (None: not asked)
    rule: str
    reason: str
    http_status: int | None = None
    weak: bool = False
    probes: tuple[str, ...] = ()
    saved: list[str] = field(default_factory=list)  # fixture cases written for it (`--save`)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        a = self.canary.account
        return {"key": a.key, "handle": a.handle, "known": self.canary.known, "source": self.canary.source,
                "why": self.canary.why, "outcome": self.outcome, "read": self.status, "rule": self.rule,
                "reason": self.reason, "weak": self.weak, "http_status": self.http_status,
                "probes": list(self.probes), "saved": self.saved, "notes": self.notes}


@dataclass
class PlatformReport:
    name: str
    results: list[Result] = field(default_factory=list)
    note: str = ""  # why nothing was asked, when nothing was

    @property
    def title(self) -> str:
        return PLATFORMS[self.name].title

    @property
    def outcome(self) -> str:
        outcomes = {r.outcome for r in self.results}
        return next((o for o in (DRIFT, INCONCLUSIVE, OK, SKIPPED) if o in outcomes), NONE)


@dataclass
class Report:
    platforms: list[PlatformReport]
    watchlist: str | None
    strict: bool = False
    saved_to: str | None = None

    @property
    def results(self) -> list[Result]:
        return [r for p in self.platforms for r in p.results]

    def counts(self) -> Counter[str]:
        counts = Counter({OK: 0, DRIFT: 0, INCONCLUSIVE: 0, SKIPPED: 0})
        counts.update(r.outcome for r in self.results)
        return counts

    def exit_code(self) -> int:
        counts = self.counts()
        if counts[DRIFT]:
            return EXIT_DRIFT
        if self.strict and counts[INCONCLUSIVE]:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code(), "strict": self.strict, "watchlist": self.watchlist,
                "saved_to": self.saved_to, "counts": dict(self.counts()),
                "platforms": [{"platform": p.name, "title": p.title, "outcome": p.outcome, "note": p.note,
                               "canaries": [r.as_dict() for r in p.results]} for p in self.platforms]}


# -- judging -------------------------------------------------------------------------------------


def judge(known: str, status: Status, rule: str) -> str:
    """OK, DRIFT, INCONCLUSIVE or SKIPPED for a canary of known status that read `status` by `rule`."""
    if rule.endswith(".no_credentials"):
        return SKIPPED
    if status.conclusive:
        return OK if status.value == known else DRIFT
    return DRIFT if drift_rule(rule) else INCONCLUSIVE


# -- choosing canaries ---------------------------------------------------------------------------


def platform_names(names: Sequence[str]) -> list[str]:
    """The platforms asked for (all of them when none is named), in the order given, once each."""
    chosen = [n.strip().lower() for n in names] or list(PLATFORMS)
    unknown = [n for n in chosen if n not in PLATFORMS]
    if unknown:
        raise ConfigError(f"unknown platform {', '.join(repr(n) for n in unknown)} "
                          f"(known: {', '.join(sorted(PLATFORMS))})")
    return list(dict.fromkeys(chosen))


def canaries(names: Sequence[str], watchlist: Watchlist | None) -> dict[str, list[Canary]]:
    """platform -> its canaries: the watchlist's first, then the built-in ones it does not already name."""
    out: dict[str, list[Canary]] = {name: [] for name in names}
    seen: set[str] = set()
    for account in watchlist.accounts if watchlist else ():
        if account.canary and account.platform in out:
            out[account.platform].append(Canary(account, "watchlist"))
            seen.add(account.key)
    for name in names:
        for known, builtin in BUILTIN.get(name, {}).items():
            key = f"{name}:{builtin.handle}"
            if key not in seen:
                account = Account(platform=name, handle=builtin.handle, key=key, name=f"canary ({known})",
                                  tags=("canary",), canary=known)
                out[name].append(Canary(account, "built-in", builtin.why))
    return out


def _no_canaries(name: str) -> str:
    if not PLATFORMS[name].findings:
        return f"no canaries: no answer of {PLATFORMS[name].title}'s proves any state, so there is nothing to test"
    return f"no canaries: add platforms.{name}.canaries to the watchlist"


# -- scrubbing -----------------------------------------------------------------------------------

_SECRET_HEADER = re.compile(r"cookie|auth|csrf|xsrf|token|secret|session|api[-_]?key|passw|signature", re.I)
_SECRET_PARAM = re.compile(r"token|secret|passw|pwd|sig|auth|sess|key|code|ticket|nonce|credential|jwt|bogus|csrf",
                           re.I)
MASK = "REDACTED"


class Scrubber:
    """Removes what must not leave the machine from a response: secret-bearing headers, token-like query
    parameters, and the value of every configured credential wherever it appears (as written, URL-encoded or
    JSON-escaped; for a cookie string, also each of its values)."""

    def __init__(self, secrets: dict[str, str]) -> None:
        pairs: dict[str, str] = {}
        for name, value in secrets.items():
            for variant in _variants(value):
                pairs.setdefault(variant, f"[{MASK} {name}]")
        self._pairs = sorted(pairs.items(), key=lambda p: len(p[0]), reverse=True)  # longest first

    def text(self, text: str) -> str:
        for secret, mask in self._pairs:
            text = text.replace(secret, mask)
        return text

    def body(self, body: bytes) -> bytes:
        for secret, mask in self._pairs:
            body = body.replace(secret.encode("utf-8"), mask.encode("utf-8"))
        return body

    def url(self, url: str) -> str:
        base, sep, query = url.partition("?")
        if sep:
            query, hash_, fragment = query.partition("#")
            params = []
            for param in query.split("&"):
                name, eq, value = param.partition("=")
                params.append(f"{name}={MASK}" if eq and value and _SECRET_PARAM.search(unquote_plus(name)) else param)
            url = base + "?" + "&".join(params) + hash_ + fragment
        return self.text(url)

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        return {name: self.text(value) for name, value in headers.items() if not _SECRET_HEADER.search(name)}

    def reply(self, reply: Reply) -> Reply:
        return Reply(url=self.url(reply.url), status=reply.status, headers=self.headers(reply.headers),
                     body=self.body(reply.body), redirects=tuple(self.url(u) for u in reply.redirects))


def _variants(value: str) -> set[str]:
    out = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    for part in re.split(r"[;&,\s]+", value):  # a cookie string: each name=value, and each value
        for piece in (part, part.partition("=")[2]):
            if len(piece) >= 8:
                out |= {piece, quote(piece, safe="")}
    return {v for v in out if v}


# -- saving --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Captured:
    """One response a canary's check received, and the first probe's verdict when it answers the second."""

    reply: Reply
    first: Verdict | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "account"


def _extension(reply: Reply) -> str:
    kind = reply.header("content-type").lower()
    if "json" in kind:
        return "json"
    if "html" in kind or "xml" in kind:
        return "html"
    head = reply.body.lstrip()[:1]
    return {b"{": "json", b"[": "json", b"<": "html"}.get(head, "txt")


def _read(account: Account, reply: Reply, first: Verdict | None) -> Verdict:
    return PLATFORMS[account.platform].read_safely(reply, account, first)


def save(root: Path, canary: Canary, captured: Sequence[Captured], scrubber: Scrubber, date: str,
         outcome: str) -> tuple[list[str], list[str]]:
    """Write each response as `root/<platform>/<case>.<ext>` + `<case>.meta.json`; (cases, notes)."""
    account = canary.account
    folder = root / account.platform
    folder.mkdir(parents=True, exist_ok=True)
    cases, notes = [], []
    for i, item in enumerate(captured):
        verdict = _read(account, item.reply, item.first)
        clean = scrubber.reply(item.reply)
        case = f"selftest_{canary.known}_{_slug(account.handle)}"
        case += "_second" if item.first is not None else ("" if i == 0 else f"_{i + 1}")
        meta: dict[str, Any] = {
            "url": clean.url, "handle": account.handle, "status": clean.status, "headers": clean.headers,
            "expected": {"status": verdict.status.value, "rule": verdict.rule},
            "source": f"banwatch selftest {date}", "captured": CAPTURED,
            "selftest": {"known": canary.known, "canary_from": canary.source, "outcome": outcome,
                         "reason": scrubber.text(verdict.reason)},
        }
        if item.first is not None:
            meta["first"] = {"status": item.first.status.value, "rule": item.first.rule}
        if clean.redirects:
            meta["redirects"] = list(clean.redirects)
        scrubbed = _read(account, clean, item.first)
        if (scrubbed.status, scrubbed.rule) != (verdict.status, verdict.rule):
            note = (f"{case}: with secrets removed this response reads {scrubbed.status.value} by "
                    f"{scrubbed.rule}, not {verdict.status.value} by {verdict.rule}")
            meta["scrub_changed_verdict"] = note
            notes.append(note)
        for old in folder.glob(f"{case}.*"):  # a previous run's body may have had another extension
            old.unlink()
        (folder / f"{case}.{_extension(item.reply)}").write_bytes(clean.body)
        (folder / f"{case}.meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n",
                                                   encoding="utf-8")
        cases.append(f"{account.platform}/{case}")
    return cases, notes


def save_dir(path: str) -> Path:
    """The `--save` directory, created if needed; ConfigError when it cannot be used."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--save {path}: exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--save {path}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"--save {path}: not writable")
    return folder.resolve()


# -- crawling ------------------------------------------------------------------------------------


async def crawl(runner: Any, accounts: list[Account], base_urls: dict[str, str], secrets: dict[str, str],
                politeness: Callable[[str], Politeness]) -> tuple[dict[str, Observation], dict[str, list[Captured]]]:
    """One production crawl of these accounts: each one's observation, and every response its check received."""
    from scrapy import signals
    from scrapy.crawler import Crawler
    from scrapy.utils.defer import deferred_to_future

    from spiders.status import StatusSpider, _reply, download_slots

    observations: dict[str, Observation] = {}
    captured: dict[str, list[Captured]] = {}

    def on_item(item: Observation, **_: Any) -> None:
        observations[item.account_key] = item

    def on_response(response: Any, request: Any, **_: Any) -> None:
        key = (request.cb_kwargs or {}).get("key")
        if key is not None:
            captured.setdefault(key, []).append(Captured(_reply(response), request.cb_kwargs.get("first")))

    settings = runner.settings.copy()
    settings.set("DOWNLOAD_SLOTS", download_slots(accounts, politeness), priority="cmdline")
    crawler = Crawler(StatusSpider, settings)
    crawler.signals.connect(on_item, signal=signals.item_scraped)  # both held by this frame until the crawl ends
    crawler.signals.connect(on_response, signal=signals.response_received)
    await deferred_to_future(runner.crawl(crawler, accounts=accounts, base_urls=base_urls, secrets=secrets,
                                          keep_evidence=True))
    return observations, captured


def run(names: Sequence[str], watchlist_path: str, watchlist_given: bool, save_to: str | None, strict: bool,
        log_level: str = "WARNING", announce: Callable[[str], None] = lambda _: None) -> Report:
    """Everything `banwatch selftest` does except printing. Raises ConfigError (or another BanwatchError) for
    a user error, before any request is made."""
    from monitor.runner import run_in_reactor
    from monitor.settings import base_urls_from_env, scrapy_overrides, secrets_from_env
    from monitor.watchlist import load

    chosen = platform_names(names)
    folder = save_dir(save_to) if save_to else None
    watchlist = load(watchlist_path) if watchlist_given or Path(watchlist_path).exists() else None
    base_urls = base_urls_from_env()
    overrides = scrapy_overrides()
    secrets = secrets_from_env()
    scrubber = Scrubber(secrets)
    politeness = watchlist.politeness if watchlist else (lambda name: PLATFORMS[name].politeness)

    reports = {name: PlatformReport(name) for name in chosen}
    asked: list[Canary] = []
    for name, found in canaries(chosen, watchlist).items():
        if not found:
            reports[name].note = _no_canaries(name)
        for canary in found:
            try:
                PLATFORMS[name].probe(canary.account, secrets)
            except MissingCredentials as exc:
                reports[name].results.append(Result(canary, SKIPPED, None, f"{name}.no_credentials", str(exc)))
                reports[name].note = f"skipped: no credentials ({exc})"
                continue
            asked.append(canary)

    observations: dict[str, Observation] = {}
    captured: dict[str, list[Captured]] = {}
    if asked:
        announce(f"asking {len(asked)} canar{'y' if len(asked) == 1 else 'ies'} on "
                 f"{len({c.account.platform for c in asked})} platform(s)…")

        async def main(runner: Any) -> Any:
            return await crawl(runner, [c.account for c in asked], base_urls, secrets, politeness)

        observations, captured = run_in_reactor(main, {"LOG_LEVEL": log_level, **overrides})

    date = datetime.now(UTC).strftime("%Y-%m-%d")
    for canary in asked:
        key, name = canary.account.key, canary.account.platform
        obs = observations.get(key)
        if obs is None:  # the crawl ended without an answer for it (it was closed early)
            result = Result(canary, INCONCLUSIVE, Status.UNKNOWN.value, f"{name}.no_answer", "the crawl ended first")
        else:
            result = Result(canary, judge(canary.known, obs.status, obs.rule), obs.status.value, obs.rule,
                            scrubber.text(obs.reason), obs.http_status, obs.weak,
                            tuple(scrubber.url(u) for u in obs.probes))
        if folder is not None and captured.get(key):
            result.saved, result.notes = save(folder, canary, captured[key], scrubber, date, result.outcome)
        reports[name].results.append(result)
    return Report(list(reports.values()), watchlist.path if watchlist else None, strict,
                  str(folder) if folder else None)


# -- printing ------------------------------------------------------------------------------------

_MARKS = {OK: "✓", DRIFT: "✗", INCONCLUSIVE: "?", SKIPPED: "-"}


def _headline(p: PlatformReport) -> str:
    outcome = p.outcome
    if outcome == OK:
        n = len(p.results)
        return f"ok: {'its canary reads' if n == 1 else f'all {n} canaries read'} as known"
    if outcome == DRIFT:
        return ("DRIFT: a canary reads other than its known status (the page changed, the classifier is wrong, "
                "or the account itself changed)")
    if outcome == INCONCLUSIVE:
        return "inconclusive: not answered conclusively (rate limit, wall or timeout); proves nothing either way"
    return p.note


def render(report: Report) -> str:
    lines = [f"canaries: the watchlist's ({report.watchlist}) and the built-in ones" if report.watchlist
             else "canaries: the built-in ones (no watchlist)"]
    rows: list[tuple[str, ...]] = []
    for p in report.platforms:
        rows.append(("platform", p.title, _headline(p)))
        if p.outcome == SKIPPED:
            continue
        for r in p.results:
            rows.append(("canary", _MARKS[r.outcome], r.canary.account.handle, f"known {r.canary.known}",
                         f"read {r.status or '-'}", r.rule, r.reason))
            rows += [("note", n) for n in r.notes]
    widths = [max((len(row[i]) for row in rows if row[0] == "canary"), default=0) for i in range(2, 6)]
    for row in rows:
        if row[0] == "platform":
            lines.append(f"{row[1]}: {row[2]}")
        elif row[0] == "note":
            lines.append(f"    note: {row[1]}")
        else:
            cells = [cell.ljust(width) for cell, width in zip(row[2:6], widths)]
            lines.append(f"  {row[1]} " + "  ".join(cells) + f"  {row[6]}")
    counts = report.counts()
    summary = (f"{counts[OK]} ok, {counts[DRIFT]} drifted, {counts[INCONCLUSIVE]} inconclusive, "
               f"{counts[SKIPPED]} skipped")
    code = report.exit_code()
    why = {EXIT_OK: "every canary asked read as known" if not counts[INCONCLUSIVE] else
           "no drift; inconclusive canaries prove nothing (--strict makes them fail)",
           EXIT_DRIFT: "a classifier drifted", EXIT_INCONCLUSIVE: "--strict: a canary could not be read"}[code]
    if report.saved_to:
        saved = sum(len(r.saved) for r in report.results)
        lines.append(f"saved {saved} response(s) as fixtures under {report.saved_to} (secrets removed)")
    elif counts[DRIFT]:
        lines.append("run it again with --save DIR to keep the responses, ready to attach to a bug report")
    lines.append(f"{summary}; exit {code}: {why}")
    return "\n".join(lines)


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)


def main(names: Iterable[str], watchlist_path: str, watchlist_given: bool, save_to: str | None, as_json: bool,
         strict: bool, log_level: str, echo: Callable[..., None]) -> int:
    """The command: run, print, return the exit code. Lets BanwatchError through (the CLI exits 2 with it)."""
    report = run(list(names), watchlist_path, watchlist_given, save_to, strict, log_level,
                 announce=lambda message: echo(message, err=True))
    echo(to_json(report) if as_json else render(report))
    return report.exit_code()

