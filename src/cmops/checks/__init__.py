"""Checks over a loaded workspace, one module per family. Each returns findings."""

from __future__ import annotations

from cmops.findings import Finding
from cmops.model import Workspace


def run_all(workspace: Workspace) -> list[Finding]:
    from cmops.checks import gitops, policies, retracted

    return [*run_post_checks(workspace), *policies.check(workspace), *retracted.check(workspace),
            *gitops.check(workspace)]


def run_post_checks(workspace: Workspace) -> list[Finding]:
    """The checks that can make a post unfit to publish (publish runs these on due posts)."""
    from cmops.checks import calendar, duplicates, media, parts, voice

    findings: list[Finding] = []
    for family in (parts, media, duplicates, calendar, voice):
        findings.extend(family.check(workspace))
    return findings
