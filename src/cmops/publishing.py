"""The ``plan``, ``publish`` and ``resolve`` use cases: load, plan, lock, run, record, commit."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cmops import ledger as ledger_mod
from cmops.clock import Clock, SystemClock, VirtualClock
from cmops.errors import UsageError
from cmops.findings import Finding
from cmops.ledger import Ledger
from cmops.model import Workspace
from cmops.plan import Plan, make_plan
from cmops.schedule import parse_now

if TYPE_CHECKING:
    import httpx


def _client() -> httpx.Client:
    import httpx

    return httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), headers={"User-Agent": "cmops"})


#: Tests replace this to put a MockTransport behind every adapter.
CLIENT_FACTORY: Callable[[], httpx.Client] = _client


def clock_for(at: str | None) -> Clock:
    """``--at`` or ``CMOPS_NOW`` make time virtual (reproducible); otherwise the real clock."""
    if at:
        return VirtualClock(parse_now(at, "--at"))
    override = os.environ.get("CMOPS_NOW")
    if override:
        return VirtualClock(parse_now(override, "CMOPS_NOW"))
    return SystemClock()


@dataclass
class Loaded:
    space: Workspace
    findings: list[Finding]
    ledger: Ledger
    plan: Plan


def load_plan(root: Path, clock: Clock, only: str | None, *, skip_settled: bool = False) -> Loaded:
    """Receipts, then posts. ``skip_settled`` leaves unparsed the post files the receipts mark
    as settled and that are unchanged since (fast for ``plan``; ``publish`` reads every post
    because it rebuilds feeds from them)."""
    from cmops.publish import post_errors
    from cmops.workspace import gc_paused, load_for_command

    with gc_paused():
        ledger = ledger_mod.read(root)
    space, findings = load_for_command(root, ledger.settled if skip_settled else None)
    if only is not None and space.post(only) is None:
        raise UsageError(f"no post {only!r} (its path under content/posts/ without .md)")
    now = clock.now()
    first = make_plan(space, ledger, now, only=only)
    errors = post_errors(space, findings, first) if first.work() else {}
    plan = make_plan(space, ledger, now, errors, only=only) if errors else first
    return Loaded(space, findings, ledger, plan)


def show_plan(root: Path, at: str | None, fmt: str, only: str | None,
              changed: list[str] | None = None) -> str:
    """The plan as text, JSON or Markdown; ``changed`` (workspace-relative files, as from
    ``--changed-since``) keeps only the actions for those posts, as a pull request shows them."""
    from cmops.planview import render
    from cmops.posts import POSTS_DIR, post_id

    loaded = load_plan(root, clock_for(at), only, skip_settled=only is None)
    plan = loaded.plan
    if changed is not None:
        ids = {post_id(name) for name in changed if name.startswith(POSTS_DIR + "/") and name.endswith(".md")}
        plan.actions = [a for a in plan.actions if a.post in ids]
    return render(plan, fmt)


def run_publish(root: Path, *, at: str | None, dry_run: bool, only: str | None, commit: bool,
                push: bool, say: Callable[[str], None], env: Mapping[str, str] | None = None,
                lock_timeout: float | None = None) -> int:
    """Publish what is due; 0 when everything planned was done, 1 when something is left."""
    from cmops import lock
    from cmops.feeds import feed_files
    from cmops.workspace import load_settings

    clock = clock_for(at)
    env = os.environ if env is None else env
    if dry_run:
        from cmops.planview import render

        probe = load_plan(root, clock, only)
        say(render(probe.plan, "text", with_later=False))
        return 1 if probe.plan.problems() else 0
    settings = load_settings(root)
    derived = feed_files(root, settings)
    timeout = lock_timeout if lock_timeout is not None else settings.lookahead.total_seconds() + 600
    with lock.exclusive(root, timeout, on_wait=lambda: say("another publish is running; waiting")):
        if push:
            from cmops.gitops import sync

            sync(root, say, derived, ledger_mod.STATE_DIR)
        # Plan only now, under the lock and after the pull: the receipts another run wrote count.
        loaded = load_plan(root, clock, only)
        went_out: list[str] = []
        try:
            code = _execute(root, loaded, clock, env, say, went_out)
        finally:
            # Even when the run failed half-way: what went out must be recorded in git, or the
            # next run (on a fresh clone) would not know and would post it again.
            if commit or push:
                _commit(root, [ledger_mod.STATE_DIR, *derived], went_out, push, say)
    return code


def _execute(root: Path, loaded: Loaded, clock: Clock, env: Mapping[str, str],
             say: Callable[[str], None], went_out: list[str]) -> int:
    from cmops.feeds import rebuild_feeds
    from cmops.publish import Engine, Report

    started = clock.now()
    writer = ledger_mod.Writer(root, ledger_mod.new_run_id(started), started, loaded.ledger.last_seq)
    client = CLIENT_FACTORY()
    try:
        engine = Engine(root, loaded.space, loaded.ledger, writer, clock, client, env, say,
                        Report(went_out=went_out))
        report = engine.run(loaded.plan)
        after = ledger_mod.read(root)
        rebuild_feeds(root, loaded.space, after)
        settled = make_plan(loaded.space, after, clock.now(), only=None).newly_settled
        for post_id, src in settled:
            writer.write(clock.now(), "settled", post_id, src=src)
    finally:
        client.close()
        writer.close()
    if not report.went_out and not report.left:
        say("Nothing was due.")
    for line in report.left:
        say(f"left undone: {line}")
    return 1 if report.left else 0


def _commit(root: Path, files: list[str], went_out: list[str], push: bool,
            say: Callable[[str], None]) -> None:
    title = f"cmops publish: {len(went_out)} post(s) went out" if went_out else "cmops publish: receipts"
    commit_state(root, files, title, went_out, push, say)


def commit_state(root: Path, files: list[str], title: str, lines: list[str], push: bool,
                 say: Callable[[str], None]) -> None:
    """Commit ``files`` with ``title`` and one line per item; with ``push``, push it too
    (rebasing onto a branch that moved and rebuilding the feeds from all receipts)."""
    from cmops import gitops
    from cmops.feeds import rebuild_feeds

    body = "\n".join(f"- {line}" for line in lines)
    message = title + ("\n\n" + body if body else "")
    if gitops.commit(root, files, message):
        say(f"committed: {title}")
    if push:

        def rebuild() -> list[str]:
            from cmops.workspace import load_for_command

            space, _ = load_for_command(root)
            return rebuild_feeds(root, space, ledger_mod.read(root))

        gitops.push(root, rebuild, say)
        say("pushed.")


def resolve(root: Path, post: str, channel: str, sent_url: str | None, at: str | None) -> str:
    """A person checked an unconfirmed part: record whether it went out."""
    from cmops import lock
    from cmops.workspace import load_for_command

    space, _ = load_for_command(root)
    with lock.exclusive(root, 600.0):
        return _resolve(root, space, post, channel, sent_url, at)


def _resolve(root: Path, space: Workspace, post: str, channel: str, sent_url: str | None,
             at: str | None) -> str:
    ledger = ledger_mod.read(root)
    track = ledger.peek(post, channel)
    parts = sorted(i for i, p in (track.parts.items() if track else []) if p.status == ledger_mod.UNCONFIRMED)
    if not parts:
        raise UsageError(f"nothing is unconfirmed for {post!r} on {channel!r}; 'cmops plan' lists what is")
    clock = clock_for(at)
    writer = ledger_mod.Writer(root, ledger_mod.new_run_id(clock.now()), clock.now(), ledger.last_seq)
    from cmops.plan import part_hash

    found = space.post(post)
    # What went out is recorded with the post's hashes, so a later edit is recognised.
    rendition = found.renditions.get(channel) if found is not None and sent_url is not None else None
    for index in parts:
        hashes = ({"hash": rendition.content_hash(), "part_hash": part_hash(rendition, index)}
                  if rendition else {})
        writer.write(clock.now(), "resolved", post, channel=channel, part=index, sent=sent_url is not None,
                     id=sent_url, url=sent_url, **hashes)
    writer.close()
    verdict = ("went out" if sent_url is not None else "did not go out; the next publish sends it "
               "(unless it is past the grace period: then give it a new publish_at)")
    return f"recorded: {post} on {channel}, part(s) {', '.join(str(i + 1) for i in parts)} {verdict}."
