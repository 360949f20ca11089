"""Checks over a loaded workspace, one module per family. Each returns findings."""

from __future__ import annotations

from cmops.findings import Finding
from cmops.model import Workspace


def run_all(workspace: Workspace) -> list[Finding]:
    from cmops.checks import calendar, duplicates, media, parts, policies, retracted, voice

    findings: list[Finding] = []
    for family in (parts, media, duplicates, calendar, voice, policies, retracted):
        findings.extend(family.check(workspace))
    return findings
