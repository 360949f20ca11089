"""The planner: what publish would do, decided from posts, receipts and the clock only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cmops import ledger
from cmops.clock import VirtualClock
from cmops.plan import Action, part_hash, source_hash
from cmops.publishing import load_plan
from factory import Space, make_space

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # 09:30 in Berlin


@pytest.fixture
def space(tmp_path: Path) -> Space:
    return make_space(tmp_path / "ws")


def plan_of(space: Space, now: datetime = NOW) -> list[tuple[str, str, str]]:
    loaded = load_plan(space.root, VirtualClock(now), None)
    return [(a.kind, a.post, a.channel.id) for a in loaded.plan.actions]


def actions(space: Space, now: datetime = NOW, skip_settled: bool = False) -> list[Action]:
    return load_plan(space.root, VirtualClock(now), None, skip_settled=skip_settled).plan.actions


def receipt(space: Space, **record: object) -> None:
    """Append one receipt line the way a publish run would have written it."""
    path = space.root / "state/receipts/2026/11/run-a.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    base = {"at": "2026-11-30T10:00:00.000Z", "run": "run-a"}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**base, **record}) + "\n")


def published(space: Space, post: str, channel: str, parts: int = 1, texts: list[str] | None = None) -> None:
    loaded = load_plan(space.root, VirtualClock(NOW), None)
    found = loaded.space.post(post)
    assert found is not None
    rendition = found.renditions[channel]
    for index in range(parts):
        phash = part_hash(rendition, index) if texts is None else texts[index]
        receipt(space, event="published", post=post, channel=channel, part=index, parts=parts,
                key=f"k{index}", hash=rendition.content_hash(), part_hash=phash, id=f"id-{post}-{index}",
                url=f"https://social.example/@brand/{index}")


def test_due_times_decide_between_publish_wait_later_and_missed(space: Space) -> None:
    space.post("late-2h", "channels: [masto]\npublish_at: 2026-12-01 07:30", "Two hours late.")
    space.post("late-3d", "channels: [masto]\npublish_at: 2026-11-28 09:30", "Three days late.")
    space.post("soon", "channels: [masto]\npublish_at: 2026-12-01 09:40", "In ten minutes.")
    space.post("tonight", "channels: [masto]\npublish_at: 2026-12-01 20:00", "Tonight.")
    space.post("merged", "channels: [masto]", "Whenever merged.")
    space.post("idea", "channels: [masto]\nstatus: draft", "Just an idea.")
    assert plan_of(space) == [
        ("skip-missed", "late-3d", "masto"),
        ("publish", "late-2h", "masto"),
        ("publish", "merged", "masto"),
        ("wait", "soon", "masto"),
        ("later", "tonight", "masto"),
    ]
    by_post = {a.post: a for a in actions(space)}
    assert by_post["late-2h"].reason == "due 2 h ago, within grace"
    assert by_post["late-3d"].reason.startswith("3 days late, past the grace period of 24 h")
    assert by_post["soon"].at == datetime(2026, 12, 1, 8, 40, tzinfo=UTC)
    assert by_post["merged"].at is None


def test_each_channel_is_due_at_the_local_time_of_its_own_zone(space: Space) -> None:
    space.post("launch", "channels: [bsky, bsky-us]\npublish_at: 2026-12-01 09:30")
    found = {a.channel.id: a for a in actions(space)}
    assert (found["bsky"].kind, found["bsky"].at) == ("publish", NOW)
    new_york = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert (found["bsky-us"].kind, found["bsky-us"].at) == ("later", new_york)


def test_a_missed_post_is_reported_once_and_again_when_given_a_new_time(space: Space) -> None:
    space.post("old", "channels: [masto]\npublish_at: 2026-11-20 09:30")
    receipt(space, event="missed", post="old", channel="masto", **{"for": "2026-11-20T08:30:00.000Z"})
    assert plan_of(space) == []
    space.post("old", "channels: [masto]\npublish_at: 2026-12-01 09:00")
    assert plan_of(space) == [("publish", "old", "masto")]


def test_a_thread_that_stopped_resumes_at_the_first_missing_part(space: Space) -> None:
    space.post("thread", "channels: [masto]\npublish_at: 2026-12-01 09:00", "One.\n---\nTwo.\n---\nThree.")
    published(space, "thread", "masto", parts=1)
    [action] = actions(space)
    assert (action.kind, action.parts) == ("publish-thread-rest", (1, 2))
    assert action.reason == "thread stopped after part 1: resumes at part 2"


def test_an_intent_without_receipt_is_resumed_by_asking_the_platform(space: Space) -> None:
    space.post("p", "channels: [masto]\npublish_at: 2026-11-10 09:00")
    receipt(space, event="intent", post="p", channel="masto", part=0, parts=1, key="k0")
    [action] = actions(space)
    # Even past grace: it may already be out, so publish must reconcile rather than skip it.
    assert action.kind == "publish"
    assert action.reason.startswith("resuming an interrupted run")


def test_changed_after_publishing_edits_where_possible_and_warns_elsewhere(space: Space) -> None:
    space.post("p", "channels: [masto, bsky]\npublish_at: 2026-12-01 09:00", "Old text.")
    published(space, "p", "masto")
    published(space, "p", "bsky")
    space.post("p", "channels: [masto, bsky]\npublish_at: 2026-12-01 09:00", "New text.")
    found = {a.channel.id: a for a in actions(space)}
    assert (found["masto"].kind, found["masto"].parts) == ("edit", (0,))
    assert found["bsky"].kind == "cannot-edit"
    assert "bluesky posts cannot be edited" in found["bsky"].reason


def test_retracted_posts_are_deleted_where_the_platform_allows(space: Space) -> None:
    space.post("oops", "channels: [masto, chat]\npublish_at: 2026-12-01 09:00")
    published(space, "oops", "masto")
    published(space, "oops", "chat")
    space.post("oops", "channels: [masto, chat]\npublish_at: 2026-12-01 09:00\nstatus: retracted")
    found = {a.channel.id: a for a in actions(space)}
    assert (found["masto"].kind, found["masto"].parts) == ("delete", (0,))
    assert found["chat"].kind == "cannot-delete"
    assert "https://social.example/@brand/0" in found["chat"].reason


def test_a_renamed_post_is_not_published_again(space: Space) -> None:
    space.post("first-name", "channels: [masto]\npublish_at: 2026-12-01 09:00", "Same words.")
    published(space, "first-name", "masto")
    (space.root / "content/posts/first-name.md").rename(space.root / "content/posts/new-name.md")
    [action] = actions(space)
    assert (action.kind, action.post) == ("skip-duplicate", "new-name")
    assert "'first-name'" in action.reason


def test_unconfirmed_parts_wait_for_a_person(space: Space) -> None:
    space.post("p", "channels: [chat]\npublish_at: 2026-12-01 09:00")
    receipt(space, event="intent", post="p", channel="chat", part=0, parts=1, key="k0")
    receipt(space, event="unconfirmed", post="p", channel="chat", part=0, parts=1, error="killed")
    [action] = actions(space)
    assert action.kind == "unconfirmed"
    assert "cmops resolve p chat --sent URL" in action.reason


def test_a_due_post_with_errors_is_blocked_with_the_first_error(space: Space) -> None:
    space.post("long", "channels: [masto]\npublish_at: 2026-12-01 09:00", "x" * 501)
    [action] = actions(space)
    assert action.kind == "blocked"
    assert "content/posts/long.md:5:" in action.reason
    assert "'cmops validate'" in action.reason


def test_settled_posts_are_not_parsed_again_until_their_file_changes(space: Space) -> None:
    path = space.post("done", "channels: [masto]\npublish_at: 2026-12-01 09:00")
    published(space, "done", "masto")
    loaded = load_plan(space.root, VirtualClock(NOW), None)
    assert loaded.plan.actions == []
    assert loaded.plan.newly_settled == [("done", source_hash(loaded.space.post("done")))]  # type: ignore[arg-type]
    receipt(space, event="settled", post="done", src=loaded.plan.newly_settled[0][1])
    fast = load_plan(space.root, VirtualClock(NOW), None, skip_settled=True)
    assert (fast.space.settled_unparsed, fast.plan.done, fast.space.post("done")) == (1, 1, None)
    path.write_text(path.read_text() + "Edited.\n")
    fast = load_plan(space.root, VirtualClock(NOW), None, skip_settled=True)
    assert [(a.kind, a.post) for a in fast.plan.actions] == [("edit", "done")]


def test_a_torn_receipt_line_is_a_warning_not_a_crash(space: Space) -> None:
    space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:00")
    receipt(space, event="intent", post="p", channel="masto", part=0, parts=1, key="k0")
    with (space.root / "state/receipts/2026/11/run-a.jsonl").open("a") as handle:
        handle.write('{"at": "2026-11-30T10:00:01.000Z", "event": "publi')
    read = ledger.read(space.root)
    assert [(f.line, f.code) for f in read.findings] == [(2, "state.bad-receipt")]
    assert read.tracks[("p", "masto")].parts[0].status == ledger.INTENT


def test_plan_command_prints_markdown_for_a_pull_request(space: Space) -> None:
    from conftest import invoke

    space.post("launch", "channels: [bsky, bsky-us]\npublish_at: 2026-12-01 09:40")
    out = invoke(["--root", str(space.root), "plan", "--at", "2026-12-01T09:30:00+01:00",
                  "--format", "markdown"])
    assert out.code == 0
    assert ("| wait, then publish | `launch` | bsky | 2026-12-01 08:40Z | 2026-12-01 09:40 CET "
            "Europe/Berlin | due in 10 min, within lookahead: waits and posts on the minute |") in out.stdout
    assert "| later | `launch` | bsky-us | 2026-12-01 14:40Z | 2026-12-01 09:40 EST America/New_York |" \
        in out.stdout
    as_json = json.loads(invoke(["--root", str(space.root), "plan", "--at", "2026-12-01T09:30:00+01:00",
                                 "--format", "json"]).stdout)
    assert as_json["actions"][0] == {
        "action": "wait", "post": "launch", "channel": "bsky", "platform": "bluesky",
        "at": "2026-12-01 08:40Z", "at_local": "2026-12-01 09:40 CET", "timezone": "Europe/Berlin",
        "parts": [1], "reason": "due in 10 min, within lookahead: waits and posts on the minute"}


def test_lookahead_and_grace_come_from_cmops_yaml(tmp_path: Path) -> None:
    from factory import SETTINGS

    space = make_space(tmp_path / "ws", SETTINGS + "publishing:\n  lookahead: 1h\n  grace: 1h\n")
    space.post("soon", "channels: [masto]\npublish_at: 2026-12-01 10:20")
    space.post("late", "channels: [masto]\npublish_at: 2026-12-01 08:00")
    assert plan_of(space) == [("skip-missed", "late", "masto"), ("wait", "soon", "masto")]
    assert actions(space)[1].at == NOW + timedelta(minutes=50)


def test_the_registry_capabilities_match_the_adapters() -> None:
    from cmops import platforms

    for name in platforms.REGISTRY:
        cls = platforms.adapter_class(name)
        assert cls is not None
        assert platforms.CAPABILITIES[name] == (cls.can_edit, cls.can_delete), name


def test_parts_removed_after_publishing_are_reported_not_forgotten(space: Space) -> None:
    space.post("thread", "channels: [masto]\npublish_at: 2026-12-01 09:00", "One.\n---\nTwo.")
    published(space, "thread", "masto", parts=2)
    space.post("thread", "channels: [masto]\npublish_at: 2026-12-01 09:00", "One.")
    [action] = actions(space)
    assert (action.kind, action.parts) == ("cannot-edit", (1,))
    assert action.reason.startswith("part(s) 2 were removed from the thread after publishing and stay online")
