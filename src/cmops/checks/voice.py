"""Tone-of-voice lint from policies/voice.yaml: banned phrases, hashtag and mention limits,
and a disclosure on sponsored posts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import regex

from cmops.findings import Finding, Severity, json_path
from cmops.model import Part, Post, Workspace

# Digits/underscores, then a letter: unambiguous, so a long "#1111..." cannot backtrack.
_HASHTAG = regex.compile(r"(?<![\w#])#[\d_]*[^\W\d_]\w*")
_MENTION = regex.compile(r"(?<![\w@])@[\w.-]+\w")


@dataclass(frozen=True)
class Banned:
    phrase: str
    pattern: regex.Pattern[str]
    severity: Severity
    suggestion: str | None
    channels: frozenset[str] | None


def check(workspace: Workspace) -> list[Finding]:
    if workspace.voice is None:
        return []
    policy: dict[str, Any] = workspace.voice.data
    banned = [_banned(item) for item in policy.get("banned_phrases", [])]
    findings: set[Finding] = set()
    for post in workspace.posts:
        if post.status == "retracted":
            continue
        # Channels usually share the body: lint each distinct (part, rule set) once.
        seen: set[tuple[int, str, tuple[int, ...]]] = set()
        for channel_id, rendition in post.renditions.items():
            rules = [r for r in banned if r.channels is None or channel_id in r.channels]
            rule_ids = tuple(id(r) for r in rules)
            for part in rendition.parts:
                key = (part.line, part.text, rule_ids)
                if key not in seen:
                    seen.add(key)
                    findings.update(_part(post, part, rules, policy))
            findings.update(_disclosure(post, channel_id, rendition.parts, policy))
    return sorted(findings)


def _banned(item: str | dict[str, Any]) -> Banned:
    entry = {"phrase": item} if isinstance(item, str) else item
    phrase = entry["phrase"]
    pattern = _phrase(phrase)
    channels = entry.get("channels")
    severity: Severity = "warning" if entry.get("severity") == "warning" else "error"
    return Banned(phrase, pattern, severity, entry.get("suggestion"),
                  frozenset(channels) if channels is not None else None)


def _phrase(phrase: str) -> regex.Pattern[str]:
    """Case-insensitive, and whole words where the phrase starts or ends with a letter or
    digit: "#ad" does not match "#adventure", "!!!" still matches "news!!!"."""
    start = r"(?<!\w)" if phrase[:1].isalnum() or phrase[:1] == "_" else ""
    end = r"(?!\w)" if phrase[-1:].isalnum() or phrase[-1:] == "_" else ""
    return regex.compile(start + regex.escape(phrase) + end, regex.IGNORECASE)


def _at(post: Post, part: Part, hit: regex.Match[str], code: str, severity: Severity,
        message: str) -> Finding:
    before = part.text[: hit.start()]
    line = part.line + before.count("\n")
    column = post.column(line, hit.group(0), hit.start() - (before.rfind("\n") + 1))
    return Finding(post.file, line, column, json_path(("parts", part.index)), code, severity, message)


def _part(post: Post, part: Part, banned: list[Banned], policy: dict[str, Any]) -> list[Finding]:
    findings = []
    for rule in banned:
        hit = rule.pattern.search(part.text)
        if hit:
            advice = f"; write {rule.suggestion!r} instead" if rule.suggestion else ""
            findings.append(_at(post, part, hit, "voice.banned-phrase", rule.severity,
                                f"{hit.group(0)!r} is on the voice policy's banned list{advice}"))
    for key, pattern, code, noun in (
        ("max_hashtags", _HASHTAG, "voice.too-many-hashtags", "hashtags"),
        ("max_mentions", _MENTION, "voice.too-many-mentions", "mentions"),
    ):
        limit = policy.get(key)
        if limit is None:
            continue
        hits = list(pattern.finditer(part.text))
        if len(hits) > limit:
            findings.append(_at(post, part, hits[limit], code, "warning",
                                f"{len(hits)} {noun} in one part; the voice policy allows {limit}"))
    return findings


def _disclosure(post: Post, channel_id: str, parts: list[Part],
                policy: dict[str, Any]) -> list[Finding]:
    rule = policy.get("disclosure")
    if rule is None or not parts:
        return []
    sponsored = post.sponsored or bool(set(rule.get("tags", [])) & set(post.tags))
    if not sponsored:
        return []
    if any(_phrase(marker).search(parts[0].text) for marker in rule["any_of"]):
        return []
    markers = ", ".join(rule["any_of"])
    return [post.doc.finding(["sponsored"] if post.sponsored else ["tags"],
                             "voice.missing-disclosure",
                             f"{channel_id}: sponsored post without a disclosure in its first part;"
                             f" add one of: {markers}")]
