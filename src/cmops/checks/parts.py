"""Thread parts: not empty, and within each platform's limit as that platform counts."""

from __future__ import annotations

from cmops import text
from cmops.findings import Finding, json_path
from cmops.model import Workspace

PLATFORM_NAMES = {"bluesky": "Bluesky", "mastodon": "Mastodon", "x": "X", "discord": "Discord",
                  "slack": "Slack", "feed": "the feed"}


def check(workspace: Workspace) -> list[Finding]:
    findings: list[Finding] = []
    for post in workspace.posts:
        cache: dict[tuple[str, str, str], text.Measure] = {}
        for channel_id, rendition in post.renditions.items():
            platform = rendition.channel.platform
            parts = rendition.parts
            if not any(p.text for p in parts):
                findings.append(
                    post.doc.finding(["channels"], "post.empty",
                                     f"{channel_id}: the post has no text")
                )
                continue
            for part in parts:
                where = f"part {part.index + 1} of {len(parts)}" if len(parts) > 1 else "the text"
                if not part.text:
                    findings.append(Finding(post.file, part.line, 1, json_path(("parts", part.index)),
                                            "post.empty-part", "error",
                                            f"{channel_id}: {where} is empty; remove the extra '---'"))
                    continue
                spoiler = rendition.spoiler if part.index == 0 else ""
                if text.surely_fits(part.text, platform, spoiler=spoiler):
                    continue
                key = (part.text, platform, spoiler)
                measure = cache.get(key)
                if measure is None:
                    measure = cache[key] = text.measure(part.text, platform, spoiler=spoiler)
                if measure.over:
                    findings.append(Finding(
                        post.file, part.line, 1, json_path(("parts", part.index)), "post.too-long",
                        "error",
                        f"{channel_id}: {where} is {measure.length:,} {measure.unit}, {measure.over:,} "
                        f"over {PLATFORM_NAMES.get(platform, platform)}'s limit of {measure.limit:,}; "
                        "shorten it or split it with a line holding only '---'",
                    ))
    return findings
