from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from cmops import schedule
from cmops.schedule import TimeProblem, parse_duration, parse_instant

BERLIN = ZoneInfo("Europe/Berlin")


def test_local_time_is_interpreted_in_the_zone() -> None:
    assert parse_instant("2026-12-01 09:30", BERLIN).isoformat() == "2026-12-01T09:30:00+01:00"
    assert parse_instant("2026-07-01 09:30", BERLIN).isoformat() == "2026-07-01T09:30:00+02:00"


def test_explicit_offset_wins() -> None:
    assert parse_instant("2026-12-01T09:30:00-05:00", BERLIN).utcoffset() == timedelta(hours=-5)
    assert parse_instant("2026-12-01T08:30:00Z", BERLIN).isoformat() == "2026-12-01T08:30:00+00:00"


def test_spring_forward_gap_is_refused() -> None:
    with pytest.raises(TimeProblem) as problem:
        parse_instant("2026-03-29 02:30", BERLIN)
    assert problem.value.code == "time.nonexistent"


def test_fall_back_ambiguity_is_refused_with_both_offsets_offered() -> None:
    with pytest.raises(TimeProblem) as problem:
        parse_instant("2026-10-25 02:30", BERLIN)
    assert problem.value.code == "time.ambiguous"
    assert "2026-10-25T02:30+02:00" in str(problem.value)
    assert "2026-10-25T02:30+01:00" in str(problem.value)


def test_dates_cover_whole_days() -> None:
    assert parse_instant("2026-12-24", BERLIN).isoformat() == "2026-12-24T00:00:00+01:00"
    end = parse_instant("2026-12-26", BERLIN, end_of_day=True)
    assert end.isoformat() == "2026-12-27T00:00:00+01:00"


def test_garbage_time_is_a_time_problem() -> None:
    with pytest.raises(TimeProblem) as problem:
        parse_instant("next tuesday", BERLIN)
    assert problem.value.code == "time.invalid"


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("1w", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "", "Europe/"])
def test_unknown_zones_are_none(name: str) -> None:
    assert schedule.zone(name) is None


def test_cmops_now_overrides_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMOPS_NOW", "2026-12-01T09:30:00+01:00")
    assert schedule.now().isoformat() == "2026-12-01T09:30:00+01:00"


def test_whole_day_windows_read_as_inclusive_dates() -> None:
    start = parse_instant("2026-12-24", BERLIN)
    end = parse_instant("2026-12-26", BERLIN, end_of_day=True)
    assert schedule.fmt_window(start, end, BERLIN) == (
        "Thu 2026-12-24 to Sat 2026-12-26 inclusive, Europe/Berlin"
    )
    noon = parse_instant("2026-12-24 12:00", BERLIN)
    assert schedule.fmt_window(noon, end, BERLIN) == "2026-12-24 12:00 CET to 2026-12-27 00:00 CET"
