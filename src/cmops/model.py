"""Typed views of the workspace files. Built only from schema-valid documents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cmops.yamlfile import Document

DEFAULT_LOOKAHEAD = timedelta(minutes=15)
DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class Channel:
    id: str
    platform: str
    zone: ZoneInfo
    language: str | None
    options: dict[str, Any]


@dataclass
class Settings:
    name: str
    zone: ZoneInfo
    language: str | None
    channels: dict[str, Channel]
    lookahead: timedelta
    grace: timedelta
    doc: Document


@dataclass(frozen=True)
class Media:
    """An image attached to a post. ``file`` is workspace-relative, ``None`` if it escapes."""

    written: str
    file: str | None
    alt: str
    yaml_path: tuple[str | int, ...]


@dataclass(frozen=True)
class Part:
    """One thread part as it will be posted. ``line`` is where its text starts in the file."""

    index: int
    text: str
    line: int


@dataclass
class Rendition:
    """A post as one channel will show it: parts after variants, media, its instant."""

    channel: Channel
    parts: list[Part]
    media: list[Media]
    media_path: tuple[str | int, ...]
    publish_at: datetime | None
    time_path: tuple[str | int, ...]
    spoiler: str = ""
    #: publish_at as written; set even when it could not be used (then publish_at is None).
    time_text: str | None = None

    def content_hash(self) -> str:
        """Identity of what goes out, independent of the file name (rename/copy guard)."""
        digest = hashlib.sha256()
        for part in self.parts:
            digest.update(part.text.encode("utf-8"))
            digest.update(b"\x00")
        for media in self.media:
            digest.update((media.file or media.written).encode("utf-8"))
            digest.update(b"\x01")
        return digest.hexdigest()


@dataclass
class Post:
    id: str
    file: str
    doc: Document
    status: str
    campaign: str | None
    tags: list[str]
    sponsored: bool
    title: str | None
    renditions: dict[str, Rendition] = field(default_factory=dict)
    source: str = field(default="", repr=False)

    def column(self, line: int, found: str, at_least: int) -> int:
        """1-based column of ``found`` on ``line`` of the file, searching from ``at_least``
        (0-based). Parts lose the indentation and quotes around them in the file; this puts
        it back so findings point at the exact characters."""
        lines = self.source.split("\n", line)
        if 0 < line <= len(lines):
            index = lines[line - 1].casefold().find(found.casefold(), at_least)
            if index >= 0:
                return index + 1
        return at_least + 1

    @property
    def data(self) -> dict[str, Any]:
        result: dict[str, Any] = self.doc.data
        return result


@dataclass
class Campaign:
    id: str
    name: str
    start: datetime | None
    end: datetime | None
    channels: list[str] | None
    goals: list[dict[str, Any]]
    doc: Document


@dataclass
class Blackout:
    name: str
    start: datetime
    end: datetime
    channels: list[str] | None
    index: int
    doc: Document


@dataclass
class Cadence:
    channels: list[str] | None
    max_per_day: int | None
    min_gap: timedelta | None
    severity: str
    index: int
    doc: Document


@dataclass
class Slot:
    name: str
    weekdays: list[str]
    time: str
    channels: list[str] | None


@dataclass
class Workspace:
    root: Path
    settings: Settings | None
    posts: list[Post] = field(default_factory=list)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    blackouts: list[Blackout] = field(default_factory=list)
    cadence: list[Cadence] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    voice: Document | None = None
    approvals: Document | None = None
    responses: Document | None = None
    response_tests: list[Document] = field(default_factory=list)
    replies: set[str] = field(default_factory=set)
    files_checked: int = 0
    #: Post files skipped because the receipts say nothing is left to do for them.
    settled_unparsed: int = 0
    _index: dict[str, Post] = field(default_factory=dict, repr=False)

    def post(self, post_id: str) -> Post | None:
        if len(self._index) != len(self.posts):
            self._index = {}
            for post in self.posts:
                self._index.setdefault(post.id, post)
        return self._index.get(post_id)
