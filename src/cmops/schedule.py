"""Time zones, local times and durations. All decisions about "when" live here.

Local times are interpreted in a named IANA zone. A local time that does not exist
(the hour skipped when clocks spring forward) or exists twice (when they fall back)
is refused rather than guessed: that guess is the time-zone mistake users hate most.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DURATION_FULL = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*[smhdw]\s*)+$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


#: Times outside these years are typos; refusing them also keeps date arithmetic in range.
FIRST_YEAR, LAST_YEAR = 1970, 9000
MAX_DURATION = timedelta(days=3660)


class TimeProblem(ValueError):
    """A time value that cannot be used; ``code`` is the finding code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_duration(text: str) -> timedelta:
    if not _DURATION_FULL.match(text):
        raise TimeProblem("time.bad-duration", f"{text!r} is not a duration like 15m, 2h, 1d or 1h30m")
    seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if seconds > MAX_DURATION.total_seconds():
        raise TimeProblem("time.bad-duration", f"{text[:40]!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


@cache
def zone(name: str) -> ZoneInfo | None:
    """The zone called ``name``, or ``None`` if there is no such IANA zone."""
    if not name or name.startswith(("/", ".")) or ".." in name or "\\" in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_instant(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz`` to a wall-clock time, refusing times that DST makes nonexistent or ambiguous."""
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        # Both readings agree: neither in a gap nor in an overlap (PEP 495).
        return first
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:
        raise TimeProblem(
            "time.nonexistent",
            f"{naive:%Y-%m-%d %H:%M} does not exist in {tz.key}: clocks skip that hour "
            f"(daylight saving time starts); pick a time outside the gap",
        )
    if first.utcoffset() != second.utcoffset():
        raise TimeProblem(
            "time.ambiguous",
            f"{naive:%Y-%m-%d %H:%M} happens twice in {tz.key} (daylight saving time ends); "
            f"write it with an offset, e.g. {first.isoformat(timespec='minutes')} "
            f"or {second.isoformat(timespec='minutes')}",
        )
    return first


@lru_cache(maxsize=4096)
def parse_instant(text: str, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """An aware datetime from ISO 8601 with offset, or from a local time in ``tz``.

    A bare date means the start of that day (or, with ``end_of_day``, the start of the next).
    """
    value = text.strip()
    try:
        if _DATE_ONLY.match(value):
            day = date.fromisoformat(value)
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise _out_of_range(text)
            if end_of_day:
                day += timedelta(days=1)
            return _day_start(day, tz)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TimeProblem(
            "time.invalid",
            f"{text!r} is not a time; write 'YYYY-MM-DD HH:MM' (local) or ISO 8601 with an offset",
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise _out_of_range(text)
    if parsed.tzinfo is not None:
        return parsed
    return local_instant(parsed, tz)


def _out_of_range(text: str) -> TimeProblem:
    return TimeProblem("time.invalid", f"{text!r} is not between the years {FIRST_YEAR} and {LAST_YEAR}")


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    naive = datetime.combine(day, time())
    try:
        return local_instant(naive, tz)
    except TimeProblem:
        # Some zones skip midnight itself; the day then starts at the first real instant.
        return naive.replace(tzinfo=tz, fold=1).astimezone(UTC).astimezone(tz)


def now() -> datetime:
    """The clock, overridable with CMOPS_NOW so scheduled behaviour is reproducible."""
    override = os.environ.get("CMOPS_NOW")
    if override:
        return parse_now(override, "CMOPS_NOW")
    return datetime.now(UTC)


def parse_now(text: str, source: str) -> datetime:
    from cmops.errors import UsageError

    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{source}: {text!r} is not an ISO 8601 time with offset") from None
    if parsed.tzinfo is None:
        raise UsageError(f"{source}: {text!r} needs an offset, e.g. 2026-12-01T09:30:00+01:00")
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise UsageError(f"{source}: {text!r} is not between the years {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


def fmt_local(instant: datetime, tz: ZoneInfo) -> str:
    local = instant.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def fmt_window(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """A window as people write it: whole days as an inclusive date range."""
    first, after = start.astimezone(tz), end.astimezone(tz)
    if first.time() == time() and after.time() == time():
        last = after.date() - timedelta(days=1)
        if last == first.date():
            return f"{first:%a %Y-%m-%d}, {tz.key}"
        return f"{first:%a %Y-%m-%d} to {last:%a %Y-%m-%d} inclusive, {tz.key}"
    return f"{fmt_local(start, tz)} to {fmt_local(end, tz)}"


def fmt_utc(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def fmt_span(delta: timedelta) -> str:
    """A duration as people say it: 45 s, 90 min, 5 h, 3 days."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.1f} h".replace(".0 h", " h")
    return f"{hours / 24:.1f} days".replace(".0 days", " days")
