"""An in-memory Mastodon instance for tests: ``httpx.MockTransport(fake.handle)``.

It keeps state the way a real server does, so a test can publish, crash, look up and publish
again and then count what is actually on the account. What it reproduces, from Mastodon's
API documentation and server code:

- one account (``@brand``) behind one bearer token; a wrong or missing token is 401
  ``{"error": "The access token is invalid"}``; unknown routes are 404 ``Record not found``;
  requests for another host fail to connect;
- ``POST /api/v1/statuses`` with ``Idempotency-Key``: the key is remembered per account for
  one hour after the status was created; the same key within the hour returns that status
  (404 if it was deleted meanwhile), after the hour it creates a new one. Text and content
  warning are stripped, together limited to 500 characters (422), blank text without media
  is refused (422), an unknown ``in_reply_to_id`` is 404, unprocessed or foreign media 422;
- ``POST /api/v2/media`` (multipart ``file``, ``description``): 200 with a ``url``, or 202
  with ``url: null`` when :meth:`FakeMastodon.slow_media` asked for it; ``GET /api/v1/media/:id``
  is 206 while processing, 200 once done, 404 after the media was attached to a status;
- ``GET/PUT/DELETE /api/v1/statuses/:id``, ``GET /api/v1/statuses/:id/source``; an edit
  replaces the attachments with the ``media_ids`` it names (none named: all removed), like
  Mastodon; a delete answers the status with its source ``text``;
- ``GET /api/v1/accounts/verify_credentials`` and ``GET /api/v1/accounts/:id/statuses``
  (newest first, ``limit`` ≤ 40, ``max_id``/``since_id``/``min_id``, ``Link`` header);
- a 429 carries ``X-RateLimit-Limit/Remaining/Reset`` (ISO time) and, only if asked, a
  ``Retry-After``: Mastodon itself sends none. Every answer has a ``Date`` header.

Faults are queued with :meth:`FakeMastodon.fail_next`, :meth:`FakeMastodon.rate_limit_next`
and :meth:`FakeMastodon.accept_then_fail_next`. The clock is injectable; without one the fake
has its own, moved by :meth:`FakeMastodon.advance`. Every request is kept in
:attr:`FakeMastodon.requests`.
"""

from __future__ import annotations

import email.parser
import email.policy
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

#: Where the fake's own clock starts when no clock is given.
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEY_LIFETIME = timedelta(hours=1)
TEXT_LIMIT = 500
MAX_MEDIA = 4
VISIBILITIES = ("public", "unlisted", "private", "direct")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it. ``headers`` have lower-case names; ``body`` is the
    parsed JSON, the form fields (lists for ``name[]``), the multipart fields (:class:`Upload`
    for files) or ``None`` when empty."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    #: Every value of every query parameter (``id[]`` repeats).
    queries: dict[str, list[str]] = field(default_factory=dict)

    @property
    def call(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class FakeStatus:
    id: str
    text: str
    created_at: datetime
    spoiler_text: str = ""
    sensitive: bool = False
    visibility: str = "public"
    language: str | None = None
    in_reply_to_id: str | None = None
    media_ids: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    edited_at: datetime | None = None
    edits: int = 0
    deleted: bool = False
    favourites: int = 0
    reblogs: int = 0
    replies: int = 0
    quotes: int = 0


@dataclass
class FakeMedia:
    id: str
    filename: str | None
    content_type: str
    size: int
    description: str | None
    #: GETs still answered 206 (processing) before the media is ready.
    polls_left: int = 0
    status_id: str | None = None

    @property
    def processed(self) -> bool:
        return self.polls_left <= 0


@dataclass
class _Fault:
    kind: str  # "fail", "rate", "accept"
    count: int
    status: int
    on: str | None
    retry_after: float | None = None
    reset_in: float = 300.0

    def matches(self, call: str) -> bool:
        return self.on is None or call.startswith(self.on)


class _Answer(Exception):
    """An early answer of the fake server: HTTP status and error text."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class FakeMastodon:
    """A Mastodon server in memory. ``host`` is the instance's host name, ``token`` the one
    valid access token, ``clock`` a callable returning an aware datetime (default: the
    fake's own clock, starting at :data:`START`)."""

    def __init__(self, *, host: str = "social.example", token: str = "secret",
                 clock: Callable[[], datetime] | None = None, username: str = "brand",
                 account_id: str = "109876543210987654") -> None:
        self.host = host
        self.token = token
        self.username = username
        self.account_id = account_id
        self._own_time = START
        self._clock = clock
        self.statuses: dict[str, FakeStatus] = {}
        self.media: dict[str, FakeMedia] = {}
        self.requests: list[Recorded] = []
        self._keys: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._faults: list[_Fault] = []
        self._slow_polls = 0
        self._last_id = 0
        self._media_seq = 0
        #: Mastodon 4.3+ has ``GET /api/v1/statuses?id[]=``; older servers answer 404 there.
        self.batch_route = True
        #: Mastodon 4.5+ counts quotes (``quotes_count``).
        self.counts_quotes = True
        #: Requests left in the current rate-limit window (None: not limited), sent as
        #: ``X-RateLimit-Remaining`` with a reset ``limit_reset_in`` seconds ahead.
        self.limit_remaining: int | None = None
        self.limit_reset_in = 60.0

    # -- for tests ------------------------------------------------------------------------

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport)

    @property
    def base_url(self) -> str:
        return f"https://{self.host}"

    def now(self) -> datetime:
        return self._clock() if self._clock is not None else self._own_time

    def advance(self, delta: timedelta | float) -> None:
        """Move the fake's own clock (seconds or a timedelta); not with an injected clock."""
        if self._clock is not None:
            raise RuntimeError("this FakeMastodon uses an injected clock; move that one")
        self._own_time += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    def fail_next(self, n: int = 1, status: int = 503, *, on: str | None = None) -> None:
        """The next ``n`` requests (only those whose ``"METHOD /path"`` starts with ``on``,
        if given) get ``status`` without being processed. 5xx answers are HTML, like a proxy's."""
        self._faults.append(_Fault("fail", n, status, on))

    def rate_limit_next(self, n: int = 1, retry_after: float | None = 30.0, *,
                        reset_in: float | None = None, on: str | None = None) -> None:
        """The next ``n`` requests get 429 with ``X-RateLimit-Reset`` at now + ``reset_in``
        (default: ``retry_after``, else 300 s) and a ``Retry-After`` only if ``retry_after``
        is not None (the real Mastodon sends none)."""
        reset = reset_in if reset_in is not None else retry_after if retry_after is not None else 300.0
        self._faults.append(_Fault("rate", n, 429, on, retry_after=retry_after, reset_in=reset))

    def accept_then_fail_next(self, n: int = 1, status: int = 502) -> None:
        """The next ``n`` status creations succeed (status stored, key remembered) but the
        client gets ``status``: the "sent, but no receipt" case."""
        self._faults.append(_Fault("accept", n, status, "POST /api/v1/statuses"))

    def slow_media(self, polls: int) -> None:
        """Uploads from now on answer 202 and stay processing for ``polls`` GETs (0: ready)."""
        self._slow_polls = polls

    def add_status(self, text: str, *, created_at: datetime | None = None,
                   in_reply_to_id: str | None = None, spoiler_text: str = "",
                   visibility: str = "public") -> FakeStatus:
        """Put a status on the account directly, as if posted earlier by someone else."""
        when = created_at or self.now()
        status = FakeStatus(id=self._status_id(when), text=text.strip(), created_at=when,
                            spoiler_text=spoiler_text.strip(), sensitive=bool(spoiler_text),
                            visibility=visibility, in_reply_to_id=in_reply_to_id)
        self.statuses[status.id] = status
        return status

    def live(self) -> list[FakeStatus]:
        """The statuses on the account (not deleted), oldest first."""
        return sorted((s for s in self.statuses.values() if not s.deleted), key=lambda s: int(s.id))

    def calls(self) -> list[str]:
        """``"METHOD /path"`` of every request so far."""
        return [r.call for r in self.requests]

    def last(self, call: str) -> Recorded:
        """The last request whose ``"METHOD /path"`` is ``call``."""
        for recorded in reversed(self.requests):
            if recorded.call == call:
                return recorded
        raise AssertionError(f"no request {call}; requests were {self.calls()}")

    # -- the server -----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self.host:
            raise httpx.ConnectError(f"no route to host {request.url.host}", request=request)
        recorded = self._record(request)
        fault = self._fault(recorded.call)
        if fault is not None and fault.kind == "fail":
            return self._fail(fault.status)
        if fault is not None and fault.kind == "rate":
            return self._rate_limited(fault)
        try:
            handler, args = self._route(recorded)
            if request.headers.get("authorization") != f"Bearer {self.token}":
                raise _Answer(401, "The access token is invalid")
            status, body = handler(recorded, *args)
        except _Answer as answer:
            return self._json(answer.status, {"error": answer.error})
        if recorded.call == "POST /api/v1/statuses" and status == 200:
            accepted = self._fault(recorded.call, accept=True)
            if accepted is not None:
                return self._fail(accepted.status)
        response = self._json(status, body)
        if recorded.method == "GET" and recorded.path.endswith("/statuses") and isinstance(body, list):
            self._link(response, recorded, body)
        return response

    def _route(self, r: Recorded) -> tuple[Callable[..., tuple[int, Any]], tuple[str, ...]]:
        path = r.path.rstrip("/") or "/"
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("POST", r"/api/v1/statuses", self._create),
            ("GET", r"/api/v1/statuses", self._batch),
            ("GET", r"/api/v1/statuses/([^/]+)", self._show),
            ("PUT", r"/api/v1/statuses/([^/]+)", self._update),
            ("DELETE", r"/api/v1/statuses/([^/]+)", self._delete),
            ("GET", r"/api/v1/statuses/([^/]+)/source", self._source),
            ("POST", r"/api/v2/media", self._upload),
            ("GET", r"/api/v1/media/([^/]+)", self._media_show),
            ("GET", r"/api/v1/accounts/verify_credentials", self._verify),
            ("GET", r"/api/v1/accounts/([^/]+)/statuses", self._account_statuses),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and method == r.method:
                return handler, match.groups()
        raise _Answer(404, "Record not found")

    # -- routes ---------------------------------------------------------------------------

    def _create(self, r: Recorded) -> tuple[int, Any]:
        body = _fields(r.body)
        key = r.idempotency_key
        now = self.now()
        if key:
            remembered = self._keys.get((self.account_id, key))
            if remembered is not None and now - remembered[1] < KEY_LIFETIME:
                earlier = self.statuses.get(remembered[0])
                if earlier is None or earlier.deleted:
                    raise _Answer(404, "Record not found")
                return 200, self._status_json(earlier)
        if body.get("scheduled_at"):
            raise _Answer(422, "scheduled_at is not simulated by FakeMastodon")
        text = _string(body.get("status")).strip()
        spoiler = _string(body.get("spoiler_text")).strip()
        media_ids = _ids(body.get("media_ids"))
        media = self._attachable(media_ids, None)
        if not text and not media:
            raise _Answer(422, "Validation failed: Text can't be blank")
        _check_length(text, spoiler)
        visibility = _string(body.get("visibility")) or "public"
        if visibility not in VISIBILITIES:
            raise _Answer(422, "Validation failed: Visibility is not included in the list")
        parent_id = body.get("in_reply_to_id")
        if parent_id:
            parent = self.statuses.get(str(parent_id))
            if parent is None or parent.deleted:
                raise _Answer(404, "The post you are trying to reply to does not appear to exist.")
        status = FakeStatus(
            id=self._status_id(now), text=text, created_at=now, spoiler_text=spoiler,
            sensitive=_truthy(body.get("sensitive")) or bool(spoiler), visibility=visibility,
            language=_string(body.get("language")) or None,
            in_reply_to_id=str(parent_id) if parent_id else None,
            media_ids=[m.id for m in media], idempotency_key=key or None)
        for item in media:
            item.status_id = status.id
        self.statuses[status.id] = status
        if key:
            self._keys[(self.account_id, key)] = (status.id, now)
        return 200, self._status_json(status)

    def _batch(self, r: Recorded) -> tuple[int, Any]:
        """``GET /api/v1/statuses?id[]=``: at most 20 ids; unknown and deleted ones are left out."""
        if not self.batch_route:
            raise _Answer(404, "Record not found")
        ids = r.queries.get("id[]", [])
        if len(ids) > 20:
            raise _Answer(422, "Validation failed: too many ids")
        found = [self.statuses[i] for i in ids if i in self.statuses and not self.statuses[i].deleted]
        return 200, [self._status_json(s) for s in found]

    def _show(self, r: Recorded, status_id: str) -> tuple[int, Any]:
        return 200, self._status_json(self._own(status_id))

    def _source(self, r: Recorded, status_id: str) -> tuple[int, Any]:
        status = self._own(status_id)
        return 200, {"id": status.id, "text": status.text, "spoiler_text": status.spoiler_text}

    def _update(self, r: Recorded, status_id: str) -> tuple[int, Any]:
        status = self._own(status_id)
        body = _fields(r.body)
        spoiler = _string(body.get("spoiler_text")).strip()
        text = _string(body.get("status")).strip() or spoiler
        media = self._attachable(_ids(body.get("media_ids")), status.id)
        if not text and not media:
            raise _Answer(422, "Validation failed: Text can't be blank")
        _check_length(text, spoiler)
        sensitive = _truthy(body.get("sensitive")) or bool(spoiler)
        language = _string(body.get("language")) or status.language
        new_media = [m.id for m in media]
        changed = (text, spoiler, sensitive, language, new_media) != (
            status.text, status.spoiler_text, status.sensitive, status.language, status.media_ids)
        if changed:
            for old in status.media_ids:
                if old not in new_media:
                    self.media[old].status_id = None
            for item in media:
                item.status_id = status.id
            status.text, status.spoiler_text, status.sensitive = text, spoiler, sensitive
            status.language, status.media_ids = language, new_media
            status.edited_at = self.now()
            status.edits += 1
        return 200, self._status_json(status)

    def _delete(self, r: Recorded, status_id: str) -> tuple[int, Any]:
        status = self._own(status_id)
        status.deleted = True
        data = self._status_json(status)
        data["text"] = status.text
        return 200, data

    def _upload(self, r: Recorded) -> tuple[int, Any]:
        body = r.body if isinstance(r.body, dict) else {}
        upload = body.get("file")
        if not isinstance(upload, Upload):
            raise _Answer(422, "Validation failed: File can't be blank")
        description = body.get("description")
        self._media_seq += 1
        media = FakeMedia(id=str(113000000000000000 + self._media_seq), filename=upload.filename,
                          content_type=upload.content_type, size=len(upload.content),
                          description=description if isinstance(description, str) else None,
                          polls_left=self._slow_polls)
        self.media[media.id] = media
        return (200 if media.processed else 202), self._media_json(media)

    def _media_show(self, r: Recorded, media_id: str) -> tuple[int, Any]:
        media = self.media.get(media_id)
        if media is None or media.status_id is not None:
            raise _Answer(404, "Record not found")
        if not media.processed:
            media.polls_left -= 1
            return 206, self._media_json(media, processing=True)
        return 200, self._media_json(media)

    def _verify(self, r: Recorded) -> tuple[int, Any]:
        data = self._account_json()
        data["source"] = {"privacy": "public", "sensitive": False, "language": None, "note": ""}
        return 200, data

    def _account_statuses(self, r: Recorded, account_id: str) -> tuple[int, Any]:
        if account_id != self.account_id:
            raise _Answer(404, "Record not found")
        try:
            limit = min(40, max(1, int(r.query.get("limit", "20"))))
        except ValueError:
            limit = 20
        found = sorted((s for s in self.statuses.values() if not s.deleted), key=lambda s: -int(s.id))
        if "max_id" in r.query:
            found = [s for s in found if int(s.id) < _int(r.query["max_id"])]
        if "since_id" in r.query:
            found = [s for s in found if int(s.id) > _int(r.query["since_id"])]
        if "min_id" in r.query:
            found = [s for s in found if int(s.id) > _int(r.query["min_id"])][-limit:]
        return 200, [self._status_json(s) for s in found[:limit]]

    # -- helpers --------------------------------------------------------------------------

    def _own(self, status_id: str) -> FakeStatus:
        status = self.statuses.get(status_id)
        if status is None or status.deleted:
            raise _Answer(404, "Record not found")
        return status

    def _attachable(self, media_ids: list[str], status_id: str | None) -> list[FakeMedia]:
        if len(media_ids) > MAX_MEDIA:
            raise _Answer(422, "Cannot attach more than 4 files")
        found = []
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None or media.status_id not in (None, status_id):
                raise _Answer(422, f"Media attachment {media_id} not found")
            if not media.processed:
                raise _Answer(422, "Cannot attach files that have not finished processing. "
                                   "Try again in a moment!")
            found.append(media)
        return found

    def _status_id(self, when: datetime) -> str:
        """Mastodon's ids: milliseconds since the epoch shifted left 16 bits, plus a sequence,
        so they sort by time; kept unique even when the clock stands still."""
        candidate = int(when.timestamp() * 1000) << 16
        while candidate <= self._last_id or str(candidate) in self.statuses:
            candidate = max(candidate, self._last_id) + 1
        self._last_id = max(self._last_id, candidate)
        return str(candidate)

    def _record(self, request: httpx.Request) -> Recorded:
        content = request.read()
        content_type = request.headers.get("content-type", "")
        body: Any = None
        if content:
            if content_type.startswith("application/json"):
                body = json.loads(content)
            elif content_type.startswith("multipart/form-data"):
                body = _multipart(content_type, content)
            elif content_type.startswith("application/x-www-form-urlencoded"):
                body = _form(content.decode())
            else:
                body = content
        recorded = Recorded(
            method=request.method, path=request.url.path, query=dict(request.url.params),
            headers={k.lower(): v for k, v in request.headers.items()}, body=body,
            queries={k: request.url.params.get_list(k) for k in request.url.params})
        self.requests.append(recorded)
        return recorded

    def _fault(self, call: str, *, accept: bool = False) -> _Fault | None:
        for fault in self._faults:
            if fault.count > 0 and (fault.kind == "accept") == accept and fault.matches(call):
                fault.count -= 1
                return fault
        return None

    def _headers(self) -> dict[str, str]:
        headers = {"date": format_datetime(self.now().astimezone(UTC), usegmt=True)}
        if self.limit_remaining is not None:
            reset = self.now().astimezone(UTC) + timedelta(seconds=self.limit_reset_in)
            headers.update({"x-ratelimit-limit": "300", "x-ratelimit-remaining": str(self.limit_remaining),
                            "x-ratelimit-reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
            self.limit_remaining = max(0, self.limit_remaining - 1)
        return headers

    def _json(self, status: int, body: Any) -> httpx.Response:
        return httpx.Response(status, json=body, headers=self._headers())

    def _fail(self, status: int) -> httpx.Response:
        if status < 500:
            return self._json(status, {"error": f"HTTP {status}"})
        page = f"<html><body><h1>{status}</h1>The server could not answer.</body></html>"
        return httpx.Response(status, text=page, headers={**self._headers(), "content-type": "text/html"})

    def _rate_limited(self, fault: _Fault) -> httpx.Response:
        reset = self.now().astimezone(UTC) + timedelta(seconds=fault.reset_in)
        headers = {**self._headers(), "x-ratelimit-limit": "300", "x-ratelimit-remaining": "0",
                   "x-ratelimit-reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        if fault.retry_after is not None:
            value = fault.retry_after
            headers["retry-after"] = str(int(value)) if value == int(value) else str(value)
        return httpx.Response(429, json={"error": "Too many requests"}, headers=headers)

    def _link(self, response: httpx.Response, r: Recorded, page: list[dict[str, Any]]) -> None:
        if not page:
            return
        base = f"{self.base_url}{r.path}"
        limit = r.query.get("limit", "20")
        newer = urlencode({"limit": limit, "min_id": page[0]["id"]})
        older = urlencode({"limit": limit, "max_id": page[-1]["id"]})
        response.headers["link"] = f'<{base}?{older}>; rel="next", <{base}?{newer}>; rel="prev"'

    def _account_json(self) -> dict[str, Any]:
        return {
            "id": self.account_id, "username": self.username, "acct": self.username,
            "display_name": "Brand", "locked": False, "bot": False,
            "created_at": "2022-11-01T00:00:00.000Z", "note": "",
            "url": f"{self.base_url}/@{self.username}", "avatar": "", "avatar_static": "",
            "header": "", "header_static": "", "followers_count": 0, "following_count": 0,
            "statuses_count": len(self.live()), "emojis": [], "fields": [],
        }

    def _media_json(self, media: FakeMedia, *, processing: bool = False) -> dict[str, Any]:
        files = f"https://files.{self.host}/media_attachments/files/{media.id}"
        ready = media.processed and not processing
        return {
            "id": media.id, "type": "image", "url": f"{files}/original/{media.filename}" if ready else None,
            "preview_url": f"{files}/small/{media.filename}", "remote_url": None, "text_url": None,
            "meta": {}, "description": media.description, "blurhash": None,
        }

    def _status_json(self, status: FakeStatus) -> dict[str, Any]:
        parent = self.statuses.get(status.in_reply_to_id) if status.in_reply_to_id else None
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in status.text.split("\n\n") if p)
        return {
            "id": status.id,
            "created_at": _iso(status.created_at),
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": self.account_id if parent is not None else None,
            "sensitive": status.sensitive,
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"{self.base_url}/users/{self.username}/statuses/{status.id}",
            "url": f"{self.base_url}/@{self.username}/{status.id}",
            "replies_count": status.replies, "reblogs_count": status.reblogs,
            "favourites_count": status.favourites,
            **({"quotes_count": status.quotes} if self.counts_quotes else {}),
            "edited_at": _iso(status.edited_at) if status.edited_at else None,
            "content": paragraphs.replace("\n", "<br />"),
            "reblog": None,
            "application": {"name": "cmops", "website": None},
            "account": self._account_json(),
            "media_attachments": [self._media_json(self.media[m]) for m in status.media_ids],
            "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None,
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _Answer(422, f"invalid id {value!r}") from None


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _ids(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _fields(body: Any) -> dict[str, Any]:
    """Form bodies name arrays ``media_ids[]``; JSON bodies ``media_ids``."""
    if not isinstance(body, dict):
        return {}
    return {k.removesuffix("[]"): v for k, v in body.items()}


def _check_length(text: str, spoiler: str) -> None:
    if len(text) + len(spoiler) > TEXT_LIMIT:
        raise _Answer(422, f"Validation failed: Text character limit of {TEXT_LIMIT} exceeded")


def _form(text: str) -> dict[str, Any]:
    parsed = parse_qs(text, keep_blank_values=True)
    return {k: v if k.endswith("[]") else v[-1] for k, v in parsed.items()}


def _multipart(content_type: str, content: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + content)
    fields: dict[str, Any] = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode()
        else:
            fields[name] = Upload(filename, part.get_content_type(), data)
    return fields
