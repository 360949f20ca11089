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
``reported`` is written by ``cmops github report-published`` once a post's links are on its
pull request (``hash`` says which links, ``pr`` which pull request; null when none).

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
    #: When this part went out (receipt time, ISO), for metrics marks.
    published_at: str | None = None


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
    #: Receipt times as written (ISO strings); parsed only when asked for.
    first_published_at: str | None = None
    last_change_at: str | None = None

    @property
    def first_published(self) -> datetime | None:
        return parse_iso(self.first_published_at) if self.first_published_at else None

    @property
    def last_change(self) -> datetime | None:
        return parse_iso(self.last_change_at) if self.last_change_at else None

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
    #: post id -> hash of the links last reported on its pull request.
    reported: dict[str, str] = field(default_factory=dict)
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
    for name in _receipt_names(root):
        yield root / name


def _receipt_names(root: Path) -> list[str]:
    """Workspace-relative names of every ``*.jsonl`` under ``state/``, sorted (plain strings:
    a repository collects thousands of run files)."""
    names: list[str] = []
    for folder, subfolders, files in os.walk(root / STATE_DIR):
        subfolders.sort()
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        names.extend(f"{rel}/{f}" for f in files if f.endswith(".jsonl"))
    names.sort()
    return names


Event = tuple[str, int, str, int, dict[str, Any]]


def read(root: Path) -> Ledger:
    """Fold every receipt line under ``state/`` into a Ledger. Unreadable lines are findings,
    never a reason to stop: the rest of the history still counts."""
    ledger = Ledger()
    events: list[Event] = []
    for name in _receipt_names(root):
        try:
            with open(f"{root}/{name}", "rb") as handle:  # noqa: PTH123 - many small files, plain strings
                data = handle.read()
        except OSError as exc:
            ledger.findings.append(Finding(name, 1, 1, "$", "state.unreadable", "error",
                                           f"cannot read receipts: {exc.strerror}"))
            continue
        _read_file(name, data, events, ledger.findings)
    # In the order they were written: each run numbers its events after the highest number it
    # read, so ``seq`` orders runs even when clocks disagree; time breaks ties between branches.
    events.sort(key=lambda e: (e[1], e[0], e[2], e[3]))
    for event in events:
        _apply(ledger, event[4])
    ledger.lines = len(events)
    ledger.last_seq = max((e[1] for e in events), default=0)
    return ledger


def _read_file(name: str, data: bytes, events: list[Event], findings: list[Finding]) -> None:
    lines = data.split(b"\n")
    numbered = [(n, raw) for n, raw in enumerate(lines, start=1) if raw.strip()]
    try:
        # One parse per file: far faster than one per line; a torn or edited line falls back.
        records = json.loads(b"[" + b",".join(raw for _, raw in numbered) + b"]")
    except ValueError:
        records = [_parse_line(raw) for _, raw in numbered]
    for (number, _), record in zip(numbered, records, strict=True):
        if not _valid(record):
            # A run killed mid-write leaves a torn last line; it is harmless, the intent
            # before it (fsynced first) is what recovery relies on.
            findings.append(Finding(
                name, number, 1, "$", "state.bad-receipt", "warning",
                "this receipt line is not a complete receipt (a run may have been killed while "
                "writing it, or it was edited by hand); it is ignored"))
            continue
        seq = record.get("seq")
        at = record.get("at")
        events.append((at if isinstance(at, str) else "", seq if isinstance(seq, int) else 0, name,
                       number, record))


def _valid(record: Any) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("event"), str)
            and isinstance(record.get("post"), str))


def _parse_line(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _sent(record: dict[str, Any]) -> Sent:
    return Sent(id=str(record.get("id") or ""), url=record.get("url"), uri=record.get("uri"),
                cid=record.get("cid"))


#: Receipt fields that must be strings; anything else (a hand edit) is dropped, not trusted.
_TEXT_FIELDS = ("key", "id", "url", "uri", "cid", "hash", "part_hash", "src", "for", "error")


def _apply(ledger: Ledger, record: dict[str, Any]) -> None:
    for name in _TEXT_FIELDS:
        if name in record and not isinstance(record[name], str):
            del record[name]
    event = record["event"]
    post: str = record["post"]
    if event == "settled":
        ledger.settled[post] = str(record.get("src", ""))
        return
    if event == "reported":
        ledger.reported[post] = str(record.get("hash", ""))
        return
    channel = record.get("channel")
    if not isinstance(channel, str):
        return
    track = ledger.track(post, channel)
    at_text = record.get("at")
    at_text = at_text if isinstance(at_text, str) else None
    if event == "missed":
        track.missed_for = record.get("for")
        return
    part = record.get("part")
    if not isinstance(part, int) or isinstance(part, bool) or not 0 <= part < 1000:
        return
    state = track.parts.get(part)
    if event == "intent":
        if state is None or state.status not in (PUBLISHED, UNCONFIRMED):
            track.parts[part] = PartState(INTENT, key=record.get("key"),
                                          intent_at=parse_iso(at_text) if at_text else None)
    elif event in ("published", "edited"):
        first = state.published_at if state is not None and state.status == PUBLISHED else None
        track.parts[part] = PartState(PUBLISHED, key=record.get("key") or (state.key if state else None),
                                      sent=_sent(record), part_hash=record.get("part_hash"),
                                      published_at=first or at_text)
        if isinstance(record.get("hash"), str):
            track.hash = record["hash"]
        if event == "published" and track.first_published_at is None:
            track.first_published_at = at_text
        track.last_change_at = at_text
    elif event == "failed":
        if state is not None and state.status == INTENT:
            del track.parts[part]
    elif event == "unconfirmed":
        track.parts[part] = PartState(UNCONFIRMED, key=record.get("key") or (state.key if state else None),
                                      intent_at=state.intent_at if state else parse_iso(at_text or ""),
                                      note=str(record.get("error", "")))
    elif event == "resolved":
        _resolve(track, part, record)
    elif event == "deleted":
        track.parts[part] = PartState(DELETED, key=state.key if state else None)
        track.last_change_at = at_text


def _resolve(track: Track, part: int, record: dict[str, Any]) -> None:
    if record.get("sent"):
        track.parts[part] = PartState(PUBLISHED, key=record.get("key"), sent=_sent(record),
                                      part_hash=record.get("part_hash"),
                                      published_at=at if isinstance(at := record.get("at"), str) else None)
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
