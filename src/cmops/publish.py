"""``cmops publish``: carry out the plan, exactly once per part, and write receipts.

For every part: an ``intent`` line is fsynced before the platform is called and a
``published`` line after. A run that finds an intent without a receipt (the previous run was
killed in between) asks the platform (:meth:`Adapter.lookup`) before doing anything; when
the platform cannot tell, the part becomes ``unconfirmed`` and a person decides. One
channel's failure never stops the others; the run exits 1 and lists what is left.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

from cmops import ledger as ledger_mod
from cmops import platforms
from cmops.clock import Clock, sleep_until
from cmops.findings import Finding
from cmops.ledger import INTENT, PUBLISHED, Ledger, Track, Writer
from cmops.model import Post, Rendition, Workspace
from cmops.plan import Action, Plan, part_hash
from cmops.platforms.base import (
    Adapter,
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

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

#: "Some time ago": the lookup window for an intent whose time was unreadable.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Bounded backoff: attempts per call, first pause, longest single pause (seconds).
ATTEMPTS = 4
FIRST_PAUSE = 2.0
LONGEST_PAUSE = 120.0


class RetriesExhausted(Exception):
    """An idempotent call still failed after bounded retries (or was asked to wait too long)."""

    def __init__(self, error: Transient, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


def retrying(call: Callable[[], T], sleep: Callable[[float], None],
             say: Callable[[str], None] | None = None) -> T:
    """Run an idempotent call (an edit, a deletion, a read) and retry it on transient failures:
    at most :data:`ATTEMPTS` times, waiting as a 429 asks (up to :data:`LONGEST_PAUSE`) or
    backing off from :data:`FIRST_PAUSE`. Raises :class:`RetriesExhausted` when it gives up."""
    pause = FIRST_PAUSE
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return call()
        except Transient as exc:
            wait = exc.retry_after if isinstance(exc, RateLimited) and exc.retry_after else pause
            if attempt == ATTEMPTS or wait > LONGEST_PAUSE:
                raise RetriesExhausted(exc, attempt) from None
            if say is not None:
                say(f"{exc}; retrying in {wait:.0f} s")
            sleep(wait)
            pause = min(pause * 2, LONGEST_PAUSE)
    raise AssertionError("unreachable")


class ChannelDown(Exception):
    """Stop using this channel for the rest of the run (the reason is in ``args[0]``)."""


class PartStopped(Exception):
    """This post stops here on this channel; the next run resumes it."""


@dataclass
class Report:
    went_out: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass
class Engine:
    root: Path
    space: Workspace
    ledger: Ledger
    writer: Writer
    clock: Clock
    client: httpx.Client
    env: Mapping[str, str]
    say: Callable[[str], None]
    report: Report = field(default_factory=Report)
    adapters: dict[str, Adapter] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)

    def run(self, plan: Plan) -> Report:
        for action in plan.actions:
            self._one(action)
        return self.report

    def _one(self, action: Action) -> None:
        label = f"{action.post} on {action.channel.id}"
        if action.kind in ("skip-missed", "unconfirmed", "blocked"):
            if action.kind == "skip-missed" and action.at is not None:
                self.writer.write(self.clock.now(), "missed", action.post, channel=action.channel.id,
                                  **{"for": ledger_mod.iso(action.at)})
            self._left(f"{label}: {action.kind}: {action.reason}")
            return
        if action.kind in ("cannot-edit", "cannot-delete", "skip-duplicate"):
            self._note(f"{label}: {action.kind}: {action.reason}")
            return
        if action.kind == "later":
            return
        if action.channel.id in self.down:
            self._left(f"{label}: not attempted: {self.down[action.channel.id]}")
            return
        try:
            adapter = self._adapter(action)
            if action.kind == "wait" and action.at is not None:
                self.say(f"waiting until {ledger_mod.iso(action.at)} for {label}")
                sleep_until(self.clock, action.at)
            if action.kind == "delete":
                self._delete(adapter, action)
            elif action.kind == "edit":
                self._edit(adapter, action)
            else:
                self._publish(adapter, action)
        except ChannelDown as exc:
            self.down[action.channel.id] = str(exc)
            self._left(f"{label}: {exc}")
        except PartStopped as exc:
            self._left(f"{label}: {exc}")
        except PlatformError as exc:
            # Anything an adapter raises outside the paths above still only stops its channel.
            self.down[action.channel.id] = str(exc)
            self._left(f"{label}: {exc}")
        except Exception as exc:  # a bug must not cost the receipts written so far
            self.down[action.channel.id] = f"internal error: {type(exc).__name__}: {exc}"
            self._left(f"{label}: internal error (a bug in cmops; please report it): "
                       f"{type(exc).__name__}: {exc}")

    def _adapter(self, action: Action) -> Adapter:
        channel = action.channel
        found = self.adapters.get(channel.id)
        if found is None:
            setup = Setup(channel, self.client, self.root, self.env, self.clock.sleep)
            try:
                found = platforms.adapter_for(setup)
            except ChannelUnusable as exc:
                raise ChannelDown(str(exc)) from None
            self.adapters[channel.id] = found
        return found

    def _left(self, line: str) -> None:
        self.report.left.append(line)
        self.say(f"NOT DONE  {line}")

    def _note(self, line: str) -> None:
        self.report.notes.append(line)
        self.say(f"note      {line}")

    # -- publishing -----------------------------------------------------------------------

    def _publish(self, adapter: Adapter, action: Action) -> None:
        rendition = action.rendition
        assert rendition is not None
        post = self.space.post(action.post)
        assert post is not None
        track = self.ledger.track(action.post, action.channel.id)
        scheduled = rendition.publish_at or self.clock.now()
        root: Sent | None = None
        parent: Sent | None = None
        sent_now: list[Sent] = []
        for index in range(len(rendition.parts)):
            state = track.parts.get(index)
            if state is not None and state.status == PUBLISHED and state.sent is not None:
                root = root or state.sent
                parent = state.sent
                continue
            key = state.key if state is not None and state.key else adapter.key(
                _seed(post.id, action.channel.id, index), scheduled)
            request = self._request(post, rendition, index, key, root, parent)
            pending = state is not None and state.status == INTENT
            sent = self._send(adapter, request, track, (state.intent_at or EPOCH) if pending and state
                              else None)
            root = root or sent
            parent = sent
            sent_now.append(sent)
        if sent_now:
            where = next((s.url for s in sent_now if s.url), "")
            parts = f" ({len(rendition.parts)} parts)" if len(rendition.parts) > 1 else ""
            line = f"{action.post} on {action.channel.id}{parts}" + (f": {where}" if where else "")
            self.report.went_out.append(line)
            self.say(f"published {line}")

    def _request(self, post: Post, rendition: Rendition, index: int, key: str,
                 root: Sent | None, parent: Sent | None) -> PartRequest:
        data = post.data
        language = data.get("language") or rendition.channel.language
        return PartRequest(
            post=post.id, channel=rendition.channel, index=index, count=len(rendition.parts),
            text=rendition.parts[index].text, key=key, created_at=self.clock.now(),
            images=self._images(rendition) if index == 0 else (), root=root, parent=parent,
            language=language if isinstance(language, str) else None,
            visibility=data.get("visibility") if isinstance(data.get("visibility"), str) else None,
            spoiler=rendition.spoiler, title=post.title,
            markdown="\n\n".join(p.text for p in rendition.parts))

    def _images(self, rendition: Rendition) -> tuple[Image, ...]:
        """The post's images with the type validation sniffed (the same check, one place)."""
        from cmops.checks.media import inspect

        root = self.root.resolve()
        return tuple(Image(self.root / media.file, media.alt,
                           inspect(root, media.file).mime or "application/octet-stream")
                     for media in rendition.media if media.file is not None)

    def _send(self, adapter: Adapter, request: PartRequest, track: Track,
              pending_since: datetime | None) -> Sent:
        """Publish one part exactly once: reconcile a pending intent, else intent, call, receipt."""
        if pending_since is not None:
            found = self._lookup(adapter, request, track, pending_since)
            if found is not None:
                self._receipt("published", request, track, found)
                return found
        intent_at = self.clock.now()
        self._event("intent", request, track, key=request.key)
        track.parts[request.index] = ledger_mod.PartState(INTENT, key=request.key, intent_at=intent_at)
        sent = self._call(adapter, request, track, intent_at)
        self._receipt("published", request, track, sent)
        return sent

    def _lookup(self, adapter: Adapter, request: PartRequest, track: Track,
                since: datetime) -> Sent | None:
        part = f"part {request.index + 1}"
        if not adapter.can_lookup:
            self._unconfirmed(request, track, f"an earlier run was interrupted while sending {part}, "
                              f"and {request.channel.platform} cannot be asked whether it arrived")
        try:
            return adapter.lookup(request, since)
        except Undecidable as exc:
            raise PartStopped(f"{part} may have gone out in an interrupted run and the platform "
                              f"could not be asked ({exc}); the next run asks again") from None

    def _unconfirmed(self, request: PartRequest, track: Track, why: str) -> NoReturn:
        self._event("unconfirmed", request, track, key=request.key, error=why)
        raise PartStopped(f"UNCONFIRMED: {why}. Check the channel, then run 'cmops resolve "
                          f"{request.post} {request.channel.id} --sent URL' or '--not-sent'")

    def _call(self, adapter: Adapter, request: PartRequest, track: Track, intent_at: datetime) -> Sent:
        """The platform call with bounded retries. An answer that leaves it open whether the
        part went out is settled by asking the platform, never by sending again blindly."""
        pause = FIRST_PAUSE
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return adapter.publish(request)
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else pause
                if wait > LONGEST_PAUSE or attempt == ATTEMPTS:
                    self._event("failed", request, track, error=str(exc))
                    raise ChannelDown(f"rate limited (asked to wait {wait:.0f} s); the next run "
                                      f"continues") from None
                self.say(f"rate limited on {request.channel.id}; waiting {wait:.0f} s")
                self.clock.sleep(wait)
            except Transient as exc:
                if exc.maybe_sent:
                    found = self._lookup(adapter, request, track, intent_at)
                    if found is not None:
                        return found
                if attempt == ATTEMPTS:
                    self._event("failed", request, track, error=str(exc))
                    raise ChannelDown(f"{exc} (after {ATTEMPTS} attempts)") from None
                self.say(f"{exc}; retrying in {pause:.0f} s")
                self.clock.sleep(pause)
            except ChannelUnusable as exc:
                self._event("failed", request, track, error=str(exc))
                raise ChannelDown(str(exc)) from None
            except Rejected as exc:
                self._event("failed", request, track, error=str(exc))
                raise PartStopped(f"part {request.index + 1} was refused: {exc}") from None
            pause = min(pause * 2, LONGEST_PAUSE)
        raise AssertionError("unreachable")

    # -- edits and deletions --------------------------------------------------------------

    def _edit(self, adapter: Adapter, action: Action) -> None:
        rendition = action.rendition
        post = self.space.post(action.post)
        assert rendition is not None and post is not None
        track = self.ledger.track(action.post, action.channel.id)
        for index in action.parts:
            state = track.parts[index]
            assert state.sent is not None
            request = self._request(post, rendition, index, state.key or "", None, None)
            sent = self._retrying(partial(adapter.edit, state.sent, request), action)
            self._receipt("edited", request, track, sent)
        numbers = ", ".join(str(i + 1) for i in action.parts)
        line = f"{action.post} on {action.channel.id}: edited part(s) {numbers}"
        self.report.went_out.append(line)
        self.say(f"edited    {line}")

    def _delete(self, adapter: Adapter, action: Action) -> None:
        track = self.ledger.track(action.post, action.channel.id)
        deleted = 0
        for index in sorted(action.parts, reverse=True):
            state = track.parts[index]
            if state.status == PUBLISHED:
                sent = state.sent
            else:
                sent = self._find_pending(adapter, action, track, index)
            if sent is None:
                self.writer.write(self.clock.now(), "failed", action.post, channel=action.channel.id,
                                  part=index, error="retracted before it went out")
                continue
            self._retrying(partial(adapter.delete, sent), action)
            self.writer.write(self.clock.now(), "deleted", action.post, channel=action.channel.id,
                              part=index, id=sent.id)
            state.status = ledger_mod.DELETED
            deleted += 1
        if not deleted:
            return
        line = f"{action.post} on {action.channel.id}: deleted (retracted)"
        self.report.went_out.append(line)
        self.say(f"deleted   {line}")

    def _find_pending(self, adapter: Adapter, action: Action, track: Track, index: int) -> Sent | None:
        """A part of a retracted post that an interrupted run may have sent: ask the platform
        with the very request that run made (same text, same key, same reply)."""
        post = self.space.post(action.post)
        rendition = post.renditions.get(action.channel.id) if post is not None else None
        state = track.parts[index]
        if post is None or rendition is None or index >= len(rendition.parts):
            request = PartRequest(action.post, action.channel, index, index + 1, "", state.key or "",
                                  self.clock.now())
            self._unconfirmed(request, track, f"part {index + 1} may have gone out in an interrupted run "
                              f"and its text is no longer known, so it cannot be looked up")
        previous = track.parts.get(index - 1)
        first = track.parts.get(0)
        request = self._request(post, rendition, index, state.key or "",
                                first.sent if first and index else None,
                                previous.sent if previous and index else None)
        return self._lookup(adapter, request, track, state.intent_at or EPOCH)

    def _retrying(self, call: Callable[[], T], action: Action) -> T:
        """Edits and deletions are idempotent: retry them on any transient failure."""
        try:
            return retrying(call, self.clock.sleep)
        except RetriesExhausted as out:
            raise ChannelDown(f"{out.error} (after {out.attempts} attempts)") from None
        except ChannelUnusable as exc:
            raise ChannelDown(str(exc)) from None
        except PlatformError as exc:
            raise PartStopped(f"{action.kind} refused: {exc}") from None

    # -- receipts -------------------------------------------------------------------------

    def _event(self, event: str, request: PartRequest, track: Track, **fields: object) -> None:
        self.writer.write(self.clock.now(), event, request.post, channel=request.channel.id,
                          part=request.index, parts=request.count, **fields)

    def _receipt(self, event: str, request: PartRequest, track: Track, sent: Sent) -> None:
        post = self.space.post(request.post)
        assert post is not None
        rendition = post.renditions[request.channel.id]
        digest = rendition.content_hash()
        phash = part_hash(rendition, request.index)
        self._event(event, request, track, key=request.key, hash=digest, part_hash=phash,
                    id=sent.id, uri=sent.uri, cid=sent.cid, url=sent.url)
        track.parts[request.index] = ledger_mod.PartState(PUBLISHED, key=request.key, sent=sent,
                                                          part_hash=phash)
        track.hash = digest


def _seed(post: str, channel: str, index: int) -> bytes:
    return hashlib.sha256(f"{post}\n{channel}\n{index}".encode()).digest()


def post_errors(space: Workspace, findings: list[Finding], plan: Plan) -> dict[str, list[Finding]]:
    """Errors of the posts the plan would touch: load problems plus the per-post checks run
    on just those posts (a post with errors is never published)."""
    from cmops import checks

    touched = {a.post for a in plan.work()}
    files = {p.file for p in space.posts if p.id in touched}
    subset = Workspace(root=space.root, settings=space.settings,
                       posts=[p for p in space.posts if p.id in touched], campaigns=space.campaigns,
                       blackouts=space.blackouts, cadence=space.cadence, slots=space.slots,
                       voice=space.voice)
    errors: dict[str, list[Finding]] = {}
    for finding in [*findings, *checks.run_post_checks(subset)]:
        if finding.is_error and finding.file in files:
            errors.setdefault(finding.file, []).append(finding)
    return errors
