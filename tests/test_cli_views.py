"""preview and calendar, as a user runs them: exact text, JSON and ICS output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from icalendar import Calendar

from conftest import Outcome, Ws

# --- preview --------------------------------------------------------------------------------

PREVIEW_FRONT = """\
channels: [bsky-de, bsky-us, masto]
publish_at: 2026-12-02 09:30
variants:
  masto:
    text: "Mastodon only: https://example.com/a/very/long/path/that/counts/as/twenty-three"
"""
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
PREVIEW_BODY = f"Hallo {FAMILY} Welt!\n\n---\nZweiter Teil, länger.\n"
MASTO_TEXT = "Mastodon only: https://example.com/a/very/long/path/that/counts/as/twenty-three"


def test_preview_text(ws: Ws) -> None:
    ws.post("t/preview", PREVIEW_FRONT, PREVIEW_BODY)
    outcome = ws.cli("preview", "t/preview")
    assert (outcome.code, outcome.stderr) == (0, "")
    assert outcome.stdout.splitlines() == [
        "Post t/preview (content/posts/t/preview.md)",
        "",
        "== bsky-de (bluesky, acme-de.bsky.social, language de) ==",
        "When: 2026-12-02 09:30 CET (Europe/Berlin) = 2026-12-02 08:30Z",
        "Part 1 of 2: 13/300 graphemes",
        f"  | Hallo {FAMILY} Welt!",
        "Part 2 of 2: 21/300 graphemes",
        "  | Zweiter Teil, länger.",
        "",
        "== bsky-us (bluesky, acme-us.bsky.social, language en) ==",
        "When: 2026-12-02 09:30 EST (America/New_York) = 2026-12-02 14:30Z",
        "Part 1 of 2: 13/300 graphemes",
        f"  | Hallo {FAMILY} Welt!",
        "Part 2 of 2: 21/300 graphemes",
        "  | Zweiter Teil, länger.",
        "",
        "== masto (mastodon, https://mastodon.social, language en) ==",
        "When: 2026-12-02 09:30 CET (Europe/Berlin) = 2026-12-02 08:30Z",
        "Text: 38/500 characters",
        f"  | {MASTO_TEXT}",
    ]


def test_preview_of_the_example_counts_graphemes(ws: Ws) -> None:
    outcome = ws.cli("preview", "de/2026-12-01-winter-launch")
    assert outcome.code == 0
    lines = outcome.stdout.splitlines()
    assert "Part 1 of 2: 148/300 graphemes" in lines
    assert "Image: content/media/winter.png - alt: 'A snowy mountain hut with the Acme logo on its door'" \
        in lines


def _channel(channel: str, platform: str, account: str, zone: str, language: str, utc: str, local: str,
             when: str, parts: list[dict[str, Any]], written: str = "2026-12-02 09:30") -> dict[str, Any]:
    return {"channel": channel, "platform": platform, "account": account, "timezone": zone,
            "language": language, "publish_at": utc, "publish_at_local": local, "when": when,
            "publish_at_written": written, "parts": parts, "media": []}


def _parts(unit: str, limit: int, *texts: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"index": i + 1, "text": text, "length": length, "limit": limit, "unit": unit, "over": 0}
            for i, (text, length) in enumerate(texts)]


def test_preview_json(ws: Ws) -> None:
    ws.post("t/preview", PREVIEW_FRONT, PREVIEW_BODY)
    outcome = ws.cli("preview", "t/preview", "--format", "json")
    assert (outcome.code, outcome.stderr) == (0, "")
    body = (f"Hallo {FAMILY} Welt!", 13), ("Zweiter Teil, länger.", 21)
    assert outcome.json() == {
        "post": "t/preview",
        "file": "content/posts/t/preview.md",
        "status": "ready",
        "campaign": None,
        "tags": [],
        "channels": [
            _channel("bsky-de", "bluesky", "acme-de.bsky.social", "Europe/Berlin", "de",
                     "2026-12-02T08:30:00Z", "2026-12-02T09:30:00+01:00",
                     "2026-12-02 09:30 CET (Europe/Berlin) = 2026-12-02 08:30Z",
                     _parts("graphemes", 300, *body)),
            _channel("bsky-us", "bluesky", "acme-us.bsky.social", "America/New_York", "en",
                     "2026-12-02T14:30:00Z", "2026-12-02T09:30:00-05:00",
                     "2026-12-02 09:30 EST (America/New_York) = 2026-12-02 14:30Z",
                     _parts("graphemes", 300, *body)),
            _channel("masto", "mastodon", "https://mastodon.social", "Europe/Berlin", "en",
                     "2026-12-02T08:30:00Z", "2026-12-02T09:30:00+01:00",
                     "2026-12-02 09:30 CET (Europe/Berlin) = 2026-12-02 08:30Z",
                     _parts("characters", 500, (MASTO_TEXT, 38))),
        ],
        "findings": [],
    }


def test_preview_channel_filter(ws: Ws) -> None:
    ws.post("t/preview", PREVIEW_FRONT, PREVIEW_BODY)
    data = ws.cli("preview", "t/preview", "--channel", "bsky-us", "--format", "json").json()
    assert [c["channel"] for c in data["channels"]] == ["bsky-us"]
    text = ws.cli("preview", "t/preview", "--channel", "masto", "--channel", "bsky-de").stdout
    assert [line for line in text.splitlines() if line.startswith("==")] == [
        "== bsky-de (bluesky, acme-de.bsky.social, language de) ==",
        "== masto (mastodon, https://mastodon.social, language en) ==",
    ]


def test_preview_by_file_path_equals_by_id(ws: Ws) -> None:
    rel = ws.post("t/preview", PREVIEW_FRONT, PREVIEW_BODY)
    by_id = ws.cli("preview", "t/preview")
    by_path = ws.cli("preview", str(ws.path(rel)))
    assert (by_path.code, by_path.stdout) == (0, by_id.stdout)


def test_preview_unknown_post_exits_2(ws: Ws) -> None:
    outcome = ws.cli("preview", "nope")
    assert (outcome.code, outcome.stdout) == (2, "")
    assert "no post 'nope' (looked for content/posts/nope.md)" in outcome.stderr


def test_preview_channel_the_post_does_not_use_exits_2(ws: Ws) -> None:
    ws.post("t/preview", PREVIEW_FRONT, PREVIEW_BODY)
    outcome = ws.cli("preview", "t/preview", "--channel", "news")
    assert (outcome.code, outcome.stdout) == (2, "")
    assert "post 't/preview' is not going to news" in outcome.stderr


def test_preview_of_a_post_that_cannot_be_read_exits_1(ws: Ws) -> None:
    rel = ws.post("t/bad", "channels: [news\ntitle: x")
    outcome = ws.cli("preview", "t/bad")
    assert (outcome.code, outcome.stdout) == (1, "")
    assert f"{rel}:3:6: error [yaml.syntax]" in outcome.stderr


# --- calendar -------------------------------------------------------------------------------

#: 23:30 in New York on 30 November is already 1 December in the workspace zone (Berlin).
NOW = {"CMOPS_NOW": "2026-11-30T23:30:00-05:00"}


def test_calendar_groups_by_day_in_the_workspace_zone(ws: Ws) -> None:
    # 20:00 on 2 December in New York is 02:00 on 3 December in Berlin.
    ws.post("us/late", "channels: [bsky-us]\npublish_at: 2026-12-02 20:00", "Late night in Berlin.\n")
    ws.replace("content/posts/de/drafts-year-review.md", "status: draft",
               "publish_at: 2026-12-30 10:00\nstatus: draft")
    outcome = ws.cli("calendar", env=NOW)
    assert (outcome.code, outcome.stderr) == (0, "")
    slots = ["  10:00  bsky-de      (open slot: Tuesday tip)",
             "  16:00  bsky-us      (open slot: Tuesday tip) (10:00 America/New_York)"]
    assert outcome.stdout.splitlines() == [
        "Acme Community: 2026-12-01 to 2026-12-31 (Europe/Berlin)",
        "Tue 2026-12-01",
        "  09:30  bsky-de      de/2026-12-01-winter-launch #winter-launch",
        "  09:30  masto        de/2026-12-01-winter-launch #winter-launch",
        "  09:30  news         de/2026-12-01-winter-launch #winter-launch",
        "  15:30  bsky-us      us/2026-12-01-winter-launch (09:30 America/New_York) #winter-launch",
        "Thu 2026-12-03",
        "  02:00  bsky-us      us/late (20:00 America/New_York)",
        "Tue 2026-12-08",
        "  10:00  bsky-de      de/2026-12-08-tipp-offline #winter-launch",
        "  10:00  masto        us/2026-12-08-tip-dark-theme #winter-launch",
        "  16:00  bsky-us      us/2026-12-08-tip-dark-theme (10:00 America/New_York) #winter-launch",
        "Thu 2026-12-10",
        "  13:00  news         us/2026-12-10-partner-webinar #winter-launch",
        "  19:00  bsky-us      us/2026-12-10-partner-webinar (13:00 America/New_York) #winter-launch",
        "Tue 2026-12-15", *slots,
        "Tue 2026-12-22", *slots,
        "Thu 2026-12-24",
        "  blackout: Christmas quiet days",
        "Fri 2026-12-25",
        "  blackout: Christmas quiet days",
        "Sat 2026-12-26",
        "  blackout: Christmas quiet days",
        "Tue 2026-12-29", *slots,
        "Wed 2026-12-30",
        "  10:00  bsky-de      de/drafts-year-review #winter-launch [draft]",
        "  10:00  news         de/drafts-year-review #winter-launch [draft]",
    ]


def test_calendar_window_with_nothing_in_it(ws: Ws) -> None:
    outcome = ws.cli("calendar", "--from", "2027-02-01", "--to", "2027-02-01")
    assert (outcome.code, outcome.stdout) == (
        0, "Acme Community: 2027-02-01 to 2027-02-01 (Europe/Berlin)\nNothing scheduled.\n"
        "Without a publish_at:\n  de/drafts-year-review (draft, not published): bsky-de, news\n")


ICS_WINDOW = ("calendar", "--from", "2026-12-01", "--to", "2026-12-08", "--format", "ics")
EXPECTED_EVENTS = {
    "de/2026-12-01-winter-launch/bsky-de@cmops": datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    "de/2026-12-01-winter-launch/masto@cmops": datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    "de/2026-12-01-winter-launch/news@cmops": datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    "us/2026-12-01-winter-launch/bsky-us@cmops": datetime(2026, 12, 1, 14, 30, tzinfo=UTC),
    "de/2026-12-08-tipp-offline/bsky-de@cmops": datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
    "us/2026-12-08-tip-dark-theme/masto@cmops": datetime(2026, 12, 8, 9, 0, tzinfo=UTC),
    "us/2026-12-08-tip-dark-theme/bsky-us@cmops": datetime(2026, 12, 8, 15, 0, tzinfo=UTC),
}


def _events(outcome: Outcome) -> list[Any]:
    assert outcome.code == 0, outcome.output
    calendar = Calendar.from_ical(outcome.stdout)
    events: list[Any] = list(calendar.walk("VEVENT"))
    return events


def test_calendar_ics_has_one_event_per_post_and_channel(ws: Ws) -> None:
    events = _events(ws.cli(*ICS_WINDOW, env=NOW))
    starts = {str(e["UID"]): e.decoded("DTSTART").astimezone(UTC) for e in events}
    assert len(events) == len(EXPECTED_EVENTS)
    assert starts == EXPECTED_EVENTS
    ends = {str(e["UID"]): e.decoded("DTEND").astimezone(UTC) - starts[str(e["UID"])] for e in events}
    assert {str(d) for d in ends.values()} == {"0:15:00"}
    summaries = {str(e["UID"]): str(e["SUMMARY"]) for e in events}
    assert summaries["de/2026-12-01-winter-launch/bsky-de@cmops"] == "[bsky-de] Our winter release is out"


def test_calendar_ics_uids_are_stable_across_runs(ws: Ws) -> None:
    first = ws.cli(*ICS_WINDOW, env=NOW)
    second = ws.cli(*ICS_WINDOW, env=NOW)
    assert first.stdout == second.stdout
    later = ws.cli(*ICS_WINDOW, env={"CMOPS_NOW": "2026-12-05T12:00:00+01:00"})
    assert [str(e["UID"]) for e in _events(first)] == [str(e["UID"]) for e in _events(later)]


def test_calendar_ics_times_are_usable_without_a_timezone_database(ws: Ws) -> None:
    """DTSTART must be UTC ('…Z'), or every TZID it names must come with a VTIMEZONE
    (RFC 5545 §3.2.19); otherwise strict clients (Outlook) drop or shift the events."""
    outcome = ws.cli(*ICS_WINDOW, env=NOW)
    calendar = Calendar.from_ical(outcome.stdout)
    defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    for event in calendar.walk("VEVENT"):
        for prop in ("DTSTART", "DTEND"):
            value = event[prop]
            tzid = value.params.get("TZID")
            if tzid is None:
                raw = value.to_ical()
                text = raw.decode() if isinstance(raw, bytes) else str(raw)
                assert text.endswith("Z"), f"{event['UID']}: floating {prop}"
            else:
                assert tzid in defined, f"{event['UID']}: {prop} names TZID {tzid} without a VTIMEZONE"


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-12-10", "--to", "2026-12-01"], "--to 2026-12-01 is before --from 2026-12-10"),
    (["--from", "12/01/2026"], "--from '12/01/2026': write a date as YYYY-MM-DD"),
])
def test_calendar_bad_dates_exit_2(ws: Ws, args: list[str], message: str) -> None:
    outcome = ws.cli("calendar", *args)
    assert (outcome.code, outcome.stdout) == (2, "")
    assert message in outcome.stderr


def test_preview_of_a_post_with_an_unusable_time_says_so_and_exits_1(ws: Ws) -> None:
    ws.post("t/gap", "channels: [bsky-de]\npublish_at: 2026-03-29 02:30", "Mitten in der Nacht.\n")
    outcome = ws.cli("preview", "t/gap")
    assert outcome.code == 1
    lines = outcome.stdout.splitlines()
    assert "When: '2026-03-29 02:30' cannot be used - see the problems below" in lines
    assert lines[-1].startswith("content/posts/t/gap.md:3:13: error [time.nonexistent] bsky-de: ")
