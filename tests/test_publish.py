"""``cmops publish`` end to end against stateful fakes of Mastodon (and the feed, which needs
no server): exactly once, on time, recoverable. The Bluesky side runs against a real PDS in
tests/test_publish_pds.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cmops import ledger, publishing
from conftest import Outcome, invoke
from factory import Space, make_space
from fake_mastodon import FakeMastodon
from fake_webhooks import FakeDiscord, FakeSlack

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # 09:30 in Berlin

SETTINGS = """\
name: Test brand
timezone: Europe/Berlin
language: en
channels:
  masto:
    platform: mastodon
    instance: https://social.example
    token_env: TEST_MASTO_TOKEN
  news:
    platform: feed
    path: public/feed.xml
    site_url: https://brand.example/
"""


@dataclass
class World:
    space: Space
    masto: FakeMastodon
    clock: list[datetime]
    #: Answers a request before the fake does (fault injection); None lets it through.
    interceptor: Callable[[httpx.Request], httpx.Response | None] | None = None

    def publish(self, *args: str, at: datetime = NOW, token: str = "secret") -> Outcome:
        self.clock[0] = at
        env = {"CMOPS_NOW": at.isoformat(), "TEST_MASTO_TOKEN": token}
        return invoke(["--root", str(self.space.root), "publish", *args], env)

    def events(self) -> list[tuple[str, str, str, int | None]]:
        found = []
        for path in ledger.receipt_files(self.space.root):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record["event"] != "settled":
                    found.append((record["event"], record["post"], record["channel"], record.get("part")))
        return found

    def texts(self) -> list[str]:
        return [s.text for s in self.masto.live()]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    clock = [NOW]
    masto = FakeMastodon(host="social.example", token="secret", clock=lambda: clock[0])
    world = World(make_space(tmp_path / "ws", SETTINGS), masto, clock)

    def route(request: httpx.Request) -> httpx.Response:
        if world.interceptor is not None and (answer := world.interceptor(request)) is not None:
            return answer
        if request.url.host == "social.example":
            return masto.handle(request)
        raise httpx.ConnectError("no route to host in tests", request=request)

    monkeypatch.setattr(publishing, "CLIENT_FACTORY",
                        lambda: httpx.Client(transport=httpx.MockTransport(route)))
    yield world


def test_due_posts_go_out_once_and_a_second_run_does_nothing(world: World) -> None:
    world.space.post("launch", "channels: [masto, news]\npublish_at: 2026-12-01 09:30", "We launched!")
    world.space.post("later", "channels: [masto]\npublish_at: 2026-12-05 09:30", "Next week.")
    first = world.publish()
    assert first.code == 0, first.output
    assert "published launch on masto: https://social.example/@brand/" in first.stdout
    assert world.texts() == ["We launched!"]
    assert [e for e in world.events() if e[0] != "intent"] == [
        ("published", "launch", "masto", 0), ("published", "launch", "news", 0)]
    feed = (world.space.root / "public/feed.xml").read_text()
    assert "We launched!" in feed and "Next week." not in feed
    second = world.publish(at=NOW + timedelta(minutes=10))
    assert (second.code, second.stdout.strip()) == (0, "Nothing was due.")
    assert world.texts() == ["We launched!"]
    assert (world.space.root / "public/feed.xml").read_text() == feed


def test_the_receipt_records_the_platform_ids_after_an_fsynced_intent(world: World) -> None:
    world.space.post("launch", "channels: [masto]\npublish_at: 2026-12-01 09:30", "One.\n---\nTwo.")
    assert world.publish().code == 0
    [path] = list(ledger.receipt_files(world.space.root))
    rel = path.relative_to(world.space.root).as_posix()
    assert rel.startswith("state/receipts/2026/12/20261201T083000Z-")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["event"], r.get("part")) for r in lines] == [
        ("intent", 0), ("published", 0), ("intent", 1), ("published", 1), ("settled", None)]
    first, second = world.masto.live()
    assert lines[1]["id"] == first.id and lines[1]["url"] == f"https://social.example/@brand/{first.id}"
    assert lines[0]["key"] == lines[1]["key"] == world.masto.requests[0].idempotency_key
    assert second.in_reply_to_id == first.id


def test_a_post_due_within_lookahead_is_waited_for_and_posted_on_the_minute(world: World) -> None:
    world.space.post("soon", "channels: [masto]\npublish_at: 2026-12-01 09:40", "On the minute.")
    out = world.publish()
    assert out.code == 0
    assert "waiting until 2026-12-01T08:40:00.000Z for soon on masto" in out.stdout
    published = [r for r in _records(world) if r["event"] == "published"]
    assert published[0]["at"] == "2026-12-01T08:40:00.000Z"


def test_two_hours_late_is_published_and_three_days_late_is_reported_missed(world: World) -> None:
    world.space.post("late", "channels: [masto]\npublish_at: 2026-12-01 07:30", "Two hours late.")
    world.space.post("stale", "channels: [masto]\npublish_at: 2026-11-28 09:30", "Three days late.")
    out = world.publish()
    assert out.code == 1
    assert world.texts() == ["Two hours late."]
    assert ("left undone: stale on masto: skip-missed: 3 days late, past the grace period of 24 h"
            in out.stdout)
    again = world.publish(at=NOW + timedelta(minutes=10))
    assert (again.code, world.texts()) == (0, ["Two hours late."])


def test_one_channel_failing_does_not_stop_the_others_and_the_next_run_finishes(world: World) -> None:
    world.space.post("launch", "channels: [masto, news]\npublish_at: 2026-12-01 09:30", "Hello.")
    world.masto.fail_next(10, status=503, on="POST /api/v1/statuses")
    out = world.publish()
    assert out.code == 1
    assert "left undone: launch on masto:" in out.stdout and "HTTP 503" in out.stdout
    assert "Hello." in (world.space.root / "public/feed.xml").read_text()
    assert world.texts() == []
    world.masto._faults.clear()
    again = world.publish(at=NOW + timedelta(minutes=10))
    assert (again.code, world.texts()) == (0, ["Hello."])


def test_a_thread_that_failed_at_part_two_resumes_at_part_two(world: World) -> None:
    world.space.post("thread", "channels: [masto]\npublish_at: 2026-12-01 09:30",
                     "One.\n---\nTwo.\n---\nThree.")

    def replies_fail(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and b"in_reply_to_id" in request.content:
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        return None

    world.interceptor = replies_fail
    out = world.publish()
    assert out.code == 1
    assert "left undone: thread on masto: channel 'masto'" in out.stdout
    assert world.texts() == ["One."]
    world.interceptor = None
    again = world.publish(at=NOW + timedelta(minutes=10))
    assert again.code == 0, again.output
    one, two, three = world.masto.live()
    assert (one.text, two.text, three.text) == ("One.", "Two.", "Three.")
    assert (two.in_reply_to_id, three.in_reply_to_id) == (one.id, two.id)
    # The refused replies never reached the server; each part was created exactly once.
    assert world.masto.calls().count("POST /api/v1/statuses") == 3


def test_a_part_accepted_but_answered_with_an_error_is_found_not_posted_twice(world: World) -> None:
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Exactly once.")
    world.masto.accept_then_fail_next(1, status=502)
    out = world.publish()
    assert out.code == 0, out.output
    assert world.texts() == ["Exactly once."]
    assert [e[0] for e in world.events()] == ["intent", "published"]


def test_a_run_killed_after_the_call_reconciles_instead_of_posting_again(world: World) -> None:
    """The state a SIGKILL between the call and the receipt leaves: an intent, and the status
    on the server. The next run asks the server and records it; it does not post again."""
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Killed mid-run.")
    world.masto.add_status("Killed mid-run.", created_at=NOW)
    _write(world, {"event": "intent", "post": "p", "channel": "masto", "part": 0, "parts": 1,
                   "key": "cmops-abc", "at": "2026-12-01T08:30:00.000Z"})
    world.clock[0] = NOW + timedelta(hours=3)  # the idempotency key has expired by now
    out = world.publish(at=NOW + timedelta(hours=3))
    assert out.code == 0, out.output
    assert world.texts() == ["Killed mid-run."]
    assert [c for c in world.masto.calls() if c == "POST /api/v1/statuses"] == []


def test_rate_limits_are_waited_out_within_a_bound(world: World) -> None:
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Patience.")
    world.masto.rate_limit_next(1, retry_after=30.0, on="POST /api/v1/statuses")
    out = world.publish()
    assert out.code == 0 and "rate limited on masto; waiting 30 s" in out.stdout
    assert [r["at"] for r in _records(world) if r["event"] == "published"] == ["2026-12-01T08:30:30.000Z"]
    world.space.post("q", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Too long a wait.")
    world.masto.rate_limit_next(1, retry_after=3600.0, on="POST /api/v1/statuses")
    out = world.publish(at=NOW + timedelta(minutes=1))
    assert out.code == 1 and "rate limited (asked to wait 3600 s); the next run continues" in out.stdout


def test_a_missing_token_stops_only_that_channel_and_names_the_variable(world: World) -> None:
    world.space.post("p", "channels: [masto, news]\npublish_at: 2026-12-01 09:30", "Token?")
    out = world.publish(token="")
    assert out.code == 1
    assert "the environment variable TEST_MASTO_TOKEN is not set" in out.stdout
    assert "Token?" in (world.space.root / "public/feed.xml").read_text()


def test_edits_and_retractions_follow_the_post(world: World) -> None:
    world.space.post("p", "channels: [masto, news]\npublish_at: 2026-12-01 09:30", "First words.")
    assert world.publish().code == 0
    world.space.post("p", "channels: [masto, news]\npublish_at: 2026-12-01 09:30", "Better words.")
    out = world.publish(at=NOW + timedelta(minutes=10))
    assert out.code == 0 and "edited    p on masto: edited part(s) 1" in out.stdout
    assert world.texts() == ["Better words."]
    assert "Better words." in (world.space.root / "public/feed.xml").read_text()
    world.space.post("p", "channels: [masto, news]\npublish_at: 2026-12-01 09:30\nstatus: retracted",
                     "Better words.")
    out = world.publish(at=NOW + timedelta(minutes=20))
    assert out.code == 0 and world.texts() == []
    assert "Better words." not in (world.space.root / "public/feed.xml").read_text()


def test_dry_run_calls_nothing_and_writes_nothing(world: World) -> None:
    world.space.post("p", "channels: [masto, news]\npublish_at: 2026-12-01 09:30", "Not yet.")
    out = world.publish("--dry-run")
    assert out.code == 0 and "publish now  p -> masto" in out.stdout
    assert world.masto.requests == [] and list(ledger.receipt_files(world.space.root)) == []
    assert not (world.space.root / "public/feed.xml").exists()


def test_only_publishes_one_post(world: World) -> None:
    world.space.post("a", "channels: [masto]\npublish_at: 2026-12-01 09:30", "A.")
    world.space.post("b", "channels: [masto]\npublish_at: 2026-12-01 09:30", "B.")
    assert world.publish("--only", "b").code == 0
    assert world.texts() == ["B."]
    assert world.publish("--only", "nope").code == 2


def _records(world: World) -> list[dict[str, object]]:
    return [json.loads(line) for path in ledger.receipt_files(world.space.root)
            for line in path.read_text().splitlines()]


def _write(world: World, record: dict[str, object]) -> None:
    path = world.space.root / "state/receipts/2026/12/crashed-run.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps({"run": "crashed-run", **record}) + "\n")


Chat = tuple[Space, FakeSlack, FakeDiscord, dict[str, str]]

CHAT_SETTINGS = SETTINGS + """\
  chat:
    platform: slack
    webhook_env: TEST_SLACK_URL
  team:
    platform: discord
    webhook_env: TEST_DISCORD_URL
"""


@pytest.fixture
def chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Chat:
    slack, discord = FakeSlack(), FakeDiscord()

    def route(request: httpx.Request) -> httpx.Response:
        return (slack if request.url.host == "hooks.slack.com" else discord).handle(request)

    monkeypatch.setattr(publishing, "CLIENT_FACTORY",
                        lambda: httpx.Client(transport=httpx.MockTransport(route)))
    env = {"CMOPS_NOW": NOW.isoformat(), "TEST_SLACK_URL": slack.url, "TEST_DISCORD_URL": discord.url,
           "TEST_MASTO_TOKEN": "secret"}
    return make_space(tmp_path / "ws", CHAT_SETTINGS), slack, discord, env


def test_a_webhook_that_cannot_be_asked_becomes_unconfirmed_until_a_person_resolves_it(
        chat: Chat) -> None:
    space, slack, discord, env = chat
    space.post("p", "channels: [chat, team]\npublish_at: 2026-12-01 09:30", "Team news.")
    path = space.root / "state/receipts/2026/12/crashed-run.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"at": "2026-12-01T08:30:00.000Z", "run": "crashed-run", "event": "intent",
                                "post": "p", "channel": "chat", "part": 0, "parts": 1, "key": "k"}) + "\n")
    root = ["--root", str(space.root)]
    out = invoke([*root, "publish"], env)
    assert out.code == 1
    assert "UNCONFIRMED: an earlier run was interrupted while sending part 1" in out.stdout
    assert "cmops resolve p chat --sent URL" in out.stdout
    assert slack.messages == [] and len(discord.messages) == 1  # the other channel is not held up
    # Until a person decides, every run says so and never posts blindly.
    assert invoke([*root, "publish"], env).code == 1 and slack.messages == []
    assert invoke([*root, "plan"], env).stdout.count("UNCONFIRMED") == 1
    resolved = invoke([*root, "resolve", "p", "chat", "--not-sent"], env)
    assert resolved.stdout.strip() == ("recorded: p on chat, part(s) 1 did not go out; the next publish "
                                       "sends it (unless it is past the grace period: then give it a "
                                       "new publish_at).")
    assert invoke([*root, "publish"], env).code == 0
    assert len(slack.messages) == 1


def test_a_webhook_error_after_sending_is_not_retried_blindly(
        chat: Chat) -> None:
    space, _, discord, env = chat
    space.post("p", "channels: [team]\npublish_at: 2026-12-01 09:30", "Once only.")
    discord.fail_next(1, status=502, posted=True)
    out = invoke(["--root", str(space.root), "publish"], env)
    assert out.code == 1 and "UNCONFIRMED" in out.stdout
    assert len(discord.messages) == 1
    sent = invoke(["--root", str(space.root), "resolve", "p", "team", "--sent", "https://discord.com/x"], env)
    assert sent.code == 0
    again = invoke(["--root", str(space.root), "publish"], env)
    assert (again.code, len(discord.messages)) == (0, 1)
