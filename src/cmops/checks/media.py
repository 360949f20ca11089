"""Media: inside the workspace, present, a type and size the platform accepts, with alt text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cmops.findings import Finding
from cmops.model import Media, Post, Workspace

MB = 1024 * 1024
#: Accepted image types and the largest file per platform (Bluesky's lexicon: 1,000,000 bytes).
ACCEPTS: dict[str, tuple[frozenset[str], int]] = {
    "bluesky": (frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}), 1_000_000),
    "mastodon": (frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif",
                            "image/heic"}), 16 * MB),
    "discord": (frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}), 10 * MB),
    "x": (frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}), 5 * MB),
    "feed": (frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml",
                        "image/avif"}), 50 * MB),
}
NO_MEDIA = {"slack": "Slack incoming webhooks cannot attach images"}


@dataclass(frozen=True)
class FileInfo:
    problem: tuple[str, str] | None
    mime: str | None
    size: int


def check(workspace: Workspace) -> list[Finding]:
    root = workspace.root.resolve()
    cache: dict[str, FileInfo] = {}
    findings: list[Finding] = []
    for post in workspace.posts:
        reported: set[tuple[str | int, ...]] = set()
        for channel_id, rendition in post.renditions.items():
            platform = rendition.channel.platform
            for media in rendition.media:
                if media.file is not None and media.file not in cache:
                    cache[media.file] = inspect(root, media.file)
                findings.extend(
                    _check_one(post, media, cache, channel_id, platform, reported)
                )
    return findings


def _check_one(post: Post, media: Media, cache: dict[str, FileInfo], channel_id: str,
               platform: str, reported: set[tuple[str | int, ...]]) -> list[Finding]:
    out: list[Finding] = []
    first_time = media.yaml_path not in reported
    reported.add(media.yaml_path)
    path = [*media.yaml_path, "path"]
    if first_time and not media.alt.strip():
        out.append(post.doc.finding([*media.yaml_path, "alt"], "media.missing-alt",
                                    f"{media.written}: alt text is empty; describe the image "
                                    "for people who cannot see it"))
    if media.file is None:
        if first_time:
            out.append(post.doc.finding(path, "media.outside-workspace",
                                        f"{media.written!r} points outside the workspace; keep "
                                        "media under content/media/"))
        return out
    info = cache[media.file]
    if info.problem is not None:
        if first_time:
            out.append(post.doc.finding(path, info.problem[0], info.problem[1]))
        return out
    if platform in NO_MEDIA:
        out.append(post.doc.finding(path, "media.not-supported",
                                    f"{channel_id}: {NO_MEDIA[platform]}; the image is left out",
                                    "warning"))
        return out
    accepted, limit = ACCEPTS.get(platform, ACCEPTS["feed"])
    if info.mime not in accepted:
        kinds = ", ".join(sorted(m.split("/")[1].upper() for m in accepted))
        out.append(post.doc.finding(path, "media.unsupported-type",
                                    f"{channel_id}: {media.written} is "
                                    f"{info.mime or 'not a recognised image'}; {platform} accepts "
                                    f"{kinds}"))
    elif info.size > limit:
        out.append(post.doc.finding(path, "media.too-large",
                                    f"{channel_id}: {media.written} is {info.size:,} bytes, over "
                                    f"{platform}'s limit of {limit:,} bytes; compress or resize it"))
    return out


def inspect(root: Path, file: str) -> FileInfo:
    """Existence, containment (symlinks included), sniffed type and size of one media file."""
    import filetype

    path = root / file
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return FileInfo(("media.missing", f"{file} does not exist"), None, 0)
    if not real.is_relative_to(root):
        return FileInfo(("media.outside-workspace",
                         f"{file} is a link to a file outside the workspace"), None, 0)
    if not real.is_file():
        return FileInfo(("media.missing", f"{file} is not a file"), None, 0)
    size = real.stat().st_size
    with real.open("rb") as handle:
        head = handle.read(8192)
    kind = filetype.guess(head)
    mime = kind.mime if kind is not None else None
    if mime is None and file.lower().endswith(".svg") and b"<svg" in head:
        mime = "image/svg+xml"
    return FileInfo(None, mime, size)
