"""The pull request as the editorial meeting, end to end, with real git repositories: a
branch adds a post; validate and plan run as validate.yml runs them; the plan goes on the
pull request; the branch is merged; publish runs on a fresh clone as publish.yml runs it and
pushes its receipts to the bare remote; the links are reported on the pull request once,
even when the job runs again."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cmops import github as gh_mod
from cmops.scaffold import write_workspace
from conftest import git, invoke
from fake_github import REPO, TOKEN, FakeGitHub

WHO = ["-c", "user.name=Mia Editor", "-c", "user.email=mia@acme.example"]
POST = "content/posts/us/2026-11-27-black-friday.md"
#: 2026-11-27 10:00 in Berlin is 09:00 UTC.
POST_TEXT = """---
channels: [news]
publish_at: 2026-11-27 10:00
tags: [launch]
title: Black Friday at Acme
---
Black Friday: every Acme plan is 30% off until Monday. https://acme.example/deals
"""


@pytest.fixture(autouse=True)
def fresh_runner(no_git_identity: None, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    """Like a fresh GitHub runner: no git identity; GitHub's API is the fake."""
    fake = FakeGitHub()
    transport = httpx.MockTransport(fake.handle)
    monkeypatch.setattr(gh_mod, "CLIENT_FACTORY", lambda: httpx.Client(transport=transport))
    monkeypatch.setattr(gh_mod, "SLEEP", lambda _: None)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    return fake


def cmops(root: Path, *args: str, now: str) -> tuple[int, str]:
    outcome = invoke(["--root", str(root), *args], {"CMOPS_NOW": now})
    return outcome.code, outcome.output


def remote_files(remote: Path, ref: str = "main") -> list[str]:
    return git(remote, "ls-tree", "-r", "--name-only", ref).split()


def test_a_post_from_pull_request_to_published_and_reported(tmp_path: Path, fresh_runner: FakeGitHub) -> None:
    fake = fresh_runner
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))

    # The team's repository: the example workspace, on main.
    editor = tmp_path / "editor"
    write_workspace(editor)
    git(editor, "init", "--quiet", "--initial-branch=main")
    git(editor, "add", ".")
    git(editor, *WHO, "commit", "--quiet", "-m", "cmops workspace")
    git(editor, "remote", "add", "origin", str(remote))
    git(editor, "push", "--quiet", "-u", "origin", "main")
    assert ".github/workflows/publish.yml" in remote_files(remote)

    # A community manager proposes a post on a branch; the first version names a channel
    # that does not exist.
    git(editor, "checkout", "--quiet", "-b", "black-friday")
    (editor / POST).write_text(POST_TEXT.replace("[news]", "[newz]"), encoding="utf-8")
    git(editor, "add", POST)
    git(editor, *WHO, "commit", "--quiet", "-m", "Black Friday post")
    added = git(editor, "rev-parse", "HEAD").strip()
    git(editor, "push", "--quiet", "origin", "black-friday")

    # validate.yml: a checkout of the pull request with full history, then validate and plan.
    pr_job = tmp_path / "pr-job"
    git(tmp_path, "clone", "--quiet", "--branch", "black-friday", str(remote), str(pr_job))
    now = "2026-11-23T15:00:00Z"
    code, out = cmops(pr_job, "validate", "--changed-since", "origin/main", "--format", "github", now=now)
    assert code == 1
    assert f"::error file={POST},line=2,col=12,title=post.unknown-channel::unknown channel 'newz'" in out

    (editor / POST).write_text(POST_TEXT, encoding="utf-8")
    git(editor, *WHO, "commit", "--quiet", "-am", "fix the channel")
    head = git(editor, "rev-parse", "HEAD").strip()
    git(editor, "push", "--quiet", "origin", "black-friday")
    git(pr_job, "pull", "--quiet")
    code, out = cmops(pr_job, "validate", "--changed-since", "origin/main", "--format", "github", now=now)
    assert (code, out.strip()) == (0, "")
    code, plan = cmops(pr_job, "plan", "--changed-since", "origin/main", "--format", "markdown", now=now)
    assert code == 0
    rows = [line for line in plan.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == ["| later | `us/2026-11-27-black-friday` | news | 2026-11-27 09:00Z "
                    "| 2026-11-27 10:00 CET Europe/Berlin | in 3.8 days |"], plan

    # pull-request.yml: the plan from the artifact goes on the pull request, once.
    fake.pull(12, head, git(editor, "rev-parse", "main").strip(), author="mia")
    (tmp_path / "plan.md").write_text(plan, encoding="utf-8")
    (tmp_path / "number").write_text("12\n", encoding="utf-8")
    for _ in range(2):  # the job runs twice (a re-run): still one comment
        outcome = invoke(["--root", str(editor), "github", "comment-plan", "--head", head,
                          "--pr-file", str(tmp_path / "number"), "--plan", str(tmp_path / "plan.md")])
        assert outcome.code == 0, outcome.output
    [comment] = fake.comments[12]
    assert "us/2026-11-27-black-friday" in comment["body"]

    # Merged.
    git(editor, "checkout", "--quiet", "main")
    git(editor, *WHO, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #12", "black-friday")
    git(editor, "push", "--quiet", "origin", "main")
    fake.commit_prs[added] = [12]
    fake.merged.add(12)

    # publish.yml on the cron after the post's time: a fresh checkout with full history.
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", str(remote), str(runner))
    before_report = tmp_path / "rerun"
    code, out = cmops(runner, "publish", "--push", now="2026-11-27T09:04:00Z")
    assert code == 0, out
    assert "pushed." in out
    git(tmp_path, "clone", "--quiet", str(remote), str(before_report))
    on_remote = remote_files(remote)
    receipts = [name for name in on_remote if name.startswith("state/receipts/2026/11/")]
    assert len(receipts) == 1 and "public/feed.xml" in on_remote
    events = [json.loads(line) for line in git(remote, "show", f"main:{receipts[0]}").splitlines()]
    assert [(e["event"], e["post"], e.get("channel")) for e in events] == [
        ("intent", "us/2026-11-27-black-friday", "news"), ("published", "us/2026-11-27-black-friday", "news"),
        ("settled", "de/drafts-year-review", None), ("settled", "us/2026-11-27-black-friday", None)]
    assert "Black Friday at Acme" in git(remote, "show", "main:public/feed.xml")
    author = git(remote, "log", "-1", "--format=%an <%ae> %s", "main")
    assert author.startswith("cmops <cmops@users.noreply.github.com> cmops publish: 1 post(s) went out")

    # ... then the links go on the pull request that added the post.
    code, out = cmops(runner, "github", "report-published", "--push", now="2026-11-27T09:05:00Z")
    assert code == 0, out
    assert "us/2026-11-27-black-friday: links on #12 (created)" in out
    marker = "<!-- cmops:published us/2026-11-27-black-friday -->"
    links = [c for c in fake.comments[12] if c["body"].startswith(marker)]
    assert len(links) == 1
    assert "| news | published | https://acme.example/" in links[0]["body"]
    reported = [name for name in remote_files(remote) if name.startswith("state/receipts/")]
    assert len(reported) == 2

    # Another run: nothing new, and GitHub is not asked anything.
    requests = len(fake.requests)
    code, out = cmops(runner, "github", "report-published", "--push", now="2026-11-27T09:15:00Z")
    assert (code, "Nothing new to report." in out) == (0, True)
    assert len(fake.requests) == requests

    # A job that commented but died before pushing its receipt, run again from the same
    # checkout: the comment is found, not repeated; the receipts are pushed without conflict.
    code, out = cmops(before_report, "github", "report-published", now="2026-11-27T09:20:00Z")
    assert code == 0, out
    assert "links on #12 (unchanged)" in out
    assert len([c for c in fake.comments[12] if "cmops:published" in c["body"]]) == 1
    code, out = cmops(before_report, "github", "report-published", "--push", now="2026-11-27T09:30:00Z")
    assert code == 0, out
    assert "committed receipts an interrupted run had left uncommitted" in out
    assert len([n for n in remote_files(remote) if n.startswith("state/receipts/")]) == 3
    assert git(before_report, "status", "--porcelain") == ""
    assert fake.calls("POST", "/comments$") == 2  # the plan and the links, each once
