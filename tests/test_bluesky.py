"""The Bluesky adapter: facets and record keys as pure functions, then publishing, looking up
and deleting on a real local PDS (``pds_network``), and a few transport failures that a real
server cannot be made to produce, with httpx's MockTransport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cmops.model import Channel
from cmops.platforms import adapter_for
from cmops.platforms.base import (
    ChannelUnusable,
    Image,
    PartRequest,
    RateLimited,
    Rejected,
    Sent,
    Setup,
    Transient,
    Undecidable,
)
from cmops.platforms.bluesky import BlueskyAdapter, decode_tid, encode_tid, image_size, iso_millis, tid_for
from cmops.platforms.facets import Feature, byte_offsets, facets, find, is_handle, trim_url
from pds_network import BskyAccount, PdsNetwork

TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
WHEN = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ENV = "TEST_BSKY_PASSWORD"
#: @atproto/dev-env's fixed HS256 secret for the PDS's session tokens (dev-env const.ts).
DEV_ENV_JWT_SECRET = b"jwt-secret"


def link(start: int, end: int, uri: str) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}]}


def tag(start: int, end: int, name: str) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": name}]}


def mention(start: int, end: int, did: str) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]}


def no_dids(handle: str) -> str | None:
    return None


def values(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.value) for f in find(text)]


# --- facets: links ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "url"), [
    ("see https://example.com.", "https://example.com"),
    ("see https://example.com/a?b=1&c=2#top, then", "https://example.com/a?b=1&c=2#top"),
    ("what? https://example.com/faq?!", "https://example.com/faq"),
    ("(see https://example.com/x)", "https://example.com/x"),
    ("https://en.wikipedia.org/wiki/Bach_(disambiguation)", "https://en.wikipedia.org/wiki/Bach_(disambiguation)"),
    ("(https://en.wikipedia.org/wiki/Bach_(disambiguation))", "https://en.wikipedia.org/wiki/Bach_(disambiguation)"),
    ('"http://example.org/quoted"', "http://example.org/quoted"),
    ("HTTPS://EXAMPLE.COM/UP;", "HTTPS://EXAMPLE.COM/UP"),
    ("https://example.com/path:with:colons:", "https://example.com/path:with:colons"),
])
def test_links_lose_trailing_punctuation_and_unbalanced_parens(text: str, url: str) -> None:
    assert values(text) == [("link", url)]


@pytest.mark.parametrize("text", ["https://", "https://.", "ftp://example.com", "xhttps://example.com",
                                  "mailto:bob@example.com", "example.com without scheme"])
def test_not_links(text: str) -> None:
    assert [f for f in find(text) if f.kind == "link"] == []


def test_trim_url_keeps_balanced_brackets() -> None:
    assert trim_url("https://a.example/[x]") == "https://a.example/[x]"
    assert trim_url("https://a.example/x]") == "https://a.example/x"
    assert trim_url("https://a.example/x)).") == "https://a.example/x"


# --- facets: hashtags -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "tags"), [
    ("#winter", ["winter"]),
    ("Snow! #WinterLaunch, #tips.", ["WinterLaunch", "tips"]),
    ("#Zürich and #東京", ["Zürich", "東京"]),
    ("#2026 is digits only, #2026edition is not", ["2026edition"]),
    ("#c++ and #c#", ["c++", "c"]),
    ("#️⃣ keycap, # alone, ## double", []),
    ("word#notatag and email#x", []),
    ("https://example.com/#frag and https://example.com/page#section", []),
    ("#" + "a" * 64 + " #" + "b" * 65, ["a" * 64]),
])
def test_hashtags(text: str, tags: list[str]) -> None:
    assert [f.value for f in find(text) if f.kind == "tag"] == tags


def test_hashtag_span_covers_the_hash_but_not_trailing_punctuation() -> None:
    assert find("go #snow!") == [Feature("tag", "snow", 3, 8)]


# --- facets: mentions -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "handles"), [
    ("hi @alice.test", ["alice.test"]),
    ("hi @Alice.Example.COM.", ["alice.example.com"]),
    ("(@bob.test) and @carol-x.bsky.social,", ["bob.test", "carol-x.bsky.social"]),
    ("mail bob@example.com", []),
    ("@everyone @localhost @1.2 @-bad.test @a..b", []),
    ("@under_score.test @dave.test_x @eve.testé", []),
    ("https://bsky.app/profile/@alice.test", []),
])
def test_mentions(text: str, handles: list[str]) -> None:
    assert [f.value for f in find(text) if f.kind == "mention"] == handles


@pytest.mark.parametrize(("handle", "valid"), [
    ("alice.test", True), ("a.b.c.example", True), ("xn--bcher-kva.example", True),
    ("alice", False), ("alice.123", False), ("-a.test", False), ("a-.test", False),
    ("a" * 64 + ".test", False), (("a" * 60 + ".") * 5 + "test", False),
])
def test_is_handle(handle: str, valid: bool) -> None:
    assert is_handle(handle) is valid


# --- facets: byte offsets ---------------------------------------------------------------------

def test_byte_offsets_after_umlauts_emoji_and_cjk() -> None:
    # "Grüße" is 7 bytes (ü, ß: 2 each), 🎉 is 4, 日本 is 6: the link starts at character
    # 11 but at byte 20.
    text = "Grüße 🎉 日本 https://example.com/a. #Schnee! @alice.test"
    found = facets(text, lambda handle: "did:plc:alice" if handle == "alice.test" else None)
    assert found == [
        link(20, 41, "https://example.com/a"),
        tag(43, 50, "Schnee"),
        mention(52, 63, "did:plc:alice"),
    ]
    raw = text.encode()
    assert [raw[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode() for f in found] == [
        "https://example.com/a", "#Schnee", "@alice.test"]


def test_zwj_emoji_and_combining_marks_count_every_byte() -> None:
    family = "👩‍👩‍👧"  # three emoji joined by two ZWJ: 4+3+4+3+4 = 18 bytes, one grapheme
    text = f"{family} e\u0301 #tag"  # e + combining acute: 3 bytes
    assert facets(text, no_dids) == [tag(23, 27, "tag")]


def test_unresolvable_mention_gets_no_facet_but_the_others_stay() -> None:
    assert facets("@ghost.test #x https://a.example", no_dids) == [
        tag(12, 14, "x"), link(15, 32, "https://a.example")]


def test_byte_offsets_in_one_pass() -> None:
    assert byte_offsets("aé日🎉b", [0, 1, 2, 3, 4, 5]) == [0, 1, 3, 6, 10, 11]


def test_hostile_text_is_linear() -> None:
    samples = ["(" * 50_000 + "https://a", "#" * 100_000, "@" + "a." * 50_000, "https://" + ")" * 50_000,
               " #a" * 30_000, "@a.b " * 20_000, "https://a.example/" + ".)" * 50_000]
    started = time.monotonic()
    for text in samples:
        facets(text, no_dids)
    assert time.monotonic() - started < 5


# --- record keys (TIDs) -----------------------------------------------------------------------

def test_encode_tid_matches_the_spec_alphabet() -> None:
    assert encode_tid(0, 0) == "2222222222222"
    assert encode_tid(1, 0) == "2222222222322"  # 1 << 10 = 32**2
    # 13 characters hold 65 bits; the integer's top bit is 0, so the first is at most "b".
    assert encode_tid((1 << 53) - 1, 1023) == "bzzzzzzzzzzzz"
    assert decode_tid(encode_tid(1_764_576_000_123_456, 513)) == (1_764_576_000_123_456, 513)
    with pytest.raises(ValueError):
        encode_tid(1 << 53, 0)


def test_tids_are_valid_and_deterministic() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        seed = rng.randbytes(rng.randrange(0, 40))
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 5_000_000_000))
        key = tid_for(seed, when)
        assert TID.match(key), key
        assert tid_for(seed, when) == key


def test_tid_time_is_the_scheduled_second_plus_under_a_second() -> None:
    key = tid_for(b"post/channel/0", WHEN + timedelta(microseconds=999_999))
    micros, clock = decode_tid(key)
    second = int(WHEN.timestamp()) * 1_000_000
    assert second <= micros < second + 1_000_000
    assert 0 <= clock < 1024
    # Truncated to the second; the same instant in another zone is the same key.
    assert tid_for(b"post/channel/0", WHEN) == key
    berlin = WHEN.astimezone(ZoneInfo("Europe/Berlin"))
    assert tid_for(b"post/channel/0", berlin) == key
    assert tid_for(b"post/channel/0", WHEN.replace(tzinfo=None)) == key  # naive means UTC


def test_different_seeds_give_different_keys() -> None:
    keys = {tid_for(f"post-{n}/bsky/{n % 3}".encode(), WHEN) for n in range(5000)}
    assert len(keys) == 5000


def test_keys_sort_by_scheduled_time() -> None:
    rng = random.Random(11)
    for _ in range(1000):
        a, b = rng.randbytes(8), rng.randbytes(8)
        early = WHEN + timedelta(seconds=rng.randrange(0, 10**8))
        late = early + timedelta(seconds=rng.randrange(1, 10**6))
        assert tid_for(a, early) < tid_for(b, late)


def test_adapter_key_is_tid_for(tmp_path: Path) -> None:
    adapter = BlueskyAdapter(offline_setup(tmp_path, httpx.Client()))
    assert adapter.key(b"seed", WHEN) == tid_for(b"seed", WHEN)


# --- small helpers ------------------------------------------------------------------------------

def test_created_at_is_utc_milliseconds_z() -> None:
    assert iso_millis(datetime(2026, 12, 1, 9, 0, 0, 123_456, tzinfo=ZoneInfo("Europe/Berlin"))) == (
        "2026-12-01T08:00:00.123Z")
    assert iso_millis(datetime(2026, 12, 1, 8, 0)) == "2026-12-01T08:00:00.000Z"


def make_png(width: int, height: int) -> bytes:
    """A real (tiny, red) RGB PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xc8\x1e\x1e" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_image_size_reads_headers() -> None:
    assert image_size(make_png(3, 2)) == (3, 2)
    assert image_size(b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 8) == (640, 480)
    jpeg = (b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
            + b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 1080, 1920, 3) + b"\x00" * 9)
    assert image_size(jpeg) == (1920, 1080)
    vp8x = (b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8
            + (799).to_bytes(3, "little") + (599).to_bytes(3, "little"))
    assert image_size(vp8x) == (800, 600)
    assert image_size(b"not an image") is None
    assert image_size(b"\xff\xd8\xff") is None


# --- adapter plumbing shared by the PDS tests -------------------------------------------------

@dataclass
class Call:
    nsid: str
    status: int
    error: str | None


@dataclass
class Rig:
    """An adapter on one account, and every XRPC call it made (with the PDS's answer)."""

    adapter: BlueskyAdapter
    channel: Channel
    calls: list[Call] = field(default_factory=list)
    post: str = "2026-12-01-winter-launch"

    def part(self, text: str, index: int = 0, count: int = 1, **kw: Any) -> PartRequest:
        key = self.adapter.key(f"{self.post}\0{self.channel.id}\0{index}".encode(), WHEN)
        base = PartRequest(post=self.post, channel=self.channel, index=index, count=count, text=text,
                           key=key, created_at=datetime(2026, 12, 1, 8, 0, 1, 250_000, tzinfo=UTC))
        return replace(base, **kw)

    def names(self) -> list[str]:
        return [call.nsid for call in self.calls]


def offline_setup(tmp_path: Path, client: httpx.Client, env: dict[str, str] | None = None) -> Setup:
    channel = Channel(id="bsky", platform="bluesky", zone=ZoneInfo("UTC"), language="en",
                      options={"service": "http://pds.invalid", "handle": "brand.test", "password_env": ENV})
    return Setup(channel=channel, client=client, root=tmp_path, env=env if env is not None else {ENV: "pw"})


@pytest.fixture
def client() -> Iterator[tuple[httpx.Client, list[Call]]]:
    calls: list[Call] = []

    def note(response: httpx.Response) -> None:
        response.read()
        error = None
        if response.status_code >= 400:
            try:
                error = response.json().get("error")
            except ValueError:
                error = None
        calls.append(Call(response.request.url.path.removeprefix("/xrpc/"), response.status_code, error))

    with httpx.Client(timeout=30, event_hooks={"response": [note]}) as http:
        yield http, calls


@pytest.fixture
def make_rig(client: tuple[httpx.Client, list[Call]], tmp_path: Path) -> Callable[..., Rig]:
    http, calls = client

    def make(account: BskyAccount, password: str | None = None, env: dict[str, str] | None = None) -> Rig:
        channel = Channel(id="bsky", platform="bluesky", zone=ZoneInfo("UTC"), language="en",
                          options=account.options(ENV))
        if env is None:
            env = {ENV: account.password if password is None else password}
        adapter = adapter_for(Setup(channel=channel, client=http, root=tmp_path, env=env))
        assert isinstance(adapter, BlueskyAdapter)
        return Rig(adapter=adapter, channel=channel, calls=calls)

    return make


def bytes_of(text: str) -> int:
    return len(text.encode())


def forged_expired(token: str) -> str:
    """``token`` with ``exp`` in the past, correctly signed with dev-env's JWT secret, so the PDS
    says ExpiredToken (a token merely tampered with is InvalidToken)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 60)
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(DEV_ENV_JWT_SECRET, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


# --- against the real PDS ---------------------------------------------------------------------

@pytest.mark.pds
def test_thread_with_link_tag_mention_image_and_langs(
    pds_network: PdsNetwork, bsky_account: BskyAccount, make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    friend = pds_network.create_account("friend")
    rig = make_rig(bsky_account)
    png = make_png(3, 2)
    (tmp_path / "winter.png").write_bytes(png)
    image = Image(tmp_path / "winter.png", alt="A red square, the winter theme's accent", mime="image/png")
    lead = "Grüße 🎉 日本 — read "
    first = f"{lead}https://example.com/winter?a=1. #WinterLaunch! cc @{friend.handle.upper()}"
    texts = [first, "Part two, with a picture 📷", "Teil drei: #Winter2026"]

    parts: list[PartRequest] = []
    sent: list[Sent] = []
    for index, text in enumerate(texts):
        root = sent[0] if sent else None
        parent = sent[-1] if sent else None
        part = rig.part(text, index, 3, root=root, parent=parent, language="de" if index == 2 else "en",
                        images=(image,) if index == 1 else ())
        parts.append(part)
        sent.append(rig.adapter.publish(part))

    records = {r["uri"]: r for r in bsky_account.list_posts()}
    assert sorted(records) == sorted(s.uri for s in sent if s.uri)
    for part, done in zip(parts, sent, strict=True):
        assert done == Sent(id=f"at://{bsky_account.did}/app.bsky.feed.post/{part.key}",
                            uri=f"at://{bsky_account.did}/app.bsky.feed.post/{part.key}",
                            cid=records[str(done.uri)]["cid"],
                            url=f"https://bsky.app/profile/{bsky_account.handle}/post/{part.key}")

    one, two, three = (records[str(s.uri)]["value"] for s in sent)
    url_start = bytes_of(lead)
    tag_start = url_start + bytes_of("https://example.com/winter?a=1. ")
    at = bytes_of(first) - bytes_of(f"@{friend.handle}")
    assert (url_start, tag_start) == (29, 61)  # 13 characters before the link, but 29 bytes
    assert one == {
        "$type": "app.bsky.feed.post",
        "text": first,
        "createdAt": "2026-12-01T08:00:01.250Z",
        "langs": ["en"],
        "facets": [
            link(url_start, url_start + 30, "https://example.com/winter?a=1"),
            tag(tag_start, tag_start + 13, "WinterLaunch"),
            mention(at, bytes_of(first), friend.did),
        ],
    }
    root_ref = {"uri": sent[0].uri, "cid": sent[0].cid}
    assert two["reply"] == {"root": root_ref, "parent": root_ref}
    assert three["reply"] == {"root": root_ref, "parent": {"uri": sent[1].uri, "cid": sent[1].cid}}
    assert "facets" not in two
    assert two["langs"] == ["en"] and three["langs"] == ["de"]
    assert three["facets"] == [tag(bytes_of("Teil drei: "), bytes_of(texts[2]), "Winter2026")]
    blob = two["embed"]["images"][0]["image"]
    assert two["embed"] == {"$type": "app.bsky.embed.images", "images": [{
        "alt": image.alt, "aspectRatio": {"width": 3, "height": 2},
        "image": {"$type": "blob", "ref": blob["ref"], "mimeType": "image/png", "size": len(png)}}]}
    assert "embed" not in one and "embed" not in three
    # One login for the whole thread; the mention resolved once.
    assert rig.names().count("com.atproto.server.createSession") == 1
    assert rig.names().count("com.atproto.identity.resolveHandle") == 1


@pytest.mark.pds
def test_unresolvable_mention_is_plain_text(bsky_account: BskyAccount, make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(bsky_account)
    sent = rig.adapter.publish(rig.part("hello @nobody-here.test and #hello"))
    record = bsky_account.get_record(str(sent.uri).rsplit("/", 1)[1])
    assert record is not None
    assert record["value"]["facets"] == [tag(bytes_of("hello @nobody-here.test and "), 34, "hello")]
    assert Call("com.atproto.identity.resolveHandle", 400, "InvalidRequest") in rig.calls


@pytest.mark.pds
def test_lookup_finds_a_published_part_and_not_an_unpublished_one(
    bsky_account: BskyAccount, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig(bsky_account)
    part = rig.part("looked up later")
    sent = rig.adapter.publish(part)
    assert rig.adapter.lookup(part, WHEN) == sent
    never = rig.part("never published", index=1, count=2)
    assert rig.adapter.lookup(never, WHEN) is None
    assert Call("com.atproto.repo.getRecord", 400, "RecordNotFound") in rig.calls


@pytest.mark.pds
def test_the_same_key_twice_is_maybe_sent_and_lookup_finds_the_original(
    bsky_account: BskyAccount, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig(bsky_account)
    part = rig.part("the original")
    sent = rig.adapter.publish(part)
    with pytest.raises(Transient) as caught:
        rig.adapter.publish(replace(part, text="a second attempt"))
    assert caught.value.maybe_sent is True
    assert "HTTP 500" in str(caught.value)
    assert rig.calls[-1] == Call("com.atproto.repo.createRecord", 500, "InternalServerError")
    assert rig.adapter.lookup(part, WHEN) == sent
    posts = bsky_account.list_posts()
    assert [(p["uri"], p["value"]["text"]) for p in posts] == [(sent.uri, "the original")]


@pytest.mark.pds
def test_delete_removes_the_record_and_deleting_again_is_fine(
    bsky_account: BskyAccount, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig(bsky_account)
    keep = rig.adapter.publish(rig.part("stays", index=0, count=2))
    part = rig.part("goes away", index=1, count=2)
    sent = rig.adapter.publish(part)
    rig.adapter.delete(sent)
    assert bsky_account.get_record(part.key) is None
    rig.adapter.delete(sent)
    assert rig.calls[-1] == Call("com.atproto.repo.deleteRecord", 200, None)
    assert rig.adapter.lookup(part, WHEN) is None
    assert [p["uri"] for p in bsky_account.list_posts()] == [keep.uri]


@pytest.mark.pds
def test_wrong_password_makes_the_channel_unusable(bsky_account: BskyAccount,
                                                   make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(bsky_account, password="not-the-password-123")
    with pytest.raises(ChannelUnusable) as caught:
        rig.adapter.publish(rig.part("never"))
    message = str(caught.value)
    assert ENV in message and bsky_account.handle in message and "AuthenticationRequired" in message
    assert "not-the-password-123" not in message
    assert rig.calls == [Call("com.atproto.server.createSession", 401, "AuthenticationRequired")]
    assert bsky_account.list_posts() == []


@pytest.mark.pds
def test_missing_password_variable_makes_the_channel_unusable(
    bsky_account: BskyAccount, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig(bsky_account, env={})
    with pytest.raises(ChannelUnusable, match=f"environment variable {ENV} is not set"):
        rig.adapter.publish(rig.part("never"))
    with pytest.raises(Undecidable, match=ENV):
        rig.adapter.lookup(rig.part("never"), WHEN)
    assert rig.calls == []


@pytest.mark.pds
def test_expired_access_token_is_refreshed_and_the_call_retried(
    bsky_account: BskyAccount, make_rig: Callable[..., Rig]
) -> None:
    rig = make_rig(bsky_account)
    rig.adapter.publish(rig.part("first, with a fresh session", 0, 2))
    session = rig.adapter._session
    assert session is not None
    session.access = forged_expired(session.access)
    rig.calls.clear()
    second = rig.part("second, after the token expired", 1, 2)
    sent = rig.adapter.publish(second)
    assert rig.calls == [
        Call("com.atproto.repo.createRecord", 400, "ExpiredToken"),
        Call("com.atproto.server.refreshSession", 200, None),
        Call("com.atproto.repo.createRecord", 200, None),
    ]
    assert rig.adapter.lookup(second, WHEN) == sent


@pytest.mark.pds
def test_unverifiable_tokens_fall_back_to_a_new_login(bsky_account: BskyAccount,
                                                      make_rig: Callable[..., Rig]) -> None:
    # The PDS answers InvalidToken (not ExpiredToken) for a token it cannot verify, e.g. after
    # its secret changed; the adapter renews then too. A refresh token it cannot verify
    # either means logging in again.
    rig = make_rig(bsky_account)
    first = rig.part("published, then the tokens go bad", 0, 2)
    sent = rig.adapter.publish(first)
    session = rig.adapter._session
    assert session is not None
    session.access, session.refresh = "not.a.token", "not.a.token"
    rig.calls.clear()
    # getRecord is public: the PDS ignores a bad token there.
    assert rig.adapter.lookup(first, WHEN) == sent
    assert rig.calls == [Call("com.atproto.repo.getRecord", 200, None)]
    rig.calls.clear()
    second = rig.adapter.publish(rig.part("after a new login", 1, 2))
    assert rig.calls == [
        Call("com.atproto.repo.createRecord", 400, "InvalidToken"),
        Call("com.atproto.server.refreshSession", 400, "InvalidToken"),
        Call("com.atproto.server.createSession", 200, None),
        Call("com.atproto.repo.createRecord", 200, None),
    ]
    # listRecords answers newest (highest) record key first.
    newest_first = sorted([str(sent.uri), str(second.uri)], reverse=True)
    assert [p["uri"] for p in bsky_account.list_posts()] == newest_first


@pytest.mark.pds
def test_edit_is_rejected(bsky_account: BskyAccount, make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(bsky_account)
    part = rig.part("cannot change")
    sent = rig.adapter.publish(part)
    with pytest.raises(Rejected, match="cannot be edited"):
        rig.adapter.edit(sent, replace(part, text="changed"))
    record = bsky_account.get_record(part.key)
    assert record is not None and record["value"]["text"] == "cannot change"


# --- failures a real server will not produce on demand ----------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]
SESSION = {"did": "did:plc:brand", "handle": "brand.test", "accessJwt": "a", "refreshJwt": "r"}


def fake(tmp_path: Path, routes: dict[str, Handler]) -> BlueskyAdapter:
    def handle(request: httpx.Request) -> httpx.Response:
        nsid = request.url.path.removeprefix("/xrpc/")
        if nsid in routes:
            return routes[nsid](request)
        if nsid == "com.atproto.server.createSession":
            return httpx.Response(200, json=SESSION)
        return httpx.Response(404, json={"error": "MethodNotImplemented"})

    return BlueskyAdapter(offline_setup(tmp_path, httpx.Client(transport=httpx.MockTransport(handle))))


def offline_part(text: str = "hi", **kw: Any) -> PartRequest:
    channel = Channel(id="bsky", platform="bluesky", zone=ZoneInfo("UTC"), language="en", options={})
    base = PartRequest(post="p", channel=channel, index=0, count=1, text=text, key=tid_for(b"p", WHEN),
                       created_at=WHEN)
    return replace(base, **kw)


def raises(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


def test_no_connection_at_login_is_transient_and_certainly_not_sent(tmp_path: Path) -> None:
    adapter = fake(tmp_path, {"com.atproto.server.createSession": raises(httpx.ConnectError("refused"))})
    with pytest.raises(Transient) as caught:
        adapter.publish(offline_part())
    assert caught.value.maybe_sent is False


def test_server_error_at_login_is_not_sent_and_a_missing_service_is_unusable(tmp_path: Path) -> None:
    adapter = fake(tmp_path, {"com.atproto.server.createSession": lambda r: httpx.Response(503)})
    with pytest.raises(Transient) as caught:
        adapter.publish(offline_part("hi @alice.test"))
    assert caught.value.maybe_sent is False
    server_error = httpx.MockTransport(lambda r: httpx.Response(500))
    setup = offline_setup(tmp_path, httpx.Client(transport=server_error))
    setup.channel.options.pop("service")
    with pytest.raises(ChannelUnusable, match="needs both service and handle"):
        BlueskyAdapter(setup).publish(offline_part("hi @alice.test"))


def test_timeout_on_create_record_is_maybe_sent(tmp_path: Path) -> None:
    adapter = fake(tmp_path, {"com.atproto.repo.createRecord": raises(httpx.ReadTimeout("slow"))})
    with pytest.raises(Transient) as caught:
        adapter.publish(offline_part())
    assert caught.value.maybe_sent is True


def test_failed_upload_is_not_sent(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(make_png(1, 1))
    adapter = fake(tmp_path, {"com.atproto.repo.uploadBlob": lambda r: httpx.Response(502, text="gateway")})
    image = Image(tmp_path / "a.png", "alt", "image/png")
    with pytest.raises(Transient) as caught:
        adapter.publish(offline_part(images=(image,)))
    assert caught.value.maybe_sent is False


def test_resolve_failure_is_retryable_not_a_silent_missing_mention(tmp_path: Path) -> None:
    adapter = fake(tmp_path, {"com.atproto.identity.resolveHandle": lambda r: httpx.Response(503)})
    with pytest.raises(Transient) as caught:
        adapter.publish(offline_part("hi @alice.test"))
    assert caught.value.maybe_sent is False


def test_more_than_four_images_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(make_png(1, 1))
    image = Image(tmp_path / "a.png", "alt", "image/png")
    adapter = fake(tmp_path, {"com.atproto.repo.uploadBlob": lambda r: httpx.Response(200, json={})})
    with pytest.raises(Rejected, match="at most 4"):
        adapter.publish(offline_part(images=(image,) * 5))


def test_lookup_server_error_is_undecidable(tmp_path: Path) -> None:
    adapter = fake(tmp_path, {"com.atproto.repo.getRecord": lambda r: httpx.Response(500)})
    with pytest.raises(Undecidable, match="HTTP 500"):
        adapter.lookup(offline_part(), WHEN)


def test_rate_limited_create_record(tmp_path: Path) -> None:
    adapter = fake(tmp_path, {"com.atproto.repo.createRecord": lambda r: httpx.Response(
        429, headers={"retry-after": "30"}, json={"error": "RateLimitExceeded"})})
    with pytest.raises(RateLimited) as caught:
        adapter.publish(offline_part())
    assert caught.value.retry_after == 30.0


def test_reply_without_cid_is_rejected_before_anything_is_sent(tmp_path: Path) -> None:
    adapter = fake(tmp_path, {})
    root = Sent(id="at://did:plc:brand/app.bsky.feed.post/3abc")
    with pytest.raises(Rejected, match="no CID"):
        adapter.publish(offline_part(root=root, parent=root))


def test_delete_needs_an_at_uri(tmp_path: Path) -> None:
    with pytest.raises(Rejected, match="not the AT URI"):
        fake(tmp_path, {}).delete(Sent(id="12345"))
