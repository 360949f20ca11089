"""The pull-request side of the workflows: the plan comment, and where each merged post went.

Both keep one comment per subject, found again by a hidden marker at its start, so rerunning
a job updates that comment instead of adding another. Published links are also recorded as
``reported`` receipts, so later runs ask GitHub nothing about posts already reported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from cmops import ledger as ledger_mod
from cmops.errors import UsageError
from cmops.github import GitHub, Superseded, upsert_comment
from cmops.ledger import DELETED, Ledger, Track
from cmops.posts import POSTS_DIR

PLAN_MARKER = "<!-- cmops:plan -->"
MAX_PLAN_BYTES = 60_000


def published_marker(post: str) -> str:
    return f"<!-- cmops:published {post} -->"


def read_number(text: str, where: str) -> int:
    """A pull-request number from an untrusted place (an artifact): digits only."""
    cleaned = text.strip()
    if not re.fullmatch(r"[1-9][0-9]{0,9}", cleaned):
        raise UsageError(f"{where} does not hold a pull-request number (got {cleaned[:20]!r})")
    return int(cleaned)


def comment_plan(gh: GitHub, number: int, plan_markdown: str, head: str | None) -> str:
    """Create or update the one plan comment on pull request ``number``."""
    if head is not None:
        actual = str((gh.pull(number).get("head") or {}).get("sha", ""))
        if actual != head:
            raise Superseded(f"pull request #{number} is now at {actual[:7]}, not {head[:7]}: "
                             "the run for the newer commit updates the comment")
    body = plan_markdown.strip()
    if len(body.encode("utf-8")) > MAX_PLAN_BYTES:
        body = body[:MAX_PLAN_BYTES // 4] + "\n\n… (the plan is longer; run 'cmops plan' to see all of it)"
    at = f" (now at {head[:7]})" if head else ""
    footer = f"\n\n<sub>cmops updates this comment on every push{at}.</sub>"
    outcome = upsert_comment(gh, number, PLAN_MARKER, body + footer)
    return f"plan comment on #{number}: {outcome}"


def links(track: Track) -> tuple[str, str]:
    """(where, status) of one post on one channel, as the report shows it."""
    published = track.published()
    if published:
        first = track.parts[published[0]].sent
        where = (first.url or first.id) if first is not None else ""
        parts = f", {len(published)} parts" if len(published) > 1 else ""
        return where or "(no link: the platform gives none)", f"published{parts}"
    if any(p.status == DELETED for p in track.parts.values()):
        return "", "deleted"
    return "", ""


def post_report(post: str, tracks: list[Track]) -> str | None:
    """The comment body for one post, or None while nothing of it is out."""
    if not any(track.published() for track in tracks):
        return None
    rows = []
    for track in sorted(tracks, key=lambda t: t.channel):
        where, status = links(track)
        if status:
            when = (track.first_published_at or track.last_change_at or "")[:16].replace("T", " ")
            rows.append(f"| {track.channel} | {status} | {where} | {when} |")
    return "\n".join([f"**Published:** `{post}` (`{POSTS_DIR}/{post}.md`)", "",
                      "| Channel | Status | Link | When (UTC) |", "| --- | --- | --- | --- |", *rows])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def origin_pr(root: Path, gh: GitHub, post: str) -> int | None:
    """The pull request that added the post's file (found through the commit that added it)."""
    from cmops.gitops import git

    if git(root, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true":
        raise UsageError("finding the pull request that added a post needs the whole history: "
                         "check out with fetch-depth: 0")
    done = git(root, "log", "--diff-filter=A", "--format=%H", "--", f"{POSTS_DIR}/{post}.md", check=False)
    commits = done.stdout.split()
    if done.returncode != 0 or not commits:
        return None
    pulls = gh.commit_pulls(commits[0])  # the newest commit that added it (a post can come back)
    merged = [p for p in pulls if p.get("merged_at")]
    chosen = merged or pulls
    return int(chosen[0]["number"]) if chosen else None


#: Posts first published longer ago than this are not reported (no backfill of old pull
#: requests when the workflow is first installed).
REPORT_WINDOW = timedelta(days=7)
#: At most this many comments per run; the rest follow in the next runs.
MAX_PER_RUN = 20


def pending(ledger: Ledger, now: datetime) -> dict[str, tuple[str, str]]:
    """post -> (comment body, its digest) for posts whose links changed since last reported,
    among those first published within :data:`REPORT_WINDOW`."""
    by_post: dict[str, list[Track]] = {}
    for track in ledger.tracks.values():
        by_post.setdefault(track.post, []).append(track)
    result = {}
    for post, tracks in sorted(by_post.items()):
        firsts = [t.first_published for t in tracks if t.first_published is not None]
        if not firsts or now - min(firsts) > REPORT_WINDOW:
            continue
        body = post_report(post, tracks)
        if body is not None and ledger.reported.get(post) != _digest(body):
            result[post] = (body, _digest(body))
    return result


def report_published(root: Path, gh: GitHub, say: Callable[[str], None], *, commit: bool,
                     push: bool, now_iso: str | None = None) -> int:
    """Comment each newly published post's links on the pull request that added it; record
    a ``reported`` receipt per post. Returns the exit code."""
    from datetime import UTC

    from cmops import lock
    from cmops.github import GitHubError
    from cmops.publishing import commit_state
    from cmops.schedule import parse_now

    now = parse_now(now_iso, "--at") if now_iso else datetime.now(UTC)
    failed: list[str] = []
    with lock.exclusive(root, 600.0, on_wait=lambda: say("a publish run is busy here; waiting")):
        if push:
            from cmops.feeds import feed_files
            from cmops.gitops import sync
            from cmops.workspace import load_settings

            sync(root, say, feed_files(root, load_settings(root)), ledger_mod.STATE_DIR)
        ledger = ledger_mod.read(root)
        todo = pending(ledger, now)
        if not todo:
            say("Nothing new to report.")
        if len(todo) > MAX_PER_RUN:
            say(f"{len(todo)} posts to report; {MAX_PER_RUN} now, the rest in the next runs")
            todo = dict(list(todo.items())[:MAX_PER_RUN])
        writer = ledger_mod.Writer(root, ledger_mod.new_run_id(now), now, ledger.last_seq)
        done: list[str] = []
        try:
            for post, (body, digest) in todo.items():
                try:
                    number = origin_pr(root, gh, post)
                    if number is not None:
                        outcome = upsert_comment(gh, number, published_marker(post), body)
                        say(f"{post}: links on #{number} ({outcome})")
                    else:
                        say(f"{post}: no pull request added it (pushed directly); nothing to comment on")
                except GitHubError as exc:
                    failed.append(f"{post}: {exc.format_message()}")
                    continue
                writer.write(now, "reported", post, pr=number, hash=digest)
                done.append(f"{post} -> #{number}" if number else f"{post} (no pull request)")
        finally:
            writer.close()
            # Also with nothing new: receipts a broken earlier run left are committed and pushed.
            if commit or push:
                commit_state(root, [ledger_mod.STATE_DIR], "cmops: published links reported", done, push, say)
    for line in failed:
        say(f"left undone: {line}")
    return 1 if failed else 0
