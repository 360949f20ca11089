"""Posts that the receipts say never went out (SPEC §3, warnings): a retracted post with
nothing to delete, and a post whose time is past the grace period on a channel where it was
never published, so editing it changes nothing (it needs a new publish_at)."""

from __future__ import annotations

from cmops.findings import Finding
from cmops.model import Workspace


def check(workspace: Workspace) -> list[Finding]:
    if workspace.settings is None:
        return []
    from cmops import ledger, schedule

    receipts = ledger.read(workspace.root)
    findings = list(receipts.findings)
    now = schedule.now()
    grace = workspace.settings.grace
    published = {post for (post, _), track in receipts.tracks.items() if track.published()}
    for post in workspace.posts:
        if post.status == "retracted":
            if post.id not in published:
                findings.append(post.doc.finding(
                    ["status"], "post.retracted-unpublished",
                    "retracted, but state/ has no receipt of it being published: nothing will be "
                    "deleted (if it went out by hand, delete it by hand)", "warning"))
            continue
        if post.status == "draft" or receipts.lines == 0:
            continue  # (no receipts at all: publishing has never run here, nothing to compare)
        for channel_id, rendition in post.renditions.items():
            when = rendition.publish_at
            track = receipts.peek(post.id, channel_id)
            if when is None or now - when <= grace or (track is not None and track.live()):
                continue
            findings.append(post.doc.finding(
                list(rendition.time_path), "post.never-published",
                f"{schedule.fmt_local(when, rendition.channel.zone)} is more than "
                f"{schedule.fmt_span(grace)} ago and state/ has no receipt for {channel_id}: it "
                f"never went out there and will not (missed); give it a new publish_at to publish it",
                "warning"))
    return findings
