# ruff: noqa: F811 - the fixtures of test_publish are imported by name and used as arguments
"""Recovery corner cases found in review: each pins a way a post could have been doubled,
lost, or left online."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import git, invoke
from test_publish import NOW, Chat, World, _records, _write, chat, world  # noqa: F401 - fixtures

WHO = ["-c", "user.name=E", "-c", "user.email=e@x"]


def repository(world: World) -> Path:
    root = world.space.root
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", ".")
    git(root, *WHO, "commit", "--quiet", "-m", "posts")
    return root


def test_retracting_a_part_an_interrupted_run_sent_finds_and_deletes_it(world: World) -> None:
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30\nstatus: retracted",
                     "Killed mid-run.")
    world.masto.add_status("Killed mid-run.", created_at=NOW)
    _write(world, {"event": "intent", "post": "p", "channel": "masto", "part": 0, "parts": 1,
                   "key": "cmops-abc", "at": "2026-12-01T08:30:00.000Z"})
    out = world.publish(at=NOW + timedelta(minutes=5))
    assert (out.code, world.texts()) == (0, [])
    assert "deleted   p on masto: deleted (retracted)" in out.stdout


def test_retracting_a_part_that_never_went_out_deletes_nothing_and_says_nothing(world: World) -> None:
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30\nstatus: retracted", "Never.")
    _write(world, {"event": "intent", "post": "p", "channel": "masto", "part": 0, "parts": 1,
                   "key": "cmops-abc", "at": "2026-12-01T08:30:00.000Z"})
    out = world.publish(at=NOW + timedelta(minutes=5))
    assert (out.code, out.stdout.strip()) == (0, "Nothing was due.")
    assert [r["event"] for r in _records(world) if r["run"] != "crashed-run"] == ["failed", "settled"]


def test_an_intent_with_an_unreadable_time_is_still_reconciled_not_resent(chat: Chat) -> None:
    space, _, discord, env = chat
    space.post("p", "channels: [team]\npublish_at: 2026-12-01 09:30", "Team news.")
    path = space.root / "state/receipts/2026/12/crashed-run.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run": "crashed-run", "event": "intent", "post": "p", "channel": "team",
                                "part": 0, "parts": 1, "key": "k"}) + "\n")
    out = invoke(["--root", str(space.root), "publish"], env)
    assert out.code == 1 and "UNCONFIRMED" in out.stdout
    assert discord.messages == []


def test_a_receipt_with_wrongly_typed_fields_is_ignored_field_by_field(world: World) -> None:
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Hi.")
    _write(world, {"event": "intent", "post": "p", "channel": "masto", "part": 0, "parts": 1,
                   "key": 12345, "at": "2026-12-01T08:30:00.000Z"})
    _write(world, {"event": "published", "post": "p", "channel": "masto", "part": True, "id": 7})
    out = world.publish(at=NOW + timedelta(minutes=5))
    assert out.code == 0, out.output
    assert world.texts() == ["Hi."]


def test_the_same_words_on_another_day_are_not_mistaken_for_a_rename(world: World) -> None:
    world.space.post("monday-1", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Happy Monday!")
    assert world.publish().code == 0
    world.space.post("monday-2", "channels: [masto]\npublish_at: 2026-12-08 09:30", "Happy Monday!")
    out = world.publish(at=NOW + timedelta(days=7))
    assert (out.code, world.texts()) == (0, ["Happy Monday!", "Happy Monday!"])


def test_a_copy_with_the_same_time_is_skipped(world: World) -> None:
    world.space.post("launch", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Launch!")
    assert world.publish().code == 0
    (world.space.root / "content/posts/launch-copy.md").write_text(
        (world.space.root / "content/posts/launch.md").read_text())
    (world.space.root / "content/posts/launch.md").unlink()
    out = world.publish(at=NOW + timedelta(minutes=10))
    assert "launch-copy on masto: skip-duplicate" in out.stdout
    assert world.texts() == ["Launch!"]


def test_a_later_commit_includes_receipts_a_killed_run_left_behind(world: World) -> None:
    root = repository(world)
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:40", "Another.")
    git(root, "add", "content")
    git(root, *WHO, "commit", "--quiet", "-m", "p")
    _write(world, {"event": "intent", "post": "x", "channel": "masto", "part": 0, "parts": 1,
                   "key": "k", "at": "2026-12-01T08:30:00.000Z", "seq": 1})
    out = world.publish("--commit", at=NOW + timedelta(minutes=10))
    assert out.code == 0, out.output
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


def test_receipts_are_committed_even_when_the_run_breaks_after_publishing(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    root = repository(world)
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Out it goes.")
    git(root, "add", "content")
    git(root, *WHO, "commit", "--quiet", "-m", "p")

    def broken(*_: object) -> list[str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("cmops.feeds.rebuild_feeds", broken)
    with pytest.raises(AssertionError, match="OSError"):
        world.publish("--commit")
    assert world.texts() == ["Out it goes."]
    assert "state/receipts" in git(root, "show", "--stat", "HEAD")
    assert "state/" not in git(root, "status", "--porcelain", "--untracked-files=all")


def test_a_feed_path_outside_the_workspace_stops_before_anything_goes_out(world: World) -> None:
    settings = world.space.root / "cmops.yaml"
    settings.write_text(settings.read_text().replace("path: public/feed.xml", "path: ../outside.xml"))
    world.space.post("p", "channels: [masto]\npublish_at: 2026-12-01 09:30", "Hello.")
    out = world.publish()
    assert out.code == 2
    assert "channel 'news': path '../outside.xml' must be a file inside the workspace" in out.stderr
    assert world.texts() == []


def test_push_commits_receipts_and_resets_the_feed_a_killed_run_left(world: World, tmp_path: Path) -> None:
    root = repository(world)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "--quiet", "-u", "origin", "main")
    world.space.post("a", "channels: [news]\npublish_at: 2026-12-01 09:30", "A.")
    git(root, "add", "content")
    git(root, *WHO, "commit", "--quiet", "-m", "a")
    assert world.publish("--push").code == 0
    feed = root / "public/feed.xml"
    feed.write_text(feed.read_text() + "<!-- half-written by a killed run -->\n")
    _write(world, {"event": "missed", "post": "old", "channel": "news", "for": "2026-11-01T08:00:00.000Z",
                   "at": "2026-12-01T08:31:00.000Z", "seq": 99})
    out = world.publish("--push", at=NOW + timedelta(minutes=5))
    assert out.code == 0, out.output
    assert "committed receipts an interrupted run had left uncommitted" in out.stdout
    assert "killed run" not in feed.read_text()
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""
