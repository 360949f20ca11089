"""Reading publish receipts: what has gone out, according to ``state/``.

Receipts are JSON Lines under ``state/`` (any ``*.jsonl``), written by ``cmops publish``
only and append-only. This module reads the one fact validation needs today: which post
ids have a ``"published"`` event. The publishing engine owns the full format.
"""

from __future__ import annotations

import json
from pathlib import Path

from cmops.findings import Finding
from cmops.sources import read_text

STATE_DIR = "state"


def published_posts(root: Path) -> tuple[set[str], list[Finding]]:
    """Post ids with at least one published event, plus findings for unreadable lines."""
    published: set[str] = set()
    findings: list[Finding] = []
    base = root / STATE_DIR
    if not base.is_dir():
        return published, findings
    for path in sorted(base.rglob("*.jsonl")):
        name = path.relative_to(root).as_posix()
        text, found = read_text(path, name, limit=512 * 1024 * 1024)
        findings.extend(found)
        for number, line in enumerate((text or "").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                findings.append(Finding(name, number, 1, "$", "state.bad-receipt", "warning",
                                        "this receipt line is not JSON; was the file edited by hand?"))
                continue
            if isinstance(record, dict) and record.get("event") == "published":
                post = record.get("post")
                if isinstance(post, str):
                    published.add(post)
    return published, findings
