"""Mastodon: statuses through the client API of one instance, with a bearer token.

What the real server does that shapes this adapter:

- ``POST /api/v1/statuses`` honours an ``Idempotency-Key`` header for one hour per account:
  the same key within the hour returns the status created first, without posting again.
  After the hour the key is forgotten, so :meth:`MastodonAdapter.lookup` never relies on it
  and searches the account's own statuses instead.
- ``POST /api/v2/media`` answers 200 when the image is processed and 202 (``url`` null) while
  it is still processing; ``GET /api/v1/media/:id`` then answers 206 until it is done. A status
  that names unprocessed media is refused with 422, so the adapter waits (bounded).
- A 429 from Mastodon carries ``X-RateLimit-Reset`` (an ISO time) and no ``Retry-After``.
- ``PUT /api/v1/statuses/:id`` replaces the media with the ``media_ids`` it is given, and
  removes all of them when none are given; an edit therefore re-sends the ids it reads first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from cmops.platforms.base import (
    ChannelUnusable,
    PartRequest,
    PlatformError,
    RateLimited,
    Rejected,
    Sent,
    Setup,
    Transient,
    Undecidable,
    raise_for_status,
    transport_error,
)

#: How often an upload still processing (HTTP 202) is polled before giving up for this run.
MEDIA_POLLS = 10
#: Pause before each poll, in seconds; grows to the last value and stays there.
MEDIA_PAUSES = (0.5, 1.0, 2.0, 3.0, 5.0)
#: Account statuses per page (Mastodon's maximum) and pages searched by :meth:`lookup`.
PAGE_SIZE = 40
MAX_PAGES = 5
#: Statuses this much older than the intent still count: the server's clock and ours differ.
CLOCK_SLACK = timedelta(minutes=2)


class MastodonAdapter:
    """One Mastodon channel: ``instance`` (base URL), ``token_env``, optional ``visibility``."""

    can_edit: ClassVar[bool] = True
    can_delete: ClassVar[bool] = True
    can_lookup: ClassVar[bool] = True

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self._token: str | None = None
        #: The server has no batch route for statuses (older than Mastodon 4.3).
        self._no_batch = False

    # -- the Adapter protocol -------------------------------------------------------------

    def key(self, seed: bytes, scheduled: datetime) -> str:
        """``cmops-`` and a hash of the seed: the same part always gets the same key, so a
        retry within Mastodon's hour returns the status the first attempt created. The
        scheduled instant is left out on purpose: moving a post must not make a part that may
        already be out look new to the server."""
        return "cmops-" + hashlib.sha256(b"cmops/mastodon\x00" + seed).hexdigest()[:40]

    def publish(self, part: PartRequest) -> Sent:
        media_ids = [self._upload(part, index) for index in range(len(part.images))]
        body: dict[str, Any] = {"status": part.text}
        if media_ids:
            body["media_ids"] = media_ids
        if part.parent is not None:
            body["in_reply_to_id"] = part.parent.id
        visibility = part.visibility or self.setup.channel.options.get("visibility")
        if isinstance(visibility, str) and visibility:
            body["visibility"] = visibility
        if part.language:
            body["language"] = part.language
        if part.spoiler:
            body["spoiler_text"] = part.spoiler
            body["sensitive"] = True
        what = f"{self._what()}: posting part {part.index + 1}/{part.count} of {part.post}"
        response = self._request(
            "POST", "/api/v1/statuses", what, json=body, headers={"Idempotency-Key": part.key})
        return self._sent(response, what, maybe_sent=True)

    def lookup(self, part: PartRequest, intent_at: datetime) -> Sent | None:
        """Search the account's own recent statuses for this part.

        The Idempotency-Key would make a blind re-post harmless only within Mastodon's hour
        and only if nobody deleted the status meanwhile, so the answer never rests on it: the
        statuses created since the intent (minus :data:`CLOCK_SLACK`) are read page by page
        and compared by their source text and the status they reply to. ``None`` only when
        that search reached statuses older than the intent; any other failure is Undecidable,
        except a missing or refused token, which stays ChannelUnusable (nothing on this channel
        can work in this run, and the next run can still decide)."""
        try:
            return self._search(part, _aware(intent_at))
        except (Undecidable, ChannelUnusable):
            raise
        except PlatformError as exc:
            raise Undecidable(f"cannot tell whether it was posted: {exc}") from None

    def edit(self, sent: Sent, part: PartRequest) -> Sent:
        """Change text, content warning and language of a published status. Media stay as
        they are: Mastodon drops every attachment an edit does not name, so the ids of the
        current attachments are read first and sent back unchanged (new or changed images of
        the post are not uploaded by an edit)."""
        what = f"{self._what()}: editing status {sent.id} ({part.post})"
        current = self._json(self._request("GET", f"/api/v1/statuses/{sent.id}", what), what)
        attachments = current.get("media_attachments") if isinstance(current, dict) else None
        if not isinstance(attachments, list):
            raise Transient(f"{what}: cannot read the status's current media")
        media_ids = [str(item["id"]) for item in attachments
                     if isinstance(item, dict) and item.get("id") is not None]
        body: dict[str, Any] = {
            "status": part.text,
            "spoiler_text": part.spoiler,
            "sensitive": bool(part.spoiler),
            "media_ids": media_ids,
        }
        if part.language:
            body["language"] = part.language
        response = self._request("PUT", f"/api/v1/statuses/{sent.id}", what, json=body)
        return self._sent(response, what, maybe_sent=False)

    #: ``GET /api/v1/statuses?id[]=`` takes at most 20 ids (Mastodon 4.3+).
    COUNT_BATCH: ClassVar[int] = 20

    def counts(self, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Public counts of up to 20 statuses: one batch call, or one call each on servers
        older than 4.3 (the batch route answers 404 there). Deleted or hidden statuses are
        left out, as the server leaves them out."""
        what = f"{self._what()}: counts of {len(ids)} status(es)"
        statuses: list[Any] = []
        if not self._no_batch:
            response = self._request("GET", "/api/v1/statuses", what, missing_ok=True,
                                     params=[("id[]", i) for i in ids])
            self._respect_limit(response, what)
            if response.status_code == 404:
                self._no_batch = True
            else:
                statuses = self._json(response, what)
        if self._no_batch:
            for status_id in ids:
                response = self._request("GET", f"/api/v1/statuses/{status_id}", what, missing_ok=True)
                self._respect_limit(response, what)
                if response.status_code != 404:
                    statuses.append(self._json(response, what))
        found: dict[str, dict[str, int]] = {}
        for status in statuses if isinstance(statuses, list) else []:
            if isinstance(status, dict) and str(status.get("id")) in ids:
                found[str(status["id"])] = {name: int(status[key]) for name, key in _COUNT_FIELDS
                                            if isinstance(status.get(key), int)}
        return found

    def _respect_limit(self, response: httpx.Response, what: str) -> None:
        """Out of requests (``X-RateLimit-Remaining: 0``): wait for the reset before the next
        call, or stop this channel when that is too far off."""
        if response.headers.get("x-ratelimit-remaining", "").strip() != "0":
            return
        wait = _reset_seconds(response)
        if wait is None or wait > LIMIT_PAUSE:
            raise RateLimited(f"{what}: the account's request limit is used up", wait)
        self.setup.sleep(wait)

    def delete(self, sent: Sent) -> None:
        what = f"{self._what()}: deleting status {sent.id}"
        self._request("DELETE", f"/api/v1/statuses/{sent.id}", what, missing_ok=True)

    # -- media ----------------------------------------------------------------------------

    def _upload(self, part: PartRequest, index: int) -> str:
        image = part.images[index]
        what = f"{self._what()}: uploading {image.path.name} for {part.post}"
        try:
            content = image.read()
        except OSError as exc:
            raise Rejected(f"{what}: cannot read the file: {exc.strerror or exc}") from None
        data = {"description": image.alt} if image.alt else {}
        response = self._request(
            "POST", "/api/v2/media", what, files={"file": (image.path.name, content, image.mime)},
            data=data)
        media = self._json(response, what)
        media_id = media.get("id") if isinstance(media, dict) else None
        if media_id is None:
            raise Transient(f"{what}: the answer names no media id")
        if response.status_code != 202 and media.get("url"):
            return str(media_id)
        for attempt in range(MEDIA_POLLS):
            self.setup.sleep(MEDIA_PAUSES[min(attempt, len(MEDIA_PAUSES) - 1)])
            polled = self._request("GET", f"/api/v1/media/{media_id}", what)
            media = self._json(polled, what)
            if polled.status_code == 200 and isinstance(media, dict) and media.get("url"):
                return str(media_id)
        raise Transient(f"{what}: the server is still processing the image after {MEDIA_POLLS} checks")

    # -- lookup ---------------------------------------------------------------------------

    def _search(self, part: PartRequest, intent_at: datetime) -> Sent | None:
        what = f"{self._what()}: looking for part {part.index + 1}/{part.count} of {part.post}"
        me = self._json(self._request("GET", "/api/v1/accounts/verify_credentials", what), what)
        account_id = me.get("id") if isinstance(me, dict) else None
        if account_id is None:
            raise Undecidable(f"{what}: verify_credentials names no account id")
        cutoff = intent_at - CLOCK_SLACK
        wanted_text = _normalise(part.text)
        wanted_parent = part.parent.id if part.parent is not None else None
        max_id: str | None = None
        for _page in range(MAX_PAGES):
            params = {"limit": str(PAGE_SIZE)}
            if max_id is not None:
                params["max_id"] = max_id
            page = self._json(
                self._request("GET", f"/api/v1/accounts/{account_id}/statuses", what, params=params),
                what)
            if not isinstance(page, list):
                raise Undecidable(f"{what}: the account's statuses are not a list")
            for status in page:
                created = _created_at(status)
                if created is None:
                    raise Undecidable(f"{what}: a status without a readable created_at")
                if created < cutoff:
                    return None  # newest first: everything after this is older still
                if status.get("reblog") is not None or status.get("in_reply_to_id") != wanted_parent:
                    continue
                source = self._json(
                    self._request("GET", f"/api/v1/statuses/{status['id']}/source", what), what)
                text = source.get("text") if isinstance(source, dict) else None
                if isinstance(text, str) and _normalise(text) == wanted_text:
                    return _sent_from(status)
            if len(page) < PAGE_SIZE:
                return None  # the account has no older statuses
            max_id = str(page[-1]["id"])
        raise Undecidable(
            f"{what}: more than {MAX_PAGES * PAGE_SIZE} statuses since the attempt; not searched further")

    # -- HTTP -----------------------------------------------------------------------------

    def _what(self) -> str:
        return f"channel {self.setup.channel.id!r} (mastodon)"

    def _base(self) -> str:
        instance = self.setup.channel.options.get("instance")
        if not isinstance(instance, str) or not instance.startswith(("https://", "http://")):
            raise ChannelUnusable(f"{self._what()}: cmops.yaml sets no instance URL")
        return instance.rstrip("/")

    def _auth(self) -> str:
        if self._token is None:
            self._token = self.setup.secret("token_env")
        return f"Bearer {self._token}"

    def _request(self, method: str, path: str, what: str, *, missing_ok: bool = False,
                 headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        url = self._base() + path
        sent_headers = {"Authorization": self._auth(), "Accept": "application/json", **(headers or {})}
        try:
            response = self.setup.client.request(method, url, headers=sent_headers, **kwargs)
        except httpx.HTTPError as exc:
            raise transport_error(exc, what) from None
        if missing_ok and response.status_code == 404:
            return response
        try:
            raise_for_status(response, what)
        except RateLimited as exc:
            if exc.retry_after is None:
                exc.retry_after = _reset_seconds(response)
            raise
        return response

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise Transient(f"{what}: the server answered HTTP {response.status_code} without JSON",
                            maybe_sent=response.request.method == "POST") from None

    def _sent(self, response: httpx.Response, what: str, *, maybe_sent: bool) -> Sent:
        data = self._json(response, what)
        if not isinstance(data, dict) or data.get("id") is None:
            raise Transient(f"{what}: the answer names no status id", maybe_sent=maybe_sent)
        return _sent_from(data)


def _sent_from(status: dict[str, Any]) -> Sent:
    url, uri = status.get("url"), status.get("uri")
    return Sent(id=str(status["id"]), url=url if isinstance(url, str) else None,
                uri=uri if isinstance(uri, str) else None)


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _created_at(status: Any) -> datetime | None:
    if not isinstance(status, dict) or status.get("id") is None:
        return None
    value = status.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


_COUNT_FIELDS = (("likes", "favourites_count"), ("reposts", "reblogs_count"), ("replies", "replies_count"),
                 ("quotes", "quotes_count"))
#: The longest wait for a used-up request limit inside one run.
LIMIT_PAUSE = 120.0


def _reset_seconds(response: httpx.Response) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (ISO time), measured against the ``Date`` header,
    so that neither our clock nor the server's clock alone decides; None if either is missing."""
    reset, date = response.headers.get("x-ratelimit-reset"), response.headers.get("date")
    if not reset or not date:
        return None
    try:
        at = datetime.fromisoformat(reset.strip())
        now = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (at - now).total_seconds())

