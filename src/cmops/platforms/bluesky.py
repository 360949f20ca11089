"""Bluesky (any atproto PDS): a thread part is an ``app.bsky.feed.post`` record.

Exactly-once rests on the record key. The engine asks :meth:`BlueskyAdapter.key` for a
deterministic TID per (post, channel, part) and writes it into its intent; the record is
created under that key, so a second attempt cannot make a second post (the PDS answers
HTTP 500 for an existing key, which reads as "maybe sent") and :meth:`BlueskyAdapter.lookup`
finds the record by its key after a crash.

The session (``com.atproto.server.createSession``) is made on first use and kept for the
adapter's life; an expired or unverifiable access token is renewed once per call, with the
refresh token or else a new login.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from cmops.platforms import facets
from cmops.platforms.base import (
    ChannelUnusable,
    Image,
    PartRequest,
    PlatformError,
    Rejected,
    Sent,
    Setup,
    Transient,
    Undecidable,
    raise_for_status,
    transport_error,
)

POST = "app.bsky.feed.post"
#: The sortable base32 alphabet of TIDs (atproto spec "Record Key" / "TID").
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
MAX_IMAGES = 4
#: Answers (``error`` of an XRPC error body) that mean "this access token is no good".
TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
WEB = "https://bsky.app"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_tid(micros: int, clock_id: int) -> str:
    """A TID: 13 chars of ``micros << 10 | clock_id`` in sortable base32, top bit 0."""
    if not 0 <= micros < 1 << 53:
        raise ValueError(f"a TID needs 0 <= microseconds < 2**53, got {micros}")
    value = (micros << 10) | (clock_id & 0x3FF)
    return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def decode_tid(tid: str) -> tuple[int, int]:
    """``(microseconds since the epoch, clock id)`` of a TID (for tests and diagnostics)."""
    value = 0
    for char in tid:
        value = value << 5 | TID_ALPHABET.index(char)
    return value >> 10, value & 0x3FF


def tid_for(seed: bytes, scheduled: datetime) -> str:
    """The deterministic TID for ``seed`` at ``scheduled`` (naive means UTC).

    The timestamp is the scheduled second plus a seed-derived offset under one second, the
    clock id 10 more seed bits: the same part always gets the same key, parts of different
    posts at the same instant get different keys, and keys still sort by schedule.
    """
    moment = scheduled if scheduled.tzinfo else scheduled.replace(tzinfo=UTC)
    seconds = (moment - EPOCH) // timedelta(seconds=1)
    digest = hashlib.sha256(b"cmops bluesky tid\x00" + seed).digest()
    offset = int.from_bytes(digest[:4], "big") % 1_000_000
    clock_id = int.from_bytes(digest[4:6], "big") & 0x3FF
    return encode_tid(seconds * 1_000_000 + offset, clock_id)


def iso_millis(moment: datetime) -> str:
    """``createdAt`` as Bluesky writes it: UTC, milliseconds, ``Z`` (naive means UTC)."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a PNG, GIF, WebP or JPEG from its header, else ``None``.

    Only for the embed's ``aspectRatio`` (so apps reserve the right space before loading);
    reading headers avoids an imaging dependency.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp_size(data)
        if size is None:
            return None
        width, height = size
    elif data[:2] == b"\xff\xd8":
        size = _jpeg_size(data)
        if size is None:
            return None
        width, height = size
    else:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG segments to the first start-of-frame marker (SOF0..SOF15 but DHT, JPG, DAC)."""
    pos = 2
    while pos + 9 < len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


@dataclass
class _Session:
    did: str
    handle: str
    access: str
    refresh: str


class BlueskyAdapter:
    """Publishes thread parts as posts of one account on the channel's ``service`` (PDS)."""

    can_edit: ClassVar[bool] = False
    can_delete: ClassVar[bool] = True
    can_lookup: ClassVar[bool] = True

    def __init__(self, setup: Setup) -> None:
        self._setup = setup
        options = setup.channel.options
        self._service = str(options.get("service") or "").rstrip("/")
        self._handle = str(options.get("handle") or "").removeprefix("@")
        self._session: _Session | None = None
        #: handle -> DID or None; mentions repeat across the parts of a thread.
        self._dids: dict[str, str | None] = {}

    # --- the Adapter protocol -------------------------------------------------------------

    def key(self, seed: bytes, scheduled: datetime) -> str:
        """The record key: a TID, the only key shape ``app.bsky.feed.post`` accepts."""
        return tid_for(seed, scheduled)

    def publish(self, part: PartRequest) -> Sent:
        """``createRecord`` under ``part.key``. Images are uploaded and mentions resolved
        first; an existing key answers HTTP 500, i.e. Transient(maybe_sent=True)."""
        what = self._what(f"part {part.index + 1}/{part.count} of {part.post}")
        session = self._login()
        record = self._record(part, what)
        body = {"repo": session.did, "collection": POST, "rkey": part.key, "validate": True,
                "record": record}
        response = self._call("POST", "com.atproto.repo.createRecord", what, json=body)
        raise_for_status(response, what)
        return self._sent(*_ref(_json(response, what), what))

    def lookup(self, part: PartRequest, intent_at: datetime) -> Sent | None:
        """The record under the part's key (the key is ours alone, so it is the part)."""
        what = self._what(f"looking up part {part.index + 1}/{part.count} of {part.post}")
        try:
            session = self._login()
            params = {"repo": session.did, "collection": POST, "rkey": part.key}
            response = self._call("GET", "com.atproto.repo.getRecord", what, params=params)
            if response.status_code == 400 and _error(response) == "RecordNotFound":
                return None
            raise_for_status(response, what)
            return self._sent(*_ref(_json(response, what), what))
        except PlatformError as exc:
            raise Undecidable(f"{what}: cannot tell whether it was posted: {exc}") from exc

    #: ``app.bsky.feed.getPosts`` takes at most 25 URIs.
    COUNT_BATCH: ClassVar[int] = 25

    def counts(self, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Public counts of up to 25 posts (AT URIs) from the AppView, through the account's
        PDS with the session. Posts the AppView does not know (deleted) are left out."""
        what = self._what(f"counts of {len(ids)} post(s)")
        response = self._call("GET", "app.bsky.feed.getPosts", what, params={"uris": list(ids)})
        raise_for_status(response, what)
        found: dict[str, dict[str, int]] = {}
        for view in _json(response, what).get("posts") or []:
            if not isinstance(view, dict) or view.get("uri") not in ids:
                continue
            found[view["uri"]] = {name: int(view[key]) for name, key in _COUNT_FIELDS
                                  if isinstance(view.get(key), int)}
        return found

    def edit(self, sent: Sent, part: PartRequest) -> Sent:
        raise Rejected(
            f"{self._what(part.post)}: Bluesky posts cannot be edited; the published post "
            f"{sent.url or sent.id} stays as it is (retract it and publish a new post to change it)")

    def delete(self, sent: Sent) -> None:
        """``deleteRecord`` of the AT URI's record; a record that is already gone is fine."""
        what = self._what(f"deleting {sent.uri or sent.id}")
        repo, collection, rkey = _split_uri(sent.uri or sent.id, what)
        body = {"repo": repo, "collection": collection, "rkey": rkey}
        response = self._call("POST", "com.atproto.repo.deleteRecord", what, json=body)
        if response.status_code == 400 and _error(response) == "RecordNotFound":
            return
        raise_for_status(response, what)

    # --- building the record ----------------------------------------------------------------

    def _record(self, part: PartRequest, what: str) -> dict[str, Any]:
        """The post record. Everything that can fail before ``createRecord`` fails with
        ``maybe_sent=False``: nothing has been posted yet."""
        record: dict[str, Any] = {"$type": POST, "text": part.text, "createdAt": iso_millis(part.created_at)}
        if part.language:
            record["langs"] = [part.language]
        try:
            found = facets.facets(part.text, lambda handle: self._resolve(handle, what))
            if found:
                record["facets"] = found
            if part.images:
                record["embed"] = self._embed(part.images, what)
        except PlatformError as exc:
            exc.maybe_sent = False
            raise
        reply = _reply(part, what)
        if reply is not None:
            record["reply"] = reply
        return record

    def _resolve(self, handle: str, what: str) -> str | None:
        """The DID of a mentioned handle; ``None`` when the PDS cannot resolve it (HTTP 400)."""
        if handle not in self._dids:
            what = f"{what}: resolving @{handle}"
            url = f"{self._service}/xrpc/com.atproto.identity.resolveHandle"
            response = self._send("GET", url, what, params={"handle": handle})
            did = None
            if response.status_code != 400:
                raise_for_status(response, what)
                did = str(_json(response, what).get("did") or "") or None
            self._dids[handle] = did
        return self._dids[handle]

    def _embed(self, images: tuple[Image, ...], what: str) -> dict[str, Any]:
        if len(images) > MAX_IMAGES:
            raise Rejected(f"{what}: {len(images)} images; Bluesky takes at most {MAX_IMAGES}")
        entries = []
        for image in images:
            try:
                data = image.read()
            except OSError as exc:
                raise Rejected(f"{what}: cannot read {image.path}: {exc}") from exc
            doing = f"{what}: uploading {image.path.name}"
            response = self._call("POST", "com.atproto.repo.uploadBlob", doing, content=data,
                                  headers={"Content-Type": image.mime})
            raise_for_status(response, doing)
            blob = _json(response, doing).get("blob")
            if not isinstance(blob, dict):
                raise Transient(f"{doing}: the answer has no blob")
            entry: dict[str, Any] = {"alt": image.alt, "image": blob}
            size = image_size(data)
            if size is not None:
                entry["aspectRatio"] = {"width": size[0], "height": size[1]}
            entries.append(entry)
        return {"$type": "app.bsky.embed.images", "images": entries}

    def _sent(self, uri: str, cid: str) -> Sent:
        session = self._login()
        rkey = uri.rsplit("/", 1)[-1]
        return Sent(id=uri, uri=uri, cid=cid, url=f"{WEB}/profile/{session.handle}/post/{rkey}")

    def _what(self, doing: str) -> str:
        return f"bluesky channel {self._setup.channel.id!r}: {doing}"

    # --- session and HTTP -------------------------------------------------------------------

    def _login(self, *, again: bool = False) -> _Session:
        """The session, made on first use (``again``: a new one). Whatever goes wrong here,
        no post went out, so no error of a login is ``maybe_sent``."""
        if self._session is None or again:
            try:
                self._session = self._create_session()
            except PlatformError as exc:
                exc.maybe_sent = False
                raise
        return self._session

    def _create_session(self) -> _Session:
        """``createSession``; a refused login (any 4xx but 429) makes the channel unusable."""
        what = self._what("login")
        if not self._service or not self._handle:
            raise ChannelUnusable(f"{what}: cmops.yaml needs both service and handle for this channel")
        password = self._setup.secret("password_env")
        url = f"{self._service}/xrpc/com.atproto.server.createSession"
        response = self._send("POST", url, what, json={"identifier": self._handle, "password": password})
        if 400 <= response.status_code < 500 and response.status_code != 429:
            env = self._setup.channel.options.get("password_env")
            raise ChannelUnusable(
                f"{what}: {self._service} refused the login of {self._handle} "
                f"(HTTP {response.status_code} {_error(response) or ''}); check the app password "
                f"in the environment variable {env}")
        raise_for_status(response, what)
        return _session_from(_json(response, what), what)

    def _renew(self) -> _Session:
        """A fresh access token: ``refreshSession`` with the refresh token, or a new login
        when the refresh token is no good either."""
        session = self._login()
        what = self._what("refreshing the session")
        url = f"{self._service}/xrpc/com.atproto.server.refreshSession"
        response = self._send("POST", url, what, headers={"Authorization": f"Bearer {session.refresh}"})
        if response.status_code != 200:
            return self._login(again=True)
        self._session = _session_from(_json(response, what), what)
        return self._session

    def _call(self, method: str, nsid: str, what: str, *, params: Mapping[str, str | list[str]] | None = None,
              json: dict[str, Any] | None = None, content: bytes | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        """An authenticated XRPC call, retried once with a renewed token if the PDS says the
        token expired (or cannot be verified: a PDS whose secret changed says that)."""
        url = f"{self._service}/xrpc/{nsid}"
        for attempt in range(2):
            session = self._renew() if attempt else self._login()
            auth = {**(headers or {}), "Authorization": f"Bearer {session.access}"}
            response = self._send(method, url, what, params=params, json=json, content=content, headers=auth)
            if _error(response) not in TOKEN_ERRORS:
                return response
        raise ChannelUnusable(f"{what}: the PDS refuses even a renewed session ({_error(response)})")

    def _send(self, method: str, url: str, what: str, *, params: Mapping[str, str | list[str]] | None = None,
              json: dict[str, Any] | None = None, content: bytes | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        """One HTTP request through the shared client; network failures become Transient."""
        try:
            return self._setup.client.request(method, url, params=params, json=json, content=content,
                                              headers=headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc, what) from exc


_COUNT_FIELDS = (("likes", "likeCount"), ("reposts", "repostCount"), ("replies", "replyCount"),
                 ("quotes", "quoteCount"), ("bookmarks", "bookmarkCount"))


def _reply(part: PartRequest, what: str) -> dict[str, Any] | None:
    """``reply`` refs for parts after the first: the thread's first part and the one before."""
    parent = part.parent or part.root
    root = part.root or part.parent
    if parent is None or root is None:
        return None
    refs = {}
    for name, sent in (("root", root), ("parent", parent)):
        if not sent.cid:
            raise Rejected(f"{what}: the {name} post {sent.id} has no CID in its receipt; cannot reply to it",
                           maybe_sent=False)
        refs[name] = {"uri": sent.uri or sent.id, "cid": sent.cid}
    return refs


def _split_uri(uri: str, what: str) -> tuple[str, str, str]:
    """``(repo, collection, rkey)`` of ``at://repo/collection/rkey``."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or not all(parts):
        raise Rejected(f"{what}: {uri!r} is not the AT URI of a record")
    return parts[0], parts[1], parts[2]


def _ref(answer: dict[str, Any], what: str) -> tuple[str, str]:
    """``(uri, cid)`` of a record answer (createRecord, getRecord)."""
    uri, cid = answer.get("uri"), answer.get("cid")
    if not isinstance(uri, str) or not isinstance(cid, str):
        raise Transient(f"{what}: the answer names no record: {answer!r:.200}", maybe_sent=True)
    return uri, cid


def _session_from(answer: dict[str, Any], what: str) -> _Session:
    try:
        return _Session(did=str(answer["did"]), handle=str(answer["handle"]),
                        access=str(answer["accessJwt"]), refresh=str(answer["refreshJwt"]))
    except KeyError as exc:
        raise Transient(f"{what}: the session answer lacks {exc}") from exc


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object of a successful answer; anything else is a server fault."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Transient(f"{what}: unexpected answer (HTTP {response.status_code}): {response.text[:200]}",
                        maybe_sent=True)
    return data


def _error(response: httpx.Response) -> str | None:
    """The XRPC ``error`` name of an error answer (``RecordNotFound``, ``ExpiredToken``...)."""
    if response.status_code < 400:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None
