"""``cmops calendar``: the schedule by day in the workspace zone, or as iCalendar (ICS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cmops import schedule
from cmops.errors import UsageError
from cmops.model import Post, Rendition, Workspace

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
    last = _day(end_text, first + timedelta(days=DEFAULT_DAYS), "--to")
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
    for entry in found:
        local = entry.when.astimezone(zone)
        channel = entry.rendition.channel
        own = ""
        if channel.zone.key != zone.key:
            own = f" ({entry.when.astimezone(channel.zone):%H:%M} {channel.zone.key})"
        flags = " [draft]" if entry.post.status == "draft" else ""
        campaign = f" #{entry.post.campaign}" if entry.post.campaign else ""
        by_day.setdefault(local.date(), []).append(
            f"  {local:%H:%M}  {channel.id:<12} {entry.post.id}{own}{campaign}{flags}")
    day = first
    while day <= last:
        weekday = WEEKDAYS[day.weekday()]
        taken = {line.split()[1] for line in by_day.get(day, [])}
        for slot in space.slots:
            if weekday in slot.weekdays:
                for channel_id in slot.channels or sorted(space.settings.channels if space.settings else []):
                    if channel_id not in taken:
                        by_day.setdefault(day, []).append(
                            f"  {slot.time}  {channel_id:<12} (open slot: {slot.name})")
        for blackout in space.blackouts:
            if blackout.start.astimezone(zone).date() <= day < blackout.end.astimezone(zone).date():
                by_day.setdefault(day, []).insert(0, f"  blackout: {blackout.name}")
        day += timedelta(days=1)
    lines = [f"{space.settings.name if space.settings else ''}: {first} to {last} ({zone.key})"]
    if not by_day:
        lines.append("Nothing scheduled.")
    for day in sorted(by_day):
        lines.append(f"{WEEKDAYS[day.weekday()].title()} {day.isoformat()}")
        lines.extend(sorted(by_day[day], key=lambda line: (not line.startswith("  blackout"), line)))
    return "\n".join(lines)
