"""``publish --commit --push`` against a real bare remote that moved meanwhile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmops.clock import VirtualClock
from conftest import git, invoke
from factory import make_space

SETTINGS = """\
name: Test brand
timezone: Europe/Berlin
channels:
  news:
    platform: feed
    path: public/feed.xml
    site_url: https://brand.example/
"""


WHO = ["-c", "user.name=Editor", "-c", "user.email=editor@brand.example"]


pytestmark = pytest.mark.usefixtures("no_git_identity")


def test_push_rebases_onto_a_remote_that_moved_and_keeps_every_receipt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    ours = tmp_path / "ours"
    space = make_space(ours, SETTINGS)
    space.post("first", "channels: [news]\npublish_at: 2026-12-01 09:00", "First news.")
    space.post("second", "channels: [news]\npublish_at: 2026-12-01 10:00", "Second news.")
    git(ours, "init", "--quiet", "--initial-branch=main")
    git(ours, "add", ".")
    git(ours, *WHO, "commit", "--quiet", "-m", "posts")
    git(ours, "remote", "add", "origin", str(remote))
    git(ours, "push", "--quiet", "-u", "origin", "main")
    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "--quiet", str(remote), str(theirs))

    def meanwhile() -> None:
        """While our run waits for 'second', an editor adds a post and another runner
        publishes it and pushes: the remote moves, and its feed changes too."""
        (theirs / "content/posts/third.md").write_text(
            "---\nchannels: [news]\npublish_at: 2026-12-01 09:56\n---\nThird news.\n")
        git(theirs, "add", ".")
        git(theirs, *WHO, "commit", "--quiet", "-m", "a new post")
        other = invoke(["--root", str(theirs), "publish", "--only", "third", "--push"],
                       {"CMOPS_NOW": "2026-12-01T09:57:00+01:00"})
        assert other.code == 0, other.output

    real_sleep = VirtualClock.sleep
    calls: list[float] = []

    def sleep(self: VirtualClock, seconds: float) -> None:
        if not calls:
            meanwhile()
        calls.append(seconds)
        real_sleep(self, seconds)

    monkeypatch.setattr(VirtualClock, "sleep", sleep)
    out = invoke(["--root", str(ours), "publish", "--push"], {"CMOPS_NOW": "2026-12-01T09:55:00+01:00"})
    assert out.code == 0, out.output
    assert "push rejected (attempt 1 of 5); rebasing onto origin/main" in out.stdout
    check = tmp_path / "check"
    git(tmp_path, "clone", "--quiet", str(remote), str(check))
    receipts = sorted(p.name for p in (check / "state/receipts").rglob("*.jsonl"))
    ours_and_theirs = [p.name for root in (ours, theirs) for p in (root / "state/receipts").rglob("*.jsonl")]
    assert len(receipts) == 2 and receipts == sorted(set(ours_and_theirs))
    feed = (check / "public/feed.xml").read_text()
    assert feed.count("<entry>") == 3 and "<<<<<<<" not in feed
    assert all(text in feed for text in ("First news.", "Second news.", "Third news."))
    assert git(check, "status", "--porcelain") == ""
    log = git(check, "log", "--format=%s%n%b", "-n", "3")
    assert "cmops publish: 2 post(s) went out" in log
    assert "- second on news: https://brand.example/#second" in log


def test_commit_lists_what_went_out_and_needs_no_git_identity(tmp_path: Path) -> None:
    space = make_space(tmp_path / "ws", SETTINGS)
    space.post("hello", "channels: [news]\npublish_at: 2026-12-01 09:00", "Hello.")
    git(space.root, "init", "--quiet", "--initial-branch=main")
    git(space.root, "add", ".")
    git(space.root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "--quiet", "-m", "init")
    out = invoke(["--root", str(space.root), "publish", "--commit"],
                 {"CMOPS_NOW": "2026-12-01T09:01:00+01:00"})
    assert out.code == 0, out.output
    assert "committed: cmops publish: 1 post(s) went out" in out.stdout
    assert git(space.root, "status", "--porcelain") == ""
    shown = git(space.root, "show", "--stat", "--format=%an <%ae>%n%s%n%b", "HEAD")
    assert shown.startswith("cmops <cmops@users.noreply.github.com>\ncmops publish: 1 post(s) went out\n")
    assert "public/feed.xml" in shown and "state/receipts/2026/12/" in shown
    lines = [json.loads(x) for p in (space.root / "state").rglob("*.jsonl")
             for x in p.read_text().splitlines()]
    assert [r["event"] for r in lines] == ["intent", "published", "settled"]


def test_push_from_a_detached_head_says_what_to_do(tmp_path: Path) -> None:
    space = make_space(tmp_path / "ws", SETTINGS)
    space.post("hello", "channels: [news]\npublish_at: 2026-12-01 09:00", "Hello.")
    git(space.root, "init", "--quiet", "--initial-branch=main")
    git(space.root, "add", ".")
    git(space.root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "--quiet", "-m", "init")
    git(space.root, "checkout", "--quiet", "--detach")
    out = invoke(["--root", str(space.root), "publish", "--push"],
                 {"CMOPS_NOW": "2026-12-01T09:01:00+01:00"})
    assert out.code == 1
    assert "cannot push: HEAD is detached" in out.stderr
    assert "committed: cmops publish: 1 post(s) went out" in out.stdout
