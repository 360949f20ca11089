"""Calendar rules: campaigns, blackout windows and cadence, checked against the posts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime

from cmops.findings import Finding, Severity
from cmops.model import Cadence, Post, Rendition, Workspace
from cmops.schedule import fmt_local, fmt_window
from cmops.yamlfile import Document


def check(workspace: Workspace) -> list[Finding]:
    findings = _references(workspace)
    scheduled: dict[str, list[tuple[datetime, Post, Rendition]]] = defaultdict(list)
    for post in workspace.posts:
        if post.status != "ready":
            continue
        findings.extend(_campaign(workspace, post))
        for channel_id, rendition in post.renditions.items():
            if rendition.publish_at is None:
                continue
            scheduled[channel_id].append((rendition.publish_at, post, rendition))
            findings.extend(_blackouts(workspace, post, channel_id, rendition))
    for rule in workspace.cadence:
        for channel_id, items in scheduled.items():
            if rule.channels is None or channel_id in rule.channels:
                findings.extend(_cadence(rule, channel_id, sorted(items, key=lambda i: i[0])))
    return findings


def _references(workspace: Workspace) -> list[Finding]:
    known = set(workspace.settings.channels) if workspace.settings else set()
    findings = []
    refs: list[tuple[Document, list[str | int], list[str] | None]] = [
        (c.doc, ["campaigns", c.id, "channels"], c.channels) for c in workspace.campaigns.values()
    ]
    refs += [(b.doc, ["blackouts", b.index, "channels"], b.channels) for b in workspace.blackouts]
    refs += [(c.doc, ["cadence", c.index, "channels"], c.channels) for c in workspace.cadence]
    for doc, path, channels in refs:
        for index, channel_id in enumerate(channels or []):
            if workspace.settings and channel_id not in known:
                findings.append(doc.finding([*path, index], "calendar.unknown-channel",
                                            f"unknown channel {channel_id!r}"))
    return findings


def _campaign(workspace: Workspace, post: Post) -> list[Finding]:
    if post.campaign is None:
        return []
    campaign = workspace.campaigns.get(post.campaign)
    if campaign is None:
        known = ", ".join(sorted(workspace.campaigns)) or "none defined in content/calendars/"
        return [post.doc.finding(["campaign"], "post.unknown-campaign",
                                 f"unknown campaign {post.campaign!r}; known: {known}")]
    findings = []
    for channel_id, rendition in post.renditions.items():
        if campaign.channels is not None and channel_id not in campaign.channels:
            findings.append(post.doc.finding(
                ["channels"], "post.campaign-channel",
                f"campaign {campaign.id!r} does not use channel {channel_id!r}", "warning"))
        when = rendition.publish_at
        if when is None or campaign.start is None or campaign.end is None:
            continue
        if not campaign.start <= when < campaign.end:
            zone = rendition.channel.zone
            findings.append(post.doc.finding(
                list(rendition.time_path), "post.outside-campaign",
                f"{channel_id}: {fmt_local(when, zone)} is outside campaign {campaign.id!r} "
                f"({fmt_window(campaign.start, campaign.end, zone)})"))
    return findings


def _blackouts(workspace: Workspace, post: Post, channel_id: str, rendition: Rendition) -> list[Finding]:
    when = rendition.publish_at
    assert when is not None
    findings = []
    for blackout in workspace.blackouts:
        if blackout.channels is not None and channel_id not in blackout.channels:
            continue
        if blackout.start <= when < blackout.end:
            zone = rendition.channel.zone
            findings.append(replace(post.doc.finding(
                list(rendition.time_path), "post.in-blackout",
                f"{channel_id}: {fmt_local(when, zone)} falls in blackout {blackout.name!r} "
                f"({fmt_window(blackout.start, blackout.end, zone)}, {blackout.doc.file}); "
                "move the post",
            ), related=(blackout.doc.file,)))
    return findings


def _cadence(rule: Cadence, channel_id: str,
             items: list[tuple[datetime, Post, Rendition]]) -> list[Finding]:
    findings: list[Finding] = []
    severity: Severity = "error" if rule.severity == "error" else "warning"
    per_day: dict[date, list[Post]] = defaultdict(list)
    previous: tuple[datetime, Post] | None = None
    for when, post, rendition in items:
        zone = rendition.channel.zone
        day = when.astimezone(zone).date()
        per_day[day].append(post)
        if rule.max_per_day is not None and len(per_day[day]) > rule.max_per_day:
            others = [p.file for p in per_day[day][:-1]]
            findings.append(replace(post.doc.finding(
                list(rendition.time_path), "post.cadence-max-per-day",
                f"{channel_id}: more than {rule.max_per_day} posts on {day:%a %Y-%m-%d} "
                f"(rule {rule.index + 1} in {rule.doc.file}); also that day: {', '.join(others)}",
                severity), related=tuple(others)))
        if rule.min_gap is not None and previous is not None and when - previous[0] < rule.min_gap:
            gap_min = int((when - previous[0]).total_seconds() // 60)
            findings.append(replace(post.doc.finding(
                list(rendition.time_path), "post.cadence-min-gap",
                f"{channel_id}: only {gap_min} min after {previous[1].file}; the cadence rule "
                f"in {rule.doc.file} asks for at least {_minutes(rule.min_gap.total_seconds())}",
                severity), related=(previous[1].file,)))
        previous = (when, post)
    return findings


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
