"""Every profile URL goes to the platform that owns its host, never to a generic pattern of another.

A plain `- url:` of `https://www.youtube.com/@name` once validated as a Mastodon account on www.youtube.com
and stayed unknown forever. These tests walk every platform: its own profile links (and their common
variants) resolve to it, and `host/@user` on any host a platform owns never resolves elsewhere.
"""

from __future__ import annotations

import pytest

from monitor.errors import InvalidWatchlist
from monitor.watchlist import parse
from spiders.platforms import PLATFORMS, UnresolvedUrl, resolve_url
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
