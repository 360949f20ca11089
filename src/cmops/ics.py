"""iCalendar export: one event per post and channel, with a UID stable across runs so a
subscribed calendar updates events instead of duplicating them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from icalendar import Calendar, Event

from cmops.model import Workspace

if TYPE_CHECKING:
    from cmops.calendar import Entry

EVENT_LENGTH = timedelta(minutes=15)


def to_ics(space: Workspace, found: Sequence[Entry], stamp: datetime) -> str:
    cal = Calendar()
    cal.add("prodid", "-//cmops//community calendar//EN")
    cal.add("version", "2.0")
    name = space.settings.name if space.settings else "cmops"
    cal.add("x-wr-calname", f"{name} publishing")
    for entry in found:
        channel = entry.rendition.channel
        first = entry.rendition.parts[0].text if entry.rendition.parts else ""
        headline = entry.post.title or first.split("\n", 1)[0]
        event = Event()
        event.add("uid", f"{entry.post.id}/{channel.id}@cmops")
        # UTC times need no VTIMEZONE block: every calendar program reads them the same way.
        start = entry.when.astimezone(UTC)
        event.add("dtstamp", stamp.astimezone(UTC))
        event.add("dtstart", start)
        event.add("dtend", start + EVENT_LENGTH)
        summary = f"[{channel.id}] {headline[:80]}"
        if entry.post.status == "draft":
            summary = "DRAFT " + summary
        event.add("summary", summary)
        body = "\n\n---\n\n".join(p.text for p in entry.rendition.parts)
        event.add("description", f"{body}\n\nPost: {entry.post.file}")
        categories = [c for c in [entry.post.campaign, *entry.post.tags] if c]
        if categories:
            event.add("categories", categories)
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data.decode("utf-8")
