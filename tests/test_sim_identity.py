"""The simulator makes a saved answer each account's own: asked for any handle, the answer reads as that
account — never as another one (`<platform>.other_account`), whatever digits the handle and the saved id share.
Benchmarks and the service tests rely on it: a simulator that answers for the wrong account measures nothing."""

from __future__ import annotations

import pytest

from banwatch.monitor.model import Account, Status
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import all_fixtures
from tests.sim import own

ACTIVE = {fx.platform: fx for fx in reversed(all_fixtures()) if fx.expected_status == "active" and not fx.first}


def handles(handle: str) -> list[str]:
    """120 handles shaped like `handle`, sharing digits with each other (m1, m10, m100...)."""
    if handle.isdigit():
        return [str(int(handle) + i) for i in range(120)]
    if "@" in handle.lstrip("@"):
        return [f"m{i}@inst{i % 50}.example" for i in range(120)]
    return [f"{handle[:-3]}{i:03d}" for i in range(120)]  # the same length (a YouTube channel id is fixed)


@pytest.mark.parametrize("platform", sorted(ACTIVE))
def test_an_owned_active_answer_reads_as_the_account_asked(platform: str) -> None:
    fx = ACTIVE[platform]
    wrong = []
    for handle in handles(fx.handle):
        key = f"{platform}:{handle}"
        verdict = PLATFORMS[platform].classify(own(fx, key).reply(), Account(platform, handle, key))
        if verdict.status is not Status.ACTIVE:
            wrong.append(f"{handle}: {verdict.rule}")
    assert not wrong, wrong[:5]


def test_control_replacing_the_saved_id_everywhere_answers_for_another_account(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The mistake this pins: the saved id ("1" for Mastodon's first account) replaced inside the handle."""
    from tests import sim

    monkeypatch.setattr(sim, "replace_id", lambda body, old, new: body.replace(old.encode(), new.encode()))
    fx = ACTIVE["mastodon"]
    wrong = [h for h in handles(fx.handle) if PLATFORMS["mastodon"].classify(
        own(fx, f"mastodon:{h}").reply(), Account("mastodon", h, f"mastodon:{h}")).status is not Status.ACTIVE]
    assert wrong, "without the whole-token match some handles read as another account"
