"""Every profile URL goes to the platform that owns its host, never to a generic pattern of another.

A plain `- url:` of `https://www.youtube.com/@name` once validated as a Mastodon account on www.youtube.com
and stayed unknown forever. These tests walk every platform: its own profile links (and their common
variants) resolve to it, and `host/@user` on any host a platform owns never resolves elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from banwatch.monitor.errors import InvalidWatchlist
from banwatch.monitor.watchlist import parse
from banwatch.spiders.platforms import PLATFORMS, UnresolvedUrl, resolve_url
from tests.fixtures import all_fixtures

# one valid handle per platform, from the saved responses
HANDLES = {}
for _fx in all_fixtures():
    if _fx.platform not in HANDLES and PLATFORMS[_fx.platform].normalise(_fx.handle) == _fx.handle:
        HANDLES[_fx.platform] = _fx.handle


def _variants(url: str) -> list[str]:
    """A link as people paste it: as given, with a trailing slash, a query, http, an upper-case host."""
    scheme, rest = url.split("://", 1)
    host, _, path = rest.partition("/")
    out = [url, url.rstrip("/") + "/", url + ("&" if "?" in url else "?") + "utm_source=share",
           f"http://{rest}", f"{scheme}://{host.upper()}/{path}"]
    return list(dict.fromkeys(out))


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_platform_reads_its_own_profile_links(name: str) -> None:
    platform = PLATFORMS[name]
    handle = HANDLES[name]
    for url in _variants(platform.profile_url(handle)):
        assert resolve_url(url) == (name, handle), url


@pytest.mark.parametrize("name", sorted(n for n, p in PLATFORMS.items() if p.hosts))
def test_at_user_on_a_platforms_host_never_goes_to_another_platform(name: str) -> None:
    """`host/@user` is Mastodon's pattern; on a host a platform owns, only that platform may read it."""
    for domain in PLATFORMS[name].hosts:
        for sub in ("", "www.", "m.", "mobile."):
            for path in ("@someone", "@someone/videos", "@someone@mastodon.social"):
                url = f"https://{sub}{domain}/{path}"
                try:
                    got, _ = resolve_url(url)
                except UnresolvedUrl as exc:
                    assert PLATFORMS[name].title in str(exc), (url, str(exc))
                    continue
                assert got == name, f"{url} resolved to {got}"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://www.youtube.com/@somechannel", ("youtube", "@somechannel")),
    ("https://m.youtube.com/@somechannel", ("youtube", "@somechannel")),
    ("https://www.tiktok.com/@somename", ("tiktok", "somename")),
    ("https://mastodon.social/@Gargron", ("mastodon", "gargron@mastodon.social")),
    ("https://fosstodon.org/@someone/", ("mastodon", "someone@fosstodon.org")),
    ("https://mastodon.social/@someone@fosstodon.org", ("mastodon", "someone@fosstodon.org")),
])
def test_examples_from_the_field(url: str, expected: tuple[str, str]) -> None:
    assert resolve_url(url) == expected


@pytest.mark.parametrize(("url", "says"), [
    ("https://www.threads.net/@someone", "Threads"),
    ("https://threads.com/@someone", "Threads"),
    ("https://medium.com/@someone", "Medium"),
    ("https://127.0.0.1/@someone", "cannot be a fediverse server"),
    ("https://localhost/@someone", "cannot be a fediverse server"),
    ("https://www.youtube.com/watch?v=abc", "YouTube URL but not a profile"),
    ("https://example.org/people/someone", "cannot read an account"),
])
def test_unreadable_urls_say_why_and_which_forms_work(url: str, says: str) -> None:
    with pytest.raises(UnresolvedUrl) as err:
        resolve_url(url)
    assert says in str(err.value)


def _problems(text: str) -> list[str]:
    with pytest.raises(InvalidWatchlist) as err:
        parse(text, "watchlist.yaml")
    return [str(p) for p in err.value.problems]


def test_watchlist_url_entries_resolve_to_the_owner_or_fail_with_file_line_field() -> None:
    wl = parse("accounts:\n"
               "  - url: https://www.youtube.com/@somechannel\n"
               "  - url: https://m.youtube.com/@otherchannel\n"
               "  - url: https://www.tiktok.com/@somename\n"
               "  - name: Outlet\n"
               "    accounts:\n"
               "      youtube: https://www.youtube.com/@outletchannel\n"
               "      mastodon: https://mastodon.social/@outlet\n", "watchlist.yaml")
    assert [a.key for a in wl.accounts] == ["youtube:@somechannel", "youtube:@otherchannel", "tiktok:somename",
                                            "youtube:@outletchannel", "mastodon:outlet@mastodon.social"]
    problems = _problems("accounts:\n"
                         "  - url: https://www.threads.net/@someone\n"
                         "  - {platform: mastodon, url: https://www.youtube.com/@somechannel}\n"
                         "  - name: Outlet\n"
                         "    accounts:\n"
                         "      mastodon: https://www.tiktok.com/@somename\n")
    assert problems[0].startswith("watchlist.yaml:2: url: www.threads.net is Threads, which banwatch does not watch")
    assert "YouTube: https://www.youtube.com/@{handle}" in problems[0]  # says which URL forms are accepted
    assert problems[1].startswith("watchlist.yaml:3: url: www.youtube.com is YouTube's, not Mastodon's")
    assert problems[2].startswith("watchlist.yaml:6: accounts.mastodon: www.tiktok.com is TikTok's, not Mastodon's")


# -- the server an open-network account is asked at: the same rules wherever a user@instance comes from ----

BAD_SERVERS = sorted({f"www.{d}" for p in PLATFORMS.values() for d in p.hosts} | {
    "threads.net", "pinterest.co.uk", "127.0.0.1", "127.1", "0x7f.0.0.1", "10.1", "169.254.169.254", "[::1]",
    "printer.local", "metadata.internal", "router.home.arpa", "hidden.onion", "-bad-.example.org"})


@pytest.mark.parametrize("server", BAD_SERVERS)
def test_every_way_of_naming_a_fediverse_account_refuses_a_server_it_may_not_ask(server: str) -> None:
    """A handle, an entity link, a canary and the remote part of a URL all go through one check."""
    bare = server.strip("[]")
    ways = [(f"  - {{platform: mastodon, handle: \"someone@{bare}\"}}\n", 2),
            (f"  - url: \"https://mastodon.social/@someone@{bare}\"\n", 2),
            (f"  - name: Outlet\n    accounts: {{mastodon: \"someone@{bare}\"}}\n", 3)]
    for way, line in ways:
        problems = _problems("accounts:\n" + way)
        assert problems and problems[0].startswith(f"watchlist.yaml:{line}:"), (way, problems)
    canary = _problems(f"platforms:\n  mastodon: {{canaries: {{active: \"x@{bare}\"}}}}\naccounts: []\n")
    assert canary and canary[0].startswith("watchlist.yaml:2:"), canary
    assert parse("accounts:\n  - {platform: mastodon, handle: someone@fosstodon.org}\n", "w.yaml").accounts, \
        "control: a plausible server is accepted"


@pytest.mark.parametrize("text", [
    "accounts:\n  - url: \"https://[mastodon.social/@someone\"\n",
    "accounts:\n  - name: E\n    accounts: {bilibili: \"space.bilibili.com]/2\"}\n",
    "accounts:\n  - {platform: douyin, handle: \"www.douyin.com]/user/x\"}\n",
    "accounts:\n  - url: {a: b}\n",
    "accounts:\n  - url: [\"https://mastodon.social/@someone\"]\n",
    "accounts:\n  - url: \"javascript://mastodon.social/@someone\"\n",
    "accounts:\n  - url: \"ftp://www.youtube.com/@someone\"\n",
])
def test_malformed_urls_are_file_line_errors_without_a_traceback(tmp_path: Path, text: str) -> None:
    from click.testing import CliRunner

    from banwatch.monitor.cli import cli

    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--watchlist", str(path), "validate"])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert f"{path}:2:" in result.stderr or f"{path}:3:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_www_before_a_fediverse_server_is_the_same_account() -> None:
    problems = _problems("accounts:\n  - url: https://www.mastodon.social/@Gargron\n"
                         "  - {platform: mastodon, handle: gargron@mastodon.social}\n")
    assert problems == ["watchlist.yaml:3: handle: duplicate account mastodon:gargron@mastodon.social "
                        "(first declared on line 2)"]


def test_entity_links_are_read_like_url_entries() -> None:
    wl = parse("accounts:\n  - name: E\n    accounts:\n      x: \"x.com/jack\"\n"
               "      youtube: \" https://www.youtube.com/@name\"\n      mastodon: \"HTTPS://mastodon.social/@me\"\n"
               "      reddit: u/spez\n", "watchlist.yaml")
    assert [a.key for a in wl.accounts] == ["x:jack", "youtube:@name", "mastodon:me@mastodon.social", "reddit:spez"]


def test_fediverse_web_and_percent_encoded_forms() -> None:
    assert resolve_url("https://mastodon.social/web/@Gargron") == ("mastodon", "gargron@mastodon.social")
    assert resolve_url("https://mastodon.social/%40Gargron") == ("mastodon", "gargron@mastodon.social")
