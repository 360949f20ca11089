"""Response policy: which category, action, team, saved reply and due time a message gets.

Pure on purpose: ``cmops validate`` runs the policy tests through :func:`route` today and
the inbox will route live messages through the very same function, so the two can never
disagree about where a complaint goes.

``policies/responses.yaml`` (schema: ``schemas/responses.schema.json``)::

    timezone: Europe/Berlin          # optional; default: the workspace zone
    business_hours:                  # named calendars
      office: {timezone: Europe/Berlin, days: [mon, tue, wed, thu, fri],
               open: "09:00", close: "17:30", holidays: [2026-12-25]}
    teams:
      support: {hours: office}       # without hours: counted round the clock
    influencers: [bigvoice.bsky.social, "@someone@mastodon.social"]
    sentiment: {negative: [broken, refund], positive: [love, thanks]}
    rules:                           # ordered: the first matching rule wins
      - id: press
        match: {keywords: [journalist, press inquiry]}
        category: press
        action: escalate             # reply | like | escalate (needs team)
        team: pr                     #   | offline (needs reply) | ignore
        reply: press-contact         # policies/replies/press-contact.md; needed by reply
        respond_within: 1h           # 30m, 2h, 1d, 1h30m: open time of the team's hours
    default: {category: other, action: like, team: support, respond_within: 1d}

Matching (all given conditions must hold; no ``match`` matches every message):

- ``keywords``: any word or phrase, case-insensitive, whole words only ("refund" does
  not match "refunded"); a space in a phrase matches any run of whitespace.
- ``regex``: a pattern of the ``regex`` module, searched case-insensitively.
- ``sentiment``: ``negative``/``positive`` when the text contains any word of that list,
  ``neutral`` when it contains neither. Sarcasm is both, so put complaints before praise.
- ``channels``: the message arrived on one of these channel ids.
- ``influencer``: the author is (true) or is not (false) listed; ``@`` and case ignored.

Due times count open time only, in the calendar's own zone: ``2h`` from Friday 16:30 with
09:00-17:30 office hours is Monday 10:00, and ``1d`` is 24 open hours, about three office
days. ``close`` may be "24:00" (end of day) or earlier than ``open`` (a night shift that
ends the next morning). Holidays are the calendar's local dates.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import regex

from cmops import schedule

ACTIONS: Final = ("reply", "like", "escalate", "offline", "ignore")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Longer targets are typos, and would make the calendar walk needlessly long.
MAX_DURATION: Final = timedelta(days=366)
#: A pathological user regex must not stall the inbox; a timed-out search counts as no match.
REGEX_TIMEOUT: Final = 0.25

_FLAGS: Final = regex.IGNORECASE | regex.FULLCASE
_DURATION_PART = regex.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_DURATION = regex.compile(r"\d+(?:\.\d+)?\s*[smhdw](?:\s*\d+(?:\.\d+)?\s*[smhdw])*")
_TIME_OF_DAY = regex.compile(r"([0-9]{2}):([0-9]{2})")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DAY_MINUTES: Final = 1440


class PolicyError(ValueError):
    """The policy cannot route; ``cmops validate`` reports the cause with its line."""


@dataclass(frozen=True)
class Message:
    text: str
    channel: str | None
    author: str | None
    received_at: datetime


@dataclass(frozen=True)
class Route:
    rule_id: str | None
    category: str
    action: str
    team: str | None
    reply: str | None
    due: datetime | None


@dataclass(frozen=True)
class BusinessHours:
    """One calendar. ``open``/``close`` are minutes after local midnight, so "24:00" is 1440."""

    zone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    open: int
    close: int
    holidays: frozenset[date] = frozenset()

    @classmethod
    def always(cls, zone: ZoneInfo) -> BusinessHours:
        return cls(zone, frozenset(range(7)), 0, _DAY_MINUTES)

    @property
    def minutes_per_shift(self) -> int:
        if self.close < self.open:
            return self.close + _DAY_MINUTES - self.open
        return self.close - self.open

    def shift(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC span the calendar is open for the shift that starts on local ``day``."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        end_day = day + timedelta(days=1) if self.close < self.open else day
        return _instant(day, self.open, self.zone), _instant(end_day, self.close, self.zone)


@dataclass(frozen=True)
class Match:
    keywords: regex.Pattern[str] | None = None
    pattern: regex.Pattern[str] | None = None
    sentiment: str | None = None
    channels: frozenset[str] | None = None
    influencer: bool | None = None


@dataclass(frozen=True)
class Outcome:
    category: str
    action: str
    team: str | None = None
    reply: str | None = None
    respond_within: timedelta | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    match: Match
    outcome: Outcome


@dataclass(frozen=True, eq=False)
class Policy:
    zone: ZoneInfo
    rules: tuple[Rule, ...]
    default: Outcome
    teams: Mapping[str, BusinessHours]
    influencers: frozenset[str]
    negative: regex.Pattern[str] | None
    positive: regex.Pattern[str] | None

    @classmethod
    def from_data(cls, data: dict[str, Any], default_zone: str) -> Policy:
        """Build from schema-valid data; raise :class:`PolicyError` on broken references."""
        zone = load_zone(data.get("timezone") or default_zone)
        calendars = {
            name: _calendar(name, spec, zone)
            for name, spec in (data.get("business_hours") or {}).items()
        }
        teams: dict[str, BusinessHours] = {}
        for name, spec in (data.get("teams") or {}).items():
            ref = (spec or {}).get("hours")
            if ref is not None and ref not in calendars:
                raise PolicyError(f"team {name!r} uses unknown business hours {ref!r}")
            teams[name] = BusinessHours.always(zone) if ref is None else calendars[ref]
        rules = tuple(
            Rule(str(spec["id"]), _match(spec.get("match") or {}), _outcome(spec, teams))
            for spec in data.get("rules") or []
        )
        sentiment = data.get("sentiment") or {}
        default = data.get("default") or {"category": "other", "action": "ignore"}
        return cls(
            zone=zone,
            rules=rules,
            default=_outcome(default, teams),
            teams=teams,
            influencers=frozenset(map(normalize_handle, data.get("influencers") or [])) - {""},
            negative=phrase_pattern(sentiment.get("negative") or []),
            positive=phrase_pattern(sentiment.get("positive") or []),
        )

    def moods(self, text: str) -> frozenset[str]:
        found = {
            name
            for name, pattern in (("negative", self.negative), ("positive", self.positive))
            if pattern is not None and pattern.search(text) is not None
        }
        return frozenset(found or {"neutral"})


def route(policy: Policy, message: Message) -> Route:
    """The first rule whose conditions all hold decides; otherwise the policy's default."""
    if message.received_at.tzinfo is None:
        raise ValueError("message.received_at must be timezone-aware")
    text = unicodedata.normalize("NFC", message.text)
    moods = policy.moods(text)
    for rule in policy.rules:
        if _matches(policy, rule.match, text, moods, message):
            return _route(policy, rule.id, rule.outcome, message.received_at)
    return _route(policy, None, policy.default, message.received_at)


def _matches(
    policy: Policy, match: Match, text: str, moods: frozenset[str], message: Message
) -> bool:
    if match.channels is not None and message.channel not in match.channels:
        return False
    if match.influencer is not None:
        author = normalize_handle(message.author or "")
        if (author in policy.influencers) != match.influencer:
            return False
    if match.sentiment is not None and match.sentiment not in moods:
        return False
    if match.keywords is not None and match.keywords.search(text) is None:
        return False
    if match.pattern is not None:
        try:
            return match.pattern.search(text, timeout=REGEX_TIMEOUT) is not None
        except TimeoutError:
            return False
    return True


def _route(policy: Policy, rule_id: str | None, outcome: Outcome, received_at: datetime) -> Route:
    due = None
    if outcome.respond_within is not None:
        hours = policy.teams.get(outcome.team or "") or BusinessHours.always(policy.zone)
        due = add_business_time(received_at, outcome.respond_within, hours)
    return Route(rule_id, outcome.category, outcome.action, outcome.team, outcome.reply, due)


def add_business_time(start: datetime, duration: timedelta, hours: BusinessHours) -> datetime:
    """When ``duration`` of open time has passed after ``start``, in the calendar's zone.

    Shifts are measured as real (UTC) spans, so a shift across a DST change is an hour
    longer or shorter, exactly as long as the team is really at work.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if not hours.days or hours.minutes_per_shift == 0:
        raise ValueError("business hours are never open: no days, or open equals close")
    cursor = start.astimezone(UTC)
    remaining = duration
    day = cursor.astimezone(hours.zone).date() - timedelta(days=1)  # a night shift may still run
    closed_in_a_row = 0
    while True:
        window = hours.shift(day)
        day += timedelta(days=1)
        if window is None:
            closed_in_a_row += 1
            if closed_in_a_row > 7 + len(hours.holidays):
                raise ValueError("business hours are never open: every day is closed")
            continue
        closed_in_a_row = 0
        opened, closed = window
        if closed <= cursor:
            continue
        cursor = max(cursor, opened)
        if cursor + remaining <= closed:
            return (cursor + remaining).astimezone(hours.zone)
        remaining -= closed - cursor
        cursor = closed


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    day += timedelta(days=minutes // _DAY_MINUTES)
    minutes %= _DAY_MINUTES
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _calendar(name: str, spec: dict[str, Any], zone: ZoneInfo) -> BusinessHours:
    hours = BusinessHours(
        zone=load_zone(spec["timezone"]) if spec.get("timezone") else zone,
        days=frozenset(WEEKDAYS.index(day) for day in spec["days"]),
        open=parse_time_of_day(spec["open"]),
        close=parse_time_of_day(spec["close"]),
        holidays=frozenset(parse_date(str(day)) for day in spec.get("holidays") or []),
    )
    if not hours.days or hours.minutes_per_shift == 0:
        raise PolicyError(f"business hours {name!r} are never open")
    return hours


def _match(spec: dict[str, Any]) -> Match:
    channels = spec.get("channels")
    return Match(
        keywords=phrase_pattern(spec.get("keywords") or []),
        pattern=compile_regex(spec["regex"]) if spec.get("regex") is not None else None,
        sentiment=spec.get("sentiment"),
        channels=frozenset(channels) if channels is not None else None,
        influencer=spec.get("influencer"),
    )


def _outcome(spec: dict[str, Any], teams: Mapping[str, BusinessHours]) -> Outcome:
    team = spec.get("team")
    if team is not None and team not in teams:
        raise PolicyError(f"unknown team {team!r}")
    within = spec.get("respond_within")
    return Outcome(
        category=spec["category"],
        action=spec["action"],
        team=team,
        reply=spec.get("reply"),
        respond_within=parse_duration(within) if within is not None else None,
    )


def phrase_pattern(words: Iterable[str]) -> regex.Pattern[str] | None:
    """One pattern for a word list: whole words, case-insensitive, longest phrase first."""
    phrases = {
        r"\s+".join(regex.escape(part) for part in unicodedata.normalize("NFC", word).split())
        for word in words
    }
    phrases.discard("")
    if not phrases:
        return None
    alternatives = "|".join(sorted(phrases, key=lambda p: (-len(p), p)))
    return regex.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", _FLAGS)


def compile_regex(pattern: str) -> regex.Pattern[str]:
    try:
        return regex.compile(pattern, _FLAGS)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        raise PolicyError(f"regex {pattern!r} does not compile: {exc}") from exc


def load_zone(name: str) -> ZoneInfo:
    found = schedule.zone(name)
    if found is None:
        raise PolicyError(f"{name!r} is not an IANA time zone (like Europe/Berlin or America/New_York)")
    return found


def normalize_handle(handle: str) -> str:
    return handle.strip().lstrip("@").casefold()


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``1.5d``, ``1h30m``; bounded, since a year-long target is a typo."""
    duration = schedule.parse_duration(text)
    if duration > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return duration


def parse_time_of_day(value: str | int) -> int:
    """Minutes after midnight. An int is what YAML 1.1 makes of unquoted 17:30 (base 60)."""
    if isinstance(value, int):
        minutes = value
    else:
        found = _TIME_OF_DAY.fullmatch(value)
        if found is None or int(found[2]) > 59:
            raise ValueError(f"{value!r} is not a time of day like 09:00")
        minutes = int(found[1]) * 60 + int(found[2])
    if not 0 <= minutes <= _DAY_MINUTES:
        raise ValueError(f"{value!r} is not a time of day between 00:00 and 24:00")
    return minutes


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2026-12-25") from None


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """An instant; a policy test must mean exactly one, so DST gaps and overlaps are refused."""
    if len(text.strip()) <= 10:
        raise ValueError(f"{text!r} needs a time of day, like 2026-12-04 16:30")
    return schedule.parse_instant(text, zone)
