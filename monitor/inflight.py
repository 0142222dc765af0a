"""The checks `banwatch run` has handed out and not yet recorded, grouped in batches. Pure: no clock, no store.

A tick hands each platform's due accounts out as one batch (one `runs` row: health and drift are judged per
run). A batch is complete when every one of its checks has been answered, or given up (`lost`): its run row is
then finished with what its answers said. An account is in at most one batch at a time, so a due account is
never handed out twice, and the number outstanding per platform is what the tick bounds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from banwatch.monitor.model import Observation


@dataclass
class Batch:
    """One platform's checks handed out together: its `runs` row (`run_id`), the keys not yet answered, when
    it started (monotonic seconds), and what its answers said so far (`counts`: status value -> n;
    `rules`: unknown rule -> n; `changes`: "key from → to" lines)."""

    platform: str
    run_id: int
    keys: set[str]
    size: int
    started: float
    counts: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    changes: list[str] = field(default_factory=list)
    lost: int = 0
    check_ids: dict[str, str] = field(default_factory=dict)  # key -> check id (fetch workers; empty in process)
    entries: dict[str, bytes] = field(default_factory=dict)  # check id -> its checks-stream entry id, when known
    sent_at: str = ""  # ISO-8601 UTC: when its checks were handed out (fetch workers: expiry)

    @property
    def done(self) -> bool:
        """Every check answered or given up."""
        return not self.keys


class Inflight:
    """Account key -> the Batch its outstanding check belongs to."""

    def __init__(self) -> None:
        self.by_key: dict[str, Batch] = {}
        self.per_platform: Counter[str] = Counter()

    def __contains__(self, key: str) -> bool:
        return key in self.by_key

    def __len__(self) -> int:
        return len(self.by_key)

    def outstanding(self, platform: str) -> int:
        """Checks of `platform` handed out and not answered."""
        return self.per_platform[platform]

    def add(self, batch: Batch) -> None:
        """Track a new batch. ValueError when one of its keys is already outstanding."""
        clash = [k for k in batch.keys if k in self.by_key]
        if clash:
            raise ValueError(f"already outstanding: {', '.join(sorted(clash)[:3])}")
        for key in batch.keys:
            self.by_key[key] = batch
        self.per_platform[batch.platform] += len(batch.keys)

    def answer(self, obs: Observation, check_id: str | None = None) -> Batch | None:
        """Count `obs` in its batch and mark its check answered; the batch, or None when the key was not
        outstanding (an answer after its check was given up, or one delivered twice), or when `check_id` is not
        the check outstanding for it (an older check's late answer)."""
        batch = self.by_key.get(obs.account_key)
        if batch is None or check_id is not None and batch.check_ids.get(obs.account_key) != check_id:
            return None
        del self.by_key[obs.account_key]
        batch.keys.discard(obs.account_key)
        self.per_platform[batch.platform] -= 1
        batch.counts[obs.status.value] += 1
        if not obs.status.conclusive:
            batch.rules[obs.rule] += 1
        return batch

    def lose(self, keys: list[str]) -> list[Batch]:
        """Give these checks up (never answered): they leave their batches, which may complete; the batches touched."""
        touched: dict[int, Batch] = {}
        for key in keys:
            batch = self.by_key.pop(key, None)
            if batch is None:
                continue
            batch.keys.discard(key)
            batch.lost += 1
            self.per_platform[batch.platform] -= 1
            touched[id(batch)] = batch
        return list(touched.values())

    def batches(self) -> list[Batch]:
        """Every batch with a check outstanding."""
        return list({id(b): b for b in self.by_key.values()}.values())
