"""Every saved response is classified as its meta file says (DESIGN: every rule is proven by a fixture)."""

from __future__ import annotations

import pytest

from banwatch.monitor.model import Account, Status, Verdict
from banwatch.spiders.platforms import PLATFORMS
from tests.fixtures import Fixture, all_fixtures

FIXTURES = all_fixtures()


def _account(fx: Fixture) -> Account:
    return Account(platform=fx.platform, handle=fx.handle, key=f"{fx.platform}:{fx.handle}",
                   platform_id=fx.platform_id)


@pytest.mark.parametrize("fx", FIXTURES, ids=[f"{f.platform}/{f.case}" for f in FIXTURES])
def test_fixture_classifies_as_declared(fx: Fixture) -> None:
    platform = PLATFORMS[fx.platform]
    if fx.first:  # a second probe's reply, read in the light of the first verdict
        assert platform.classify_second is not None, "a second-probe fixture for a platform without one"
        first = Verdict(Status(fx.first["status"]), fx.first["rule"], "first probe")
        assert platform.second_probe and platform.second_probe(first, _account(fx), {}) is not None, \
            "the first verdict this fixture follows must lead to the second probe"
        verdict = platform.read(fx.reply(), _account(fx), first)
    else:
        verdict = platform.read(fx.reply(), _account(fx))
    assert (verdict.status.value, verdict.rule) == (fx.expected_status, fx.expected_rule), verdict.reason
    assert verdict.reason, "every verdict explains itself"


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_platform_has_a_fixture_for_each_state_it_claims(name: str) -> None:
    seen = {f.expected_status for f in FIXTURES if f.platform == name}
    assert "unknown" in seen and any(f.expected_rule == f"{name}.unrecognised" for f in FIXTURES
                                     if f.platform == name), "walls and drift must be proven unknown"
    if not PLATFORMS[name].findings:  # supported, but nothing public proves a state: every answer is unknown
        assert seen == {"unknown"}
        return
    assert "active" in seen
    assert seen & {"suspended", "not_found", "deactivated"}, "a platform must prove at least one loss state"


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_rule_in_a_module_has_a_fixture(name: str) -> None:
    """A rule without a fixture is not done: scan the module's source for rule names."""
    import inspect
    import re
    import sys

    module = sys.modules[PLATFORMS[name].classify.__module__]
    # rule names are written right after the status they produce: Verdict(Status.X, "rule", ...)
    declared = set(re.findall(rf'Status\.[A-Z_]+,\s*"({name}\.[a-z_0-9]+)"', inspect.getsource(module)))
    assert declared, "the scan found no rules: the pattern no longer matches the module's style"
    proven = {f.expected_rule for f in FIXTURES if f.platform == name}
    assert declared - proven == set(), f"rules without a saved response: {sorted(declared - proven)}"


def test_unknown_is_never_a_loss_for_transient_answers() -> None:
    for fx in FIXTURES:
        if fx.status in (429, 500, 502, 503, 504):
            assert fx.expected_status == Status.UNKNOWN.value, fx.case
