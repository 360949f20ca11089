"""Duplicate post ids and the same content twice on one channel."""

from __future__ import annotations

from dataclasses import replace

from cmops.findings import Finding
from cmops.model import Post, Workspace


def check(workspace: Workspace) -> list[Finding]:
    findings: list[Finding] = []
    by_id: dict[str, Post] = {}
    by_content: dict[tuple[str, str], Post] = {}
    for post in workspace.posts:
        folded = post.id.casefold()
        first = by_id.setdefault(folded, post)
        if first is not post:
            findings.append(_related(post.doc.finding(
                [], "post.duplicate-id",
                f"post id {post.id!r} differs from {first.id!r} ({first.file}) only by letter "
                "case; that breaks on macOS and Windows checkouts: rename one",
            ), first))
        if post.status == "draft":
            continue
        for channel_id, rendition in post.renditions.items():
            key = (channel_id, rendition.content_hash())
            first = by_content.setdefault(key, post)
            if first is not post:
                findings.append(_related(post.doc.finding(
                    ["channels"], "post.duplicate-content",
                    f"{channel_id}: same text and media as {first.file}; the network would see "
                    "the same post twice (mark one 'status: draft' or change it)",
                ), first))
    return findings


def _related(finding: Finding, other: Post) -> Finding:
    return replace(finding, related=(other.file,))
