"""A retracted post that never went out: there is nothing to delete (SPEC §3, warning)."""

from __future__ import annotations

from cmops.findings import Finding
from cmops.model import Workspace


def check(workspace: Workspace) -> list[Finding]:
    retracted = [post for post in workspace.posts if post.status == "retracted"]
    if not retracted:
        return []
    from cmops.receipts import published_posts

    published, findings = published_posts(workspace.root)
    for post in retracted:
        if post.id not in published:
            findings.append(post.doc.finding(
                ["status"], "post.retracted-unpublished",
                "retracted, but state/ has no receipt of it being published: nothing will be "
                "deleted (if it went out by hand, delete it by hand)", "warning"))
    return findings
