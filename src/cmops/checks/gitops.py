"""What the GitHub side relies on: approval rules that name real channels and campaigns (a
typo there silently exempts posts from review), and a publish workflow that hands cmops
every secret cmops.yaml names (otherwise publishing fails only after the merge)."""

from __future__ import annotations

import re

from cmops.findings import Finding
from cmops.model import Workspace

PUBLISH_WORKFLOW = ".github/workflows/publish.yml"
#: Channel settings that name an environment variable holding a secret.
SECRET_KEYS = ("password_env", "token_env", "webhook_env")


def check(workspace: Workspace) -> list[Finding]:
    return [*_approval_rules(workspace), *_workflow_secrets(workspace)]


def _approval_rules(workspace: Workspace) -> list[Finding]:
    doc, settings = workspace.approvals, workspace.settings
    if doc is None or not isinstance(doc.data, dict):
        return []
    findings = []
    for i, rule in enumerate(doc.data.get("rules") or []):
        match = rule.get("match") or {}
        for j, channel in enumerate(match.get("channels") or []):
            if settings is not None and channel not in settings.channels:
                findings.append(doc.finding(
                    ["rules", i, "match", "channels", j], "approvals.unknown-channel",
                    f"unknown channel {channel!r}: this rule would never apply; cmops.yaml defines: "
                    f"{', '.join(sorted(settings.channels))}"))
        for j, campaign in enumerate(match.get("campaigns") or []):
            if campaign not in workspace.campaigns:
                known = ", ".join(sorted(workspace.campaigns)) or "none"
                findings.append(doc.finding(
                    ["rules", i, "match", "campaigns", j], "approvals.unknown-campaign",
                    f"unknown campaign {campaign!r}: this rule would never apply; the calendars "
                    f"define: {known}"))
    return findings


def _workflow_secrets(workspace: Workspace) -> list[Finding]:
    settings = workspace.settings
    path = workspace.root / PUBLISH_WORKFLOW
    if settings is None or not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    findings = []
    for channel in settings.channels.values():
        for key in SECRET_KEYS:
            name = channel.options.get(key)
            if not isinstance(name, str) or re.search(rf"(?<![\w-]){re.escape(name)}\s*:", text):
                continue
            findings.append(settings.doc.finding(
                ["channels", channel.id, key], "workflow.missing-secret",
                f"{PUBLISH_WORKFLOW} does not hand {name} to cmops publish, so publishing to "
                f"{channel.id} will fail after the merge: add '{name}: ${{{{ secrets.{name} }}}}' "
                "under the env: of its publish step, and the secret under Settings > Secrets",
                "warning"))
    return findings
