"""What each watchlist entry resolved to, and what will be asked about it: `banwatch validate --explain`.

Pure apart from reading the platform modules: no request is made and nothing is written. Credential
values never appear: a probe's credentials are named by their environment variables, and any credential
value inside a probe URL is masked.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field

from banwatch.monitor.model import Account
from banwatch.spiders.platforms import PLATFORMS  # the composition: this also installs the registry the core reads
from banwatch.spiders.platforms.base import MissingCredentials, rebase


@dataclass(frozen=True)
class Resolution:
    """One account as banwatch will check it."""

    line: int  # watchlist line of the entry
    key: str  # "platform:handle", the account's key in the database
    platform: str
    handle: str
    entity: str | None
    canary: str | None
    probe_url: str | None  # the first request's URL (after any BANWATCH_<P>_BASE_URL override); None: not asked
    host_header: str | None  # the original host, sent in Host: when a base URL override is set
    credentials: tuple[str, ...]  # environment variables whose values this probe sends
    missing: tuple[str, ...] = ()  # set one of these to make the probe possible (recorded unknown until then)
    second_probe: str | None = None  # when a second request is made, and why
    profile_url: str = ""
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        """The resolution as a JSON-ready dict (its fields by name, tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _mask(text: str, secrets: Mapping[str, str]) -> str:
    for name, value in secrets.items():
        if value and value in text:
            text = text.replace(value, f"<{name}>")
    return text


def resolve(account: Account, secrets: Mapping[str, str], base_urls: Mapping[str, str]) -> Resolution:
    """How `account` will be asked: probe URL, credentials used or missing, second probe. Never raises for a
    missing credential (it is reported in `missing`)."""
    platform = PLATFORMS[account.platform]
    url = host = None
    used: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    try:
        probe = platform.probe(account, dict(secrets))
    except MissingCredentials as exc:
        missing = tuple(exc.variables)
    else:
        sent = probe.url + " " + " ".join(probe.headers.values())
        used = tuple(name for name, value in sorted(secrets.items()) if value and value in sent)
        rebased, extra = rebase(probe.url, base_urls.get(account.platform))
        url, host = _mask(rebased, secrets), extra.get("Host")
    second = None
    if platform.second_probe is not None:
        doc = inspect.getdoc(platform.second_probe) or "asked when the first answer cannot tell two states apart"
        second = doc.splitlines()[0]
    notes = () if platform.findings else ("no public answer proves a state on this platform: always unknown",)
    return Resolution(line=account.line, key=account.key, platform=account.platform, handle=account.handle,
                      entity=account.entity, canary=account.canary, probe_url=url, host_header=host,
                      credentials=used, missing=missing, second_probe=second,
                      profile_url=platform.profile_url(account.handle), notes=notes)


def explain(accounts: list[Account] | tuple[Account, ...], secrets: Mapping[str, str],
            base_urls: Mapping[str, str]) -> list[Resolution]:
    """Every account, in watchlist order."""
    return [resolve(a, secrets, base_urls) for a in sorted(accounts, key=lambda a: a.line)]


def render(rows: list[Resolution]) -> str:
    """Human-readable, one block per account."""
    out = []
    for r in rows:
        head = f"line {r.line}: {r.key}" + (f"  [{r.entity}]" if r.entity else "") + \
               (f"  (canary, known {r.canary})" if r.canary else "")
        lines = [head, f"  profile:  {r.profile_url}"]
        if r.probe_url:
            lines.append(f"  probe:    GET {r.probe_url}" + (f"  (Host: {r.host_header})" if r.host_header else ""))
        else:
            lines.append(f"  probe:    none until {' or '.join(r.missing)} is set (recorded unknown)")
        lines.append(f"  credentials: {', '.join(r.credentials) or 'none'}")
        if r.second_probe:
            lines.append(f"  second probe: {r.second_probe}")
        lines += [f"  note: {n}" for n in r.notes]
        out.append("\n".join(lines))
    return "\n".join(out)
