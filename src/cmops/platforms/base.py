"""What every platform adapter offers the publishing engine, and the errors it may raise.

An adapter publishes one thread part at a time. The engine decides what is due, writes an
intent before each call and a receipt after it, retries, and reconciles after a crash by
asking the adapter to :meth:`Adapter.lookup` a part it may or may not have sent. Adapters
never read the ledger, the clock or the environment themselves: all of it is handed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from cmops.errors import CmopsError
from cmops.model import Channel

if TYPE_CHECKING:
    # Imported by the adapters; the ledger and planner use this module without a network stack.
    import httpx


@dataclass(frozen=True)
class Image:
    """An image file of the workspace, ready to upload."""

    path: Path
    alt: str
    mime: str

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class Sent:
    """Where a published part lives on the platform; recorded in its receipt.

    ``id`` is the platform's own id (Bluesky: the record's AT URI; Mastodon: the status id;
    Discord: the message id; feed: the entry id; Slack has none and uses ``""``).
    """

    id: str
    url: str | None = None
    uri: str | None = None
    cid: str | None = None


@dataclass(frozen=True)
class PartRequest:
    """One thread part to publish (or edit), with everything the platform needs."""

    post: str
    channel: Channel
    index: int
    count: int
    text: str
    #: Deterministic per (post, channel, part); from :meth:`Adapter.key`, kept in the intent.
    key: str
    #: When the part is actually published (the engine's clock); Bluesky's createdAt.
    created_at: datetime
    images: tuple[Image, ...] = ()
    root: Sent | None = None
    parent: Sent | None = None
    language: str | None = None
    visibility: str | None = None
    spoiler: str = ""
    title: str | None = None
    #: Markdown source of the whole post (all parts), for channels that show it at once.
    markdown: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


class PlatformError(CmopsError):
    """A call failed. ``maybe_sent`` says whether the platform may have acted anyway
    (a timeout or 5xx after the request went out); the engine then reconciles."""

    exit_code = 1

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class Transient(PlatformError):
    """Worth retrying after a pause: 5xx, timeouts, connection errors."""


class RateLimited(Transient):
    """HTTP 429 (or a platform's own limit). ``retry_after`` in seconds when the platform said."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, maybe_sent=False)
        self.retry_after = retry_after


class Rejected(PlatformError):
    """The platform refused this part for good (4xx): retrying the same request cannot help."""


class ChannelUnusable(PlatformError):
    """Nothing can be published on this channel in this run: missing secret, bad login."""


class Undecidable(PlatformError):
    """:meth:`Adapter.lookup` cannot tell whether a part went out."""


class Adapter(Protocol):
    """One platform. Built by :func:`cmops.platforms.adapter_for` for one channel."""

    #: Edits of published parts are possible (Mastodon, feed); otherwise the engine warns.
    can_edit: ClassVar[bool]
    #: Retraction can delete published parts.
    can_delete: ClassVar[bool]
    #: :meth:`lookup` can find out whether a part was sent (otherwise it raises Undecidable).
    can_lookup: ClassVar[bool]

    def key(self, seed: bytes, scheduled: datetime) -> str:
        """A deterministic idempotency key from the (post, channel, part) seed and the
        instant the part is scheduled for. The engine stores it in the intent and reuses it."""
        ...

    def publish(self, part: PartRequest) -> Sent:
        ...

    def lookup(self, part: PartRequest, intent_at: datetime) -> Sent | None:
        """Whether ``part`` (with the key of its intent, written at ``intent_at``) is on the
        platform: its :class:`Sent`, ``None`` if certainly not, or raise :class:`Undecidable`."""
        ...

    def edit(self, sent: Sent, part: PartRequest) -> Sent:
        ...

    def delete(self, sent: Sent) -> None:
        """Remove a published part; a part that is already gone is not an error."""
        ...


@dataclass(frozen=True)
class Setup:
    """What an adapter is built from."""

    channel: Channel
    client: httpx.Client
    root: Path
    env: Mapping[str, str]
    #: For bounded polling inside an adapter (media processing); tests pass a fake.
    sleep: Callable[[float], None] = time.sleep

    def secret(self, option: str) -> str:
        """The secret whose environment variable name the channel's ``option`` gives."""
        name = self.channel.options.get(option)
        if not isinstance(name, str) or not name:
            raise ChannelUnusable(f"channel {self.channel.id!r}: cmops.yaml sets no {option}")
        value = self.env.get(name, "")
        if not value.strip():
            raise ChannelUnusable(
                f"channel {self.channel.id!r}: the environment variable {name} is not set "
                f"(cmops.yaml: {option}: {name}); set it in the CI secrets or your shell")
        return value.strip()


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date), or rate-limit reset headers."""
    from email.utils import parsedate_to_datetime

    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        date = response.headers.get("date")
        base = parsedate_to_datetime(date) if date else None
        if when.tzinfo is None or base is None or base.tzinfo is None:
            return None
        return max(0.0, (when - base).total_seconds())
    return None


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Turn an HTTP error answer into the matching :class:`PlatformError`."""
    status = response.status_code
    if status < 400:
        return
    detail = _detail(response)
    if status == 429:
        raise RateLimited(f"{what}: rate limited (HTTP 429){detail}", retry_after_seconds(response))
    if status >= 500:
        raise Transient(f"{what}: server error (HTTP {status}){detail}", maybe_sent=True)
    if status in (401, 403):
        raise ChannelUnusable(f"{what}: not allowed (HTTP {status}){detail}; check the credentials")
    raise Rejected(f"{what}: refused (HTTP {status}){detail}")


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        return f": {text[:200]}" if text else ""
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("error", "message", "error_description") if data.get(k)]
        if parts:
            return ": " + " — ".join(parts)[:300]
    return ""


def transport_error(exc: httpx.HTTPError, what: str) -> Transient:
    """A network failure; the request may have reached the server unless it never connected."""
    import httpx

    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return Transient(f"{what}: {type(exc).__name__}: {exc}", maybe_sent=not never_sent)
