"""``cmops calendar``: the schedule by day in the workspace zone, or as iCalendar (ICS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cmops import schedule
from cmops.errors import UsageError
from cmops.model import Channel, Post, Rendition, Workspace

DEFAULT_DAYS = 30
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@dataclass(frozen=True)
class Entry:
    when: datetime
    post: Post
    rendition: Rendition


def entries(space: Workspace, start: datetime, end: datetime) -> list[Entry]:
    """Scheduled (ready and draft) posts per channel within [start, end), by time."""
    found = []
    for post in space.posts:
        if post.status == "retracted":
            continue
        for rendition in post.renditions.values():
            when = rendition.publish_at
            if when is not None and start <= when < end:
                found.append(Entry(when, post, rendition))
    return sorted(found, key=lambda e: (e.when, e.rendition.channel.id, e.post.id))


def _day(text: str | None, default: date, option: str) -> date:
    if text is None:
        return default
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r}: write a date as YYYY-MM-DD") from None
    if not schedule.FIRST_YEAR <= day.year <= schedule.LAST_YEAR:
        raise UsageError(f"{option} {text}: pick a date between the years {schedule.FIRST_YEAR} "
                         f"and {schedule.LAST_YEAR}")
    return day


def show_calendar(root: Path, start_text: str | None, end_text: str | None, fmt: str) -> str:
    from cmops.workspace import load_for_command

    space, _ = load_for_command(root)
    assert space.settings is not None
    zone = space.settings.zone
    today = schedule.now().astimezone(zone).date()
    first = _day(start_text, today, "--from")
    last = _day(end_text, min(first + timedelta(days=DEFAULT_DAYS), date(schedule.LAST_YEAR, 12, 31)),
                "--to")
    if last < first:
        raise UsageError(f"--to {last} is before --from {first}")
    start = schedule.parse_instant(first.isoformat(), zone)
    end = schedule.parse_instant(last.isoformat(), zone, end_of_day=True)
    found = entries(space, start, end)
    if fmt == "ics":
        from cmops.ics import to_ics

        return to_ics(space, found, schedule.now())
    return _text(space, found, first, last, zone)


def _text(space: Workspace, found: list[Entry], first: date, last: date, zone: ZoneInfo) -> str:
    by_day: dict[date, list[str]] = {}
    taken: set[tuple[str, date]] = set()
    for entry in found:
        channel = entry.rendition.channel
        taken.add((channel.id, entry.when.astimezone(channel.zone).date()))
        flags = " [draft]" if entry.post.status == "draft" else ""
        campaign = f" #{entry.post.campaign}" if entry.post.campaign else ""
        _add(by_day, entry.when, zone, channel, entry.post.id, f"{campaign}{flags}")
    day = first
    while day <= last:
        for slot in space.slots:
            if WEEKDAYS[day.weekday()] not in slot.weekdays:
                continue
            for channel_id in slot.channels or sorted(space.settings.channels if space.settings else []):
                slot_channel = space.settings.channels.get(channel_id) if space.settings else None
                if slot_channel is None or (channel_id, day) in taken:
                    continue
                try:
                    when = schedule.parse_instant(f"{day.isoformat()} {slot.time}", slot_channel.zone)
                except schedule.TimeProblem:
                    continue
                _add(by_day, when, zone, slot_channel, f"(open slot: {slot.name})")
        for blackout in space.blackouts:
            if blackout.start.astimezone(zone).date() <= day < blackout.end.astimezone(zone).date():
                by_day.setdefault(day, []).insert(0, f"  blackout: {blackout.name}")
        day += timedelta(days=1)
    lines = [f"{space.settings.name if space.settings else ''}: {first} to {last} ({zone.key})"]
    visible = sorted(day for day in by_day if first <= day <= last)
    if not visible:
        lines.append("Nothing scheduled.")
    for day in visible:
        lines.append(f"{WEEKDAYS[day.weekday()].title()} {day.isoformat()}")
        lines.extend(sorted(by_day[day], key=lambda line: (not line.startswith("  blackout"), line)))
    unscheduled = _unscheduled(space)
    if unscheduled:
        lines.append("Without a publish_at:")
        lines.extend(unscheduled)
    return "\n".join(lines)


def _add(by_day: dict[date, list[str]], when: datetime, zone: ZoneInfo, channel: Channel,
         what: str, after: str = "") -> None:
    """One line at its time in the workspace zone, with the channel's own time if it differs."""
    local = when.astimezone(zone)
    own = ""
    if channel.zone.key != zone.key:
        own = f" ({when.astimezone(channel.zone):%H:%M} {channel.zone.key})"
    line = f"  {local:%H:%M}  {channel.id:<12} {what}{own}{after}"
    by_day.setdefault(local.date(), []).append(line)


def _unscheduled(space: Workspace) -> list[str]:
    """Posts with no time: ready ones go out when merged, drafts wait for a decision."""
    lines = []
    for post in space.posts:
        missing = [c for c, r in post.renditions.items() if r.publish_at is None]
        if missing and post.status != "retracted":
            what = "draft, not published" if post.status == "draft" else "published when merged"
            lines.append(f"  {post.id} ({what}): {', '.join(missing)}")
    return lines
