"""An answer about another account is never read as the watched account's status.

A lookup by handle can answer for someone else: Sharkey and Firefish fall back to a fuzzy search and return
its first hit; a handle released by a deleted account can be taken by a new one. Once banwatch knows an
account's stable id, every platform's conclusive answer carrying a different id reads `<platform>.other_account`
(unknown), whatever it would have said. The control: the same answer with the account's own id keeps its verdict.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from banwatch.monitor.model import Account, Status
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import Fixture, all_fixtures

WITH_ID = []
for _fx in all_fixtures():
    _account = Account(_fx.platform, _fx.handle, f"{_fx.platform}:{_fx.handle}")
    _verdict = PLATFORMS[_fx.platform].read(_fx.reply(), _account)
    if _verdict.status.conclusive and _verdict.platform_id and not _fx.first:
        WITH_ID.append((_fx, _verdict.platform_id))


def test_the_walk_covers_every_platform_that_reports_an_id() -> None:
    covered = {fx.platform for fx, _ in WITH_ID}
    assert covered >= {"reddit", "bluesky", "mastodon", "x", "youtube", "tiktok", "twitch", "instagram"}, covered


@pytest.mark.parametrize(("fx", "found"), WITH_ID, ids=[f"{fx.platform}/{fx.case}" for fx, _ in WITH_ID])
def test_an_answer_carrying_another_id_is_unknown(fx: Fixture, found: str) -> None:
    platform = PLATFORMS[fx.platform]
    account = Account(fx.platform, fx.handle, f"{fx.platform}:{fx.handle}")
    own = platform.read(fx.reply(), replace(account, platform_id=found))
    assert own.status.conclusive and own.rule == fx.expected_rule, "control: the account's own id"
    other = platform.read(fx.reply(), replace(account, platform_id=found + "0"))
    assert other.status is Status.UNKNOWN and other.rule == f"{fx.platform}.other_account", other
    assert found in other.reason and fx.expected_rule in other.reason


def test_a_fuzzy_lookup_answering_with_another_name_is_unknown_before_any_id_is_known() -> None:
    from tests.fixtures import load

    fx = load("mastodon", "sharkey_fuzzy_other_account")
    verdict = PLATFORMS["mastodon"].read(fx.reply(), Account("mastodon", fx.handle, f"mastodon:{fx.handle}"))
    assert (verdict.status, verdict.rule) == (Status.UNKNOWN, "mastodon.other_account")
    control = load("mastodon", "active_sharkey")  # the same server answering for the name asked
    assert PLATFORMS["mastodon"].read(control.reply(), Account("mastodon", control.handle, "k")).status is Status.ACTIVE


def test_a_namesake_on_another_server_is_another_account() -> None:
    """Sharkey's fuzzy fallback can answer with a remote namesake: same name, another server."""
    import json

    from banwatch.monitor.model import Reply
    from tests.fixtures import load

    fx = load("mastodon", "active_sharkey")
    doc = json.loads(fx.body)
    account = Account("mastodon", fx.handle, f"mastodon:{fx.handle}")
    for acct, expected in ((f"{doc['acct']}@mastodon.social", Status.UNKNOWN), (doc["acct"], Status.ACTIVE),
                           (f"{doc['acct']}@{fx.handle.split('@')[1]}", Status.ACTIVE)):
        body = json.dumps({**doc, "acct": acct, "limited": True}).encode()
        verdict = PLATFORMS["mastodon"].read(Reply(fx.url, 200, fx.reply().headers, body), account)
        assert (verdict.status is Status.UNKNOWN) == (expected is Status.UNKNOWN), (acct, verdict)
