"""Slack through slack-sdk's WebClient, with its retry handlers for connection errors, 429 and 5xx."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from alerts.notifier import Delivery, Message
from monitor.settings import SlackSettings

log = logging.getLogger(__name__)


class SlackNotifier:
    name = "slack"

    def __init__(self, settings: SlackSettings, timeout: float = 10) -> None:
        self.client = WebClient(
            token=settings.bot_token, base_url=settings.api_url, timeout=int(timeout),
            retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                            RateLimitErrorRetryHandler(max_retry_count=2),
                            ServerErrorRetryHandler(max_retry_count=1)])
        self.default_channel = settings.channel

    def send(self, channel: str | None, message: Message) -> Delivery:
        target = channel or self.default_channel
        if not target:
            return Delivery.failed("no Slack channel configured (alerts.slack_channel or SLACK_CHANNEL)")
        try:
            resp = self.client.chat_postMessage(channel=target, text=message.text, blocks=message.blocks,
                                                unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            retry = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            return Delivery.failed(f"Slack said {error or exc.response.status_code}",
                                   float(retry) if retry and str(retry).isdigit() else None)
        except Exception as exc:  # noqa: BLE001 - network faults are retried later, never fatal
            return Delivery.failed(f"{type(exc).__name__}: {exc}"[:300])
        if not resp.get("ok"):
            return Delivery.failed(f"Slack said {resp.get('error')}")
        return Delivery.sent(resp.get("ts"))
