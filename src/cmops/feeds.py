"""The Atom files of ``feed`` channels, rebuilt from the receipts after every run.

The feed is a view, not a log: an entry exists for every post with a ``published`` receipt on
the channel that is not retracted, shows the post's current text (so edits appear), and is
dated by its receipts. Rebuilding the same receipts gives the same bytes, so an idle run
changes nothing and a rebase can regenerate the file instead of merging it.
"""

from __future__ import annotations

from pathlib import Path

from cmops.ledger import Ledger
from cmops.model import Settings, Workspace


def feed_paths(root: Path, settings: Settings) -> dict[str, Path]:
    """channel id -> its Atom file; a path outside the workspace stops the command before
    anything is published."""
    from cmops.errors import ConfigError

    paths: dict[str, Path] = {}
    for channel in settings.channels.values():
        if channel.platform != "feed":
            continue
        rel = str(channel.options.get("path", ""))
        path = (root / rel).resolve()
        if not rel or not path.is_relative_to(root.resolve()) or path == root.resolve():
            raise ConfigError(f"cmops.yaml: channel {channel.id!r}: path {rel!r} must be a file inside "
                              "the workspace, e.g. public/feed.xml")
        paths[channel.id] = path
    return paths


def feed_files(root: Path, settings: Settings) -> list[str]:
    """The feed files, workspace-relative: derived from the receipts, so git operations reset
    and rebuild them instead of merging them."""
    base = root.resolve()
    return [path.relative_to(base).as_posix() for path in feed_paths(root, settings).values()]


def rebuild_feeds(root: Path, space: Workspace, ledger: Ledger) -> list[str]:
    """Write every feed channel's file; the workspace-relative paths that changed."""
    from cmops.platforms.feed import FeedEntry, render_feed, write_feed

    assert space.settings is not None
    changed: list[str] = []
    for channel_id, path in feed_paths(root, space.settings).items():
        channel = space.settings.channels[channel_id]
        entries = []
        for track in ledger.posts_on(channel.id):
            post = space.post(track.post)
            published = track.published()
            if post is None or post.status == "retracted" or 0 not in published:
                continue
            rendition = post.renditions.get(channel.id)
            if rendition is None or track.first_published is None:
                continue
            entries.append(FeedEntry(
                post_id=post.id, title=post.title or _title(rendition.parts[0].text),
                markdown="\n\n".join(p.text for p in rendition.parts),
                published=track.first_published, updated=track.last_change or track.first_published,
                images=tuple((m.file, m.alt) for m in rendition.media if m.file)))
        if write_feed(path, render_feed(channel, space.settings.name, entries)):
            changed.append(path.relative_to(root.resolve()).as_posix())
    return changed


def _title(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "Untitled"
    return first if len(first) <= 80 else first[:79].rstrip() + "…"
