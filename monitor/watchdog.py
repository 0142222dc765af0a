"""banwatch watching itself, per platform: credentials and canaries. Called for every observation.

- A platform that needs a credential the environment lacks (`<p>.no_credentials`), or whose credential
  the platform rejects (`<p>.credential_rejected`), raises one health alert, and one when it works again.
- A canary is an account of known status (a known-active and a known-suspended one per platform). When a
  canary reads differently from its known status, the platform's classifier is *drifting*: one health alert,
  and every change on that platform is held as pending until the canary reads right again.
- A fediverse account whose server turns out not to speak the Mastodon API (`mastodon.not_mastodon_api`: its
  lookup answers an HTML 404, a redirect off the API, or JSON that is neither an account nor an error) raises one
  health alert naming the account, and one when the account reads again (a conclusive status).
State lives in the `service` table (`credentials:<platform>`, `drift:<platform>`, `api:<account key>`), so it
survives restarts and `banwatch check` alerts once, not once per run.

Pure: the watchdog never touches the store. It says which service-table values it has not read yet (`wants`),
is given them with the observation's record context (`learn`), and returns what an observation changes —
service-table writes and health alerts — as data (`observe` -> `Watch`), which `Store.apply` writes with the
observation, in its transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from banwatch.monitor.model import Account, HealthAlert, Observation, drift_rule
from banwatch.monitor.registry import Registry, titles

API = "api:"  # service-table prefix: accounts whose server does not speak the Mastodon API


@dataclass(frozen=True)
class Wants:
    """The service-table values the watchdog has not read yet: `keys` (each value, None when absent) and, when
    `prefix` is set, every key under it whose value is set. Empty when it knows all it needs."""

    keys: tuple[str, ...] = ()
    prefix: str | None = None


@dataclass(frozen=True)
class Watch:
    """What the watchdog concluded from one observation: whether the account's platform is drifting (its changes
    are held), the service-table writes ((key, value) in order) and the health alerts it raises."""

    drifting: bool = False
    service: tuple[tuple[str, str], ...] = ()
    health: tuple[HealthAlert, ...] = ()


class Watchdog:
    """Credentials, canaries and foreign servers, per platform; pure (see the module's docstring).

    `channel`: where health alerts go (None: the default channel, ""); `kinds`: the alert kinds switched on
    (no "health": its alerts have no channel, and are not queued). `registry`: the platforms whose titles the
    alerts name (monitor.registry; the installed one when None, else NoRegistry)."""

    def __init__(self, channel: str | None, kinds: frozenset[str], registry: Registry | None = None) -> None:
        self._titles = titles(registry)
        self.channels = (channel or "",) if "health" in kinds else ()
        self._memo: dict[str, str | None] = {}  # service-table values read or written by this process
        self._unread: set[str] | None = None  # keys of accounts whose server does not speak the API (read once)
        self._writes: list[tuple[str, str]] = []  # of the observation being watched
        self._alerts: list[HealthAlert] = []

    def wants(self, platform: str) -> Wants:
        """What to read for an observation on `platform` (Store.context reads it with the account's context)."""
        keys = tuple(k for k in (f"credentials:{platform}", f"drift:{platform}") if k not in self._memo)
        return Wants(keys, API if self._unread is None else None)

    def learn(self, service: Mapping[str, str | None], sets: Mapping[str, frozenset[str]] | None = None) -> None:
        """Take in values read for `wants` (RecordContext.service / service_sets). What this process wrote
        itself wins over a value read again."""
        for key, value in service.items():
            self._memo.setdefault(key, value)
        if self._unread is None and sets and API in sets:
            self._unread = set(sets[API])

    def drifting(self, platform: str) -> bool:
        """A canary of `platform` reads wrong (its changes are held). KeyError if `drift:<platform>` was never
        learned (see `wants`)."""
        return bool(self._memo[f"drift:{platform}"])

    def observe(self, account: Account, obs: Observation) -> Watch:
        """Watch one observation; its memory moves on at once (a caller whose write fails builds a new Watchdog).

        Needs what `wants(account.platform)` named to have been `learn`ed first (else KeyError/TypeError)."""
        self._writes, self._alerts = [], []
        self._credentials(account.platform, obs)
        self._api(account, obs)
        if account.canary:
            self._canary(account, obs)
        return Watch(self.drifting(account.platform), tuple(self._writes), tuple(self._alerts))

    def _get(self, key: str) -> str | None:
        return self._memo[key]

    def _set(self, key: str, value: str, at: str) -> None:
        self._memo[key] = value
        self._writes.append((key, value))

    def _alert(self, subject: str, detail: str, at: str) -> None:
        self._alerts.append(HealthAlert(subject, detail, self.channels))  # redacted by the store

    def _api(self, account: Account, obs: Observation) -> None:
        """One alert when an account's server turns out not to speak the Mastodon API, one when it reads again."""
        down = obs.rule.endswith(".not_mastodon_api")
        if not down and not obs.status.conclusive:
            return
        if self._unread is None:  # read once per process, with the first observation's context
            raise RuntimeError("the watchdog has not learned the api: keys (Watchdog.wants)")
        was = account.key in self._unread
        if down == was:
            return
        title = self._titles[account.platform]
        if down:
            self._unread.add(account.key)
            self._set(f"api:{account.key}", obs.rule, obs.checked_at)
            self._alert(f"account:{account.key}",
                        f"banwatch cannot read {account.handle} on {title}: {obs.reason}. The account is recorded "
                        "unknown until its server answers the API; no suspension is inferred.", obs.checked_at)
        else:
            self._unread.discard(account.key)
            self._set(f"api:{account.key}", "", obs.checked_at)
            self._alert(f"account:{account.key}",
                        f"{title} account {account.handle} reads again ({obs.status.value} by {obs.rule}).",
                        obs.checked_at)

    def _credentials(self, platform: str, obs: Observation) -> None:
        key, title = f"credentials:{platform}", self._titles[platform]
        state = self._get(key) or "ok"
        if obs.rule.endswith((".no_credentials", ".credential_rejected")):
            new = obs.rule.rsplit(".", 1)[1]
            if new != state:
                self._set(key, new, obs.checked_at)
                what = ("has no credentials" if new == "no_credentials"
                        else "had its own credential rejected by the platform")
                self._alert(f"platform:{platform}", f"banwatch {what} on {title} ({obs.reason}). Its accounts are "
                            "recorded unknown; no suspension is inferred.", obs.checked_at)
        elif obs.status.conclusive and state != "ok":
            self._set(key, "ok", obs.checked_at)
            self._alert(f"platform:{platform}", f"banwatch's {title} credentials work again.", obs.checked_at)

    def _canary(self, account: Account, obs: Observation) -> None:
        """A canary reads wrong when it reads another conclusive status, or a drift rule (the page is no longer
        the one the classifier knows); walls, rate limits and network failures say nothing either way."""
        drifted = not obs.status.conclusive and drift_rule(obs.rule)
        if not obs.status.conclusive and not drifted:
            return
        key, title = f"drift:{account.platform}", self._titles[account.platform]
        was = set(filter(None, (self._get(key) or "").split(",")))  # canaries reading wrong until now
        right = obs.status.value == account.canary and not drifted
        wrong = was - {account.handle} if right else was | {account.handle}
        before = bool(was)
        if wrong != was:
            self._set(key, ",".join(sorted(wrong)), obs.checked_at)
        if wrong and not before:
            self._alert(f"platform:{account.platform}",
                        f"{title}'s classifier is drifting: canary {account.handle} (known {account.canary}) reads "
                        f"{obs.status.value} by {obs.rule}. Changes on {title} are held as pending until every "
                        "canary reads right again.", obs.checked_at)
        elif before and not wrong:
            self._alert(f"platform:{account.platform}",
                        f"{title}'s canaries read right again; held changes confirm on their next check.",
                        obs.checked_at)
