"""Slack: the Web API through slack-sdk's WebClient (exactly once), or an incoming webhook (at least once).

Retries for connection errors and 5xx are slack-sdk's retry handlers, except for a post (chat.postMessage,
or any webhook post): it is not idempotent, so it is retried inside the call only when the request provably
never reached Slack (connection refused, a name that does not resolve, no route: `never_reached`). Any other
failure of a post (a reset or timeout after sending, a 5xx, an answer that is not Slack's JSON) may come
after Slack stored the message: the Delivery says `uncertain`, and the dispatcher looks for the message in
the channel's history before any new attempt instead of posting it blind. A 429 is retried inside the call only
when Slack asks for a short wait (Retry-After <= IN_CALL_WAIT_MAX_S, once); a longer one is returned to the
dispatcher at once, which records it on the row and holds the channel until then: slack-sdk's own
RateLimitErrorRetryHandler sleeps the whole Retry-After (an hour, if Slack says so) inside the call. Every
message posted with the bot token carries message metadata naming its alert or wave, which is how a
message interrupted by a crash is found again instead of posted twice.

Scopes (Slack names the granted ones in the `x-oauth-scopes` header of every Web API answer): posting
needs chat:write; finding an interrupted message again needs channels:history (public channels) or
groups:history (private ones), for conversations.history and conversations.replies alike. Without the
history scope the dispatcher sends an interrupted alert again: at least once (alerts/dispatch.py).
"""

from __future__ import annotations

import email.utils
import errno
import logging
import math
import random
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import HTTPRedirectHandler, HTTPSHandler, ProxyHandler, Request, build_opener

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from banwatch.alerts.notifier import Delivery, Mark, Message, NotifierError
from banwatch.monitor.redact import current as redactor
from banwatch.monitor.settings import SlackSettings

log = logging.getLogger(__name__)
IN_CALL_WAIT_MAX_S = 5.0  # the longest Retry-After waited out inside a call; longer ones go back to the outbox
# The bot-token scopes exactly-once delivery needs: (scope, what it is for, what happens without it).
SCOPES = (
    ("chat:write", "post alerts (chat.postMessage, chat.update)", "no alert can be posted"),
    ("channels:history", "find an interrupted post again in a public channel (conversations.history, "
                         "conversations.replies)",
     "an interrupted alert in a public channel is sent again: at least once, it may appear twice"),
    ("groups:history", "the same in a private channel",
     "an interrupted alert in a private channel is sent again: at least once, it may appear twice"),
)


def header_values(headers: Any, name: str) -> list[str] | None:
    """Every value of header `name` (any case) in a header mapping, or None when it is absent. slack-sdk
    gives a SlackResponse's headers as one string each and a retry handler's as lists."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    return None


def granted_scopes(headers: Any) -> set[str] | None:
    """The scopes Slack says the token has (the `x-oauth-scopes` header), or None if it did not say."""
    values = header_values(headers, "x-oauth-scopes")
    if values is None:
        return None
    return {s.strip() for s in ",".join(values).split(",") if s.strip()}


def retry_after(headers: Any) -> float | None:
    """Retry-After in seconds from a header mapping (values may be lists, as in slack-sdk's retry response),
    at most RETRY_AFTER_MAX_S; None when absent, negative, not a number or an HTTP date."""
    values = header_values(headers, "retry-after")
    if not values:
        return None
    try:
        seconds = float(values[0].strip())
    except ValueError:
        return None  # an HTTP date: Slack sends seconds; the dispatcher's backoff applies
    if not math.isfinite(seconds) or seconds < 0:
        return None if math.isnan(seconds) or seconds < 0 else RETRY_AFTER_MAX_S
    return min(seconds, RETRY_AFTER_MAX_S)


class ShortRateLimitRetryHandler(RetryHandler):
    """Retries a 429 inside the call once, only when Slack asks to wait at most `max_wait` seconds.

    A longer Retry-After is not retried here: slack-sdk returns (or raises) the 429 and the dispatcher keeps
    the alert pending until then, so neither `banwatch check` nor a delivery thread sleeps for an hour.
    """

    def __init__(self, max_wait: float = IN_CALL_WAIT_MAX_S) -> None:
        super().__init__(max_retry_count=1)
        self.max_wait = max_wait

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers)
        return wait is None or wait <= self.max_wait  # no Retry-After: slack-sdk's 1 s, once

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        """slack-sdk's hook before a retry: sleep the 429's Retry-After (1 s when it gives none), at most
        `max_wait` seconds, plus up to 0.2 s of jitter, then count the attempt."""
        wait = retry_after(response.headers if response is not None else {})
        state.next_attempt_requested = True
        time.sleep(min(self.max_wait, 1.0 if wait is None else wait) + random.random() * 0.2)  # never less
        state.increment_current_attempt()


_UNREACHED_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}
RETRY_AFTER_MAX_S = 86400.0  # a Retry-After is honoured up to a day (alerts.give_up's default); more is a day
HISTORY_PAGES_MAX = 25  # pages of conversations.history / .replies read to find one message (200 each)
# The errors Slack documents for chat.postMessage, and its common Web API errors, that say the post was
# refused: nothing was stored (api.slack.com/methods/chat.postMessage, "Errors"; the common errors on every
# method page). Not here, so in doubt: internal_error and fatal_error ("It's possible some aspect of the
# operation succeeded before the error was raised"), service_unavailable, and any code not documented.
REFUSALS = frozenset("""
    as_user_not_supported attachment_payload_limit_exceeded cannot_reply_to_message channel_is_archived
    channel_not_found duplicate_channel_not_found duplicate_message_not_found ekm_access_denied invalid_blocks
    invalid_blocks_format invalid_metadata_format invalid_metadata_schema is_archived message_limit_exceeded
    messages_tab_disabled metadata_must_be_sent_from_app metadata_too_large msg_blocks_too_long msg_too_long
    no_text not_in_channel rate_limited ratelimited restricted_action restricted_action_non_threadable_channel
    restricted_action_read_only_channel restricted_action_thread_locked restricted_action_thread_only_channel
    slack_connect_canvas_sharing_blocked slack_connect_file_link_sharing_blocked team_access_not_granted
    too_many_attachments too_many_contact_cards invalid_attachments missing_file_data
    access_denied accesslimited account_inactive deprecated_endpoint enterprise_is_restricted invalid_arg_name
    invalid_arguments invalid_array_arg invalid_auth invalid_charset invalid_form_data invalid_post_type
    method_deprecated missing_post_type missing_scope no_permission not_allowed_token_type not_authed
    org_login_required request_timeout team_added_to_org token_expired token_revoked two_factor_setup_required
""".split())


def never_reached(error: BaseException | None) -> bool:
    """True when `error` proves a request never reached Slack: the connection was refused, the host name did
    not resolve, or there was no route to it (urllib raises these as URLError while connecting). Anything
    else — an answer (HTTPError), a reset, a timeout, a remote disconnect — may come after Slack read the
    whole request, so for a post the outcome is unknown."""
    if error is None or isinstance(error, HTTPError):
        return False
    reason: Any = error.reason if isinstance(error, URLError) else error
    if isinstance(reason, socket.gaierror):
        return True
    return isinstance(reason, OSError) and reason.errno in _UNREACHED_ERRNOS


def posts_message(url: str) -> bool:
    """A Web API call that posts a new message: sending it twice posts it twice."""
    return url.split("?", 1)[0].rstrip("/").endswith("/chat.postMessage")


class _PostSafe:
    """Mixed into a slack-sdk retry handler: a post (as `posts` says of the request's URL) is retried only
    when it never reached Slack; every other call as the handler decides."""

    posts: Callable[[str], bool] = staticmethod(posts_message)

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if self.posts(request.url) and not never_reached(error):
            return False
        return super()._can_retry(state=state, request=request, response=response,  # type: ignore[misc]
                                  error=error)


class PostSafeConnectionErrorRetryHandler(_PostSafe, ConnectionErrorRetryHandler):
    """slack-sdk's connection-error retries, never for a post that may have reached Slack."""


class PostSafeServerErrorRetryHandler(_PostSafe, ServerErrorRetryHandler):
    """slack-sdk's 5xx retries, never for a post: a 500 may come after Slack stored the message."""


def _retry_handlers(posts: Callable[[str], bool] = posts_message) -> list[Any]:
    """The retry handlers for one client; `posts(url)` says which requests post a message."""
    connection, server = PostSafeConnectionErrorRetryHandler(max_retry_count=2), \
        PostSafeServerErrorRetryHandler(max_retry_count=1)
    connection.posts = server.posts = posts
    return [connection, ShortRateLimitRetryHandler(), server]


def refused(status: int, data: Any) -> bool:
    """Slack refused the post in its own words, so nothing was stored: a 429, or a 2xx/4xx answer (never a
    redirect, never a 5xx) whose JSON is `{"ok": false, "error": <a code in REFUSALS>}`. Anything else — a
    5xx, a 3xx, an HTML or empty body, slack-sdk's "non-JSON format" stand-in, internal_error, fatal_error,
    a code Slack never documented — may have come after the message was stored."""
    if status == 429:
        return True
    code = data.get("error") if isinstance(data, dict) else None
    return (200 <= status < 300 or 400 <= status < 500) and code in REFUSALS


def _failure(exc: Exception) -> Delivery:
    """The failure as an error text without any secret (urllib and slack-sdk quote the URL, a webhook's is
    its secret, in what they raise), and whether a post that failed so may have reached Slack."""
    r = redactor()
    if isinstance(exc, SlackApiError):
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        status = exc.response.status_code
        said = refused(status, data)  # a non-dict answer reads as {}: never a refusal, unless a 429
        error = data.get("error") if said else f"HTTP {status}, {str(data.get('error') or '')[:80]}"
        return Delivery.failed(r.text(f"Slack said {error}"), retry_after(exc.response.headers), uncertain=not said)
    return Delivery.failed(r.text(f"{type(exc).__name__}: {exc}")[:300], uncertain=not never_reached(exc))


def _offset(ts: Any, began: float) -> float | None:
    """Slack's clock minus ours, in seconds: a message's ts is Slack's time when it stored it, which is after
    `began` (our time when the post began) and before our answer came."""
    try:
        return float(ts) - (began + time.time()) / 2
    except (TypeError, ValueError):
        return None


def _before(messages: list[Any], oldest: float) -> bool:
    """A page of history (newest first) reaches back before `oldest`."""
    try:
        return bool(messages) and float(messages[-1].get("ts")) < oldest
    except (TypeError, ValueError, AttributeError):
        return False


def _clean(message: Message) -> tuple[str, Any]:
    """A message's text and blocks with any secret masked: what is posted never carries one."""
    r = redactor()
    return r.text(message.text), r.value(message.blocks)


class _NoRedirects(HTTPRedirectHandler):
    """Follow no redirect: the Web API never redirects, and urllib would turn a redirected post into a bare
    GET (a 301/302/303) and carry the Authorization header to wherever it points. The 3xx is the answer."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _WebClient(WebClient):
    """slack-sdk's WebClient through an opener that follows no redirect (the rest is slack-sdk's own)."""

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)  # slack-sdk refuses it
        handlers: list[Any] = [_NoRedirects(), HTTPSHandler(context=self.ssl)]
        if isinstance(self.proxy, str):
            handlers.insert(0, ProxyHandler({"http": self.proxy, "https": self.proxy}))
        with build_opener(*handlers).open(req, timeout=self.timeout) as resp:
            body = resp.read()
            if resp.headers.get_content_type() != "application/gzip":
                body = body.decode(resp.headers.get_content_charset() or "utf-8", errors="replace")
            return {"status": resp.status, "headers": resp.headers, "body": body}


def _slack_now(headers: Any) -> float | None:
    """Slack's clock now (epoch seconds, to the second) from an answer's Date header, if it has one."""
    values = header_values(headers, "date")
    if not values:
        return None
    try:
        return email.utils.parsedate_to_datetime(values[0]).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


class SlackNotifier:
    """Posts through Slack's Web API with a bot token (`chat.postMessage`, `chat.update`,
    `conversations.history`): exactly once, threads, waves. Channel names are resolved to ids once and kept."""

    name = "slack"
    threads = True
    exact = True

    def __init__(self, settings: SlackSettings, timeout: float = 10) -> None:
        self.client = _WebClient(token=settings.bot_token, base_url=settings.api_url,
                                timeout=timeout,  # type: ignore[arg-type]  # urllib takes seconds as a float
                                retry_handlers=_retry_handlers())
        self.default_channel = settings.channel
        self._ids: dict[str, str] = {}

    def send(self, channel: str, message: Message, *, mark: Mark | None = None,
             thread_ts: str | None = None) -> Delivery:
        """`chat.postMessage` to `channel` (or the configured default) with `message` cleaned to Slack's
        limits, `mark` as metadata and `thread_ts` for a reply. Returns Delivery.sent(ts, channel id, clock
        offset), or a failed Delivery (redacted error, Retry-After seconds, `uncertain` when the answer was lost, as
        when Slack's answer carries no usable ts); never raises."""
        target = channel or self.default_channel
        if not target:
            return Delivery.failed("no Slack channel configured (alerts.slack_channel or SLACK_CHANNEL)")
        text, blocks = _clean(message)
        began = time.time()
        try:
            resp = self.client.chat_postMessage(
                channel=target, text=text, blocks=blocks, thread_ts=thread_ts,
                metadata=mark.metadata() if mark else None, unfurl_links=False, unfurl_media=False)
        except Exception as exc:  # noqa: BLE001 - any failure is retried later, never fatal
            return _failure(exc)
        self._ids[target] = resp.get("channel") or self._ids.get(target, "")
        if not isinstance(resp.get("ts"), str) or _offset(resp.get("ts"), began) is None:
            # ok, but without the message's id: it is stored, but a wave could not thread under it nor an
            # update find it. Looked for (by its metadata) like any answer that was lost.
            return Delivery.failed("Slack answered ok without the message's ts", uncertain=True)
        return Delivery.sent(resp.get("ts"), resp.get("channel"), clock_offset=_offset(resp.get("ts"), began))

    def update(self, channel: str, channel_id: str | None, ts: str, message: Message) -> Delivery:
        """`chat.update` of message `ts` in `channel` (resolved to an id unless `channel_id` is given) with
        `message`. Returns a Delivery; never raises."""
        text, blocks = _clean(message)
        try:
            resp = self.client.chat_update(channel=channel_id or self.channel_id(channel), ts=ts,
                                           text=text, blocks=blocks)
        except Exception as exc:  # noqa: BLE001
            return _failure(exc)
        return Delivery.sent(resp.get("ts"), resp.get("channel"))

    def scopes(self) -> tuple[dict[str, Any], set[str] | None]:
        """auth.test's answer (team, user, bot) and the scopes granted to the token (None: Slack did not say).
        Raises NotifierError when Slack rejects the token."""
        try:
            resp = self.client.auth_test()
        except Exception as exc:  # noqa: BLE001
            raise NotifierError(_failure(exc).error) from None
        return dict(resp.data) if isinstance(resp.data, dict) else {}, granted_scopes(resp.headers)

    def channel_id(self, channel: str) -> str:
        """conversations.history wants an id; chat.postMessage accepts a name. Resolve names once."""
        if channel in self._ids and self._ids[channel]:
            return self._ids[channel]
        if not channel.startswith("#") and channel[:1] in "CGD" and channel.upper() == channel:
            return channel
        name = channel.lstrip("#")
        try:
            for page in self.client.conversations_list(types="public_channel,private_channel", limit=200,
                                                       exclude_archived=True):
                for conv in page.get("channels", []):
                    if conv.get("name") == name:
                        self._ids[channel] = conv["id"]
                        return conv["id"]
        except Exception as exc:  # noqa: BLE001
            raise NotifierError(_failure(exc).error) from None
        raise NotifierError(f"channel_not_found: {channel} is not among the bot's conversations")

    def find(self, channel: str, channel_id: str | None, mark: Mark, attempted_at: float,
             thread_ts: str | None = None, offset: float = 0.0, margin: float = 600.0) -> str | None:
        """The ts of the message carrying `mark`, or None if the channel has no such message.

        `attempted_at` is when the post began, by our clock (epoch seconds); `offset` Slack's clock minus ours
        as last measured. The channel's history is read newest first, down to the earlier of two estimates
        of the attempt in Slack's clock, less `margin` seconds: `attempted_at + offset`, and Slack's own now
        (the answer's Date header) less the time elapsed since the attempt by our clock. Either estimate
        alone is enough: an offset measured before our clock was stepped, or a first post with none measured.
        A thread's replies are read whole. At most HISTORY_PAGES_MAX pages: more raises NotifierError."""
        cid = channel_id or self.channel_id(channel or self.default_channel or "")
        try:
            if thread_ts:
                pages = self.client.conversations_replies(channel=cid, ts=thread_ts, include_all_metadata=True,
                                                          limit=200)
            else:
                pages = self.client.conversations_history(channel=cid, include_all_metadata=True, limit=200)
            oldest: float | None = None
            for number, page in enumerate(pages):
                if number >= HISTORY_PAGES_MAX:
                    raise NotifierError(f"the message was not found in {HISTORY_PAGES_MAX} pages of history")
                if oldest is None and not thread_ts:
                    estimates = [attempted_at + offset]
                    if (slack_now := _slack_now(page.headers)) is not None:
                        estimates.append(slack_now - max(0.0, time.time() - attempted_at))
                    oldest = min(estimates) - margin
                for msg in page.get("messages", []):
                    meta = msg.get("metadata") or {}
                    if meta.get("event_type") == mark.event_type and \
                            (meta.get("event_payload") or {}).get(mark.key) == mark.value:
                        return msg.get("ts")
                if oldest is not None and _before(page.get("messages", []), oldest):
                    return None  # newest first: the rest of the history is older than the attempt
        except NotifierError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise NotifierError(_failure(exc).error) from None
        return None


class WebhookNotifier:
    """An incoming webhook posts to its one channel and returns no message id: at-least-once, no threads."""

    name = "slack-webhook"
    threads = False
    exact = False

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.client = WebhookClient(url, timeout=timeout,  # type: ignore[arg-type]
                                    retry_handlers=_retry_handlers(posts=lambda _url: True))  # every call posts

    def send(self, channel: str, message: Message, *, mark: Mark | None = None,
             thread_ts: str | None = None) -> Delivery:
        """POST `message` to the webhook (its one channel: `channel`, `mark` and `thread_ts` are ignored).
        Delivery.sent() without ts on HTTP 200; otherwise failed with the status and the first 100 characters of the
        redacted body, the Retry-After seconds, and `uncertain` on a 5xx. Never raises."""
        text, blocks = _clean(message)
        try:
            resp = self.client.send(text=text, blocks=blocks, unfurl_links=False)
        except Exception as exc:  # noqa: BLE001
            return _failure(exc)
        if resp.status_code == 200:
            return Delivery.sent()
        body = redactor().text(resp.body)  # redacted before it is cut: half a secret is still a secret
        return Delivery.failed(f"webhook answered HTTP {resp.status_code}: {body[:100]}",
                               retry_after(resp.headers), uncertain=resp.status_code >= 500)

    def update(self, channel: str, channel_id: str | None, ts: str, message: Message) -> Delivery:
        """Always a failed Delivery: webhooks cannot update messages."""
        return Delivery.failed("webhooks cannot update messages")

    def find(self, channel: str, channel_id: str | None, mark: Mark, attempted_at: float,
             thread_ts: str | None = None, offset: float = 0.0, margin: float = 600.0) -> str | None:
        """Always None: a webhook cannot read the channel's history (at least once, not exactly once)."""
        return None


def make_notifier(settings: SlackSettings) -> Any:
    """The bot token wins (exactly once); else the webhook (at least once); else the console."""
    from banwatch.alerts.console import ConsoleNotifier

    if settings.bot_token:
        return SlackNotifier(settings)
    if settings.webhook_url:
        return WebhookNotifier(settings.webhook_url)
    return ConsoleNotifier()
