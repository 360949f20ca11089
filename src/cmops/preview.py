"""``cmops preview``: a post exactly as each channel will publish it."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC
from pathlib import Path
from typing import Any

from cmops import text
from cmops.errors import CmopsError, UsageError
from cmops.findings import Finding
from cmops.model import Post, Rendition
from cmops.posts import POSTS_DIR
from cmops.schedule import fmt_local, fmt_utc


class PostHasProblems(CmopsError):
    exit_code = 1


def resolve_post_id(root: Path, ref: str) -> str:
    """Accept a post id or a path to the post file (relative to the current folder)."""
    candidate = Path(ref)
    if ref.endswith(".md") and candidate.resolve().is_file():
        resolved = candidate.resolve()
        base = (root / POSTS_DIR).resolve()
        if not resolved.is_relative_to(base):
            raise UsageError(f"{ref} is not under {POSTS_DIR}/")
        return resolved.relative_to(base).as_posix()[:-3]
    return ref.removesuffix(".md").strip("/")


def preview_post(root: Path, ref: str, channels: list[str], fmt: str) -> tuple[str, bool]:
    """The preview, and whether the post has errors (the command then exits 1)."""
    from cmops.render import render
    from cmops.workspace import load_for_command

    space, findings = load_for_command(root)
    post_id = resolve_post_id(root, ref)
    post = space.post(post_id)
    file = f"{POSTS_DIR}/{post_id}.md"
    mine = [f for f in findings if f.file == file]
    if post is None:
        if mine:
            raise PostHasProblems(f"{file} cannot be previewed:\n{render(mine, 'text')}")
        known = sorted(p.id for p in space.posts)
        hint = f"; for example: {', '.join(known[:3])}" if known else ""
        raise UsageError(f"no post {post_id!r} (looked for {file}){hint}")
    unknown = [c for c in channels if c not in post.renditions]
    if unknown:
        raise UsageError(f"post {post_id!r} is not going to {', '.join(unknown)}; "
                         f"its channels: {', '.join(post.renditions) or 'none'}")
    selected = [r for c, r in post.renditions.items() if not channels or c in channels]
    data = _as_data(post, selected, mine)
    has_errors = any(f.is_error for f in mine)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False), has_errors
    return _as_text(data, mine), has_errors


def _as_data(post: Post, renditions: list[Rendition], findings: list[Finding]) -> dict[str, Any]:
    channels = []
    for rendition in renditions:
        channel = rendition.channel
        parts = []
        for part in rendition.parts:
            spoiler = rendition.spoiler if part.index == 0 else ""
            measure = text.measure(part.text, channel.platform, spoiler=spoiler)
            parts.append({"index": part.index + 1, "text": part.text, "length": measure.length,
                          "limit": measure.limit, "unit": measure.unit, "over": measure.over})
        when = rendition.publish_at
        channels.append({
            "channel": channel.id,
            "platform": channel.platform,
            "account": channel.options.get("handle") or channel.options.get("instance")
            or channel.options.get("path"),
            "timezone": channel.zone.key,
            "language": post.data.get("language") or channel.language,
            "publish_at": when.astimezone(UTC).isoformat().replace("+00:00", "Z") if when else None,
            "publish_at_local": when.astimezone(channel.zone).isoformat() if when else None,
            "when": f"{fmt_local(when, channel.zone)} ({channel.zone.key}) = {fmt_utc(when)}"
            if when else None,
            "publish_at_written": rendition.time_text,
            "parts": parts,
            "media": [{"path": m.file or m.written, "alt": m.alt} for m in rendition.media],
        })
    return {"post": post.id, "file": post.file, "status": post.status,
            "campaign": post.campaign, "tags": post.tags, "channels": channels,
            "findings": [f.as_dict() for f in findings]}


def _as_text(data: dict[str, Any], findings: list[Finding]) -> str:
    from cmops.render import render

    lines = [f"Post {data['post']} ({data['file']})"]
    if data["status"] == "draft":
        lines.append("Status: draft - checked, but never published until the status changes.")
    elif data["status"] == "retracted":
        lines.append("Status: retracted - will be deleted where it was published.")
    if data["campaign"]:
        lines.append(f"Campaign: {data['campaign']}")
    for ch in data["channels"]:
        lines.append("")
        account = f", {ch['account']}" if ch["account"] else ""
        lines.append(f"== {ch['channel']} ({ch['platform']}{account}, language "
                     f"{ch['language'] or 'not set'}) ==")
        if ch["when"]:
            lines.append(f"When: {ch['when']}")
        elif ch["publish_at_written"] is not None:
            lines.append(f"When: {ch['publish_at_written']!r} cannot be used - see the problems below")
        else:
            lines.append("When: as soon as it is merged (no publish_at)")
        count = len(ch["parts"])
        for part in ch["parts"]:
            limit = f"/{part['limit']}" if part["limit"] else ""
            flag = f"  << {part['over']} TOO LONG" if part["over"] else ""
            label = f"Part {part['index']} of {count}" if count > 1 else "Text"
            lines.append(f"{label}: {part['length']}{limit} {part['unit']}{flag}")
            lines.extend(textwrap.indent(part["text"], "  | ").splitlines())
        for media in ch["media"]:
            lines.append(f"Image: {media['path']} - alt: {media['alt']!r}")
    if findings:
        lines += ["", "Problems:", render(findings, "text")]
    return "\n".join(lines)
