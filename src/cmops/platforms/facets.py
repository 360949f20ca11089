"""Bluesky rich-text facets: links, hashtags and mentions found in a post's plain text.

Bluesky does not parse the text it is given: a URL, ``#tag`` or ``@handle`` is only a link
when the record carries a *facet* saying so, with the feature's position as UTF-8 **byte**
offsets into the text (not characters: an emoji before a link shifts it by four). This
module finds the features (pure functions, no network) and turns them into facet objects;
the only outside knowledge, a handle's DID, comes in through a ``resolve`` callable.

Every pattern here is linear (no nested quantifiers), so hostile text cannot make it hang.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import regex

Kind = Literal["link", "tag", "mention"]

#: A feature starts at the beginning of the text, after whitespace or after an opening
#: bracket or quote; never inside a word (``bob@example.com`` is no mention).
_START = r"(?<![^\s(\[{<\"'«“‘])"
_LINK = regex.compile(_START + r"https?://\S+", regex.IGNORECASE)
#: Hashtags follow whitespace or the start only, so a URL's ``/#fragment`` is never one.
#: Soft hyphen, word joiner and zero-width characters end a tag (they are invisible).
_TAG = regex.compile(r"(?<!\S)[#＃]([^\s\u00ad\u2060\u200a-\u200d\u20e2]+)")
_MENTION = regex.compile(_START + r"@([a-zA-Z0-9.-]+)")
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
#: A tag needs one character that is neither a digit nor punctuation: ``#1`` is no tag.
_TAG_LETTER = regex.compile(r"[^\d\p{P}]")
_LABEL = regex.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Bluesky's own limit for a tag (the facet lexicon: 64 graphemes, 640 bytes).
MAX_TAG_LENGTH = 64
MAX_HANDLE_LENGTH = 253
LINK_TRAILING = ".,;:!?'\""

LINK = "app.bsky.richtext.facet#link"
TAG = "app.bsky.richtext.facet#tag"
MENTION = "app.bsky.richtext.facet#mention"


@dataclass(frozen=True)
class Feature:
    """One feature found in the text: ``value`` is the URL, the tag (no ``#``) or the handle
    (lower case, no ``@``); ``start``/``end`` are character offsets into the text."""

    kind: Kind
    value: str
    start: int
    end: int


def find_links(text: str) -> list[Feature]:
    """http(s) URLs, without the sentence punctuation and unbalanced ``)`` that follow them."""
    found: list[Feature] = []
    for match in _LINK.finditer(text):
        url = trim_url(match.group())
        if _has_host(url):
            found.append(Feature("link", url, match.start(), match.start() + len(url)))
    return found


def trim_url(url: str) -> str:
    """Drop what ends a sentence rather than the URL: ``.,;:!?`` and quotes, and a closing
    bracket without its opening one inside the URL (``(see https://a.example/x)``)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    counts = {char: url.count(char) for char in "()[]{}"}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in pairs and counts[last] > counts[pairs[last]]:
            counts[last] -= 1
        elif last not in LINK_TRAILING:
            break
        end -= 1
    return url[:end]


def _has_host(url: str) -> bool:
    """Something that can be a host after the scheme (``https://`` alone is no link)."""
    rest = url.split("://", 1)[1]
    host = regex.split(r"[/?#]", rest, maxsplit=1)[0]
    return any(ch.isalnum() for ch in host)


def find_tags(text: str) -> list[Feature]:
    """``#tag`` after whitespace or at the start; trailing punctuation is not part of the tag,
    digits alone are no tag, and neither is the keycap emoji (``#`` + U+FE0F)."""
    found: list[Feature] = []
    for match in _TAG.finditer(text):
        body = match.group(1)
        if body.startswith("\ufe0f"):
            continue
        tag = _TRAILING_PUNCTUATION.sub("", body)
        if not tag or len(tag) > MAX_TAG_LENGTH or not _TAG_LETTER.search(tag):
            continue
        found.append(Feature("tag", tag, match.start(), match.start(1) + len(tag)))
    return found


def find_mentions(text: str) -> list[Feature]:
    """``@handle.domain`` (a syntactically valid handle, so ``@everyone`` is no mention)."""
    found: list[Feature] = []
    for match in _MENTION.finditer(text):
        handle = match.group(1).rstrip(".-")
        end = match.start(1) + len(handle)
        if end < len(text) and (text[end].isalnum() or text[end] in "_@"):
            continue
        if is_handle(handle):
            found.append(Feature("mention", handle.lower(), match.start(), end))
    return found


def is_handle(handle: str) -> bool:
    """Whether ``handle`` is a valid atproto handle: dot-separated DNS labels, at least two,
    the last one (the TLD) not starting with a digit."""
    if len(handle) > MAX_HANDLE_LENGTH:
        return False
    labels = handle.lower().split(".")
    if len(labels) < 2 or labels[-1][:1].isdigit():
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


def find(text: str) -> list[Feature]:
    """All features in text order, none overlapping another: a tag or mention touching a
    link is part of the link, and of a tag and a mention that overlap the first one wins."""
    links = find_links(text)
    kept = list(links)
    next_link = last_end = 0
    for feature in sorted([*find_tags(text), *find_mentions(text)], key=lambda f: f.start):
        while next_link < len(links) and links[next_link].end <= feature.start:
            next_link += 1
        touches_link = next_link < len(links) and links[next_link].start < feature.end
        if not touches_link and feature.start >= last_end:
            kept.append(feature)
            last_end = feature.end
    return sorted(kept, key=lambda f: f.start)


def byte_offsets(text: str, positions: Iterable[int]) -> list[int]:
    """UTF-8 byte offsets of ascending character ``positions``, in one pass over the text."""
    offsets: list[int] = []
    chars = total = 0
    for position in positions:
        total += len(text[chars:position].encode("utf-8", "surrogatepass"))
        chars = position
        offsets.append(total)
    return offsets


def facets(text: str, resolve: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """The ``facets`` of an ``app.bsky.feed.post`` record for ``text``.

    ``resolve`` maps a handle to its DID, or ``None`` if it has none: such a mention stays
    plain text (a typo in a handle must not stop the post).
    """
    out: list[dict[str, Any]] = []
    features = find(text)
    bounds = byte_offsets(text, [pos for f in features for pos in (f.start, f.end)])
    for number, feature in enumerate(features):
        if feature.kind == "link":
            facet: dict[str, Any] = {"$type": LINK, "uri": feature.value}
        elif feature.kind == "tag":
            facet = {"$type": TAG, "tag": feature.value}
        else:
            did = resolve(feature.value)
            if did is None:
                continue
            facet = {"$type": MENTION, "did": did}
        index = {"byteStart": bounds[2 * number], "byteEnd": bounds[2 * number + 1]}
        out.append({"index": index, "features": [facet]})
    return out
