"""Post files: YAML front matter, a Markdown body, thread parts split by ``---`` lines."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from cmops import schedule, schema, yamlfile
from cmops.findings import Finding
from cmops.model import Media, Part, Post, Rendition, Settings

POSTS_DIR = "content/posts"
SEPARATOR = "---"


def post_id(rel: str) -> str:
    """The post id is its path under content/posts/ without ``.md``; it never changes meaning."""
    return rel[len(POSTS_DIR) + 1 : -3]


_DELIMITER = re.compile(r"^---[ \t]*$", re.MULTILINE)


def split_front_matter(text: str, rel: str) -> tuple[str, int, str, int] | Finding:
    """Return (front matter, its first line, body, body's first line), or a finding.

    Delimiter lines are ``---``, trailing spaces allowed (as Jekyll and Hugo do).
    """
    opening = _DELIMITER.match(text)
    if opening is None:
        return Finding(
            rel, 1, 1, "$", "post.no-front-matter", "error",
            "a post starts with a line '---', then YAML front matter (at least 'channels:'), "
            "then a line '---', then the text",
        )
    closing = _DELIMITER.search(text, opening.end() + 1)
    if closing is None:
        return Finding(
            rel, 1, 1, "$", "post.no-front-matter", "error",
            "front matter is not closed: add a line holding only '---' after it",
        )
    front = text[opening.end() + 1 : closing.start()]
    body_line = 2 + front.count("\n") + 1
    return front, 2, text[closing.end() + 1 :], body_line


def split_parts(body: str, first_line: int) -> list[Part]:
    """Thread parts: a line holding only ``---`` starts the next part."""
    parts: list[Part] = []
    lines = body.split("\n")
    start = 0
    for number, line in enumerate([*lines, SEPARATOR]):
        if line.strip() == SEPARATOR:
            chunk = lines[start:number]
            leading = 0
            while leading < len(chunk) and not chunk[leading].strip():
                leading += 1
            text = "\n".join(chunk).strip()
            offset = leading if text else 0
            parts.append(Part(len(parts), text, first_line + start + offset))
            start = number + 1
    # A trailing separator or trailing blank lines do not make an empty last part.
    while len(parts) > 1 and not parts[-1].text:
        parts.pop()
    return parts


def load_post(text: str, rel: str, settings: Settings | None) -> tuple[Post | None, list[Finding]]:
    split = split_front_matter(text, rel)
    if isinstance(split, Finding):
        return None, [split]
    front, front_line, body, body_line = split
    doc, findings = yamlfile.load(front, rel, line_offset=front_line - 1)
    if doc is None:
        return None, findings
    if not isinstance(doc.data, dict):
        findings.append(doc.finding([], "schema.type", "front matter must be a mapping of keys"))
        return None, findings
    schema_findings = schema.validate(doc, "post")
    findings.extend(schema_findings)
    if schema_findings:
        return None, findings
    data: dict[str, Any] = doc.data
    post = Post(
        id=post_id(rel),
        file=rel,
        doc=doc,
        status=data.get("status", "ready"),
        campaign=data.get("campaign"),
        tags=list(data.get("tags", [])),
        sponsored=bool(data.get("sponsored", False)),
        title=data.get("title"),
        source=text,
    )
    if settings is not None:
        findings.extend(_build_renditions(post, body, body_line, settings))
    return post, findings


def _build_renditions(post: Post, body: str, body_line: int, settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    data = post.data
    doc = post.doc
    body_parts = split_parts(body, body_line)
    variants: dict[str, Any] = data.get("variants", {})
    channels: list[str] = data["channels"]
    for index, channel_id in enumerate(channels):
        channel = settings.channels.get(channel_id)
        if channel is None:
            known = ", ".join(sorted(settings.channels)) or "none"
            findings.append(
                doc.finding(
                    ["channels", index], "post.unknown-channel",
                    f"unknown channel {channel_id!r}; cmops.yaml defines: {known}",
                )
            )
            continue
        variant: dict[str, Any] = variants.get(channel_id, {})
        if "text" in variant:
            parts = split_parts(variant["text"], doc.text_line(["variants", channel_id, "text"]))
        else:
            parts = body_parts
        if "media" in variant:
            media_path: tuple[str | int, ...] = ("variants", channel_id, "media")
            media_items = variant["media"]
        else:
            media_path = ("media",)
            media_items = data.get("media", [])
        time_path: tuple[str | int, ...] = (
            ("variants", channel_id, "publish_at") if "publish_at" in variant else ("publish_at",)
        )
        when_text = variant.get("publish_at", data.get("publish_at"))
        when = None
        if when_text is not None:
            try:
                when = schedule.parse_instant(str(when_text), channel.zone)
            except schedule.TimeProblem as problem:
                findings.append(doc.finding(time_path, problem.code, f"{channel_id}: {problem}"))
        media = [
            Media(m["path"], resolve_media(post.file, m["path"]), m["alt"], (*media_path, i))
            for i, m in enumerate(media_items)
        ]
        post.renditions[channel_id] = Rendition(
            channel, parts, media, media_path, when, time_path, data.get("spoiler", ""),
            None if when_text is None else str(when_text),
        )
    for channel_id in variants:
        if channel_id not in channels:
            findings.append(
                doc.finding(
                    ["variants", channel_id], "post.unused-variant",
                    f"variant for {channel_id!r}, but the post's channels do not include it",
                    "warning", key=True,
                )
            )
    return _dedupe_time_findings(findings)


def _dedupe_time_findings(findings: list[Finding]) -> list[Finding]:
    """One bad time shared by several channels in one zone is one finding, not several."""
    seen: set[tuple[str, int, str]] = set()
    result = []
    for finding in findings:
        key = (finding.path, finding.line, finding.message.split(": ", 1)[-1])
        if finding.code.startswith("time.") and key in seen:
            continue
        seen.add(key)
        result.append(finding)
    return result


def resolve_media(post_file: str, written: str) -> str | None:
    """Workspace-relative path of a media file, or ``None`` if it points outside the workspace."""
    if "\x00" in written or "\\" in written:
        return None
    if written.startswith("/"):
        joined = written.lstrip("/")
    else:
        joined = posixpath.join(posixpath.dirname(post_file), written)
    normal = posixpath.normpath(joined)
    if normal == ".." or normal.startswith("../") or posixpath.isabs(normal):
        return None
    return normal
