"""Text length the way each platform counts it (SPEC §1).

- Bluesky: 300 grapheme clusters.
- Mastodon: 500 grapheme clusters, every URL counted as 23, a remote mention
  ``@user@domain`` counted as ``@user``, the content warning counted too.
- X: 280 weighted characters, computed by twitter-text's own rules.
- Discord 2,000 and Slack 40,000 characters; the feed has no limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import regex

LIMITS: dict[str, int | None] = {
    "bluesky": 300,
    "mastodon": 500,
    "x": 280,
    "discord": 2000,
    "slack": 40000,
    "feed": None,
}
UNITS = {
    "bluesky": "graphemes",
    "mastodon": "characters",
    "x": "weighted characters",
    "discord": "characters",
    "slack": "characters",
    "feed": "characters",
}
MASTODON_URL_LENGTH = 23

_GRAPHEME = regex.compile(r"\X")
# Mastodon only shortens mentions and URLs it will really link: URLs need a scheme.
_MASTODON_MENTION = regex.compile(r"(?<![\w/])@(\w+(?:[.-]\w+)*)@[\w.-]+\w", regex.UNICODE)


@dataclass(frozen=True)
class Measure:
    length: int
    limit: int | None
    unit: str

    @property
    def over(self) -> int:
        return 0 if self.limit is None else max(0, self.length - self.limit)


def graphemes(text: str) -> int:
    if text.isascii():
        # Each ASCII character is its own cluster, except CR LF which is one.
        return len(text) - text.count("\r\n")
    return len(_GRAPHEME.findall(text))


def _mastodon(text: str, spoiler: str) -> int:
    countable = _MASTODON_MENTION.sub(lambda m: "@" + m.group(1), text)
    if "://" in countable:
        pieces: list[str] = []
        last = 0
        for found in _urls(countable):
            start, end = found["indices"]
            pieces.append(countable[last:start])
            pieces.append("x" * MASTODON_URL_LENGTH)
            last = end
        pieces.append(countable[last:])
        countable = "".join(pieces)
    return graphemes(countable) + graphemes(spoiler)


def _urls(text: str) -> list[dict[str, Any]]:
    from twitter_text.extract_urls import extract_urls_with_indices

    result: list[dict[str, Any]] = extract_urls_with_indices(text, False)
    return result


@cache
def _parse_tweet() -> Any:
    from twitter_text import parse_tweet

    return parse_tweet


def measure(text: str, platform: str, *, spoiler: str = "") -> Measure:
    """Length of one thread part as ``platform`` counts it, with its limit."""
    limit = LIMITS.get(platform)
    unit = UNITS.get(platform, "characters")
    if platform == "bluesky":
        return Measure(graphemes(text), limit, unit)
    if platform == "mastodon":
        return Measure(_mastodon(text, spoiler), limit, unit)
    if platform == "x":
        return Measure(int(_parse_tweet()(text).weightedLength), limit, unit)
    return Measure(len(text), limit, unit)
