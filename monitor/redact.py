"""Secrets never leave the process: one redaction used by every log handler, every stored error text and
every message body.

A secret is the value of SLACK_BOT_TOKEN, SLACK_WEBHOOK_URL, each platform credential (secrets_from_env),
each proxy URL the HTTP clients read (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, upper or lower case), each entry
of a BANWATCH_<PLATFORM>_PROXY with its userinfo, password and host:port (settings.proxy_secrets), the
userinfo of a BANWATCH_<PLATFORM>_BASE_URL, and the value of every variable registered with
`register_secret_vars` (the Apprise URLs `alerts.routes` name: each piece of such a URL — userinfo, user,
password, every path segment and query value, a host that is a token rather than a name — is a secret on
its own, since Apprise and urllib3 log them apart). Each is replaced, wherever it appears, in the forms a library
may print it in: raw, without its scheme (`hooks.slack.com/services/...`), its path alone (the token part
of a webhook), its last path segment, its userinfo and password, URL-encoded, JSON-escaped and as HTTP
Basic credentials. Slack tokens (`xox?-...`, `xapp-...`) and webhook URLs are replaced by pattern too,
whoever set them. Values shorter than 4 characters (and derived forms shorter than 6) are left alone:
replacing them would garble every line without protecting anything.

`install()` puts a RedactingFilter on the root logger's handlers, so a record from any logger (slack-sdk,
Scrapy, urllib3...) at any level is formatted, redacted (message, arguments, exception and stack text) and
only then written.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from banwatch.monitor.registry import Registry
from banwatch.monitor.registry import current as current_registry

MASK = "<secret>"
MIN_SECRET = 4
MIN_FORM = 6
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")
# Only the test that proves the filter is needed sets this; it switches the log filter off, nothing else.
NO_LOG_FILTER = "_BANWATCH_TEST_NO_LOG_REDACTION"

_SECRET_VARS: set[str] = set()  # environment variables whose whole value is a secret URL (register_secret_vars)

_PATTERNS = [
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{6,}", re.I),  # Slack bot/user/app/legacy tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{6,}", re.I),
    re.compile(r"(hooks\.slack(?:-gov)?\.com(?:/|%2F)+services(?:/|%2F)+)[^\s\"'<>]+", re.I),
]


def secrets_in_env(env: Mapping[str, str] | None = None, registry: Registry | None = None) -> list[str]:
    """Every secret value set in `env` (os.environ by default); the platforms' variables are those of
    `registry` (monitor.registry; the installed one when None)."""
    from banwatch.monitor.settings import base_url_var, proxy_secrets, proxy_var, secrets_from_env, split_proxies

    env = os.environ if env is None else env
    values = [env.get("SLACK_BOT_TOKEN", ""), env.get("SLACK_WEBHOOK_URL", "")]
    redis_url = env.get("BANWATCH_REDIS_URL", "").strip()  # its password: masked with the URL that carries it
    if _userinfo(redis_url):
        values += [redis_url, _userinfo(redis_url), *url_pieces(redis_url)]
    values += secrets_from_env(env, registry).values()
    values += [env.get(name, "") for name in PROXY_VARS]
    for name in sorted(_SECRET_VARS):
        url = env.get(name, "").strip()
        if url:
            values += [url, *url_pieces(url)]
    for name in current_registry(registry).platforms:
        base = env.get(base_url_var(name), "")
        userinfo = _userinfo(base)
        if userinfo:  # only the credentials: the host itself is shown on purpose (`banwatch validate`)
            values.append(userinfo)
        for proxy in split_proxies(env.get(proxy_var(name), "")):  # read leniently: a bad value is a secret too
            values += proxy_secrets(proxy)
    return [v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET]


def register_secret_vars(names: Iterable[str]) -> None:
    """Treat the values of the environment variables `names` as secret URLs from now on (the Apprise URLs the
    watchlist's `alerts.routes` name by variable): every log line, stored error and message is redacted of
    them, and of each of their pieces (url_pieces)."""
    _SECRET_VARS.update(n for n in names if n)


def url_pieces(url: str) -> list[str]:
    """The pieces of a service URL that can be secrets on their own: its userinfo, user and password, each path
    segment, each query value, and its host when it is a token (no dot, not localhost: `discord://ID/TOKEN`,
    `tgram://BOTTOKEN/CHAT`). Pieces shorter than MIN_FORM are left out (too short to mask safely)."""
    parts = _split(url)
    pieces = [unquote(p) for p in parts.path.split("/")]
    pieces += [unquote(v) for _, _, v in (q.partition("=") for q in parts.query.split("&"))]
    userinfo, _, host = parts.netloc.rpartition("@")
    if userinfo:
        user, _, password = userinfo.partition(":")
        pieces += [userinfo, unquote(user), unquote(password)]
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if "." not in host and hostname.lower() != "localhost":
        pieces += [unquote(host), unquote(hostname)]  # `tgram://123:TOKEN/...`: the whole host is the token
    return [p for p in dict.fromkeys(pieces) if len(p) >= MIN_FORM]


def _userinfo(url: str) -> str:
    netloc = _split(url).netloc
    return netloc.rpartition("@")[0] if "@" in netloc else ""


def _split(value: str) -> Any:
    try:
        return urlsplit(value if "://" in value else "//" + value)
    except ValueError:
        return urlsplit("")


def forms(secret: str) -> set[str]:
    """The ways `secret` can appear in a log line, an exception or a stored error."""
    out = {secret}
    parts = _split(secret)
    if parts.netloc or "/" in secret:
        rest = secret.split("://", 1)[1] if "://" in secret else secret
        out.add(rest)  # without its scheme
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(path.strip("/")) >= MIN_FORM:
            out.add(path)  # the path alone: a webhook's token part
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if len(last) >= MIN_FORM:
            out.add(last)
        userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
        if userinfo:
            out.add(userinfo)
            password = userinfo.partition(":")[2]
            if len(password) >= MIN_SECRET:
                out.add(password)
    if ":" in secret and "/" not in secret:  # user:password (a base URL's userinfo)
        password = secret.partition(":")[2]
        if len(password) >= MIN_SECRET:
            out.add(password)
    for piece in re.split(r";\s*", secret):  # a cookie: each value on its own
        value = piece.partition("=")[2] if "=" in piece else ""
        if len(value) >= MIN_FORM + 2:
            out.add(value)
    for form in list(out):
        out.update({quote(form, safe=""), quote(form), quote_plus(form), form.replace("/", "\\/")})
        if ":" in form and "/" not in form:
            out.add(base64.b64encode(form.encode()).decode())  # HTTP Basic credentials
    return {f for f in out if len(f) >= (MIN_SECRET if f == secret else MIN_FORM)}


class Redactor:
    """`Redactor(secrets).text(s)`: `s` with every form of every secret, and every Slack token, masked."""

    def __init__(self, secrets: Iterable[str]) -> None:
        every = sorted({f for s in secrets if s and len(s) >= MIN_SECRET for f in forms(s)}, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, every)), re.I) if every else None

    def text(self, s: Any) -> str:
        """`s` (any value; None -> '') as text with every known secret, and every Slack token or webhook URL by
        pattern, replaced by MASK."""
        s = "" if s is None else str(s)
        if self.pattern is not None:
            s = self.pattern.sub(MASK, s)
        for pattern in _PATTERNS:
            s = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, s)
        return s

    def value(self, v: Any) -> Any:
        """Every string inside `v` (a message's blocks: dicts and lists) redacted."""
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(self.value(x) for x in v)
        return v


@lru_cache(maxsize=8)
def _cached(secrets: tuple[str, ...]) -> Redactor:
    return Redactor(secrets)


def current(env: Mapping[str, str] | None = None) -> Redactor:
    """The redactor for the secrets set now (rebuilt only when they change)."""
    return _cached(tuple(sorted(set(secrets_in_env(env)))))


def redact(s: Any) -> str:
    """`s` without any secret set in the environment: for every error text that is stored or printed."""
    return current().text(s)


class RedactingFilter(logging.Filter):
    """On a handler: the record's message is formatted, redacted and put back (msg, no args), and its
    exception and stack text replaced by redacted text, before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place: its message formatted with its arguments, its exception and stack text. Always
        True (the record is kept, redacted)."""
        r = current()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep what there is, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = r.text(message), ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = r.text(record.exc_text)
        if record.stack_info:
            record.stack_info = r.text(record.stack_info)
        return True


def install(root: logging.Logger | None = None) -> None:
    """Put the filter on every handler of the root logger (once each), and redact uncaught tracebacks."""
    if os.environ.get(NO_LOG_FILTER) == "1":
        return
    root = root or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if not getattr(sys.excepthook, "redacting", False):
        previous = sys.excepthook

        def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
            import traceback

            sys.stderr.write(redact("".join(traceback.format_exception(kind, exc, tb))))

        hook.redacting = True  # type: ignore[attr-defined]
        hook.previous = previous  # type: ignore[attr-defined]
        sys.excepthook = hook
