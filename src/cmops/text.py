"""Text length the way each platform counts it (SPEC §1).

- Bluesky: 300 grapheme clusters.
- Mastodon: 500 grapheme clusters, every URL counted as 23, a remote mention
  ``@user@domain`` counted as ``@user``, the content warning counted too.
- X: 280 weighted characters, computed by twitter-text's own rules.
- Discord 2,000 and Slack 40,000 characters; the feed has no limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
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
#: Bluesky's post lexicon also caps the text at 3,000 UTF-8 bytes (emoji-heavy text hits it).
BLUESKY_MAX_BYTES = 3000

_GRAPHEME = regex.compile(r"\X")
#: A code point whose Unicode grapheme-break property is anything but "Other" (combining
#: marks, ZWJ, regional indicators, Hangul jamo, CR, ...). Text without one is exactly one
#: cluster per code point, so it can be counted with len() instead of segmenting it.
_JOINING = regex.compile(r"[^\p{Grapheme_Cluster_Break=Other}\n]")
# Mastodon only shortens mentions and URLs it will really link: URLs need a scheme.
_SCHEME_TOKEN = regex.compile(r"\S*://\S*")
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
    if _JOINING.search(text) is None:
        return len(text)
    return len(_GRAPHEME.findall(text))


#: twitter-text's URL pattern backtracks badly on runs of dots ("a.a.a.a...", seconds for a
#: few hundred characters). No real link has this many dots in one word, so such a word is
#: counted as plain text: its dots become "_" (same length, same X weight) before counting.
MAX_DOTS_PER_WORD = 16
_DOTTED_WORD = regex.compile(r"\S*\.\S*")


def _defuse(text: str) -> str:
    if text.count(".") <= MAX_DOTS_PER_WORD:
        return text
    return _DOTTED_WORD.sub(
        lambda m: m.group(0).replace(".", "_") if m.group(0).count(".") > MAX_DOTS_PER_WORD
        else m.group(0),
        text,
    )


def _mastodon(text: str, spoiler: str) -> int:
    countable = _MASTODON_MENTION.sub(lambda m: "@" + m.group(1), _defuse(text))
    if "://" in countable:
        countable = _SCHEME_TOKEN.sub(_shorten_urls, countable)
    return graphemes(countable) + graphemes(spoiler)


def _shorten_urls(token: regex.Match[str]) -> str:
    """Replace each URL in one whitespace-free token by 23 placeholder characters."""
    text = token.group(0)
    pieces: list[str] = []
    last = 0
    for start, end in _token_urls(text):
        pieces.append(text[last:start])
        pieces.append("x" * MASTODON_URL_LENGTH)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


@lru_cache(maxsize=8192)
def _token_urls(token: str) -> tuple[tuple[int, int], ...]:
    """URL spans in a token, found by twitter-text's extractor (Mastodon uses the same one).

    A URL with a scheme never contains whitespace, so running the (slow) extractor on the
    token after a space, instead of on the whole text, finds the same URLs; brand links
    repeat across posts, so the cache saves most calls.
    """
    from twitter_text.extract_urls import extract_urls_with_indices

    found: list[dict[str, Any]] = extract_urls_with_indices(" " + token, False)
    return tuple((f["indices"][0] - 1, f["indices"][1] - 1) for f in found)


@cache
def _parse_tweet() -> Any:
    from twitter_text import parse_tweet

    return parse_tweet


def surely_fits(text: str, platform: str, *, spoiler: str = "") -> bool:
    """A cheap upper bound: True means the exact count is certainly within the limit.

    Validation only needs "is it over?", and most posts are far from the limit, so the
    exact (and slower) count is needed only near it.
    """
    limit = LIMITS.get(platform)
    if limit is None:
        return True
    if platform == "mastodon":  # a link counts 23 even when shorter
        return len(text) + len(spoiler) + MASTODON_URL_LENGTH * text.count("://") <= limit
    if platform == "x":  # weights are at most 2; a link (even without scheme) counts 23
        return 2 * len(text) + 23 * text.count(".") <= limit
    # Graphemes and characters never exceed code points; 300 code points stay under
    # Bluesky's 3,000 bytes.
    return len(text) <= limit


def measure(text: str, platform: str, *, spoiler: str = "") -> Measure:
    """Length of one thread part as ``platform`` counts it, with its limit."""
    limit = LIMITS.get(platform)
    unit = UNITS.get(platform, "characters")
    if platform == "bluesky":
        size = len(text.encode("utf-8")) if len(text) * 4 > BLUESKY_MAX_BYTES else 0
        if size > BLUESKY_MAX_BYTES:  # the binding limit here is bytes (emoji take up to 25)
            return Measure(size, BLUESKY_MAX_BYTES, "bytes of UTF-8")
        return Measure(graphemes(text), limit, unit)
    if platform == "mastodon":
        return Measure(_mastodon(text, spoiler), limit, unit)
    if platform == "x":
        return Measure(int(_parse_tweet()(_defuse(text)).weightedLength), limit, unit)
    return Measure(len(text), limit, unit)
