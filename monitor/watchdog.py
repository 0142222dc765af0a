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
"""

from __future__ import annotations

from monitor.model import Account, Observation, drift_rule
from monitor.registry import Registry, titles
from monitor.store import Store


class Watchdog:
    """`registry`: the platforms whose titles the alerts name (monitor.registry; the installed one when None)."""

    def __init__(self, store: Store, channel: str | None, kinds: frozenset[str], give_up: float,
                 registry: Registry | None = None) -> None:
        self.store, self.give_up = store, give_up
        self._titles = titles(registry)
        self.channels = [channel or ""] if "health" in kinds else []
        self._memo: dict[str, str | None] = {}  # service-table values read or written by this process
        self._unread: set[str] | None = None  # keys of accounts whose server does not speak the API (read once)

    def _get(self, key: str) -> str | None:
        if key not in self._memo:
            self._memo[key] = self.store.get_service(key)
        return self._memo[key]

    def _set(self, key: str, value: str, at: str) -> None:
        self._memo[key] = value
        self.store.set_service({key: value}, at)

    def _alert(self, subject: str, detail: str, at: str) -> None:
        self.store.health_alert(subject, detail, self.channels, at, self.give_up)  # redacted by the store

    def drifting(self, platform: str) -> bool:
        return bool(self._get(f"drift:{platform}"))

    def observe(self, account: Account, obs: Observation) -> None:
        self._credentials(account.platform, obs)
        self._api(account, obs)
        if account.canary:
            self._canary(account, obs)

    def _api(self, account: Account, obs: Observation) -> None:
        """One alert when an account's server turns out not to speak the Mastodon API, one when it reads again."""
        down = obs.rule.endswith(".not_mastodon_api")
        if not down and not obs.status.conclusive:
            return
        if self._unread is None:  # one query per process, not one per account: most accounts never appear here
            self._unread = self.store.service_keys("api:")
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
