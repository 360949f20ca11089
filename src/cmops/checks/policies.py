"""Response policies and their tests (policies/responses.yaml, policies/tests/*.yaml)."""

from __future__ import annotations

from cmops.findings import Finding
from cmops.model import Workspace


def check(workspace: Workspace) -> list[Finding]:
    from cmops.checks.responses import check_responses

    if workspace.responses is None and not workspace.response_tests:
        return []
    settings = workspace.settings
    # Unusable settings are reported once by the loader; unknown channels would be noise.
    channels = set(settings.channels) if settings else None
    zone = settings.zone.key if settings else "UTC"
    findings: list[Finding] = check_responses(
        workspace.responses, workspace.response_tests, workspace.replies, channels, zone
    )
    return findings
