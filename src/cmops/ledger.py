"""The receipts in ``state/``: what publishing did, one JSON line per event, append-only.

Each ``cmops publish`` run appends to its own file, ``state/receipts/YYYY/MM/<run id>.jsonl``,
so two runs (or two branches) never edit the same file and a git merge or rebase of receipts
cannot conflict. Every line names the post, channel and thread part it is about::

    {"at": "2026-12-01T08:30:00.120Z", "seq": 7, "run": "20261201T083000Z-3f9a1c", "event": "intent",
     "post": "2026/winter", "channel": "bsky-de", "part": 0, "parts": 2, "key": "3l...",
     "hash": "<sha256 of the rendition>", "part_hash": "<sha256 of this part>"}

Events: ``intent`` (written and fsynced *before* the platform is called), ``published``
(after; carries the platform's ``id``/``uri``/``cid``/``url``), ``failed`` (the platform
certainly did not act), ``unconfirmed`` (it may have; a person must check), ``edited``,
``deleted``, ``missed`` (past the grace period; ``for`` is the scheduled instant) and
``settled`` (nothing is left to do for the post file whose raw text has hash ``src``).
``resolved`` is written by ``cmops resolve`` when a person has checked an unconfirmed part.

:func:`read` folds all files into a :class:`Ledger`, the state the planner works from.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cmops.findings import Finding
from cmops.platforms.base import Sent

STATE_DIR = "state"
RECEIPTS_DIR = "state/receipts"

#: Part states, from the engine's point of view.
INTENT, PUBLISHED, UNCONFIRMED, DELETED = "intent", "published", "unconfirmed", "deleted"


@dataclass
class PartState:
    status: str
    key: str | None = None
    sent: Sent | None = None
    part_hash: str | None = None
    intent_at: datetime | None = None
    note: str = ""


@dataclass
class Track:
    """Everything recorded for one post on one channel."""

    post: str
    channel: str
    parts: dict[int, PartState] = field(default_factory=dict)
    #: Rendition hash at the last publish or edit.
    hash: str | None = None
    #: The scheduled instant (ISO, UTC) the post was reported missed for.
    missed_for: str | None = None
    first_published: datetime | None = None
    last_change: datetime | None = None

    def published(self) -> list[int]:
        return sorted(i for i, p in self.parts.items() if p.status == PUBLISHED)

    def live(self) -> bool:
        """Something of it is (or may be) out there."""
        return any(p.status in (PUBLISHED, INTENT, UNCONFIRMED) for p in self.parts.values())


@dataclass
class Ledger:
    tracks: dict[tuple[str, str], Track] = field(default_factory=dict)
    #: post id -> hash of the raw post file when nothing was left to do for it.
    settled: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    lines: int = 0
    #: Highest ``seq`` seen; a new run numbers its events after it.
    last_seq: int = 0

    def track(self, post: str, channel: str) -> Track:
        found = self.tracks.get((post, channel))
        if found is None:
            found = self.tracks[(post, channel)] = Track(post, channel)
        return found

    def peek(self, post: str, channel: str) -> Track | None:
        return self.tracks.get((post, channel))

    def by_hash(self) -> dict[tuple[str, str], Track]:
        """(channel, rendition hash) -> the track that published it (rename/copy guard)."""
        index: dict[tuple[str, str], Track] = {}
        for track in self.tracks.values():
            if track.hash and track.published():
                index.setdefault((track.channel, track.hash), track)
        return index

    def posts_on(self, channel: str) -> list[Track]:
        return [t for (_, c), t in self.tracks.items() if c == channel]


def iso(instant: datetime) -> str:
    """UTC with milliseconds and a Z, the one time format of receipts."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return parsed if parsed.tzinfo else None


def receipt_files(root: Path) -> Iterator[Path]:
    base = root / STATE_DIR
    if base.is_dir():
        yield from sorted(base.rglob("*.jsonl"))


def read(root: Path) -> Ledger:
    """Fold every receipt line under ``state/`` into a Ledger. Unreadable lines are findings,
    never a reason to stop: the rest of the history still counts."""
    ledger = Ledger()
    events: list[tuple[str, int, str, int, dict[str, Any]]] = []
    for path in receipt_files(root):
        name = path.relative_to(root).as_posix()
        try:
            data = path.read_bytes()
        except OSError as exc:
            ledger.findings.append(Finding(name, 1, 1, "$", "state.unreadable", "error",
                                           f"cannot read receipts: {exc.strerror}"))
            continue
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            record = _parse_line(raw)
            if record is None:
                # A run killed mid-write leaves a torn last line; it is harmless, the intent
                # before it (fsynced first) is what recovery relies on.
                ledger.findings.append(Finding(
                    name, number, 1, "$", "state.bad-receipt", "warning",
                    "this receipt line is not a complete JSON object (a run may have been "
                    "killed while writing it); it is ignored"))
                continue
            seq = record.get("seq")
            events.append((str(record.get("at", "")), seq if isinstance(seq, int) else 0, name, number,
                           record))
    # Time first; events with the same time (a virtual clock) in the order they were written.
    events.sort(key=lambda e: e[:4])
    for event in events:
        _apply(ledger, event[4])
    ledger.lines = len(events)
    ledger.last_seq = max((e[1] for e in events), default=0)
    return ledger


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        return None
    if not isinstance(record.get("post"), str):
        return None
    return record


def _sent(record: dict[str, Any]) -> Sent:
    return Sent(id=str(record.get("id") or ""), url=record.get("url"), uri=record.get("uri"),
                cid=record.get("cid"))


def _apply(ledger: Ledger, record: dict[str, Any]) -> None:
    event = record["event"]
    post: str = record["post"]
    if event == "settled":
        ledger.settled[post] = str(record.get("src", ""))
        return
    channel = record.get("channel")
    if not isinstance(channel, str):
        return
    track = ledger.track(post, channel)
    at = parse_iso(str(record.get("at", "")))
    if event == "missed":
        track.missed_for = record.get("for")
        return
    part = record.get("part")
    if not isinstance(part, int):
        return
    state = track.parts.get(part)
    if event == "intent":
        if state is None or state.status not in (PUBLISHED, UNCONFIRMED):
            track.parts[part] = PartState(INTENT, key=record.get("key"), intent_at=at)
    elif event in ("published", "edited"):
        track.parts[part] = PartState(PUBLISHED, key=record.get("key") or (state.key if state else None),
                                      sent=_sent(record), part_hash=record.get("part_hash"))
        if isinstance(record.get("hash"), str):
            track.hash = record["hash"]
        if event == "published" and track.first_published is None:
            track.first_published = at
        track.last_change = at
    elif event == "failed":
        if state is not None and state.status == INTENT:
            del track.parts[part]
    elif event == "unconfirmed":
        track.parts[part] = PartState(UNCONFIRMED, key=record.get("key") or (state.key if state else None),
                                      intent_at=state.intent_at if state else at,
                                      note=str(record.get("error", "")))
    elif event == "resolved":
        _resolve(track, part, record)
    elif event == "deleted":
        track.parts[part] = PartState(DELETED, key=state.key if state else None)
        track.last_change = at


def _resolve(track: Track, part: int, record: dict[str, Any]) -> None:
    if record.get("sent"):
        track.parts[part] = PartState(PUBLISHED, key=record.get("key"), sent=_sent(record),
                                      part_hash=record.get("part_hash"))
        if isinstance(record.get("hash"), str):
            track.hash = record["hash"]
    else:
        track.parts.pop(part, None)


def new_run_id(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class Writer:
    """Appends this run's events to its own file; each line is flushed and fsynced before
    the caller goes on, so an intent is on disk before the platform is called."""

    def __init__(self, root: Path, run_id: str, started: datetime, after_seq: int = 0) -> None:
        self.root = root
        self.seq = after_seq
        self.run_id = run_id
        started = started.astimezone(UTC)
        self.rel = f"{RECEIPTS_DIR}/{started:%Y}/{started:%m}/{run_id}.jsonl"
        self.path = root / self.rel
        self._file: IO[bytes] | None = None
        self.count = 0

    def write(self, at: datetime, event: str, post: str, **fields: Any) -> None:
        self.seq += 1
        record: dict[str, Any] = {"at": iso(at), "seq": self.seq, "run": self.run_id, "event": event,
                                  "post": post}
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n"
        handle = self._open()
        handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
        self.count += 1

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            _fsync_dir(self.path.parent)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
