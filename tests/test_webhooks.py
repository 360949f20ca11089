"""Discord and Slack incoming webhooks against in-memory fakes: the exact requests, what comes
back, how every failure is classified, and that the webhook URL never shows in a message."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
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
    PlatformError,
    RateLimited,
    Rejected,
    Sent,
    Setup,
    Transient,
    Undecidable,
)
from cmops.platforms.webhooks import DiscordAdapter, SlackAdapter, slack_escape
from fake_webhooks import FakeDiscord, FakeSlack, parse_multipart, part_bytes

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=BERLIN)
Handler = Callable[[httpx.Request], httpx.Response]


def channel(platform: str, variable: str = "HOOK_URL") -> Channel:
    return Channel(id="chat", platform=platform, zone=BERLIN, language="en",
                   options={"platform": platform, "webhook_env": variable})


def setup(platform: str, handler: Handler, url: str | None, tmp_path: Path) -> Setup:
    env = {} if url is None else {"HOOK_URL": url}
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Setup(channel=channel(platform), client=client, root=tmp_path, env=env, sleep=lambda s: None)


def discord(fake: FakeDiscord, tmp_path: Path, url: str | None = None) -> DiscordAdapter:
    adapter = adapter_for(setup("discord", fake.handle, url or fake.url, tmp_path))
    assert isinstance(adapter, DiscordAdapter)
    return adapter


def slack(fake: FakeSlack, tmp_path: Path, url: str | None = None) -> SlackAdapter:
    adapter = adapter_for(setup("slack", fake.handle, url or fake.url, tmp_path))
    assert isinstance(adapter, SlackAdapter)
    return adapter


def part(text: str = "Our winter release is out! https://acme.example/winter", index: int = 0,
         images: tuple[Image, ...] = ()) -> PartRequest:
    return PartRequest(post="2026-12-01-winter", channel=channel("discord"), index=index, count=2, text=text,
                       key="ab12", created_at=NOW, images=images)


def png(tmp_path: Path, name: str = "winter.png", alt: str = "Snowy product shot") -> Image:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode())
    return Image(path=path, alt=alt, mime="image/png")


def failure(call: Callable[[], object]) -> PlatformError:
    with pytest.raises(PlatformError) as info:
        call()
    return info.value


# -- Discord ------------------------------------------------------------------------------------


def test_discord_posts_exactly_this_request(tmp_path: Path) -> None:
    fake = FakeDiscord()
    sent = discord(fake, tmp_path).publish(part("Hello @everyone & <@123>"))
    [request] = fake.requests
    assert request.method == "POST"
    assert str(request.url) == fake.url + "?wait=true"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"content": "Hello @everyone & <@123>",
                                           "allowed_mentions": {"parse": []}}
    assert sent == Sent(id=str(1_300_000_000_000_000_000), url=None)
    assert [m.content for m in fake.messages] == ["Hello @everyone & <@123>"]


def test_discord_message_ids_grow(tmp_path: Path) -> None:
    fake = FakeDiscord()
    adapter = discord(fake, tmp_path)
    first, second = adapter.publish(part("one")), adapter.publish(part("two", index=1))
    assert int(second.id) > int(first.id)
    assert [m.id for m in fake.messages] == [first.id, second.id]


def test_discord_link_is_built_when_the_answer_names_the_guild(tmp_path: Path) -> None:
    fake = FakeDiscord(guild_id="900", channel_id="901")
    sent = discord(fake, tmp_path).publish(part())
    assert sent.url == f"https://discord.com/channels/900/901/{sent.id}"


def test_discord_keeps_the_query_of_the_webhook_url(tmp_path: Path) -> None:
    fake = FakeDiscord()
    discord(fake, tmp_path, url=fake.url + "?thread_id=4242&wait=false").publish(part())
    [request] = fake.requests
    assert dict(request.url.params) == {"thread_id": "4242", "wait": "true"}
    assert fake.messages[0].query == {"thread_id": "4242", "wait": "true"}


def test_discord_uploads_images_with_their_descriptions(tmp_path: Path) -> None:
    fake = FakeDiscord()
    images = (png(tmp_path), png(tmp_path, "b.png", "Second — ünïcode"))
    sent = discord(fake, tmp_path).publish(part("With pictures", images=images))
    [request] = fake.requests
    assert str(request.url) == fake.url + "?wait=true"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    fields = parse_multipart(request)
    assert [name for name, _ in fields] == ["payload_json", "files[0]", "files[1]"]
    assert json.loads(part_bytes(fields[0][1])) == {
        "content": "With pictures",
        "allowed_mentions": {"parse": []},
        "attachments": [{"id": 0, "filename": "winter.png", "description": "Snowy product shot"},
                        {"id": 1, "filename": "b.png", "description": "Second — ünïcode"}],
    }
    [message] = fake.messages
    assert message.id == sent.id
    assert [(f.field, f.filename, f.content_type, f.data) for f in message.files] == [
        ("files[0]", "winter.png", "image/png", b"\x89PNG\r\n\x1a\nwinter.png"),
        ("files[1]", "b.png", "image/png", b"\x89PNG\r\n\x1a\nb.png"),
    ]


def test_discord_missing_image_file_is_rejected_before_any_request(tmp_path: Path) -> None:
    fake = FakeDiscord()
    gone = Image(path=tmp_path / "gone.png", alt="x", mime="image/png")
    error = failure(lambda: discord(fake, tmp_path).publish(part(images=(gone,))))
    assert type(error) is Rejected
    assert "gone.png" in str(error)
    assert fake.requests == []


def test_discord_rate_limit_uses_the_precise_body_value(tmp_path: Path) -> None:
    fake = FakeDiscord()
    fake.rate_limit_next(1, retry_after=2.5)
    error = failure(lambda: discord(fake, tmp_path).publish(part()))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.5
    assert error.maybe_sent is False
    assert fake.messages == []


def test_discord_rate_limit_header_alone_is_honoured(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "7"}, text="slow down")

    error = failure(lambda: DiscordAdapter(setup("discord", handler, "https://discord.com/api/webhooks/1/t",
                                                 tmp_path)).publish(part()))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_discord_server_error_may_have_posted(tmp_path: Path) -> None:
    fake = FakeDiscord()
    fake.fail_next(1, 502, posted=True)
    error = failure(lambda: discord(fake, tmp_path).publish(part()))
    assert type(error) is Transient
    assert error.maybe_sent is True
    assert len(fake.messages) == 1


def test_discord_deleted_webhook_makes_the_channel_unusable(tmp_path: Path) -> None:
    fake = FakeDiscord()
    fake.delete_webhook()
    error = failure(lambda: discord(fake, tmp_path).publish(part()))
    assert type(error) is ChannelUnusable
    assert str(error) == ("Discord (chat): the webhook does not exist (HTTP 404: Unknown Webhook); it was "
                          "deleted or HOOK_URL holds a wrong URL")


def test_discord_wrong_token_makes_the_channel_unusable(tmp_path: Path) -> None:
    fake = FakeDiscord()
    wrong = fake.url.replace(fake.token, "wrong")
    error = failure(lambda: discord(fake, tmp_path, url=wrong).publish(part()))
    assert type(error) is ChannelUnusable
    assert "Invalid Webhook Token" in str(error)


def test_discord_refused_message_is_rejected(tmp_path: Path) -> None:
    fake = FakeDiscord()
    error = failure(lambda: discord(fake, tmp_path).publish(part("")))
    assert type(error) is Rejected
    assert str(error) == "Discord (chat): refused (HTTP 400): Cannot send an empty message"


def test_discord_over_length_is_rejected_without_a_request(tmp_path: Path) -> None:
    fake = FakeDiscord()
    adapter = discord(fake, tmp_path)
    adapter.publish(part("x" * 2000))
    error = failure(lambda: adapter.publish(part("x" * 2001)))
    assert type(error) is Rejected
    assert "2001 characters" in str(error)
    assert len(fake.requests) == 1


def test_fake_discord_without_wait_answers_204() -> None:
    fake = FakeDiscord()
    with httpx.Client(transport=httpx.MockTransport(fake.handle)) as client:
        response = client.post(fake.url, json={"content": "hi"})
    assert response.status_code == 204
    assert fake.messages[0].content == "hi"


def test_discord_answer_without_id_still_counts_as_sent(tmp_path: Path) -> None:
    adapter = DiscordAdapter(setup("discord", lambda r: httpx.Response(204),
                                   "https://discord.com/api/webhooks/1/t", tmp_path))
    assert adapter.publish(part()) == Sent(id="", url=None)


def test_discord_cannot_look_up_edit_or_delete(tmp_path: Path) -> None:
    fake = FakeDiscord()
    adapter = discord(fake, tmp_path)
    assert (adapter.can_edit, adapter.can_delete, adapter.can_lookup) == (False, False, False)
    assert type(failure(lambda: adapter.lookup(part(), NOW))) is Undecidable
    assert type(failure(lambda: adapter.edit(Sent("1"), part()))) is Rejected
    assert type(failure(lambda: adapter.delete(Sent("1")))) is Rejected
    assert adapter.key(b"\x01\x02", NOW) == "0102"
    assert fake.requests == []


# -- Slack --------------------------------------------------------------------------------------


def test_slack_posts_exactly_this_request(tmp_path: Path) -> None:
    fake = FakeSlack()
    sent = slack(fake, tmp_path).publish(part("Winter is here https://acme.example/winter"))
    [request] = fake.requests
    assert request.method == "POST"
    assert str(request.url) == fake.url
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"text": "Winter is here https://acme.example/winter"}
    assert sent == Sent(id="", url=None)
    assert fake.messages == [{"text": "Winter is here https://acme.example/winter"}]


def test_slack_text_cannot_ping_the_channel(tmp_path: Path) -> None:
    fake = FakeSlack()
    slack(fake, tmp_path).publish(part("<!channel> R&D <b> news"))
    assert fake.messages == [{"text": "&lt;!channel&gt; R&amp;D &lt;b&gt; news"}]
    assert slack_escape("&amp;") == "&amp;amp;"


def test_slack_leaves_images_out(tmp_path: Path) -> None:
    fake = FakeSlack()
    slack(fake, tmp_path).publish(part("With a picture", images=(png(tmp_path),)))
    [request] = fake.requests
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"text": "With a picture"}


def test_slack_rate_limit(tmp_path: Path) -> None:
    fake = FakeSlack()
    fake.rate_limit_next(1, retry_after=30)
    error = failure(lambda: slack(fake, tmp_path).publish(part()))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 30.0
    assert fake.messages == []


def test_slack_server_error_may_have_posted(tmp_path: Path) -> None:
    fake = FakeSlack()
    fake.fail_next(1, 500)
    error = failure(lambda: slack(fake, tmp_path).publish(part()))
    assert type(error) is Transient
    assert error.maybe_sent is True
    assert str(error) == "Slack (chat): server error (HTTP 500): rollup_error"


def test_slack_bad_payload_is_rejected(tmp_path: Path) -> None:
    fake = FakeSlack()
    error = failure(lambda: slack(fake, tmp_path).publish(part("   ")))
    assert type(error) is Rejected
    assert str(error) == "Slack (chat): refused (HTTP 400): no_text"
    fake.fail_next(1, 400)
    error = failure(lambda: slack(fake, tmp_path).publish(part()))
    assert str(error) == "Slack (chat): refused (HTTP 400): invalid_payload"


@pytest.mark.parametrize(("breakage", "status", "code"), [
    ("unknown", 404, "no_service"),
    ("archived", 410, "channel_is_archived"),
    ("prohibited", 403, "action_prohibited"),
    ("missing-channel", 404, "channel_not_found"),
])
def test_slack_dead_webhooks_make_the_channel_unusable(tmp_path: Path, breakage: str, status: int,
                                                       code: str) -> None:
    fake = FakeSlack()
    url = fake.url
    if breakage == "unknown":
        url = fake.url.replace("B0000HOOK", "B9999HOOK")
    elif breakage == "archived":
        fake.archive()
    else:
        fake.fail_next(1, status)
    error = failure(lambda: slack(fake, tmp_path, url=url).publish(part()))
    assert type(error) is ChannelUnusable
    assert str(error) == (f"Slack (chat): the webhook cannot post (HTTP {status}: {code}); "
                          f"check the app and channel behind HOOK_URL")


def test_slack_over_length_is_rejected_without_a_request(tmp_path: Path) -> None:
    fake = FakeSlack()
    error = failure(lambda: slack(fake, tmp_path).publish(part("x" * 40001)))
    assert type(error) is Rejected
    assert fake.requests == []


def test_slack_cannot_look_up_edit_or_delete(tmp_path: Path) -> None:
    adapter = slack(FakeSlack(), tmp_path)
    assert (adapter.can_edit, adapter.can_delete, adapter.can_lookup) == (False, False, False)
    assert type(failure(lambda: adapter.lookup(part(), NOW))) is Undecidable
    assert type(failure(lambda: adapter.edit(Sent(""), part()))) is Rejected
    assert type(failure(lambda: adapter.delete(Sent("")))) is Rejected
    assert adapter.key(b"\xfe", NOW) == "fe"


# -- secrets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["discord", "slack"])
def test_missing_variable_is_named_and_the_adapter_builds_without_it(tmp_path: Path, platform: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request without a URL")

    adapter = adapter_for(setup(platform, refuse, None, tmp_path))
    error = failure(lambda: adapter.publish(part()))
    assert type(error) is ChannelUnusable
    assert "HOOK_URL" in str(error)


@pytest.mark.parametrize("platform", ["discord", "slack"])
@pytest.mark.parametrize("value", ["ftp://hooks.example/secret-token", "secret-token-without-scheme",
                                   "https:///secret-token", "https://[::1/secret-token",
                                   "https://hooks.example/\x00secret-token"])
def test_a_variable_that_is_no_url_is_named_but_never_shown(tmp_path: Path, platform: str,
                                                            value: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request to a bad URL")

    adapter = adapter_for(setup(platform, refuse, value, tmp_path))
    error = failure(lambda: adapter.publish(part()))
    assert type(error) is ChannelUnusable
    assert "HOOK_URL" in str(error)
    assert "secret-token" not in str(error)


@pytest.mark.parametrize("platform", ["discord", "slack"])
@pytest.mark.parametrize(("exception", "maybe_sent"), [
    (httpx.ConnectError, False), (httpx.ReadTimeout, True), (httpx.RemoteProtocolError, True)])
def test_transport_errors_are_transient_and_never_show_the_url(
        tmp_path: Path, platform: str, exception: type[httpx.TransportError], maybe_sent: bool) -> None:
    url = "https://hooks.example/api/webhooks/1/very-secret-token"

    def handler(request: httpx.Request) -> httpx.Response:
        raise exception(f"failed talking to {request.url} ({request.url.path})", request=request)

    adapter = adapter_for(setup(platform, handler, url, tmp_path))
    error = failure(lambda: adapter.publish(part()))
    assert type(error) is Transient
    assert error.maybe_sent is maybe_sent
    assert "very-secret-token" not in str(error)
    assert "<HOOK_URL>" in str(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_server_errors_echoing_the_url_are_scrubbed(tmp_path: Path) -> None:
    url = "https://discord.com/api/webhooks/1/very-secret-token"

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(400, json={"message": f"bad request to {request.url}, token {token}"})

    error = failure(lambda: DiscordAdapter(setup("discord", handler, url, tmp_path)).publish(part()))
    assert type(error) is Rejected
    assert str(error) == ("Discord (chat): refused (HTTP 400): "
                          "bad request to <HOOK_URL>?wait=true, token <HOOK_URL>")


def fault_cases() -> list[tuple[str, Callable[[Any], None]]]:
    return [
        ("rate", lambda f: f.rate_limit_next(1, 3)),
        ("500", lambda f: f.fail_next(1, 500)),
        ("400", lambda f: f.fail_next(1, 400)),
        ("403", lambda f: f.fail_next(1, 403)),
        ("gone", lambda f: f.delete_webhook()),
    ]


@pytest.mark.parametrize(("name", "breakage"), fault_cases())
def test_no_error_message_contains_the_webhook_secret(tmp_path: Path, name: str,
                                                      breakage: Callable[[Any], None]) -> None:
    fake_discord, fake_slack = FakeDiscord(), FakeSlack()
    breakage(fake_discord)
    breakage(fake_slack)
    for error in (failure(lambda: discord(fake_discord, tmp_path).publish(part())),
                  failure(lambda: slack(fake_slack, tmp_path).publish(part()))):
        assert fake_discord.token not in str(error)
        assert "s3cr3tSlackT0ken" not in str(error)
        assert "hooks.slack.com" not in str(error) and "discord.com/api" not in str(error)
