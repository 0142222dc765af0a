"""`banwatch validate --explain` / `--json`: every entry shows the platform, key and probe it resolved to."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from banwatch.monitor.cli import cli
from banwatch.spiders.platforms import PLATFORMS
from tests.test_url_resolution import HANDLES, _variants


def _run(tmp_path: Path, text: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--watchlist", str(path), "validate", *args], env=env or {})
    return result.exit_code, result.stdout, result.stderr


def test_one_profile_url_per_platform_resolves_to_its_own_platform(tmp_path: Path) -> None:
    plain = "accounts:\n" + "".join(f"  - url: {json.dumps(PLATFORMS[n].profile_url(HANDLES[n]))}\n"
                                    for n in sorted(PLATFORMS))
    entity = "accounts:\n  - name: Outlet\n    accounts:\n" + "".join(
        f"      {n}: {json.dumps(_variants(PLATFORMS[n].profile_url(HANDLES[n]))[-1])}\n" for n in sorted(PLATFORMS))
    for text in (plain, entity):
        code, out, err = _run(tmp_path, text, "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert [a["platform"] for a in doc["accounts"]] == sorted(PLATFORMS)
        for account in doc["accounts"]:
            assert account["key"] == f"{account['platform']}:{account['handle']}"
            assert account["probe_url"] or account["missing"], account


def test_every_url_form_of_every_platform_explains_as_its_own(tmp_path: Path) -> None:
    forms = [(name, form) for name in sorted(PLATFORMS)
             for form in _variants(PLATFORMS[name].profile_url(HANDLES[name]))]
    for name, form in forms:
        code, out, err = _run(tmp_path, f"accounts:\n  - url: {json.dumps(form)}\n", "--json")
        assert code == 0, (form, err)
        (account,) = json.loads(out)["accounts"]
        assert account["platform"] == name, form


def test_explain_names_probe_credentials_and_masks_their_values(tmp_path: Path) -> None:
    text = ("accounts:\n  - url: https://www.youtube.com/@somechannel\n  - url: https://mastodon.social/@someone\n"
            "  - {platform: x, handle: someone}\n  - {platform: twitch, handle: someone}\n")
    code, out, _ = _run(tmp_path, text, "--explain", env={"X_BEARER_TOKEN": "tok-secret-123",
                                                         "BANWATCH_MASTODON_BASE_URL": "http://127.0.0.1:9"})
    assert code == 0
    assert "line 2: youtube:@somechannel" in out and "GET https://www.youtube.com/@somechannel" in out
    assert "line 3: mastodon:someone@mastodon.social" in out
    assert "GET http://127.0.0.1:9/api/v1/accounts/lookup?acct=someone  (Host: mastodon.social)" in out
    assert "credentials: X_BEARER_TOKEN" in out
    assert "probe:    none until TWITCH_CLIENT_ID" in out or "probe:    none until" in out.split("twitch:someone")[1]
    assert "tok-secret-123" not in out


def test_a_fediverse_pattern_on_a_non_fediverse_host_is_a_file_line_error(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "accounts:\n  - {platform: reddit, handle: spez}\n"
                                    "  - url: https://www.threads.net/@someone\n", "--explain")
    assert code == 1 and out == ""
    assert "watchlist.yaml:3: url: www.threads.net is Threads, which banwatch does not watch" in err
    assert "Traceback" not in err
