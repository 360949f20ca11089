"""Incoming webhooks: Discord and Slack.

A webhook URL is a password (whoever holds it can post), so it is read from the environment
variable the channel's ``webhook_env`` names and never appears in a message: errors name the
variable only, and any error text that might echo the URL is scrubbed.

A webhook can only post. It cannot list what it posted, so :meth:`lookup` is undecidable
(the engine asks a human after a crash between intent and receipt), and cmops neither edits
nor deletes there (SPEC): retractions and corrections of these channels are done by hand.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from cmops.platforms.base import (
    ChannelUnusable,
    Image,
    PartRequest,
    PlatformError,
    RateLimited,
    Rejected,
    Sent,
    Setup,
    Undecidable,
    raise_for_status,
    retry_after_seconds,
    transport_error,
)

DISCORD_MAX_CHARS = 2000
SLACK_MAX_CHARS = 40000
#: Slack's error bodies after which nothing more can be posted through this webhook.
SLACK_DEAD = frozenset({"no_service", "no_team", "team_disabled", "channel_not_found", "channel_is_archived",
                        "invalid_token", "action_prohibited", "posting_to_general_channel_denied",
                        "no_active_hooks"})


class _Webhook:
    """The shared part: the URL from the environment, scrubbed errors, no edit/delete."""

    platform: ClassVar[str] = ""
    can_edit: ClassVar[bool] = False
    can_delete: ClassVar[bool] = False
    can_lookup: ClassVar[bool] = False

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._url: str | None = None

    @property
    def channel_id(self) -> str:
        return self.setup.channel.id

    @property
    def variable(self) -> str:
        name = self.setup.channel.options.get("webhook_env")
        return name if isinstance(name, str) else "webhook_env"

    def url(self) -> str:
        """The webhook URL; read on first use, so a channel with nothing due needs no secret."""
        if self._url is None:
            value = self.setup.secret("webhook_env")
            try:
                parts = urlsplit(value)
                httpx.URL(value)
                usable = parts.scheme in ("https", "http") and bool(parts.hostname)
            except (ValueError, httpx.InvalidURL):
                usable = False
            if not usable:
                raise ChannelUnusable(
                    f"channel {self.channel_id!r}: the environment variable {self.variable} does not "
                    f"hold a {self.platform} webhook URL (it must start with https://)")
            self._url = value
        return self._url

    def _scrub(self, text: str) -> str:
        if self._url:
            text = text.replace(self._url, f"<{self.variable}>")
            secret_path = urlsplit(self._url).path
            # The path holds the secret; its last segment (the token) alone is secret too.
            for secret in (secret_path, secret_path.rstrip("/").rsplit("/", 1)[-1]):
                if len(secret) >= 8:
                    text = text.replace(secret, f"<{self.variable}>")
        return text

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Platform errors with the URL scrubbed from their message; transport errors mapped."""
        what = f"{self.platform} ({self.channel_id})"
        try:
            yield
        except httpx.HTTPError as exc:
            error = transport_error(exc, what)
            raise type(error)(self._scrub(str(error)), maybe_sent=error.maybe_sent) from None
        except RateLimited as exc:
            raise RateLimited(self._scrub(str(exc)), exc.retry_after) from None
        except PlatformError as exc:
            clean = self._scrub(str(exc))
            if clean == str(exc):
                raise
            raise type(exc)(clean, maybe_sent=exc.maybe_sent) from None

    def key(self, seed: bytes, scheduled: datetime) -> str:
        return seed.hex()

    def lookup(self, part: PartRequest, intent_at: datetime) -> Sent | None:
        raise Undecidable(
            f"channel {self.channel_id!r}: a {self.platform} webhook cannot list its messages; "
            f"look in the channel whether part {part.index + 1} of {part.post!r} is there")

    def edit(self, sent: Sent, part: PartRequest) -> Sent:
        raise Rejected(
            f"channel {self.channel_id!r}: cmops cannot edit messages posted through a {self.platform} "
            f"webhook; edit {part.post!r} in {self.platform} by hand")

    def delete(self, sent: Sent) -> None:
        raise Rejected(
            f"channel {self.channel_id!r}: cmops cannot delete messages posted through a {self.platform} "
            f"webhook; delete the message by hand")

    def _check_length(self, part: PartRequest, limit: int) -> None:
        if len(part.text) > limit:
            raise Rejected(
                f"channel {self.channel_id!r}: part {part.index + 1} of {part.post!r} has "
                f"{len(part.text)} characters, {self.platform} takes at most {limit}")


class DiscordAdapter(_Webhook):
    """Discord's "Execute Webhook": one message per part, mentions never ping anyone."""

    platform: ClassVar[str] = "Discord"

    def publish(self, part: PartRequest) -> Sent:
        self._check_length(part, DISCORD_MAX_CHARS)
        url = httpx.URL(self.url()).copy_set_param("wait", "true")
        payload: dict[str, Any] = {"content": part.text, "allowed_mentions": {"parse": []}}
        with self._guard():
            if part.images:
                payload["attachments"] = [
                    {"id": n, "filename": image.path.name, "description": image.alt}
                    for n, image in enumerate(part.images)]
                files = [(f"files[{n}]", (image.path.name, self._read(image), image.mime))
                         for n, image in enumerate(part.images)]
                data = {"payload_json": json.dumps(payload, ensure_ascii=False)}
                response = self.setup.client.post(url, data=data, files=files)
            else:
                response = self.setup.client.post(url, json=payload)
            self._raise_for_status(response)
        return self._sent(response)

    def _read(self, image: Image) -> bytes:
        try:
            return image.read()
        except OSError as exc:
            raise Rejected(f"channel {self.channel_id!r}: cannot read {image.path.name}: "
                           f"{exc.strerror or exc}") from None

    def _raise_for_status(self, response: httpx.Response) -> None:
        what = f"Discord ({self.channel_id})"
        body = _json_object(response)
        message = str(body.get("message", "")) if body else ""
        if response.status_code == 429:
            raise RateLimited(f"{what}: rate limited (HTTP 429){': ' + message if message else ''}",
                              _discord_retry_after(response, body))
        if response.status_code == 404:
            raise ChannelUnusable(
                f"{what}: the webhook does not exist (HTTP 404{': ' + message if message else ''}); it was "
                f"deleted or {self.variable} holds a wrong URL")
        raise_for_status(response, what)

    def _sent(self, response: httpx.Response) -> Sent:
        # A 2xx means the message was posted; without an id (204: Discord ignored wait=true)
        # the receipt still records it, with an empty id.
        body = _json_object(response) or {}
        message_id = str(body.get("id") or "")
        guild, channel = body.get("guild_id"), body.get("channel_id")
        url = None
        if message_id and guild and channel:
            url = f"https://discord.com/channels/{guild}/{channel}/{message_id}"
        return Sent(id=message_id, url=url)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _discord_retry_after(response: httpx.Response, body: dict[str, Any] | None) -> float | None:
    """Discord's body gives the wait as a float (``retry_after``); the ``Retry-After`` header
    rounds it up to whole seconds. Either will do; the body is the precise one."""
    value = body.get("retry_after") if body else None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return max(0.0, float(value))
    header = retry_after_seconds(response)
    if header is not None:
        return header
    try:
        return max(0.0, float(response.headers.get("x-ratelimit-reset-after", "")))
    except ValueError:
        return None


class SlackAdapter(_Webhook):
    """Slack's incoming webhooks: text only. They cannot upload files, so images are left out
    (validation already warns about them); nor do they return an id, so receipts hold ``""``.

    ``&``, ``<`` and ``>`` are escaped as Slack asks: a post is plain text, and ``<!channel>``
    or ``<!everyone>`` in it must not ping a whole channel. Bare URLs are still linked by Slack.
    """

    platform: ClassVar[str] = "Slack"

    def publish(self, part: PartRequest) -> Sent:
        self._check_length(part, SLACK_MAX_CHARS)
        payload = {"text": slack_escape(part.text)}
        with self._guard():
            response = self.setup.client.post(self.url(), json=payload)
            self._raise_for_status(response)
        return Sent(id="", url=None)

    def _raise_for_status(self, response: httpx.Response) -> None:
        what = f"Slack ({self.channel_id})"
        status = response.status_code
        code = response.text.strip()[:200]
        if status < 400:
            return
        if status == 429:
            raise RateLimited(f"{what}: rate limited (HTTP 429)", retry_after_seconds(response))
        if status in (404, 410) or code in SLACK_DEAD:
            raise ChannelUnusable(
                f"{what}: the webhook cannot post (HTTP {status}{': ' + code if code else ''}); "
                f"check the app and channel behind {self.variable}")
        raise_for_status(response, what)


def slack_escape(text: str) -> str:
    """Text as Slack shows it literally: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
