"""Apprise: every service the `apprise` library supports (Discord, Microsoft Teams, Telegram, Matrix, e-mail,
ntfy, plain JSON webhooks...) as an `alerts.routes` target: at least once, no threads, no waves.

A route `{tags: [crypto], apprise: DISCORD_CRYPTO}` puts its alerts in the outbox under the channel
`apprise:DISCORD_CRYPTO`; the dispatcher sends them through an AppriseNotifier, which reads the Apprise URL
from the environment variable DISCORD_CRYPTO at each send. The URL is a secret (it carries the service's
token): it lives only in the environment, its variable is registered with monitor.redact so every log line
(Apprise logs through the `apprise` logger, urllib3 through its own), stored error and message is masked of
it and of its pieces, and no error text this module builds quotes it.

Apprise cannot say whether a message reached the service when its answer is lost, and no service here can be
asked for its messages: a failed send is sent again after the outbox's backoff (`exact` False), so a lost
answer can mean a message appears twice. Apprise's own retries are off (its default): the outbox retries,
backs off and gives up, as for Slack.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Mapping

from banwatch.alerts.notifier import Delivery, Mark, Message
from banwatch.monitor.redact import current as redactor
from banwatch.monitor.redact import register_secret_vars
from banwatch.monitor.watchlist.settings import APPRISE_PREFIX

ERROR_MAX = 300  # characters of Apprise's own warnings kept as a failed row's reason
_MENTION = re.compile(r"@(everyone|here|channel|room|all)\b", re.I)


def is_apprise(channel: str | None) -> bool:
    """Whether the outbox channel `channel` is an Apprise target (`apprise:VAR`)."""
    return bool(channel) and str(channel).startswith(APPRISE_PREFIX)


def _plain(text: str) -> str:
    """Slack-escaped text made plain for other services; mass mentions and markdown links in it disarmed
    (everything in an alert that comes from a platform is untrusted)."""
    text = html.unescape(text)
    text = _MENTION.sub(lambda m: "@\u200b" + m.group(1), text)  # a zero-width space: shown, never a ping
    text = text.replace("<@", "<\u200b@").replace("<#", "<\u200b#").replace("<!", "<\u200b!")
    return text.replace("[", "\\[").replace("]", "\\]")  # no `[label](url)` link can be forged


def title_and_body(message: Message) -> tuple[str, str]:
    """The alert as (title, markdown body): the title is the message's header (or its first part), the body its
    other parts, one a line."""
    parts = [p.strip() for p in message.text.split(" | ") if p.strip()]
    header = next((b["text"]["text"] for b in message.blocks
                   if b.get("type") == "header" and isinstance(b.get("text"), dict)), None)
    if header is None:
        header = parts.pop(0) if len(parts) > 1 else "banwatch"
    elif parts and html.unescape(parts[0]) == header:
        parts.pop(0)
    return _plain(header), "\n\n".join(_plain(p) for p in parts) or _plain(header)


class _Collect(logging.Handler):
    """Keeps the WARNING and ERROR lines Apprise logs during one send: Apprise says why a notification failed
    only in its log. (One delivery pass runs at a time: the delivery lease.)"""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a bad format string in a library's log call
            self.lines.append(str(record.msg))


class AppriseNotifier:
    """Sends to the Apprise URL in the environment variable a channel `apprise:VAR` names: at least once
    (`exact` False: it cannot find its messages again), plain messages (`threads` False: no waves).

    `env`: where the URLs are read (os.environ when None), at each send."""

    name = "apprise"
    threads = False  # no replies, no updates: every alert is its own message
    exact = False  # a lost answer means sending again: at least once

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = env

    def _url(self, channel: str) -> tuple[str, str | None]:
        var = channel[len(APPRISE_PREFIX):] if is_apprise(channel) else channel
        register_secret_vars([var])  # masked even when no watchlist named it (a row from an older watchlist)
        env = os.environ if self.env is None else self.env
        return var, (env.get(var) or "").strip() or None

    def send(self, channel: str, message: Message, *, mark: Mark | None = None,
             thread_ts: str | None = None) -> Delivery:
        """Notify the service whose Apprise URL is in the variable `channel` names (`apprise:VAR`) with the
        alert's title and markdown body (`mark` and `thread_ts` are ignored). Delivery.sent() without ts when
        Apprise says it was sent; otherwise failed with a redacted reason that never quotes the URL. Never raises."""
        var, url = self._url(channel)
        if url is None:
            return Delivery.failed(f"environment variable {var} is not set: it must hold the Apprise URL "
                                   f"for route apprise: {var}")
        try:
            import apprise
        except ImportError:  # pragma: no cover - a dependency of banwatch
            return Delivery.failed("the apprise library is not installed (pip install apprise)")
        collect = _Collect()
        logger = logging.getLogger("apprise")
        level, propagate = logger.level, logger.propagate
        if logger.getEffectiveLevel() > logging.WARNING:  # `--log-level error`: still hear why, show nothing more
            logger.setLevel(logging.WARNING)
            logger.propagate = False
        logger.addHandler(collect)
        try:
            service = apprise.Apprise()
            if not service.add(url):
                return Delivery.failed(f"the value of {var} is not an Apprise URL Apprise understands "
                                       "(see https://github.com/caronc/apprise/wiki)")
            title, body = title_and_body(message)
            ok = service.notify(body=body, title=title, body_format=apprise.NotifyFormat.MARKDOWN)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must fail the row, not the pass
            return Delivery.failed(self._reason(var, [f"{type(exc).__name__}: {exc}"]))
        finally:
            logger.removeHandler(collect)
            logger.setLevel(level)
            logger.propagate = propagate
        if ok:
            return Delivery.sent()
        return Delivery.failed(self._reason(var, collect.lines))

    @staticmethod
    def _reason(var: str, lines: list[str]) -> str:
        said = " ".join(" ".join(line.split()) for line in lines) or "no reason given"
        said = redactor().text(said)  # redacted before it is cut: half a secret is still a secret
        if len(said) > ERROR_MAX:
            said = said[:ERROR_MAX - 1] + "…"
        return f"Apprise ({var}) could not send: {said}"

    def update(self, channel: str, channel_id: str | None, ts: str, message: Message) -> Delivery:
        """Always a failed Delivery: Apprise services cannot update a posted message."""
        return Delivery.failed("Apprise services cannot update messages")

    def find(self, channel: str, channel_id: str | None, mark: Mark, attempted_at: float,
             thread_ts: str | None = None, offset: float = 0.0, margin: float = 600.0) -> str | None:
        """Always None: Apprise cannot read a service's messages back (at least once, not exactly once)."""
        return None
