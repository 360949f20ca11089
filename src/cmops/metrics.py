"""Metric snapshots: each published part's public counts at decaying ages (marks).

Storage: JSON Lines under ``metrics/snapshots/YYYY/MM.jsonl``, sharded by the month the
snapshot was taken, append-only, one line per part and mark::

    {"post":"us/launch","channel":"bsky-us","part":0,"id":"at://…","mark":"1d",
     "taken_at":"2026-12-02T15:00:04Z","likes":12,"reposts":3,"replies":2,"quotes":1,"bookmarks":0}

Lines hold only what cannot be derived, so a year of a busy brand stays small in git: the
mark's age comes from its label, the publication time from the receipts, and
``engagements`` (the sum of the counts) is added when the lines are read.

A part deleted on the platform gets one line with ``"gone": true`` and is never asked for
again. ``metrics/.gitattributes`` says ``merge=union``: two branches that both appended merge
without a conflict. Counts are those the platforms give (no impressions anywhere:
"engagements" is the sum of the counts, never a rate).

:func:`decide` (what to fetch now) is a pure function of the published parts (from the
receipts), the snapshots taken so far and the clock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cmops.findings import Finding
from cmops.ledger import PUBLISHED, Ledger, parse_iso

METRICS_DIR = "metrics"
SNAPSHOTS_DIR = "metrics/snapshots"
DEFAULT_MARKS = ("1h", "1d", "7d", "30d")
#: The counts cmops keeps, in this order; "engagements" is their sum.
COUNTS = ("likes", "reposts", "replies", "quotes", "bookmarks")
#: Platforms that expose counts. Feed, Discord and Slack have none.
MEASURABLE = ("bluesky", "mastodon")
GITATTRIBUTES = ("# Snapshots are append-only lines: branches merge by keeping both sides' lines.\n"
                 "*.jsonl merge=union\n")

PartKey = tuple[str, str, int]


@dataclass(frozen=True)
class Mark:
    label: str
    after: timedelta


@dataclass(frozen=True)
class PublishedPart:
    post: str
    channel: str
    part: int
    id: str
    published_at: datetime

    @property
    def key(self) -> PartKey:
        return (self.post, self.channel, self.part)


@dataclass(frozen=True)
class Due:
    part: PublishedPart
    mark: Mark


@dataclass
class Snapshots:
    """Everything under metrics/, folded for deciding and reporting."""

    #: part -> ages (seconds) already recorded.
    taken: dict[PartKey, set[int]] = field(default_factory=dict)
    gone: set[PartKey] = field(default_factory=set)
    #: part -> the record of its oldest-age snapshot (the latest counts).
    latest: dict[PartKey, dict[str, Any]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    lines: int = 0


def marks_of(labels: Sequence[str] | None) -> list[Mark]:
    from cmops.schedule import parse_duration

    found = {Mark(label.strip(), parse_duration(label)) for label in (labels or DEFAULT_MARKS)}
    return sorted(found, key=lambda m: m.after)


def published_parts(ledger: Ledger, platforms: dict[str, str]) -> list[PublishedPart]:
    """Every part out on a channel that has counts (``platforms``: channel id -> platform)."""
    result = []
    times: dict[str, datetime | None] = {}  # receipts of one run share their times
    for (post, channel), track in ledger.tracks.items():
        if platforms.get(channel) not in MEASURABLE:
            continue
        for index, state in track.parts.items():
            if state.status != PUBLISHED or state.sent is None or not state.sent.id:
                continue
            text = state.published_at or track.first_published_at or ""
            when = times[text] if text in times else times.setdefault(text, parse_iso(text))
            if when is not None:
                result.append(PublishedPart(post, channel, index, state.sent.id, when))
    result.sort(key=lambda p: (p.published_at, p.post, p.channel, p.part))
    return result


def decide(parts: Iterable[PublishedPart], snapshots: Snapshots, now: datetime,
           marks: Sequence[Mark]) -> list[Due]:
    """The parts to fetch now, each with the mark it is for.

    A part is due when its age has passed a mark and neither that mark nor a later one is
    recorded. A run that comes late takes the oldest passed mark only (the earlier ones are
    over: their moment cannot be measured any more); the record keeps the real time. After
    the last mark, or once gone, a part is never fetched again.
    """
    due = []
    for part in parts:
        key = part.key
        if key in snapshots.gone:
            continue
        age = now - part.published_at
        passed = [m for m in marks if age >= m.after]
        if not passed:
            continue
        mark = passed[-1]
        taken = snapshots.taken.get(key)
        if taken and max(taken) >= int(mark.after.total_seconds()):
            continue
        due.append(Due(part, mark))
    return due


def read(root: Path) -> Snapshots:
    snapshots = Snapshots()
    base = root / SNAPSHOTS_DIR
    names: list[str] = []
    for folder, subfolders, files in os.walk(base):
        subfolders.sort()
        names.extend(os.path.join(folder, f) for f in files if f.endswith(".jsonl"))  # noqa: PTH118
    for name in sorted(names):
        rel = os.path.relpath(name, root).replace(os.sep, "/")
        try:
            with open(name, "rb") as handle:  # noqa: PTH123 - many files, plain strings
                data = handle.read()
        except OSError as exc:
            snapshots.findings.append(Finding(rel, 1, 1, "$", "metrics.unreadable", "error",
                                              f"cannot read snapshots: {exc.strerror}"))
            continue
        _fold(rel, data, snapshots)
    # Counts are checked, and summed, only where they are used: on each part's latest line.
    for key, record in list(snapshots.latest.items()):
        counts = [record.get(name, 0) for name in COUNTS]
        if all(type(value) is int for value in counts):
            record["engagements"] = sum(counts)
            continue
        del snapshots.latest[key]
        snapshots.findings.append(Finding(
            SNAPSHOTS_DIR, 1, 1, "$", "metrics.bad-line", "warning",
            f"the latest snapshot of {key[0]} on {key[1]} has counts that are not whole numbers "
            "(edited by hand?); it is ignored"))
    return snapshots


def _fold(rel: str, data: bytes, snapshots: Snapshots) -> None:
    numbered = [(n, raw) for n, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
    try:
        records = json.loads(b"[" + b",".join(raw for _, raw in numbered) + b"]")
    except ValueError:
        records = [_parse(raw) for _, raw in numbered]
    taken, latest, gone = snapshots.taken, snapshots.latest, snapshots.gone
    for (number, _), record in zip(numbered, records, strict=True):
        key = _key(record)
        if key is None:
            snapshots.findings.append(Finding(
                rel, number, 1, "$", "metrics.bad-line", "warning",
                "not a complete snapshot line (edited by hand or cut off); ignored"))
            continue
        snapshots.lines += 1
        if record.get("gone") is True:
            gone.add(key)
            continue
        after = record["after"]
        marks = taken.get(key)
        if marks is None:
            taken[key] = {after}
            latest[key] = record
            continue
        marks.add(after)
        best = latest.get(key)
        if best is None or (after, str(record.get("taken_at"))) >= (best["after"], str(best.get("taken_at"))):
            latest[key] = record


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _key(record: Any) -> PartKey | None:
    if type(record) is not dict:
        return None
    post, channel, part = record.get("post"), record.get("channel"), record.get("part")
    if type(post) is not str or type(channel) is not str or type(part) is not int:
        return None
    if type(record.get("after")) is not int:
        after = _seconds(record.get("mark"))
        if after is None:
            return None
        record["after"] = after
    return (post, channel, part)


_LABELS: dict[str, int | None] = {}


def _seconds(label: Any) -> int | None:
    """A mark's age in seconds from its label ("1d"), or None if it is not one."""
    if not isinstance(label, str):
        return None
    if label not in _LABELS:
        from cmops.schedule import TimeProblem, parse_duration

        try:
            _LABELS[label] = int(parse_duration(label).total_seconds())
        except TimeProblem:
            _LABELS[label] = None
    return _LABELS[label]


def record_for(due: Due, taken_at: datetime, counts: dict[str, int] | None) -> dict[str, Any]:
    """The line for one snapshot; ``counts`` None: the part is gone from the platform."""
    part = due.part
    record: dict[str, Any] = {"post": part.post, "channel": part.channel, "part": part.part, "id": part.id,
                              "mark": due.mark.label, "taken_at": _seconds_iso(taken_at)}
    if counts is None:
        record["gone"] = True
        return record
    for name in COUNTS:
        if name in counts:
            record[name] = int(counts[name])
    return record


def _seconds_iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def append(root: Path, records: Sequence[dict[str, Any]], taken_at: datetime) -> str | None:
    """Append lines to this month's shard in one write (O_APPEND), fsynced; the shard's path."""
    if not records:
        return None
    when = taken_at.astimezone(UTC)
    rel = f"{SNAPSHOTS_DIR}/{when:%Y}/{when:%m}.jsonl"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    attributes = root / METRICS_DIR / ".gitattributes"
    if not attributes.exists():
        attributes.write_text(GITATTRIBUTES, encoding="utf-8")
    payload = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    data = payload.encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a run killed mid-line: never glue a new line onto it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return rel
