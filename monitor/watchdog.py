"""banwatch watching itself, per platform: credentials and canaries. Called for every observation.

- A platform that needs a credential the environment lacks (`<p>.no_credentials`), or whose credential
  the platform rejects (`<p>.credential_rejected`), raises one health alert, and one when it works again.
- A canary is an account of known status (a known-active and a known-suspended one per platform). When a
  canary reads differently from its known status, the platform's classifier is *drifting*: one health alert,
  and every change on that platform is held as pending until the canary reads right again.
State lives in the `service` table (`credentials:<platform>`, `drift:<platform>`), so it survives restarts
and `banwatch check` alerts once, not once per run.
"""

from __future__ import annotations

from monitor.model import Account, Observation
from monitor.store import Store
from spiders.platforms import PLATFORMS


class Watchdog:
    def __init__(self, store: Store, channel: str | None, kinds: frozenset[str], give_up: float) -> None:
        self.store, self.give_up = store, give_up
        self.channels = [channel or ""] if "health" in kinds else []
        self._memo: dict[str, str | None] = {}  # service-table values read or written by this process

    def _get(self, key: str) -> str | None:
        if key not in self._memo:
            self._memo[key] = self.store.get_service(key)
        return self._memo[key]

    def _set(self, key: str, value: str, at: str) -> None:
        self._memo[key] = value
        self.store.set_service({key: value}, at)

    def _alert(self, subject: str, detail: str, at: str) -> None:
        self.store.health_alert(subject, detail, self.channels, at, self.give_up)

    def drifting(self, platform: str) -> bool:
        return bool(self._get(f"drift:{platform}"))

    def observe(self, account: Account, obs: Observation) -> None:
        self._credentials(account.platform, obs)
        if account.canary:
            self._canary(account, obs)

    def _credentials(self, platform: str, obs: Observation) -> None:
        key, title = f"credentials:{platform}", PLATFORMS[platform].title
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
        if not obs.status.conclusive:
            return
        key, title = f"drift:{account.platform}", PLATFORMS[account.platform].title
        was = set(filter(None, (self._get(key) or "").split(",")))  # canaries reading wrong until now
        wrong = was - {account.handle} if obs.status.value == account.canary else was | {account.handle}
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
