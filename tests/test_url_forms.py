"""Every platform reads the profile links people paste, and only those, on every domain it claims.

Each test walks every platform its kind applies to (a platform with no row fails, so a new platform has to
decide): profile links on every subdomain and country domain a platform claims; path keywords in any case and a
trailing dot on the host; site pages whose first path segment is not an account; paths that name an id form
accepting only that form; post links reading as their author only when the author is in the path. The last test
reads the table in docs/watchlist.md and checks that every link it lists resolves (or is refused) as it says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from banwatch.spiders.platforms import PLATFORMS, UnresolvedUrl, resolve_url

OWNING = sorted(name for name, p in PLATFORMS.items() if p.hosts)

# one valid handle per platform, as written in a link
NAME = {"weibo": "1234567890", "reddit": "spez", "bluesky": "alice.bsky.social", "x": "jack",
        "youtube": "UCBR8-60-B28hp2BmDPdntcQ", "telegram": "durov", "tiktok": "somename", "twitch": "ninja",
        "instagram": "natgeo", "bilibili": "2", "facebook": "zuck",
        "douyin": "MS4wLjABAAAAw-ZZkQBLr4Zc7xEJr3sTqWnYuP0aGxKbLmNoPqRs"}
CHANNEL, AT = NAME["youtube"], "somechannel"  # a YouTube channel id and a YouTube @handle
FB_ID = "100012345678901"


def _read(url: str) -> tuple[str, str] | None:
    try:
        return resolve_url(url)
    except UnresolvedUrl:
        return None


def _check(name: str, rows: list[tuple[str, str | None]]) -> None:
    """Each URL resolves to (name, handle), or is refused (None); all mismatches reported at once."""
    wrong = []
    for url, handle in rows:
        got = _read(url)
        expected = (name, handle) if handle is not None else None
        if got != expected:
            wrong.append(f"{url}: {got} (expected {expected})")
    assert not wrong, "\n".join(wrong)


def _rows(table: dict[str, list[tuple[str, str | None]]], name: str) -> list[tuple[str, str | None]]:
    assert name in table, f"{name} has no rows here: decide how its links read"
    return [(url.format(h=NAME[name], c=CHANNEL, a=AT, id=FB_ID), handle and handle.format(
        h=NAME[name], c=CHANNEL, a=AT, id=FB_ID)) for url, handle in table[name]]


# 1. Profile links on every subdomain and domain a platform claims (`hosts`), and the subdomains that serve no
#    profile (the creator's dashboard, developer sites, clip slugs, corporate sites) refused.
OWNED_DOMAINS: dict[str, list[tuple[str, str | None]]] = {
    "weibo": [("https://weibo.com/u/{h}", "{h}"), ("https://www.weibo.com/{h}", "{h}"),
              ("https://m.weibo.cn/u/{h}", "{h}"), ("https://weibo.cn/u/{h}", "{h}"),
              ("https://m.weibo.cn/profile/{h}", "{h}"), ("https://d.weibo.com/1028039", None)],
    "reddit": [("https://m.reddit.com/u/{h}", "{h}"), ("https://sh.reddit.com/user/{h}", "{h}"),
               ("https://old.reddit.com/user/{h}/", "{h}"), ("https://amp.reddit.com/user/{h}", "{h}"),
               ("https://i.reddit.com/u/{h}", "{h}"), ("https://redd.it/abc123", None)],
    "bluesky": [("https://bsky.app/profile/{h}", "{h}"), ("https://www.bsky.app/profile/{h}", "{h}")],
    "x": [("https://x.com/{h}", "{h}"), ("https://mobile.x.com/{h}", "{h}"), ("https://m.twitter.com/{h}", "{h}"),
          ("https://www.twitter.com/{h}", "{h}"), ("https://twitter.com/{h}", "{h}"),
          ("https://api.x.com/2/users", None), ("https://help.x.com/en/rules", None),
          ("https://blog.x.com/en_us/topics", None), ("https://analytics.twitter.com/user/jack/tweets", None),
          ("https://platform.twitter.com/embed/Tweet.html", None)],
    "youtube": [("https://music.youtube.com/channel/{c}", "{c}"), ("https://m.youtube.com/@{a}", "@{a}"),
                ("https://www.youtubekids.com/channel/{c}", "{c}"), ("https://www.youtube.co.uk/@{a}", "@{a}"),
                ("https://youtube.de/channel/{c}", "{c}"), ("https://www.youtube.fr/@{a}", "@{a}"),
                ("https://www.youtube.es/@{a}", "@{a}"), ("https://www.youtube.it/@{a}", "@{a}"),
                ("https://www.youtube.nl/@{a}", "@{a}"), ("https://www.youtube.pl/@{a}", "@{a}"),
                ("https://www.youtube.be/@{a}", "@{a}"), ("https://www.youtube.at/@{a}", "@{a}"),
                ("https://www.youtube.ch/@{a}", "@{a}"), ("https://www.youtube.ie/@{a}", "@{a}"),
                ("https://www.youtube.ca/@{a}", "@{a}"), ("https://www.youtube.com.au/@{a}", "@{a}"),
                ("https://www.youtube.com.br/@{a}", "@{a}"), ("https://www.youtube.com.mx/@{a}", "@{a}"),
                ("https://www.youtube.co.in/@{a}", "@{a}"), ("https://www.youtube.jp/@{a}", "@{a}"),
                ("https://studio.youtube.com/channel/{c}", None), ("https://youtu.be/@{a}", None),
                ("https://www.youtube-nocookie.com/@{a}", None)],
    "telegram": [("https://t.me/{h}", "{h}"), ("https://www.t.me/{h}", "{h}"), ("https://telegram.me/{h}", "{h}"),
                 ("https://www.telegram.dog/{h}", "{h}"), ("https://{h}.t.me", "{h}"),
                 ("https://web.t.me/{h}", None), ("https://boost.t.me/{h}", None)],
    "tiktok": [("https://www.tiktok.com/@{h}", "{h}"), ("https://m.tiktok.com/@{h}", "{h}"),
               ("https://us.tiktok.com/@{h}", "{h}")],
    "twitch": [("https://www.twitch.tv/{h}", "{h}"), ("https://m.twitch.tv/{h}", "{h}"),
               ("https://go.twitch.tv/{h}", "{h}"), ("https://clips.twitch.tv/FunnyClipSlug", None),
               ("https://dev.twitch.tv/docs", None), ("https://blog.twitch.tv/en/", None),
               ("https://api.twitch.tv/helix/users", None), ("https://dashboard.twitch.tv/u/{h}", None)],
    "instagram": [("https://www.instagram.com/{h}/", "{h}"), ("https://m.instagram.com/{h}", "{h}"),
                  ("https://instagr.am/{h}", "{h}"), ("https://www.instagr.am/{h}/", "{h}"),
                  ("https://help.instagram.com/581066165581870", None), ("https://about.instagram.com/blog", None),
                  ("https://business.instagram.com/advertising", None)],
    "bilibili": [("https://space.bilibili.com/{h}", "{h}"), ("https://m.bilibili.com/space/{h}", "{h}"),
                 ("https://www.bilibili.com/space/{h}", "{h}"), ("https://b23.tv/space/{h}", None)],
    "facebook": [("https://de-de.facebook.com/{h}", "{h}"), ("https://m.facebook.com/{h}", "{h}"),
                 ("https://mbasic.facebook.com/{h}", "{h}"), ("https://web.facebook.com/{h}", "{h}"),
                 ("https://free.facebook.com/{h}", "{h}"), ("https://www.fb.com/{h}", "{h}"),
                 ("https://www.facebook.co.uk/{h}", "{h}"), ("https://facebook.de/{h}", "{h}"),
                 ("https://www.facebook.fr/{h}", "{h}"), ("https://www.facebook.it/{h}", "{h}"),
                 ("https://www.facebook.es/{h}", "{h}"), ("https://www.facebook.nl/{h}", "{h}"),
                 ("https://developers.facebook.com/docs", None), ("https://business.facebook.com/latest", None),
                 ("https://graph.facebook.com/v19.0", None), ("https://about.fb.com/news", None),
                 ("https://fb.me/{h}", None), ("https://fb.watch/abcDEF12/", None)],
    "douyin": [("https://www.douyin.com/user/{h}", "{h}"), ("https://douyin.com/user/{h}", "{h}"),
               ("https://m.douyin.com/user/{h}", "{h}"), ("https://www.iesdouyin.com/share/user/{h}", "{h}"),
               ("https://iesdouyin.com/share/user/{h}", "{h}")],
}


@pytest.mark.parametrize("name", OWNING)
def test_profile_links_on_every_domain_a_platform_claims(name: str) -> None:
    rows = _rows(OWNED_DOMAINS, name)
    _check(name, rows)
    hosts = {url.split("/")[2] for url, _ in rows}
    for domain in PLATFORMS[name].hosts:  # every claimed domain is tried
        assert any(h == domain or h.endswith("." + domain) for h in hosts), f"{name}: no link on {domain}"


# 2. Path keywords in any case, and a trailing dot on the host.
KEYWORD_CASE: dict[str, list[tuple[str, str | None]]] = {
    "weibo": [("https://weibo.com/U/{h}", "{h}"), ("https://m.weibo.cn/Profile/{h}", "{h}")],
    "reddit": [("https://reddit.com/U/{h}", "{h}"), ("https://www.reddit.com/USER/{h}", "{h}"),
               ("https://www.reddit.com/R/U_{h}", "{h}")],
    "bluesky": [("https://bsky.app/Profile/{h}", "{h}"), ("https://bsky.app/PROFILE/{h}/POST/3kabc", "{h}")],
    "x": [("https://x.com/HOME", None), ("https://x.com/I/web/status/1", None),
          ("https://x.com/Intent/Follow?screen_name={h}", "{h}"), ("https://twitter.com/Statuses/1", None)],
    "youtube": [("https://www.youtube.com/Channel/{c}", "{c}"), ("https://www.youtube.com/CHANNEL/{c}/videos", "{c}"),
                ("https://www.youtube.com/%40{a}", "@{a}")],
    "telegram": [("https://t.me/S/{h}", "{h}"), ("https://t.me/Boost/{h}", "{h}"), ("https://t.me/JoinChat/AbCd", None),
                 ("https://t.me/AddStickers/animals", None), ("https://t.me/GiftCode/abcdef", None)],
    "tiktok": [("https://www.tiktok.com/@SomeName", "{h}"), ("https://www.tiktok.com/%40{h}", "{h}")],
    "twitch": [("https://www.twitch.tv/Directory", None), ("https://www.twitch.tv/SUBS/{h}", "{h}"),
               ("https://www.twitch.tv/Videos/123", None)],
    "instagram": [("https://www.instagram.com/P/abc/", None), ("https://www.instagram.com/_U/{h}", "{h}"),
                  ("https://www.instagram.com/Stories/{h}/1", "{h}"), ("https://www.instagram.com/Reel/abc", None)],
    "bilibili": [("https://m.bilibili.com/SPACE/{h}", "{h}"), ("https://www.bilibili.com/Space/{h}", "{h}")],
    "facebook": [("https://www.facebook.com/Profile.php?id={id}", "{id}"),
                 ("https://www.facebook.com/PEOPLE/Some-Name/{id}/", "{id}"), ("https://www.facebook.com/PG/{h}", "{h}"),
                 ("https://www.facebook.com/Groups/somegroup", None), ("https://www.facebook.com/Watch/?v=1", None)],
    "douyin": [("https://www.douyin.com/USER/{h}", "{h}"), ("https://www.iesdouyin.com/Share/User/{h}", "{h}")],
}


@pytest.mark.parametrize("name", OWNING)
def test_path_keywords_in_any_case_and_a_trailing_dot_on_the_host(name: str) -> None:
    rows = _rows(KEYWORD_CASE, name)
    platform = PLATFORMS[name]
    handle = platform.normalise(NAME[name])
    assert handle is not None
    scheme, rest = platform.profile_url(handle).split("://", 1)
    host, _, path = rest.partition("/")
    rows.append((f"{scheme}://{host}./{path}", handle))  # www.youtube.com./channel/UC…
    _check(name, rows)


# 3. First path segments that are site pages, share or deep links, not account names; and the deep links that
#    name an account after a keyword.
SITE_PAGES: dict[str, list[tuple[str, str | None]]] = {
    "weibo": [("https://weibo.com/n/somename", None), ("https://weibo.com/p/1005051234567890/home", None),
              ("https://weibo.com/tv/show/1034:4900000000000000", None), ("https://s.weibo.com/weibo?q=x", None)],
    "reddit": [("https://www.reddit.com/r/pics", None), ("https://www.reddit.com/r/u_{h}", "{h}"),
               ("https://www.reddit.com/message/compose?to={h}", None), ("https://www.reddit.com/search?q=x", None)],
    "bluesky": [("https://bsky.app/hashtag/cats", None), ("https://bsky.app/search?q=cats", None),
                ("https://bsky.app/settings/account", None), ("https://bsky.app/profile/cats", None)],
    "x": [("https://twitter.com/statuses/1234567890", None), ("https://x.com/grok", None),
          ("https://x.com/i/flow/login", None), ("https://x.com/hashtag/cats", None),
          ("https://x.com/intent/follow?screen_name={h}", "{h}"), ("https://twitter.com/intent/user?screen_name={h}", "{h}"),
          ("https://x.com/intent/user?user_id=12", None), ("https://x.com/intent/post?text=hi", None)],
    "youtube": [("https://www.youtube.com/c/SomeName", None), ("https://www.youtube.com/user/SomeName", None),
                ("https://www.youtube.com/results?search_query=x", None), ("https://www.youtube.com/feed/trending", None),
                ("https://www.youtube.com/playlist?list=PL1234567890", None), ("https://www.youtube.com/hashtag/x", None)],
    "telegram": [("https://t.me/giftcode/ABCDEF", None), ("https://t.me/contact/ABCDEF", None),
                 ("https://t.me/nft/PlushPepe-1", None), ("https://t.me/m/abcdefgh", None),
                 ("https://t.me/addstyle/abcdef", None), ("https://t.me/auction/abcdef", None),
                 ("https://t.me/call/abcdef", None), ("https://t.me/$abcdefgh", None), ("https://t.me/+AbCdEf12", None),
                 ("https://t.me/joinchat/AbCdEf12", None), ("https://t.me/newbot/somebot/otherbot", None),
                 ("https://t.me/boost/{h}", "{h}"), ("https://t.me/boost?c=123", None), ("https://t.me/s/{h}", "{h}")],
    "tiktok": [("https://www.tiktok.com/tag/cats", None), ("https://www.tiktok.com/music/x-123", None),
               ("https://www.tiktok.com/discover/cats", None), ("https://www.tiktok.com/t/ZT8abc/", None)],
    "twitch": [("https://www.twitch.tv/subs/{h}", "{h}"), ("https://www.twitch.tv/embed/{h}/chat", "{h}"),
               ("https://www.twitch.tv/popout/{h}/chat?popout=", "{h}"), ("https://www.twitch.tv/moderator/{h}", "{h}"),
               ("https://player.twitch.tv/?channel={h}&parent=example.org", "{h}"),
               ("https://player.twitch.tv/?video=123", None), ("https://www.twitch.tv/team/someteam", None),
               ("https://www.twitch.tv/collections/abc123", None), ("https://www.twitch.tv/directory", None),
               ("https://www.twitch.tv/activate", None)],
    "instagram": [("https://www.instagram.com/_u/{h}", "{h}"), ("https://www.instagram.com/stories/{h}/3100", "{h}"),
                  ("https://www.instagram.com/s/aGlnaGxpZ2h0OjE3OTU1?story_media_id=1", None),
                  ("https://www.instagram.com/share/BAxyz123/", None), ("https://www.instagram.com/share/reel/Bxyz/", None),
                  ("https://www.instagram.com/stories/highlights/17983407089364361/", None),
                  ("https://www.instagram.com/ar/123456789/", None), ("https://www.instagram.com/explore/tags/cats/", None),
                  ("https://www.instagram.com/_n/mainfeed", None), ("https://www.instagram.com/your_activity/", None)],
    "bilibili": [("https://live.bilibili.com/21452505", None), ("https://www.bilibili.com/read/cv123", None),
                 ("https://b23.tv/abc123", None), ("https://space.bilibili.com/{h}/dynamic", "{h}")],
    "facebook": [("https://www.facebook.com/pg/SomePage/posts/", "somepage"),
                 ("https://www.facebook.com/video.php?v=123", None), ("https://www.facebook.com/notes/x/title/123", None),
                 ("https://www.facebook.com/tr?id=123", None), ("https://www.facebook.com/groups/somegroup", None),
                 ("https://www.facebook.com/events/123456", None), ("https://www.facebook.com/watch/?v=123", None),
                 ("https://www.facebook.com/flx/warn/?u=x", None)],
    "douyin": [("https://www.douyin.com/user/self", None), ("https://www.douyin.com/search/cats", None),
               ("https://v.douyin.com/iRNBho6/", None), ("https://www.douyin.com/discover", None)],
}


@pytest.mark.parametrize("name", OWNING)
def test_site_pages_are_never_read_as_an_account(name: str) -> None:
    _check(name, _rows(SITE_PAGES, name))


# 4. A path that names an id form accepts only that form: never another form's reading of the same text.
#    ([] where a platform's links name no id form.)
ID_FORMS: dict[str, list[tuple[str, str | None]]] = {
    "weibo": [("https://weibo.com/u/somename", None), ("https://m.weibo.cn/profile/somename", None)],
    "reddit": [],
    "bluesky": [("https://bsky.app/profile/did:plc:short", None), ("https://bsky.app/profile/DID%3Aplc%3Aabc", None),
                ("https://bsky.app/profile/did%3Aplc%3Aewvi7nxzyoun6zhxrhs64oiz", "did:plc:ewvi7nxzyoun6zhxrhs64oiz")],
    "x": [("https://x.com/intent/user?user_id=12345", None)],
    "youtube": [("https://www.youtube.com/channel/SomeName", None),
                ("https://www.youtube.com/channel/UCBR8-60-B28hp2BmDPdntcQX", None),  # 25 characters
                ("https://www.youtube.com/channel/ucbr8-60-b28hp2bmdpdntcq", None),  # ids are case-sensitive
                ("https://www.youtube.com/channel/@{a}", None), ("https://www.youtube.com/@{c}", "@" + CHANNEL.lower())],
    "telegram": [("https://t.me/c/1234567/89", None)],
    "tiktok": [],
    "twitch": [],
    "instagram": [],
    "bilibili": [("https://space.bilibili.com/somename", None), ("https://m.bilibili.com/space/somename", None)],
    "facebook": [("https://www.facebook.com/profile.php?id={h}", None), ("https://www.facebook.com/people/Name/{h}/", None),
                 ("https://www.facebook.com/pages/Name/{h}", None), ("https://www.facebook.com/p/Some-Name-{h}/", None),
                 ("https://www.facebook.com/profile.php?id={id}", "{id}"), ("https://www.facebook.com/pages/Name/{id}", "{id}"),
                 ("https://www.facebook.com/p/Some-Name-{id}/", "{id}"),
                 ("https://www.facebook.com/pages/category/Restaurant/Some-Name-{id}/", "{id}")],
    "douyin": [("https://www.douyin.com/user/1234567890", None), ("https://www.iesdouyin.com/share/user/1234567890", None)],
}


@pytest.mark.parametrize("name", OWNING)
def test_a_path_naming_an_id_form_accepts_only_that_form(name: str) -> None:
    _check(name, _rows(ID_FORMS, name))


# 5. A post or video link reads as its author when the author is in the path; without the author it is refused.
POSTS: dict[str, list[tuple[str, str | None]]] = {
    "weibo": [("https://weibo.com/{h}/N4xlMvjhI", "{h}"), ("https://m.weibo.cn/status/4900000000000000", None),
              ("https://m.weibo.cn/detail/4900000000000000", None)],
    "reddit": [("https://www.reddit.com/user/{h}/comments/abc123/title/", "{h}"),
               ("https://www.reddit.com/r/pics/comments/abc123/title/", None)],
    "bluesky": [("https://bsky.app/profile/{h}/post/3kabcdefgh22x", "{h}")],
    "x": [("https://x.com/{h}/status/1234567890", "{h}"), ("https://x.com/i/web/status/1234567890", None),
          ("https://twitter.com/statuses/1234567890", None)],
    "youtube": [("https://www.youtube.com/@{a}/shorts", "@{a}"), ("https://www.youtube.com/channel/{c}/community", "{c}"),
                ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", None), ("https://youtu.be/dQw4w9WgXcQ", None),
                ("https://www.youtube.com/shorts/dQw4w9WgXcQ", None), ("https://www.youtube.com/post/Ugkx123", None)],
    "telegram": [("https://t.me/{h}/123", "{h}"), ("https://t.me/s/{h}/123", "{h}"), ("https://t.me/{h}/s/5", "{h}"),
                 ("https://{h}.t.me/123", "{h}"), ("https://t.me/c/1234567/89", None)],
    "tiktok": [("https://www.tiktok.com/@{h}/video/7100000000000000000", "{h}"),
               ("https://vm.tiktok.com/ZMabc123/", None), ("https://www.tiktok.com/embed/v2/7100000000000000000", None)],
    "twitch": [("https://www.twitch.tv/{h}/clip/FunnyClipSlug", "{h}"), ("https://www.twitch.tv/{h}/videos", "{h}"),
               ("https://www.twitch.tv/videos/123456789", None), ("https://clips.twitch.tv/FunnyClipSlug", None)],
    "instagram": [("https://www.instagram.com/{h}/p/Cabc123/", "{h}"), ("https://www.instagram.com/{h}/reel/Cabc123/", "{h}"),
                  ("https://www.instagram.com/p/Cabc123/", None), ("https://www.instagram.com/reel/Cabc123/", None)],
    "bilibili": [("https://space.bilibili.com/{h}/video", "{h}"), ("https://www.bilibili.com/video/BV13x41117TL", None)],
    "facebook": [("https://www.facebook.com/{h}/posts/pfbid02abc", "{h}"), ("https://www.facebook.com/{h}/videos/123/", "{h}"),
                 ("https://www.facebook.com/permalink.php?story_fbid=1&id={id}", None),
                 ("https://www.facebook.com/reel/123456", None), ("https://www.facebook.com/story.php?story_fbid=1&id=4", None)],
    "douyin": [("https://www.douyin.com/user/{h}?modal_id=7100000000000000000", "{h}"),
               ("https://www.douyin.com/video/7100000000000000000", None)],
}


@pytest.mark.parametrize("name", OWNING)
def test_a_post_link_reads_as_its_author_only_when_the_author_is_in_the_path(name: str) -> None:
    _check(name, _rows(POSTS, name))


# The table under `## accounts` in docs/watchlist.md: every link it lists reads as it says.
DOC = (Path(__file__).resolve().parent.parent / "docs" / "watchlist.md").read_text(encoding="utf-8")
# what each placeholder stands for in the table; the account placeholders of each platform, and the rest
ACCOUNT_PLACEHOLDERS = {
    "weibo": {"UID": "1234567890"}, "reddit": {"NAME": "spez"},
    "bluesky": {"HANDLE": "alice.bsky.social", "DID": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"}, "x": {"NAME": "jack"},
    "youtube": {"CHANNEL_ID": CHANNEL, "HANDLE": AT}, "telegram": {"NAME": "durov"}, "tiktok": {"NAME": "somename"},
    "twitch": {"NAME": "ninja"}, "instagram": {"NAME": "natgeo"}, "bilibili": {"MID": "2"},
    "facebook": {"NAME": "zuck", "ID": FB_ID}, "douyin": {"SEC_UID": NAME["douyin"]},
}
OTHER_PLACEHOLDERS = {"NAME": "somename", "ID": FB_ID, "POST": "1234567", "VIDEO": "7100000000000000000",
                      "CODE": "ZMabc123", "INVITE": "AbCdEf12", "TAG": "cats", "SUB": "pics", "DISPLAY": "Some-Name"}
_PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9])[A-Z][A-Z_]*[A-Z](?![A-Za-z0-9])")


def _doc_rows() -> dict[str, tuple[list[str], list[str]]]:
    section = DOC.split("## `accounts`", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and (m := re.fullmatch(r"`([a-z]+)`", cells[0])):
            rows[m.group(1)] = (re.findall(r"`([^`]+)`", cells[2]), re.findall(r"`([^`]+)`", cells[3]))
    return rows


@pytest.mark.parametrize("name", OWNING)
def test_the_watchlist_doc_lists_each_platforms_links_as_they_read(name: str) -> None:
    rows = _doc_rows()
    assert name in rows, f"docs/watchlist.md has no row for {name}"
    understood, refused = rows[name]
    accounts = ACCOUNT_PLACEHOLDERS[name]
    assert understood and refused
    wrong = []
    for form in understood + refused:
        words = set(_PLACEHOLDER.findall(form))
        url = "https://" + _PLACEHOLDER.sub(lambda m: {**OTHER_PLACEHOLDERS, **accounts}.get(m.group(0), m.group(0)),
                                            form).replace("…", "x")
        if form in understood:
            (account,) = words & set(accounts)  # exactly one account placeholder in a profile form
            expected = (name, PLATFORMS[name].normalise(accounts[account]))
        else:
            expected = None
        if (got := _read(url)) != expected:
            wrong.append(f"{form} ({url}): {got}, the doc says {expected}")
    assert not wrong, "\n".join(wrong)
