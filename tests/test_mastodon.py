"""The Mastodon adapter against an in-memory Mastodon (tests/fake_mastodon.py).

Every test asserts the exact requests the server saw, and what ends up on the account.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
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
from cmops.platforms.mastodon import MastodonAdapter
from fake_mastodon import FakeMastodon, Upload

TOKEN = "secret"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def channel(**options: Any) -> Channel:
    return Channel(id="masto", platform="mastodon", zone=ZoneInfo("Europe/Berlin"), language="en",
                   options={"platform": "mastodon", "instance": "https://social.example",
                            "token_env": "TEST_MASTO_TOKEN", **options})


class Rig:
    """A fake server, an adapter talking to it, and the pauses the adapter asked for."""

    def __init__(self, root: Path, *, token: str = TOKEN, env: dict[str, str] | None = None,
                 **options: Any) -> None:
        self.fake = FakeMastodon(token="secret")
        self.root = root
        self.pauses: list[float] = []
        self.setup = Setup(channel=channel(**options), client=self.fake.client(), root=root,
                           env={"TEST_MASTO_TOKEN": token} if env is None else env,
                           sleep=self.pauses.append)
        self.adapter = MastodonAdapter(self.setup)

    def part(self, text: str = "Hello, fediverse!", *, index: int = 0, count: int = 1,
             parent: Sent | None = None, post: str = "launch", **fields: Any) -> PartRequest:
        seed = f"{post}/masto/{index}".encode()
        return PartRequest(post=post, channel=self.setup.channel, index=index, count=count, text=text,
                           key=self.adapter.key(seed, datetime(2025, 3, 1, 12, tzinfo=ZoneInfo("UTC"))),
                           created_at=self.fake.now(), parent=parent, root=parent, **fields)

    def image(self, name: str = "chart.png", alt: str = "A chart going up") -> Image:
        path = self.root / name
        path.write_bytes(PNG)
        return Image(path=path, alt=alt, mime="image/png")


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


# -- keys and setup ---------------------------------------------------------------------


def test_key_is_deterministic_per_seed(rig: Rig) -> None:
    when = datetime(2025, 3, 1, 12, tzinfo=ZoneInfo("UTC"))
    key = rig.adapter.key(b"launch/masto/0", when)
    assert key.startswith("cmops-")
    assert key == MastodonAdapter(rig.setup).key(b"launch/masto/0", when)
    assert key == rig.adapter.key(b"launch/masto/0", when + timedelta(hours=3))
    assert key != rig.adapter.key(b"launch/masto/1", when)


def test_registry_builds_the_adapter(rig: Rig) -> None:
    adapter = adapter_for(rig.setup)
    assert isinstance(adapter, MastodonAdapter)
    assert (adapter.can_edit, adapter.can_delete, adapter.can_lookup) == (True, True, True)


# -- publish ----------------------------------------------------------------------------


def test_single_post(rig: Rig) -> None:
    part = rig.part()
    sent = rig.adapter.publish(part)

    assert rig.fake.calls() == ["POST /api/v1/statuses"]
    request = rig.fake.requests[0]
    assert request.headers["authorization"] == "Bearer secret"
    assert request.idempotency_key == part.key
    assert request.body == {"status": "Hello, fediverse!"}
    [status] = rig.fake.live()
    assert status.text == "Hello, fediverse!"
    assert status.visibility == "public"
    assert sent == Sent(id=status.id, url=f"https://social.example/@brand/{status.id}",
                        uri=f"https://social.example/users/brand/statuses/{status.id}")


def test_thread_parts_reply_to_their_parent(rig: Rig) -> None:
    first = rig.adapter.publish(rig.part("1/2 The news.", count=2))
    second = rig.adapter.publish(rig.part("2/2 The details.", index=1, count=2, parent=first))

    assert rig.fake.calls() == ["POST /api/v1/statuses", "POST /api/v1/statuses"]
    assert rig.fake.requests[1].body == {"status": "2/2 The details.", "in_reply_to_id": first.id}
    assert rig.fake.requests[0].idempotency_key != rig.fake.requests[1].idempotency_key
    assert rig.fake.statuses[second.id].in_reply_to_id == first.id


def test_images_are_uploaded_with_their_alt_text(rig: Rig) -> None:
    part = rig.part(images=(rig.image(), rig.image("photo.png", "The team on stage")))
    sent = rig.adapter.publish(part)

    assert rig.fake.calls() == ["POST /api/v2/media", "POST /api/v2/media", "POST /api/v1/statuses"]
    upload = rig.fake.requests[0]
    assert upload.body["description"] == "A chart going up"
    assert upload.body["file"] == Upload("chart.png", "image/png", PNG)
    assert rig.fake.requests[1].body["description"] == "The team on stage"
    media_ids = list(rig.fake.media)
    assert rig.fake.requests[2].body == {"status": "Hello, fediverse!", "media_ids": media_ids}
    assert rig.fake.statuses[sent.id].media_ids == media_ids
    assert [rig.fake.media[m].description for m in media_ids] == ["A chart going up", "The team on stage"]
    assert rig.pauses == []


def test_an_image_still_processing_is_polled_until_ready(rig: Rig) -> None:
    rig.fake.slow_media(polls=2)
    sent = rig.adapter.publish(rig.part(images=(rig.image(),)))

    [media_id] = rig.fake.media
    assert rig.fake.calls() == ["POST /api/v2/media", f"GET /api/v1/media/{media_id}",
                                f"GET /api/v1/media/{media_id}", f"GET /api/v1/media/{media_id}",
                                "POST /api/v1/statuses"]
    assert rig.pauses == [0.5, 1.0, 2.0]
    assert rig.fake.statuses[sent.id].media_ids == [media_id]


def test_an_image_that_never_finishes_processing_is_transient(rig: Rig) -> None:
    rig.fake.slow_media(polls=50)
    with pytest.raises(Transient, match="still processing") as caught:
        rig.adapter.publish(rig.part(images=(rig.image(),)))

    assert not caught.value.maybe_sent
    assert rig.fake.calls().count("POST /api/v1/statuses") == 0
    assert len(rig.pauses) == 10
    assert rig.fake.live() == []


def test_visibility_language_and_content_warning(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part("Spoilers ahead", visibility="unlisted", language="de",
                                        spoiler="Film ending"))

    assert rig.fake.requests[0].body == {"status": "Spoilers ahead", "visibility": "unlisted",
                                         "language": "de", "spoiler_text": "Film ending",
                                         "sensitive": True}
    status = rig.fake.statuses[sent.id]
    assert (status.visibility, status.language, status.spoiler_text, status.sensitive) == (
        "unlisted", "de", "Film ending", True)


def test_channel_visibility_is_the_default(tmp_path: Path) -> None:
    rig = Rig(tmp_path, visibility="private")
    rig.adapter.publish(rig.part())
    rig.adapter.publish(rig.part("Open to all", post="other", visibility="public"))

    assert rig.fake.requests[0].body == {"status": "Hello, fediverse!", "visibility": "private"}
    assert rig.fake.requests[1].body == {"status": "Open to all", "visibility": "public"}


def test_the_same_key_within_the_hour_posts_once(rig: Rig) -> None:
    part = rig.part()
    first = rig.adapter.publish(part)
    rig.fake.advance(timedelta(minutes=59))
    again = rig.adapter.publish(replace(part, created_at=rig.fake.now()))

    assert again == first
    assert [r.idempotency_key for r in rig.fake.requests] == [part.key, part.key]
    assert len(rig.fake.live()) == 1


def test_after_the_hour_mastodon_forgets_the_key(rig: Rig) -> None:
    """Why lookup searches the account instead of trusting the key."""
    part = rig.part()
    first = rig.adapter.publish(part)
    rig.fake.advance(timedelta(minutes=61))
    again = rig.adapter.publish(part)

    assert again.id != first.id
    assert len(rig.fake.live()) == 2


def test_a_retry_within_the_hour_after_a_lost_receipt_returns_the_first_status(rig: Rig) -> None:
    part = rig.part()
    rig.fake.accept_then_fail_next(1)
    with pytest.raises(Transient, match="502"):
        rig.adapter.publish(part)
    rig.fake.advance(timedelta(minutes=5))
    sent = rig.adapter.publish(part)

    [status] = rig.fake.live()
    assert sent.id == status.id
    assert [r.idempotency_key for r in rig.fake.requests] == [part.key, part.key]


def test_an_unreadable_image_is_rejected_before_anything_is_sent(rig: Rig, tmp_path: Path) -> None:
    image = Image(path=tmp_path / "gone.png", alt="Gone", mime="image/png")
    with pytest.raises(Rejected, match=r"gone\.png"):
        rig.adapter.publish(rig.part(images=(image,)))
    assert rig.fake.requests == []


def test_rate_limit_with_retry_after(rig: Rig) -> None:
    rig.fake.rate_limit_next(1, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        rig.adapter.publish(rig.part())

    assert caught.value.retry_after == 30
    assert rig.fake.live() == []


def test_rate_limit_as_mastodon_sends_it_uses_the_reset_time(rig: Rig) -> None:
    rig.fake.rate_limit_next(1, retry_after=None, reset_in=120)
    with pytest.raises(RateLimited) as caught:
        rig.adapter.publish(rig.part())

    assert caught.value.retry_after == 120


def test_rate_limit_on_media_upload(rig: Rig) -> None:
    rig.fake.rate_limit_next(1, retry_after=None, reset_in=900, on="POST /api/v2/media")
    with pytest.raises(RateLimited) as caught:
        rig.adapter.publish(rig.part(images=(rig.image(),)))

    assert caught.value.retry_after == 900
    assert rig.fake.calls() == ["POST /api/v2/media"]


def test_server_error_may_have_posted(rig: Rig) -> None:
    rig.fake.fail_next(1, status=503)
    with pytest.raises(Transient) as caught:
        rig.adapter.publish(rig.part())

    assert caught.value.maybe_sent
    assert "503" in str(caught.value)
    assert rig.fake.live() == []


def test_connection_refused_did_not_post(tmp_path: Path) -> None:
    rig = Rig(tmp_path, instance="https://elsewhere.example")
    with pytest.raises(Transient) as caught:
        rig.adapter.publish(rig.part())

    assert not caught.value.maybe_sent
    assert "ConnectError" in str(caught.value)


def test_text_too_long_is_rejected_with_mastodons_reason(rig: Rig) -> None:
    with pytest.raises(Rejected, match="Text character limit of 500 exceeded") as caught:
        rig.adapter.publish(rig.part("x" * 501))

    assert not caught.value.maybe_sent
    assert rig.fake.live() == []


def test_reply_to_a_deleted_parent_is_rejected(rig: Rig) -> None:
    first = rig.adapter.publish(rig.part("1/2", count=2))
    rig.adapter.delete(first)
    with pytest.raises(Rejected, match="does not appear to exist"):
        rig.adapter.publish(rig.part("2/2", index=1, count=2, parent=first))


def test_wrong_token_makes_the_channel_unusable(tmp_path: Path) -> None:
    rig = Rig(tmp_path, token="not-the-token")
    with pytest.raises(ChannelUnusable, match="401") as caught:
        rig.adapter.publish(rig.part())

    assert "not-the-token" not in str(caught.value)
    assert rig.fake.live() == []


def test_missing_token_variable_names_it_and_sends_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path, env={"OTHER_TOKEN": "tok-1234"})
    with pytest.raises(ChannelUnusable, match="TEST_MASTO_TOKEN") as caught:
        rig.adapter.publish(rig.part())

    assert "tok-1234" not in str(caught.value)
    assert rig.fake.requests == []


# -- lookup -----------------------------------------------------------------------------


def test_lookup_finds_a_status_accepted_without_receipt(rig: Rig) -> None:
    rig.fake.add_status("Something from yesterday", created_at=rig.fake.now() - timedelta(days=1))
    intent_at = rig.fake.now()
    part = rig.part()
    rig.fake.accept_then_fail_next(1)
    with pytest.raises(Transient) as caught:
        rig.adapter.publish(part)
    assert caught.value.maybe_sent
    [status] = [s for s in rig.fake.live() if s.text == part.text]

    rig.fake.advance(timedelta(minutes=90))  # the key is long forgotten by now
    found = rig.adapter.lookup(replace(part, created_at=rig.fake.now()), intent_at)

    assert found == Sent(id=status.id, url=f"https://social.example/@brand/{status.id}",
                         uri=f"https://social.example/users/brand/statuses/{status.id}")
    account = rig.fake.account_id
    assert rig.fake.calls()[1:] == ["GET /api/v1/accounts/verify_credentials",
                                    f"GET /api/v1/accounts/{account}/statuses",
                                    f"GET /api/v1/statuses/{status.id}/source"]
    assert rig.fake.requests[2].query == {"limit": "40"}
    assert len(rig.fake.live()) == 2


def test_lookup_returns_none_when_nothing_was_posted(rig: Rig) -> None:
    part = rig.part()
    rig.fake.add_status(part.text, created_at=rig.fake.now() - timedelta(hours=3))  # an older post
    unrelated = rig.fake.add_status("Unrelated", created_at=rig.fake.now() - timedelta(minutes=1))
    intent_at = rig.fake.now()
    rig.fake.advance(10)

    assert rig.adapter.lookup(replace(part, created_at=rig.fake.now()), intent_at) is None
    # the older status with the same text ends the search; only the recent one is read
    assert rig.fake.calls() == ["GET /api/v1/accounts/verify_credentials",
                                f"GET /api/v1/accounts/{rig.fake.account_id}/statuses",
                                f"GET /api/v1/statuses/{unrelated.id}/source"]


def test_lookup_on_an_empty_account(rig: Rig) -> None:
    assert rig.adapter.lookup(rig.part(), rig.fake.now()) is None


def test_lookup_ignores_line_endings_and_surrounding_space(rig: Rig) -> None:
    part = rig.part("Line one\r\nLine two\n")
    rig.fake.add_status("Line one\nLine two")

    found = rig.adapter.lookup(part, rig.fake.now())
    assert found is not None
    assert found.id == rig.fake.live()[0].id


def test_lookup_of_a_thread_part_needs_the_same_parent(rig: Rig) -> None:
    parent = rig.adapter.publish(rig.part("1/2", count=2))
    other = rig.fake.add_status("Another root")
    rig.fake.add_status("2/2", in_reply_to_id=other.id)
    part = rig.part("2/2", index=1, count=2, parent=parent)

    assert rig.adapter.lookup(part, rig.fake.now()) is None
    reply = rig.fake.add_status("2/2", in_reply_to_id=parent.id)
    found = rig.adapter.lookup(part, rig.fake.now())
    assert found is not None
    assert found.id == reply.id


def test_lookup_follows_pages(rig: Rig) -> None:
    intent_at = rig.fake.now()
    part = rig.part()
    ours = rig.fake.add_status(part.text)
    for n in range(45):
        rig.fake.advance(1)
        rig.fake.add_status(f"Busy day {n}")

    found = rig.adapter.lookup(replace(part, created_at=rig.fake.now()), intent_at)
    assert found is not None
    assert found.id == ours.id
    pages = [r for r in rig.fake.requests if r.path.endswith("/statuses")]
    assert [p.query.get("max_id") for p in pages] == [None, rig.fake.live()[6].id]


def test_lookup_gives_up_on_a_flooded_account(rig: Rig) -> None:
    intent_at = rig.fake.now()
    for n in range(5 * 40 + 1):
        rig.fake.add_status(f"Busy day {n}")

    with pytest.raises(Undecidable, match="more than 200 statuses"):
        rig.adapter.lookup(rig.part(), intent_at)
    assert len([r for r in rig.fake.requests if r.path.endswith("/statuses")]) == 5


def test_lookup_is_undecidable_when_the_search_fails(rig: Rig) -> None:
    rig.fake.add_status("Recent")
    rig.fake.fail_next(1, status=503, on="GET /api/v1/statuses/")
    with pytest.raises(Undecidable, match="503"):
        rig.adapter.lookup(rig.part(), rig.fake.now())

    rig.fake.fail_next(1, status=500, on="GET /api/v1/accounts/")
    with pytest.raises(Undecidable, match="500"):
        rig.adapter.lookup(rig.part(), rig.fake.now())


def test_lookup_is_undecidable_when_rate_limited(rig: Rig) -> None:
    rig.fake.rate_limit_next(1, retry_after=None)
    with pytest.raises(Undecidable, match="429"):
        rig.adapter.lookup(rig.part(), rig.fake.now())


def test_lookup_with_a_wrong_token_keeps_the_channel_unusable(tmp_path: Path) -> None:
    rig = Rig(tmp_path, token="nope")
    with pytest.raises(ChannelUnusable):
        rig.adapter.lookup(rig.part(), rig.fake.now())


# -- edit and delete --------------------------------------------------------------------


def test_edit_changes_text_and_keeps_media(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part(images=(rig.image(),), language="en"))
    [media_id] = rig.fake.media
    rig.fake.advance(60)
    edited = rig.adapter.edit(sent, rig.part("Hello again, fediverse!", spoiler="Update"))

    assert rig.fake.calls()[2:] == [f"GET /api/v1/statuses/{sent.id}", f"PUT /api/v1/statuses/{sent.id}"]
    assert rig.fake.requests[-1].body == {"status": "Hello again, fediverse!", "spoiler_text": "Update",
                                          "sensitive": True, "media_ids": [media_id]}
    assert edited == sent
    status = rig.fake.statuses[sent.id]
    assert (status.text, status.spoiler_text, status.media_ids, status.language) == (
        "Hello again, fediverse!", "Update", [media_id], "en")
    assert status.edited_at == rig.fake.now()
    assert len(rig.fake.live()) == 1


def test_edit_sends_the_language(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part("Hallo"))
    rig.adapter.edit(sent, rig.part("Hallo Welt", language="de"))

    assert rig.fake.requests[-1].body == {"status": "Hallo Welt", "spoiler_text": "", "sensitive": False,
                                          "media_ids": [], "language": "de"}
    assert rig.fake.statuses[sent.id].language == "de"


def test_edit_of_a_deleted_status_is_rejected(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part())
    rig.adapter.delete(sent)
    with pytest.raises(Rejected, match="404"):
        rig.adapter.edit(sent, rig.part("Changed"))


def test_delete(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part())
    rig.adapter.delete(sent)

    assert rig.fake.calls()[-1] == f"DELETE /api/v1/statuses/{sent.id}"
    assert rig.fake.live() == []


def test_delete_of_a_missing_status_is_fine(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part())
    rig.adapter.delete(sent)
    rig.adapter.delete(sent)
    rig.adapter.delete(Sent(id="4242"))

    assert rig.fake.calls()[-2:] == ["DELETE /api/v1/statuses/" + sent.id, "DELETE /api/v1/statuses/4242"]


def test_delete_rate_limited(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part())
    rig.fake.rate_limit_next(1, retry_after=None, reset_in=600, on="DELETE")
    with pytest.raises(RateLimited) as caught:
        rig.adapter.delete(sent)
    assert caught.value.retry_after == 600
    assert len(rig.fake.live()) == 1


# -- the fake itself --------------------------------------------------------------------


def test_fake_answers_unknown_routes_and_bad_tokens_like_mastodon() -> None:
    fake = FakeMastodon()
    base = fake.base_url
    with fake.client() as client:
        missing = client.get(f"{base}/api/v1/nothing", headers={"Authorization": "Bearer secret"})
        anonymous = client.post(f"{base}/api/v1/statuses", json={"status": "hi"})
        with pytest.raises(httpx.ConnectError):
            client.get("https://other.example/api/v1/statuses/1")

    assert (missing.status_code, missing.json()) == (404, {"error": "Record not found"})
    assert (anonymous.status_code, anonymous.json()) == (401, {"error": "The access token is invalid"})
    assert fake.live() == []


def test_fake_forgets_a_deleted_status_for_its_key_with_404() -> None:
    fake = FakeMastodon()
    headers = {"Authorization": "Bearer secret", "Idempotency-Key": "k"}
    statuses = f"{fake.base_url}/api/v1/statuses"
    with fake.client() as client:
        created = client.post(statuses, json={"status": "hi"}, headers=headers)
        client.delete(f"{statuses}/{created.json()['id']}", headers=headers)
        again = client.post(statuses, json={"status": "hi"}, headers=headers)

    assert again.status_code == 404
    assert fake.live() == []


def test_fake_edit_without_media_ids_drops_the_media_like_mastodon(rig: Rig) -> None:
    sent = rig.adapter.publish(rig.part(images=(rig.image(),)))
    with rig.fake.client() as client:
        client.put(f"https://social.example/api/v1/statuses/{sent.id}", json={"status": "No picture"},
                   headers={"Authorization": "Bearer secret"})

    assert rig.fake.statuses[sent.id].media_ids == []
