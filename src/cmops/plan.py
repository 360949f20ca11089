"""What ``cmops publish`` would do now, and why: a pure function of the posts, the receipts
and the clock. ``publish`` executes exactly this plan; ``plan`` prints it."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cmops import platforms
from cmops.findings import Finding
from cmops.ledger import INTENT, PUBLISHED, UNCONFIRMED, Ledger, Track, iso
from cmops.model import Channel, Post, Rendition, Settings, Workspace
from cmops.posts import POSTS_DIR
from cmops.schedule import fmt_span

#: Actions that do something on a platform in this run.
WORK = ("publish", "publish-thread-rest", "wait", "edit", "delete")
#: Actions that leave something undone: the run exits 1 and says so.
PROBLEMS = ("skip-missed", "unconfirmed", "blocked")


@dataclass(frozen=True)
class Action:
    kind: str
    post: str
    channel: Channel
    #: When it happens (publish, wait), or was scheduled (skip-missed, later); None: now.
    at: datetime | None
    reason: str
    parts: tuple[int, ...] = ()
    rendition: Rendition | None = None
    file: str = ""
    #: Finishes what an earlier run started; done before anything new.
    resume: bool = False


@dataclass
class Plan:
    now: datetime
    actions: list[Action] = field(default_factory=list)
    #: (post id, hash of its file) for posts with nothing left to do, not yet marked settled.
    newly_settled: list[tuple[str, str]] = field(default_factory=list)
    #: Posts with nothing left to do (published everywhere, missed, or drafts).
    done: int = 0
    skipped_unchanged: int = 0

    def work(self) -> list[Action]:
        return [a for a in self.actions if a.kind in WORK]

    def problems(self) -> list[Action]:
        return [a for a in self.actions if a.kind in PROBLEMS]


def part_hash(rendition: Rendition, index: int) -> str:
    """What an edit compares: the part's text (and the content warning on the first part)."""
    digest = hashlib.sha256(rendition.parts[index].text.encode("utf-8"))
    if index == 0 and rendition.spoiler:
        digest.update(b"\x00" + rendition.spoiler.encode("utf-8"))
    return digest.hexdigest()


def source_hash(post: Post) -> str:
    return hashlib.sha256(post.source.encode("utf-8")).hexdigest()


def make_plan(space: Workspace, ledger: Ledger, now: datetime,
              errors: dict[str, list[Finding]] | None = None, only: str | None = None) -> Plan:
    """Every action for every post (or only ``only``), in the order publish takes them."""
    assert space.settings is not None
    plan = Plan(now, done=space.settled_unparsed)
    errors = errors or {}
    duplicates = ledger.by_hash()
    by_post: dict[str, list[Track]] = defaultdict(list)
    for track in ledger.tracks.values():
        by_post[track.post].append(track)
    posts = {p.id: p for p in space.posts}
    for post in space.posts:
        if only is not None and post.id != only:
            continue
        actions = _for_post(post, space.settings, ledger, by_post[post.id], duplicates, now, posts,
                            space.root)
        post_errors = errors.get(post.file, [])
        if post_errors:
            # A broken post is never published or edited, but a retraction still deletes.
            actions = [_blocked(a, post_errors) if a.kind in WORK and a.kind != "delete" else a
                       for a in actions]
        plan.actions.extend(actions)
        if actions:
            continue
        plan.done += 1
        src = source_hash(post)
        if ledger.settled.get(post.id) != src:
            plan.newly_settled.append((post.id, src))
    # Unfinished business first (an interrupted part, the rest of a thread), then by time.
    plan.actions.sort(key=lambda a: (not a.resume, a.at or now, a.post, a.channel.id))
    return plan


def _blocked(action: Action, found: list[Finding]) -> Action:
    first = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return Action("blocked", action.post, action.channel, action.at,
                  f"would {action.kind} but the post has errors: {first.file}:{first.line}: "
                  f"{first.message}{more}; run 'cmops validate'", action.parts, action.rendition, action.file,
                  action.resume)


def _for_post(post: Post, settings: Settings, ledger: Ledger, tracks: list[Track],
              duplicates: dict[tuple[str, str], Track], now: datetime,
              posts: dict[str, Post], root: Path) -> list[Action]:
    if post.status == "draft":
        return []
    if post.status == "retracted":
        return [a for t in tracks if (a := _retract(post, settings, t)) is not None]
    actions: list[Action] = []
    for channel_id, rendition in post.renditions.items():
        track = ledger.peek(post.id, channel_id)
        action = _for_rendition(post, rendition, track, duplicates, settings, now, posts, root)
        actions.extend(action)
    return actions


def _retract(post: Post, settings: Settings, track: Track) -> Action | None:
    channel = settings.channels.get(track.channel)
    if channel is None or not track.live():
        return None
    live = tuple(sorted(i for i, p in track.parts.items() if p.status in (PUBLISHED, INTENT)))
    if any(p.status == UNCONFIRMED for p in track.parts.values()):
        return _unconfirmed(post, channel, track)
    if not platforms.can_delete(channel.platform):
        return Action("cannot-delete", post.id, channel, None,
                      f"retracted, but cmops cannot delete on {channel.platform}: remove it by hand"
                      + _where(track), live, file=post.file)
    return Action("delete", post.id, channel, None, "the post is retracted", live, file=post.file)


def _where(track: Track) -> str:
    urls = [p.sent.url for p in track.parts.values() if p.sent and p.sent.url]
    return f" ({urls[0]})" if urls else ""


def _unconfirmed(post: Post, channel: Channel, track: Track) -> Action:
    parts = tuple(sorted(i for i, p in track.parts.items() if p.status == UNCONFIRMED))
    note = next((p.note for p in track.parts.values() if p.status == UNCONFIRMED and p.note), "")
    return Action("unconfirmed", post.id, channel, None,
                  f"part {parts[0] + 1} may or may not have gone out ({note or 'interrupted'}); "
                  f"check the channel, then run 'cmops resolve {post.id} {channel.id} --sent URL' "
                  f"or '--not-sent'", parts, file=post.file)


def _renamed_or_copied(original: Track, rendition: Rendition, original_post: Post | None,
                       root: Path) -> bool:
    """The same text already went out under another id: a rename (that file is gone) or a
    copy (same time). Different posts that merely share words at other times are not.
    (A copy of a post that ``plan`` left unparsed as settled is judged by ``publish``.)"""
    if original_post is None:
        return not (root / POSTS_DIR / f"{original.post}.md").is_file()
    theirs = original_post.renditions.get(original.channel)
    return theirs is not None and theirs.publish_at == rendition.publish_at


def _for_rendition(post: Post, rendition: Rendition, track: Track | None,
                   duplicates: dict[tuple[str, str], Track], settings: Settings,
                   now: datetime, posts: dict[str, Post], space_root: Path) -> list[Action]:
    channel = rendition.channel
    count = len(rendition.parts)
    if track is not None and any(p.status == UNCONFIRMED for p in track.parts.values()):
        return [_unconfirmed(post, channel, track)]
    started = track is not None and bool(track.published())
    if started:
        assert track is not None
        return _continue(post, rendition, track, count)
    pending = track is not None and any(p.status == INTENT for p in track.parts.values())
    instant = rendition.publish_at
    if not pending:
        original = duplicates.get((channel.id, rendition.content_hash()))
        if original is not None and original.post != post.id and _renamed_or_copied(
                original, rendition, posts.get(original.post), space_root):
            return [Action("skip-duplicate", post.id, channel, instant,
                           f"the same text was already published on {channel.id} as "
                           f"{original.post!r}{_where(original)}; renamed or copied posts are not "
                           f"published again", file=post.file)]
        if instant is not None and track is not None and track.missed_for == iso(instant):
            return []
    everything = tuple(range(count))
    if instant is None:
        return [Action("publish", post.id, channel, None, "no publish_at: goes out when merged",
                       everything, rendition, post.file)]
    if pending:
        return [Action("publish", post.id, channel, None, "resuming an interrupted run: asks "
                       "the platform first whether it went out", everything, rendition, post.file,
                       resume=True)]
    late = now - instant
    if late > settings.grace:
        return [Action("skip-missed", post.id, channel, instant,
                       f"{fmt_span(late)} late, past the grace period of {fmt_span(settings.grace)}: "
                       f"not posted stale; give it a new publish_at to post it", file=post.file)]
    if late >= timedelta(0):
        reason = "due now" if late < timedelta(minutes=1) else f"due {fmt_span(late)} ago, within grace"
        return [Action("publish", post.id, channel, instant, reason, everything, rendition, post.file)]
    if -late <= settings.lookahead:
        return [Action("wait", post.id, channel, instant,
                       f"due in {fmt_span(-late)}, within lookahead: waits and posts on the minute",
                       everything, rendition, post.file)]
    return [Action("later", post.id, channel, instant, f"in {fmt_span(-late)}", everything, rendition,
                   post.file)]


def _continue(post: Post, rendition: Rendition, track: Track, count: int) -> list[Action]:
    """A post with published parts: finish its thread, edit changed parts."""
    channel = rendition.channel
    actions: list[Action] = []
    published = track.published()
    missing = tuple(i for i in range(count) if i not in published)
    if missing:
        actions.append(Action("publish-thread-rest", post.id, channel, None,
                              f"thread stopped after part {missing[0]}: resumes at part {missing[0] + 1}",
                              missing, rendition, post.file, resume=True))
    removed = tuple(i for i in published if i >= count)
    if removed:
        actions.append(Action("cannot-edit", post.id, channel, None,
                              f"part(s) {_numbers(removed)} were removed from the thread after publishing "
                              f"and stay online: delete them by hand{_where(track)}", removed, rendition,
                              post.file))
    changed = tuple(i for i in published if i < count and track.parts[i].part_hash != part_hash(rendition, i))
    if changed:
        if platforms.can_edit(channel.platform):
            actions.append(Action("edit", post.id, channel, None,
                                  f"changed after publishing: part(s) {_numbers(changed)}",
                                  changed, rendition, post.file))
        else:
            actions.append(Action("cannot-edit", post.id, channel, None,
                                  f"changed after publishing, but {channel.platform} posts cannot be "
                                  f"edited; the change is not published{_where(track)}",
                                  changed, rendition, post.file))
    return actions


def _numbers(indexes: tuple[int, ...]) -> str:
    return ", ".join(str(i + 1) for i in indexes)
