"""``cmops metrics snapshot`` against the Mastodon fake (batch limit 20, unknown ids left
out, no batch route on old servers, rate limits, deleted statuses), plus the pure decision
and the storage. The Bluesky side runs against a real AppView in test_metrics_pds.py."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cmops import metrics, publishing
from cmops.metrics import Due, Mark, PublishedPart, Snapshots, decide, marks_of
from conftest import Outcome, invoke
from factory import Space, make_space
from fake_mastodon import FakeMastodon

PUBLISHED = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)

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

    def run(self, *args: str, at: datetime) -> Outcome:
        self.clock[0] = at
        env = {"CMOPS_NOW": at.isoformat(), "TEST_MASTO_TOKEN": "secret"}
        return invoke(["--root", str(self.space.root), *args], env)

    def lines(self) -> list[dict[str, object]]:
        found: list[dict[str, object]] = []
        for path in sorted((self.space.root / metrics.SNAPSHOTS_DIR).rglob("*.jsonl")):
            found.extend(json.loads(line) for line in path.read_text().splitlines())
        return found

    def count_calls(self, call: str) -> int:
        return sum(1 for c in self.masto.calls() if c == call)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    clock = [PUBLISHED]
    masto = FakeMastodon(host="social.example", token="secret", clock=lambda: clock[0])
    world = World(make_space(tmp_path / "ws", SETTINGS), masto, clock)

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "social.example":
            return masto.handle(request)
        raise httpx.ConnectError("no route to host in tests", request=request)

    transport = httpx.MockTransport(route)
    monkeypatch.setattr(publishing, "CLIENT_FACTORY", lambda: httpx.Client(transport=transport))
    yield world


def publish_posts(world: World, count: int) -> None:
    """``count`` posts on masto and the feed, all published at PUBLISHED."""
    for i in range(count):
        world.space.post(f"p{i:02d}", "channels: [masto, news]\npublish_at: 2026-12-01 09:30",
                         f"Post number {i} of the winter series.")
    done = world.run("publish", at=PUBLISHED)
    assert done.code == 0, done.output
    assert len(world.masto.live()) == count


# -- the decision, a pure function --------------------------------------------------------------

MARKS = marks_of(None)


def part(n: int = 0) -> PublishedPart:
    return PublishedPart(f"p{n}", "masto", 0, str(100 + n), PUBLISHED)


def test_default_marks_are_1h_1d_7d_30d() -> None:
    assert [(m.label, m.after) for m in MARKS] == [
        ("1h", timedelta(hours=1)), ("1d", timedelta(days=1)), ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30))]


def test_a_part_is_due_once_per_mark_and_a_late_run_takes_the_oldest_passed_mark() -> None:
    snaps = Snapshots()
    assert decide([part()], snaps, PUBLISHED + timedelta(minutes=59), MARKS) == []
    assert decide([part()], snaps, PUBLISHED + timedelta(hours=1), MARKS) == [Due(part(), MARKS[0])]
    snaps.taken[part().key] = {3600}
    assert decide([part()], snaps, PUBLISHED + timedelta(hours=5), MARKS) == []
    # Nine days on, with only 1h taken: the 1d moment is over, 7d is taken now.
    assert decide([part()], snaps, PUBLISHED + timedelta(days=9), MARKS) == [Due(part(), MARKS[2])]
    snaps.taken[part().key] = {3600, 7 * 86400}
    assert decide([part()], snaps, PUBLISHED + timedelta(days=29), MARKS) == []
    assert decide([part()], snaps, PUBLISHED + timedelta(days=31), MARKS) == [Due(part(), MARKS[3])]
    snaps.taken[part().key].add(30 * 86400)
    assert decide([part()], snaps, PUBLISHED + timedelta(days=400), MARKS) == []  # never again


def test_a_gone_part_is_never_asked_for_again() -> None:
    snaps = Snapshots(gone={part().key})
    assert decide([part()], snaps, PUBLISHED + timedelta(days=2), MARKS) == []


def test_custom_marks_from_cmops_yaml_are_sorted_and_deduplicated() -> None:
    assert [m.label for m in marks_of(["7d", "2h", "1h30m", "2h"])] == ["1h30m", "2h", "7d"]
    assert marks_of(["90m"]) == [Mark("90m", timedelta(minutes=90))]


# -- the command, against the Mastodon fake -----------------------------------------------------

def test_snapshots_record_the_servers_counts_once_per_mark(world: World) -> None:
    publish_posts(world, 3)
    first, second, _ = world.masto.live()
    first.favourites, first.reblogs, first.replies, first.quotes = 7, 2, 1, 1
    second.favourites = 3
    hour = PUBLISHED + timedelta(hours=1, minutes=5)
    done = world.run("metrics", "snapshot", at=hour)
    assert done.code == 0, done.output
    assert "not measured (the platform gives no counts): news" in done.stdout
    lines = world.lines()
    assert [(r["post"], r["mark"], r["likes"], r["reposts"], r["replies"], r["quotes"])
            for r in lines] == [("p00", "1h", 7, 2, 1, 1), ("p01", "1h", 3, 0, 0, 0),
                                ("p02", "1h", 0, 0, 0, 0)]
    # Exactly these fields: what can be derived (age of the mark, publication time, the sum)
    # is not stored.
    assert lines[0] == {"post": "p00", "channel": "masto", "part": 0, "id": first.id, "mark": "1h",
                        "taken_at": "2026-12-01T09:35:00Z", "likes": 7, "reposts": 2, "replies": 1,
                        "quotes": 1}
    latest = metrics.read(world.space.root).latest[("p00", "masto", 0)]
    assert (latest["engagements"], latest["after"]) == (11, 3600)
    assert world.count_calls("GET /api/v1/statuses") == 1
    assert (world.space.root / "metrics/.gitattributes").read_text().endswith("*.jsonl merge=union\n")

    again = world.run("metrics", "snapshot", at=hour)
    assert again.code == 0 and "No snapshot is due" in again.stdout
    assert len(world.lines()) == 3
    assert world.count_calls("GET /api/v1/statuses") == 1

    first.favourites = 30
    day = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(days=1, minutes=1))
    assert day.code == 0
    new = world.lines()[3:]
    assert [(r["post"], r["mark"]) for r in new] == [("p00", "1d"), ("p01", "1d"), ("p02", "1d")]
    assert new[0]["likes"] == 30


def test_batches_of_twenty_and_no_more_calls_than_needed(world: World) -> None:
    publish_posts(world, 45)
    done = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=2))
    assert done.code == 0, done.output
    assert len(world.lines()) == 45
    batch_calls = [r for r in world.masto.requests if r.call == "GET /api/v1/statuses"]
    assert len(batch_calls) == math.ceil(45 / 20)
    assert [len(r.queries["id[]"]) for r in batch_calls] == [20, 20, 5]


def test_old_servers_without_the_batch_route_are_asked_one_status_at_a_time(world: World) -> None:
    publish_posts(world, 3)
    world.masto.batch_route = False
    world.masto.counts_quotes = False  # before 4.5: no quotes_count
    done = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=2))
    assert done.code == 0, done.output
    assert world.count_calls("GET /api/v1/statuses") == 1  # tried once, 404, remembered
    assert sum(1 for c in world.masto.calls() if c.startswith("GET /api/v1/statuses/")) == 3
    assert all("quotes" not in r and r["likes"] == 0 for r in world.lines())


def test_a_deleted_status_is_recorded_gone_once_and_never_asked_for_again(world: World) -> None:
    publish_posts(world, 2)
    world.masto.live()[0].deleted = True
    done = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=2))
    assert done.code == 0
    assert "1 snapshot(s), 1 gone from the platform" in done.stdout
    gone = [r for r in world.lines() if r.get("gone")]
    assert [(r["post"], r["mark"]) for r in gone] == [("p00", "1h")]
    world.run("metrics", "snapshot", at=PUBLISHED + timedelta(days=2))
    asked = [r.queries["id[]"] for r in world.masto.requests if r.call == "GET /api/v1/statuses"]
    assert asked[-1] == [world.masto.live()[0].id]  # only p01
    assert len([r for r in world.lines() if r["post"] == "p00"]) == 1


def test_rate_limits_are_waited_out_and_a_used_up_limit_is_respected(world: World) -> None:
    publish_posts(world, 25)
    world.masto.rate_limit_next(1, retry_after=None, reset_in=40, on="GET /api/v1/statuses")
    world.masto.limit_remaining = 0  # every answer says: nothing left for the next 60 s
    done = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=2))
    assert done.code == 0, done.output
    assert "retrying in 40 s" in done.stdout
    lines = world.lines()
    assert len(lines) == 25
    # 40 s for the 429, then 60 s for the used-up window after each answer.
    assert {r["taken_at"] for r in lines[:20]} == {"2026-12-01T10:31:40Z"}
    assert {r["taken_at"] for r in lines[20:]} == {"2026-12-01T10:32:40Z"}


def test_a_channel_that_keeps_failing_is_left_for_the_next_run_and_says_so(world: World) -> None:
    publish_posts(world, 2)
    world.masto.fail_next(4, 503, on="GET /api/v1/statuses")
    done = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=2))
    assert done.code == 1
    assert "left undone: masto: 2 snapshot(s)" in done.output
    assert world.lines() == []
    later = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=3))
    assert later.code == 0
    assert len(world.lines()) == 2


def test_a_missing_token_is_a_clear_error_for_that_channel(world: World) -> None:
    publish_posts(world, 1)
    env = {"CMOPS_NOW": (PUBLISHED + timedelta(hours=2)).isoformat()}
    done = invoke(["--root", str(world.space.root), "metrics", "snapshot"], env)
    assert done.code == 1
    assert "TEST_MASTO_TOKEN is not set" in done.output


def test_a_torn_line_is_a_warning_and_the_next_append_starts_a_fresh_line(world: World) -> None:
    publish_posts(world, 1)
    shard = world.space.root / "metrics/snapshots/2026/12.jsonl"
    shard.parent.mkdir(parents=True)
    shard.write_text('{"post": "p00", "channel": "mas')  # a run killed mid-write
    snaps = metrics.read(world.space.root)
    assert [f.code for f in snaps.findings] == ["metrics.bad-line"]
    done = world.run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=2))
    assert done.code == 0
    text = shard.read_text().splitlines()
    assert text[0] == '{"post": "p00", "channel": "mas' and json.loads(text[1])["post"] == "p00"


def test_a_hand_edited_count_is_a_warning_not_a_number(tmp_path: Path) -> None:
    shard = tmp_path / "metrics/snapshots/2026/12.jsonl"
    shard.parent.mkdir(parents=True)
    shard.write_text('{"post":"p","channel":"masto","part":0,"id":"1","mark":"1h","taken_at":"2026-12-01T10:00:00Z",'
                     '"likes":3}\n'
                     '{"post":"p","channel":"masto","part":0,"id":"1","mark":"1d","taken_at":"2026-12-02T10:00:00Z",'
                     '"likes":"many"}\n'
                     '{"post":"q","channel":"masto","part":0,"id":"2","mark":"1h","taken_at":"2026-12-01T10:00:00Z",'
                     '"likes":2,"reposts":1}\n')
    snaps = metrics.read(tmp_path)
    assert [f.code for f in snaps.findings] == ["metrics.bad-line"]
    assert ("p", "masto", 0) not in snaps.latest
    assert snaps.taken[("p", "masto", 0)] == {3600, 86400}
    assert snaps.latest[("q", "masto", 0)]["engagements"] == 3
