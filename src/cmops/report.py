"""The campaign report: what a campaign's posts did against its goals.

One computation, :func:`compute`, turns the posts (content/), the receipts (state/) and the
metric snapshots (metrics/) into a plain dict; ``--format json`` is that dict, and every other
format (:mod:`cmops.reportview`) only renders it, so the numbers cannot disagree between them.

Rules a reader of the report should know:

- A campaign's *planned* posts are its posts' renditions (one post on one channel), except
  drafts and retracted posts, scheduled inside the report window or not scheduled at all (an
  unscheduled one that went out counts where it went out). *Published*: at least one part is
  out; *missed*: reported missed for its current ``publish_at``; *pending*: the rest.
- Counts are each part's latest snapshot. A part later deleted on the platform ("gone")
  keeps the counts last seen: those people did engage. Only Bluesky and Mastodon give
  counts; feed, Discord, Slack and X channels are listed as not measured, never as zero.
- No platform exposes impressions, so there is no engagement rate: "engagements" is the sum
  of likes, reposts, replies, quotes and bookmarks.
- A goal's ``territory`` matches a channel whose ``language`` is it, whose time zone key is
  it, or whose id is it: ``de`` matches ``language: de``, ``Europe/Berlin`` matches
  ``timezone: Europe/Berlin``. Nothing fuzzier (no prefixes, no zone-to-country guessing).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cmops import ledger as ledger_mod
from cmops import metrics
from cmops.errors import UsageError
from cmops.ledger import Ledger, Track, parse_iso
from cmops.metrics import COUNTS, MEASURABLE, Snapshots
from cmops.model import Campaign, Channel, Post, Workspace
from cmops.schedule import fmt_local, fmt_utc, fmt_window, parse_instant

NOTE = ("No platform exposes impressions, so there is no engagement rate: engagements are the "
        "sum of likes, reposts, replies, quotes and bookmarks.")
NO_METRICS = "no metrics yet"
NO_CAMPAIGNS = "define them under campaigns: in content/calendars/*.yaml"
NOT_ENOUGH = "not enough data"
#: Below this many measured posts on a channel, a "best time" would be noise.
MIN_POSTS_FOR_TIMING = 5
NO_TERRITORY = "—"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: The report's span: [start, end) as aware instants.
Window = tuple[datetime, datetime]


def show_report(root: Path, campaign: str | None, start: str | None, end: str | None, fmt: str,
                at: str | None) -> str:
    from cmops.publishing import clock_for
    from cmops.reportview import render
    from cmops.workspace import gc_paused, load_for_command

    now = clock_for(at).now()
    space, _ = load_for_command(root)
    with gc_paused():
        ledger = ledger_mod.read(root)
        snapshots = metrics.read(root)
    return render(compute(space, ledger, snapshots, now, campaign, start, end), fmt)


@dataclass
class Pair:
    """One planned post on one channel, with what the receipts and snapshots say about it."""

    post: Post
    channel: Channel
    scheduled: datetime | None
    track: Track | None
    #: part index -> latest snapshot record.
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    gone: list[int] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.channel.platform in MEASURABLE

    @property
    def published(self) -> bool:
        return self.track is not None and bool(self.track.published())

    @property
    def status(self) -> str:
        if self.published:
            return "published"
        missed = parse_iso(self.track.missed_for) if self.track and self.track.missed_for else None
        if missed is not None and (self.scheduled is None or missed == self.scheduled):
            return "missed"
        return "pending"

    def total(self, name: str) -> int:
        return sum(count(r, name) or 0 for r in self.records.values())

    def part_time(self, index: int) -> datetime | None:
        state = self.track.parts.get(index) if self.track else None
        for text in (state.published_at if state else None, self.records.get(index, {}).get("published_at"),
                     self.track.first_published_at if self.track else None):
            when = parse_iso(text) if isinstance(text, str) else None
            if when is not None:
                return when
        return None

    def url(self) -> str | None:
        state = self.track.parts.get(0) if self.track else None
        return state.sent.url if state and state.sent else None


def compute(space: Workspace, ledger: Ledger, snapshots: Snapshots, now: datetime, campaign: str | None,
            first: str | None, last: str | None) -> dict[str, Any]:
    """The whole report as data (sorted, JSON-ready)."""
    assert space.settings is not None
    zone = space.settings.zone
    if campaign is not None and campaign not in space.campaigns:
        known = ", ".join(sorted(space.campaigns)) or f"none ({NO_CAMPAIGNS})"
        raise UsageError(f"no campaign {campaign!r}; known campaigns: {known}")
    since = _day(first, "--from", zone, end_of_day=False)
    until = _day(last, "--to", zone, end_of_day=True)
    if since and until and until <= since:
        raise UsageError(f"--to {last} is before --from {first}")
    chosen = [campaign] if campaign is not None else sorted(
        space.campaigns, key=lambda c: (space.campaigns[c].start or now, c))
    index = _index(snapshots)
    reports = []
    for cid in chosen:
        window = _window(space.campaigns[cid], since, until)
        if window is None:
            if campaign is not None:
                raise UsageError(f"campaign {cid!r} has no days between --from and --to; it runs "
                                 f"{_span(space.campaigns[cid], zone)}")
            continue
        pairs = _pairs(space, ledger, index, cid, window)
        reports.append(_campaign(space.campaigns[cid], pairs, window, now, zone, space.settings.channels))
    if not reports and space.campaigns:
        raise UsageError("no campaign has days between --from and --to")
    channels = space.settings.channels
    return {
        "generated_at": fmt_utc(now),
        "timezone": zone.key,
        "note": NOTE,
        "not_measured": {c.id: c.platform for c in sorted(channels.values(), key=lambda c: c.id)
                         if c.platform not in MEASURABLE},
        "snapshots": snapshots.lines,
        "warnings": [f"{f.file}:{f.line}: {f.message}" for f in [*ledger.findings, *snapshots.findings]],
        "campaigns": reports,
    }


def _day(text: str | None, option: str, zone: ZoneInfo, *, end_of_day: bool) -> datetime | None:
    if text is None:
        return None
    try:
        if not _DATE.match(text.strip()):
            raise ValueError
        return parse_instant(text.strip(), zone, end_of_day=end_of_day)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a date; write YYYY-MM-DD") from None


def _window(campaign: Campaign, since: datetime | None, until: datetime | None) -> Window | None:
    if campaign.start is None or campaign.end is None:
        raise UsageError(f"campaign {campaign.id!r} has no valid start and end; run 'cmops validate'")
    start = max(campaign.start, since) if since else campaign.start
    end = min(campaign.end, until) if until else campaign.end
    return (start, end) if start < end else None


def _span(campaign: Campaign, zone: ZoneInfo) -> str:
    assert campaign.start is not None and campaign.end is not None
    return fmt_window(campaign.start, campaign.end, zone)


def count(record: dict[str, Any], name: str) -> int | None:
    """One count of a snapshot line; a value that is not a whole number (a hand edit) is none."""
    value = record.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


PairKey = tuple[str, str]
Index = tuple[dict[PairKey, dict[int, dict[str, Any]]], dict[PairKey, list[int]]]


def _index(snapshots: Snapshots) -> Index:
    """Latest records and gone parts by (post, channel)."""
    latest: dict[PairKey, dict[int, dict[str, Any]]] = defaultdict(dict)
    for (post, channel, part), record in snapshots.latest.items():
        latest[(post, channel)][part] = record
    gone: dict[PairKey, list[int]] = defaultdict(list)
    for post, channel, part in sorted(snapshots.gone):
        gone[(post, channel)].append(part)
    return latest, gone


def _pairs(space: Workspace, ledger: Ledger, index: Index, cid: str, window: Window) -> list[Pair]:
    latest, gone = index
    pairs = []
    for post in space.posts:
        if post.campaign != cid or post.status in ("draft", "retracted"):
            continue
        for channel_id, rendition in sorted(post.renditions.items()):
            track = ledger.peek(post.id, channel_id)
            when = rendition.publish_at or (track.first_published if track else None)
            if when is not None and not window[0] <= when < window[1]:
                continue
            pair = Pair(post, rendition.channel, rendition.publish_at, track)
            if pair.measured:
                pair.records = dict(latest.get((post.id, channel_id), {}))
                pair.gone = gone.get((post.id, channel_id), [])
            pairs.append(pair)
    pairs.sort(key=lambda p: (p.post.id, p.channel.id))
    return pairs


def _campaign(campaign: Campaign, pairs: list[Pair], window: Window, now: datetime,
              zone: ZoneInfo, channels: dict[str, Channel]) -> dict[str, Any]:
    measured_parts = sum(len(p.records) for p in pairs)
    has_metrics = measured_parts > 0
    goals = [_goal(g, pairs, window, now, zone, channels, has_metrics) for g in campaign.goals]
    per_channel = _per_channel(pairs)
    posts = _post_totals(pairs) if has_metrics else []
    return {
        "id": campaign.id,
        "name": campaign.name,
        "window": {"from": _first_day(window, zone).isoformat(), "to": _last_day(window, zone).isoformat(),
                   "timezone": zone.key},
        "metrics": "measured" if has_metrics else NO_METRICS,
        "measured_parts": measured_parts,
        "goals": goals,
        "posts": _posts(pairs),
        "channels": per_channel,
        "territories": _per_territory(per_channel),
        "engage_most": _engage_most(per_channel),
        "top": posts[:3],
        "bottom": sorted(posts[3:], key=lambda p: (p["engagements"], p["post"]))[:3],
        "tags": _tags(pairs),
        "best_times": _best_times(pairs) if has_metrics else {},
        "series": _series(pairs, campaign, window, now, zone, has_metrics),
    }


def _first_day(window: Window, zone: ZoneInfo) -> date:
    return window[0].astimezone(zone).date()


def _last_day(window: Window, zone: ZoneInfo) -> date:
    return (window[1].astimezone(zone) - timedelta(microseconds=1)).date()


def matches(goal: dict[str, Any], channel: Channel) -> bool:
    """Whether a goal counts this channel (see the module docstring for ``territory``)."""
    if "channel" in goal and goal["channel"] != channel.id:
        return False
    territory = goal.get("territory")
    return territory is None or territory in (channel.language, channel.zone.key, channel.id)


def _goal(goal: dict[str, Any], pairs: list[Pair], window: Window, now: datetime,
          zone: ZoneInfo, channels: dict[str, Channel], has_metrics: bool) -> dict[str, Any]:
    metric, target = goal["metric"], goal["target"]
    chosen = [p for p in pairs if matches(goal, p.channel)]
    countable = metric == "posts" or any(c.platform in MEASURABLE for c in channels.values()
                                         if matches(goal, c))
    actual: int | None
    if metric == "posts":
        actual = sum(1 for p in chosen if p.published)
    elif countable and has_metrics:
        actual = sum(p.total(metric) for p in chosen if p.measured)
    else:
        actual = None
    start, end = window
    today = now.astimezone(zone).date()
    days_left = 0 if now >= end else (_last_day(window, zone) - max(today, _first_day(window, zone))).days + 1
    elapsed = min(max((now - start) / (end - start), 0.0), 1.0)
    row: dict[str, Any] = {
        "metric": metric, "target": target, "channel": goal.get("channel"),
        "territory": goal.get("territory"), "actual": actual, "days_left": days_left,
        "expected_by_now": round(target * elapsed, 2),
        "progress": None, "remaining": None, "pace_needed_per_day": None, "on_track": None,
    }
    if actual is None:
        row["status"] = NO_METRICS if countable else "not measured"
        return row
    remaining = max(target - actual, 0)
    on_track = None if elapsed == 0 else actual >= target * elapsed
    row.update(progress=round(actual / target, 4), remaining=remaining, on_track=on_track,
               pace_needed_per_day=round(remaining / days_left, 2) if remaining and days_left else None)
    if not remaining:
        row["status"] = "reached"
    elif now >= end:
        row["status"] = "not reached"
    else:
        row["status"] = {None: "not started", True: "on track", False: "behind"}[on_track]
    return row


def _posts(pairs: list[Pair]) -> dict[str, Any]:
    lists: dict[str, list[dict[str, Any]]] = {"published": [], "missed": [], "pending": []}
    for pair in pairs:
        status = pair.status
        entry: dict[str, Any] = {
            "post": pair.post.id, "channel": pair.channel.id,
            "scheduled": fmt_utc(pair.scheduled) if pair.scheduled else None,
            "scheduled_local": fmt_local(pair.scheduled, pair.channel.zone) if pair.scheduled else None,
        }
        if status == "published":
            assert pair.track is not None
            first = pair.part_time(0)
            entry.update(published_at=fmt_utc(first) if first else None, parts=len(pair.track.published()),
                         url=pair.url(), gone_parts=pair.gone,
                         engagements=pair.total("engagements") if pair.records else None)
        elif status == "missed":
            assert pair.track is not None and pair.track.missed_for is not None
            missed = parse_iso(pair.track.missed_for)
            entry["missed_for"] = fmt_utc(missed) if missed else pair.track.missed_for
        lists[status].append(entry)
    counts = {name: len(items) for name, items in lists.items()}
    return {"planned": len(pairs), **counts, "lists": lists}


def _sum(values: Iterable[int | None]) -> int | None:
    """A sum over nothing is no number at all (not measured), never a zero."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _per_channel(pairs: list[Pair]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        grouped[pair.channel.id].append(pair)
    result = {}
    for cid, group in sorted(grouped.items()):
        channel = group[0].channel
        published = sum(1 for p in group if p.published)
        records = [r for p in group for r in p.records.values()]
        row: dict[str, Any] = {
            "platform": channel.platform, "territory": channel.language or NO_TERRITORY,
            "timezone": channel.zone.key, "measured": channel.platform in MEASURABLE,
            "planned": len(group), "published": published,
        }
        for name in (*COUNTS, "engagements"):
            row[name] = _sum(count(r, name) for r in records)
        row["engagements_per_post"] = _per_post(row["engagements"], published)
        result[cid] = row
    return result


def _per_post(engagements: int | None, published: int) -> float | None:
    return round(engagements / published, 2) if engagements is not None and published else None


def _per_territory(per_channel: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for cid, row in per_channel.items():
        grouped[row["territory"]].append((cid, row))
    result = {}
    for territory, rows in sorted(grouped.items()):
        entry: dict[str, Any] = {"channels": [cid for cid, _ in rows],
                                 "published": sum(r["published"] for _, r in rows)}
        for name in (*COUNTS, "engagements"):
            entry[name] = _sum(r[name] for _, r in rows)
        measured_published = sum(r["published"] for _, r in rows if r["measured"])
        entry["engagements_per_post"] = _per_post(entry["engagements"], measured_published)
        result[territory] = entry
    return result


def _engage_most(per_channel: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The measured communities, most engagements per published post first."""
    ranked = sorted((-row["engagements_per_post"], cid) for cid, row in per_channel.items()
                    if row["engagements_per_post"] is not None)
    return [{"channel": cid, "territory": per_channel[cid]["territory"], "engagements_per_post": -per_post}
            for per_post, cid in ranked]


def _post_totals(pairs: list[Pair]) -> list[dict[str, Any]]:
    """Measured posts, most engaging first (ties by post id)."""
    grouped: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        if pair.records:
            grouped[pair.post.id].append(pair)
    rows: list[dict[str, Any]] = []
    for post_id, group in grouped.items():
        urls = [u for p in group if (u := p.url())]
        rows.append({"post": post_id, "engagements": sum(p.total("engagements") for p in group),
                     "channels": [p.channel.id for p in group], "url": urls[0] if urls else None})
    rows.sort(key=lambda r: (-r["engagements"], r["post"]))
    return rows


def _tags(pairs: list[Pair]) -> dict[str, dict[str, Any]]:
    published: dict[str, set[str]] = defaultdict(set)
    engagements: dict[str, list[int]] = defaultdict(list)
    for pair in pairs:
        for tag in pair.post.tags:
            published.setdefault(tag, set())  # every planned tag gets a row
            if pair.published:
                published[tag].add(pair.post.id)
            if pair.records:
                engagements[tag].append(pair.total("engagements"))
    return {tag: {"posts": len(posts), "engagements": _sum(engagements.get(tag, []))}
            for tag, posts in sorted(published.items())}


def _best_times(pairs: list[Pair]) -> dict[str, Any]:
    """Per measured channel: the local hour and weekday whose posts drew the most engagements
    on average, in the channel's own zone (09:00 in New York is 09:00 there, not 15:00)."""
    grouped: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    zones: dict[str, str] = {}
    for pair in pairs:
        if not pair.measured or not pair.published:
            continue
        zones[pair.channel.id] = pair.channel.zone.key
        grouped.setdefault(pair.channel.id, [])
        when = pair.part_time(0)
        if pair.records and when is not None:
            grouped[pair.channel.id].append((when.astimezone(pair.channel.zone), pair.total("engagements")))
    result: dict[str, Any] = {}
    for cid, posts in sorted(grouped.items()):
        if len(posts) < MIN_POSTS_FOR_TIMING:
            result[cid] = NOT_ENOUGH
            continue
        hour, hour_mean, hour_n = _best(posts, lambda t: t.hour)
        day, day_mean, day_n = _best(posts, lambda t: t.weekday())
        result[cid] = {
            "measured_posts": len(posts), "timezone": zones[cid],
            "best_hour": {"hour": hour, "label": f"{hour:02d}:00–{hour:02d}:59",
                          "mean_engagements": hour_mean, "posts": hour_n},
            "best_weekday": {"weekday": WEEKDAYS[day], "mean_engagements": day_mean, "posts": day_n},
        }
    return result


def _best(posts: list[tuple[datetime, int]], key: Callable[[datetime], int]) -> tuple[int, float, int]:
    buckets: dict[int, list[int]] = defaultdict(list)
    for when, engagements in posts:
        buckets[key(when)].append(engagements)
    means = {k: sum(v) / len(v) for k, v in buckets.items()}
    best = min(means, key=lambda k: (-means[k], k))
    return best, round(means[best], 2), len(buckets[best])


def _series(pairs: list[Pair], campaign: Campaign, window: Window, now: datetime,
            zone: ZoneInfo, has_metrics: bool) -> dict[str, Any]:
    """Cumulative engagements by the day each part went out (workspace zone), up to today."""
    goal = next((g["target"] for g in campaign.goals if g["metric"] == "engagements"
                 and "channel" not in g and "territory" not in g), None)
    first, last = _first_day(window, zone), min(_last_day(window, zone), now.astimezone(zone).date())
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    if not has_metrics:
        return {"days": [d.isoformat() for d in days], "engagements": None, "goal": goal}
    by_day: dict[date, int] = defaultdict(int)
    for pair in pairs:
        for index, record in pair.records.items():
            when = pair.part_time(index)
            if when is not None:
                by_day[max(when.astimezone(zone).date(), first)] += count(record, "engagements") or 0
    running, values = 0, []
    for day in days:
        running += by_day.get(day, 0)
        values.append(running)
    return {"days": [d.isoformat() for d in days], "engagements": values, "goal": goal}
