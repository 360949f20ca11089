"""The embedded default channel: an Atom 1.0 feed (RFC 4287) kept as a file in the repository.

Publishing to the feed has no side effect of its own: :class:`FeedAdapter` only names the
entry a post becomes. After a run the engine gathers every published post of the channel as a
:class:`FeedEntry`, renders the whole file with :func:`render_feed` and stores it with
:func:`write_feed`. The file is a pure function of that data (no wall clock, sorted output),
so re-rendering unchanged posts gives the same bytes and git sees no change.

Ids are ``urn:uuid:`` name-based (version 5) UUIDs rather than RFC 4151 ``tag:`` URIs: a tag
URI needs a date at which the publisher owned the domain, which cmops does not know, and
inventing one from the post (its publish time) would change the id whenever a post is
rescheduled. A post id is a path that may hold any character; hashed into a UUID it needs no
escaping and can never clash with the syntax of the URI around it. The names hashed are the
normalised ``site_url`` and the post id, so an entry keeps its id for as long as both stay.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

import markdown
import nh3
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.util import AtomicString

from cmops.model import Channel
from cmops.platforms.base import ChannelUnusable, PartRequest, Sent, Setup

ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
DEFAULT_MAX_ENTRIES = 50
#: ``updated`` of a feed without entries: any fixed instant keeps the output reproducible.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)

#: Characters XML 1.0 cannot carry at all (not even escaped); ElementTree would write them as
#: they are and produce a file no reader parses. Markdown also uses U+0002/U+0003 internally.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _site_base(site_url: str) -> str:
    """``site_url`` as hashed into ids: scheme and host lower-cased, no trailing slash, no
    fragment; so ``https://Brand.example/`` and ``https://brand.example`` name the same site."""
    parts = urlsplit(site_url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, ""))


def _site_namespace(site_url: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, _site_base(site_url))


def entry_id(site_url: str, post_id: str) -> str:
    """The Atom id of a post's entry: stable for as long as the site and the post id stay."""
    return f"urn:uuid:{uuid.uuid5(_site_namespace(site_url), post_id)}"


def feed_id(site_url: str, path: str) -> str:
    """The Atom id of the feed itself. The file's path is part of it, so two feeds of one site
    (say one per language) get distinct ids; a moved file has a new address anyway."""
    name = f"{_site_base(site_url)}\n{PurePosixPath(path).as_posix()}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def entry_url(site_url: str, post_id: str) -> str:
    """Where an entry points: the site with the post id as its fragment."""
    parts = urlsplit(site_url.strip())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, quote(post_id, safe="/")))


def _site_url_of(channel: Channel) -> str:
    site_url = channel.options.get("site_url")
    if not isinstance(site_url, str) or urlsplit(site_url.strip()).scheme not in ("http", "https"):
        raise ChannelUnusable(f"channel {channel.id!r}: cmops.yaml sets no http(s) site_url for the feed")
    return site_url.strip()


def _path_of(channel: Channel) -> str:
    path = channel.options.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ChannelUnusable(f"channel {channel.id!r}: cmops.yaml sets no path for the feed")
    return path.strip()


def _max_entries(channel: Channel) -> int:
    value = channel.options.get("max_entries", DEFAULT_MAX_ENTRIES)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return DEFAULT_MAX_ENTRIES
    return value


class FeedAdapter:
    """Names the entry a post becomes; nothing leaves the machine. Redoing is always safe."""

    can_edit: ClassVar[bool] = True
    can_delete: ClassVar[bool] = True
    can_lookup: ClassVar[bool] = True

    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    def key(self, seed: bytes, scheduled: datetime) -> str:
        return seed.hex()

    def publish(self, part: PartRequest) -> Sent:
        site_url = _site_url_of(part.channel)
        ident = entry_id(site_url, part.post)
        if part.index > 0:
            ident = f"{ident}#part-{part.index}"
        return Sent(id=ident, url=entry_url(site_url, part.post))

    def lookup(self, part: PartRequest, intent_at: datetime) -> Sent | None:
        # Nothing external to ask; publishing again has no side effect.
        return None

    def edit(self, sent: Sent, part: PartRequest) -> Sent:
        return self.publish(part)

    def delete(self, sent: Sent) -> None:
        # The entry disappears when the feed is next rendered without the post.
        return None


@dataclass(frozen=True)
class FeedEntry:
    """One post as the feed shows it."""

    post_id: str
    title: str
    #: The post's Markdown, its parts joined by blank lines.
    markdown: str
    published: datetime
    updated: datetime
    #: (workspace-relative POSIX path, alt text). Only images inside the feed file's folder are
    #: shown: those are the ones a site serving that folder also serves (GitLab/GitHub Pages).
    images: tuple[tuple[str, str], ...] = ()


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"feed times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: A bare http(s) URL as social networks link it; trailing punctuation stays outside.
_BARE_URL = r"(?<![\w/@.:=\"'-])https?://[^\s<>\"'`\x02\x03]+"
_TRAILING = ".,:;!?'\"*_~"


class _BareUrlProcessor(InlineProcessor):
    """Links a URL written without Markdown syntax, as every other channel shows it."""

    ANCESTOR_EXCLUDES = ("a",)

    # The stubs type InlineProcessor.handleMatch against Pattern's older signature.
    def handleMatch(  # type: ignore[override]
            self, m: re.Match[str], data: str) -> tuple[ET.Element | str | None, int | None, int | None]:
        url = m.group(0)
        while url and (url[-1] in _TRAILING or (url[-1] == ")" and url.count(")") > url.count("("))):
            url = url[:-1]
        if "://" not in url or url.endswith("://"):
            return None, None, None
        link = ET.Element("a")
        link.set("href", url)
        link.text = AtomicString(url)
        return link, m.start(0), m.start(0) + len(url)


class _BareUrls(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Lowest priority: code spans, links and raw HTML are already taken out by then.
        md.inlinePatterns.register(_BareUrlProcessor(_BARE_URL, md), "cmops_bare_url", 5)


def render_html(text: str, images: Sequence[tuple[str, str]] = ()) -> str:
    """A post's Markdown as sanitised HTML: single line breaks kept (as on social networks),
    bare URLs linked, and raw HTML reduced to harmless markup (no script, iframe, style or
    event-handler attributes; only web and mail links)."""
    rendered = markdown.markdown(_xml_text(text), extensions=["nl2br", "fenced_code", _BareUrls()])
    for src, alt in images:
        rendered += f'\n<p><img src="{html.escape(src)}" alt="{html.escape(alt)}"></p>'
    return nh3.clean(rendered, url_schemes={"http", "https", "mailto"})


def _image_sources(channel: Channel, images: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Images below the feed file's folder, as URLs relative to the feed file."""
    folder = PurePosixPath(_path_of(channel)).parent
    shown = []
    for path, alt in images:
        image = PurePosixPath(path)
        if ".." in image.parts or image.is_absolute():
            continue
        if folder != PurePosixPath(".") and not image.is_relative_to(folder):
            continue
        shown.append((quote(image.relative_to(folder).as_posix()), alt))
    return shown


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = _xml_text(text)
    return element


def newest(entries: Sequence[FeedEntry], limit: int) -> list[FeedEntry]:
    """The ``limit`` newest entries, newest first; equal times in post id order."""
    ordered = sorted(entries, key=lambda e: e.post_id)
    ordered.sort(key=lambda e: e.published.astimezone(UTC), reverse=True)
    return ordered[:limit]


def render_feed(channel: Channel, workspace_name: str, entries: Sequence[FeedEntry]) -> str:
    """The whole Atom document for ``channel``: deterministic for the same arguments.

    Keeps the channel's ``max_entries`` newest entries (by ``published``). ``updated`` of the
    feed is the newest ``updated`` among them. There is no ``rel="self"`` link: where the file
    is served depends on the site (GitLab Pages serves ``public/`` at the root), and a wrong
    self link makes readers move their subscription to a dead address.
    """
    seen: set[str] = set()
    for given in entries:
        if given.post_id in seen:
            raise ValueError(f"feed {channel.id!r}: post {given.post_id!r} given twice")
        seen.add(given.post_id)
    site_url = _site_url_of(channel)
    kept = newest(entries, _max_entries(channel))
    title = channel.options.get("title")
    if not isinstance(title, str) or not title.strip():
        title = workspace_name

    attributes: dict[str, Any] = {"xmlns": ATOM_NS}
    if channel.language:
        attributes[f"{{{_XML_NS}}}lang"] = channel.language
    feed = ET.Element("feed", attributes)
    _sub(feed, "id", feed_id(site_url, _path_of(channel)))
    _sub(feed, "title", title, type="text")
    updated = max((e.updated for e in kept), key=lambda t: t.astimezone(UTC), default=EMPTY_FEED_UPDATED)
    _sub(feed, "updated", _rfc3339(updated))
    _sub(feed, "link", rel="alternate", type="text/html", href=site_url)
    author = _sub(feed, "author")
    _sub(author, "name", workspace_name)
    _sub(feed, "generator", "cmops")
    for item in kept:
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(site_url, item.post_id))
        _sub(entry, "title", item.title if item.title.strip() else item.post_id, type="text")
        _sub(entry, "published", _rfc3339(item.published))
        _sub(entry, "updated", _rfc3339(item.updated))
        _sub(entry, "link", rel="alternate", type="text/html", href=entry_url(site_url, item.post_id))
        body = render_html(item.markdown, _image_sources(channel, item.images))
        _sub(entry, "content", body, type="html")
    ET.indent(feed, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


def write_feed(path: Path, text: str) -> bool:
    """Store ``text`` at ``path`` atomically (readers see the old file or the new one, never
    half of one). Returns False, touching nothing, when the file already holds exactly this."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return True


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable where the system allows it (POSIX)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
