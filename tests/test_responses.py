"""Response policy: routing, business-hour arithmetic, semantic checks and policy tests."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

import cmops
from cmops import yamlfile
from cmops.checks.responses import check_responses
from cmops.findings import Finding
from cmops.responses import (
    BusinessHours,
    Message,
    Policy,
    Route,
    add_business_time,
    parse_duration,
    parse_time,
    route,
)
from cmops.yamlfile import Document

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
PACKAGE = Path(cmops.__file__).parent
POLICIES = PACKAGE / "scaffold" / "workspace" / "policies"
CHANNELS = {"bsky-de", "bsky-us", "masto", "news"}
WEEKDAYS = frozenset(range(5))
XMAS = frozenset({date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26)})
OFFICE = BusinessHours(BERLIN, WEEKDAYS, 9 * 60, 17 * 60 + 30, XMAS)
ALWAYS = BusinessHours.always(BERLIN)


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN, fold=fold)


def doc(text: str, file: str = "policies/responses.yaml") -> Document:
    loaded, findings = yamlfile.load(text, file)
    assert findings == [] and loaded is not None
    return loaded


def codes(findings: list[Finding]) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in findings]


# --- business hours -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "hours", "due"),
    [
        (berlin(2026, 12, 7, 10), timedelta(hours=2), OFFICE, berlin(2026, 12, 7, 12)),
        # Friday evening: one hour left on Friday, the second on Monday morning
        (berlin(2026, 12, 4, 16, 30), timedelta(hours=2), OFFICE, berlin(2026, 12, 7, 10)),
        # overnight: a message at night waits for the morning
        (berlin(2026, 12, 7, 20), timedelta(hours=1), OFFICE, berlin(2026, 12, 8, 10)),
        (berlin(2026, 12, 8, 3), timedelta(minutes=30), OFFICE, berlin(2026, 12, 8, 9, 30)),
        # weekend
        (berlin(2026, 12, 5, 12), timedelta(minutes=30), OFFICE, berlin(2026, 12, 7, 9, 30)),
        # holidays 24-26 Dec, then the weekend
        (berlin(2026, 12, 23, 17), timedelta(hours=1), OFFICE, berlin(2026, 12, 28, 9, 30)),
        # ending exactly at closing time is still today
        (berlin(2026, 12, 7, 16, 30), timedelta(hours=1), OFFICE, berlin(2026, 12, 7, 17, 30)),
        (berlin(2026, 12, 7, 7), timedelta(0), OFFICE, berlin(2026, 12, 7, 9)),
        # 1d is 24 open hours: 8.5 + 8.5 + 7
        (berlin(2026, 12, 7, 9), timedelta(days=1), OFFICE, berlin(2026, 12, 9, 16)),
        # DST spring forward: 02:00-03:00 does not exist, one real hour later is 03:30
        (berlin(2026, 3, 29, 1, 30), timedelta(hours=1), ALWAYS, berlin(2026, 3, 29, 3, 30)),
        # DST fall back: 02:30 happens twice, two real hours later is the second one
        (berlin(2026, 10, 25, 1, 30), timedelta(hours=2), ALWAYS, berlin(2026, 10, 25, 2, 30, 1)),
    ],
)
def test_add_business_time(
    start: datetime, duration: timedelta, hours: BusinessHours, due: datetime
) -> None:
    result = add_business_time(start, duration, hours)
    assert result == due
    assert result.utcoffset() == due.utcoffset()
    assert result.tzinfo is BERLIN


def test_shift_on_spring_forward_day_is_an_hour_shorter() -> None:
    sundays = BusinessHours(BERLIN, frozenset({6}), 60, 5 * 60)
    start = berlin(2026, 3, 29, 1)
    assert add_business_time(start, timedelta(hours=3), sundays) == berlin(2026, 3, 29, 5)
    assert add_business_time(start, timedelta(hours=3, minutes=30), sundays) == berlin(
        2026, 4, 5, 1, 30
    )


def test_shift_on_fall_back_day_is_an_hour_longer() -> None:
    sundays = BusinessHours(BERLIN, frozenset({6}), 60, 5 * 60)
    start = berlin(2026, 10, 25, 1)
    assert add_business_time(start, timedelta(hours=5), sundays) == berlin(2026, 10, 25, 5)


def test_us_hours_across_end_of_daylight_saving() -> None:
    new_york = BusinessHours(NEW_YORK, WEEKDAYS, 9 * 60, 18 * 60)
    start = datetime(2026, 10, 30, 17, tzinfo=NEW_YORK)
    due = add_business_time(start, timedelta(hours=2), new_york)
    assert due == datetime(2026, 11, 2, 15, tzinfo=UTC)
    assert due.tzinfo is NEW_YORK and due.hour == 10


def test_close_at_24_00_means_end_of_day() -> None:
    evenings = BusinessHours(BERLIN, frozenset(range(7)), 18 * 60, 24 * 60)
    assert add_business_time(berlin(2026, 12, 7, 23), timedelta(hours=2), evenings) == berlin(
        2026, 12, 8, 19
    )
    mondays = BusinessHours(BERLIN, frozenset({0}), 0, 24 * 60)
    assert add_business_time(berlin(2026, 12, 7, 23), timedelta(hours=2), mondays) == berlin(
        2026, 12, 14, 1
    )


def test_night_shift_runs_past_midnight() -> None:
    nights = BusinessHours(BERLIN, WEEKDAYS, 22 * 60, 6 * 60)
    friday_night = berlin(2026, 12, 4, 23)
    assert add_business_time(friday_night, timedelta(hours=8), nights) == berlin(2026, 12, 7, 23)
    # Saturday 03:00 still belongs to Friday's shift
    assert add_business_time(berlin(2026, 12, 5, 3), timedelta(hours=1), nights) == berlin(
        2026, 12, 5, 4
    )


@pytest.mark.parametrize(
    "hours",
    [
        BusinessHours(BERLIN, frozenset(), 9 * 60, 17 * 60),
        BusinessHours(BERLIN, WEEKDAYS, 9 * 60, 9 * 60),
    ],
)
def test_never_open_calendar_raises(hours: BusinessHours) -> None:
    with pytest.raises(ValueError, match="never open"):
        add_business_time(berlin(2026, 12, 7, 10), timedelta(hours=1), hours)


def test_naive_start_raises() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(datetime(2026, 12, 7, 10), timedelta(hours=1), OFFICE)


# --- parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30m", 30), ("2h", 120), ("1d", 1440), ("1h30m", 90), ("1h 30m", 90), ("1.5h", 90),
     ("1w", 10080), ("90s", 1.5)],
)
def test_parse_duration(text: str, minutes: float) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "h", "1x", "1h30", "-1h", "400d", "1" * 400 + "w"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_time() -> None:
    assert parse_time("2026-12-04 16:30", BERLIN) == berlin(2026, 12, 4, 16, 30)
    assert parse_time("2026-12-04T15:30Z", BERLIN) == berlin(2026, 12, 4, 16, 30)
    assert parse_time("2026-12-04T10:30:00-05:00", BERLIN) == berlin(2026, 12, 4, 16, 30)
    for text, problem in [
        ("2026-03-29 02:30", "does not exist in Europe/Berlin"),
        ("2026-10-25 02:30", "write it with an offset, e.g. 2026-10-25T02:30+02:00 or"),
        ("2026-12-04", "needs a time of day"),
        ("2026-13-04 10:00", "is not a time"),
    ]:
        with pytest.raises(ValueError, match=re.escape(problem)):
            parse_time(text, BERLIN)


# --- routing --------------------------------------------------------------------------

POLICY: dict[str, Any] = {
    "business_hours": {"office": {"days": ["mon", "tue", "wed", "thu", "fri"],
                                  "open": "09:00", "close": "17:30"}},
    "teams": {"support": {"hours": "office"}, "pr": {}},
    "influencers": ["BigVoice.bsky.social", "@someone@mastodon.social"],
    "sentiment": {"negative": ["broken", "kaputt", "ärger", "not working"],
                  "positive": ["love", "thanks", "großartig"]},
    "rules": [
        {"id": "press", "match": {"keywords": ["journalist", "press inquiry"]},
         "category": "press", "action": "escalate", "team": "pr", "respond_within": "1h"},
        {"id": "vip", "match": {"influencer": True}, "category": "vip", "action": "escalate",
         "team": "pr"},
        {"id": "order", "match": {"regex": r"\border\s*#?\d{4,}"}, "category": "order",
         "action": "reply", "reply": "order-status"},
        {"id": "de", "match": {"sentiment": "negative", "channels": ["bsky-de"]},
         "category": "complaint", "action": "offline", "reply": "dm-de", "team": "support"},
        {"id": "complaint", "match": {"sentiment": "negative"}, "category": "complaint",
         "action": "offline", "reply": "dm", "team": "support", "respond_within": "2h"},
        {"id": "quiet", "match": {"sentiment": "neutral", "influencer": False,
                                  "channels": ["news"]},
         "category": "quiet", "action": "ignore"},
        {"id": "praise", "match": {"sentiment": "positive"}, "category": "praise",
         "action": "like"},
    ],
    "default": {"category": "other", "action": "like", "team": "support", "respond_within": "1d"},
}
FRIDAY = berlin(2026, 12, 4, 16, 30)


def routed(text: str, channel: str | None = None, author: str | None = None) -> Route:
    policy = Policy.from_data(POLICY, "Europe/Berlin")
    return route(policy, Message(text, channel, author, FRIDAY))


@pytest.mark.parametrize(
    ("text", "channel", "author", "rule"),
    [
        ("A journalist: my order #12345 is broken", None, None, "press"),  # first match wins
        ("PRESS\n  Inquiry about your launch", None, None, "press"),
        ("pressinquiry", None, None, None),
        ("journalistic standards", None, None, None),
        ("hello", None, "@bigvoice.bsky.social", "vip"),
        ("hello", None, "SomeOne@Mastodon.social", "vip"),
        ("where is ORDER #12345?", None, None, "order"),
        ("order 12", None, None, None),
        ("Alles KAPUTT!", "bsky-de", None, "de"),
        ("Alles kaputt!", "bsky-us", None, "complaint"),
        ("So ein A\u0308RGER.", None, None, "complaint"),  # decomposed umlaut, upper case
        ("Ich bin verärgert", None, None, None),  # whole words only
        ("still not\tworking", None, None, "complaint"),
        ("thanks, but it is broken", None, None, "complaint"),  # negative and positive
        ("GROSSARTIG", None, None, "praise"),  # full case folding: ß = SS
        ("New release notes", "news", None, "quiet"),
        ("New release notes", "news", "bigvoice.bsky.social", "vip"),
        ("Nice weather", "bsky-us", None, None),
    ],
)
def test_route_rule(text: str, channel: str | None, author: str | None, rule: str | None) -> None:
    assert routed(text, channel, author).rule_id == rule


def test_route_fields_and_due_times() -> None:
    assert routed("I am a journalist") == Route(
        "press", "press", "escalate", "pr", None, berlin(2026, 12, 4, 17, 30)
    )
    assert routed("broken", "bsky-us") == Route(
        "complaint", "complaint", "offline", "support", "dm", berlin(2026, 12, 7, 10)
    )
    assert routed("love it") == Route("praise", "praise", "like", None, None, None)
    assert routed("hm") == Route(None, "other", "like", "support", None, berlin(2026, 12, 9, 15))


def test_route_needs_aware_time() -> None:
    policy = Policy.from_data(POLICY, "Europe/Berlin")
    with pytest.raises(ValueError, match="timezone-aware"):
        route(policy, Message("hi", None, None, datetime(2026, 12, 4, 16, 30)))


def test_unquoted_times_are_read_as_yaml_base_60() -> None:
    loaded = doc("office:\n  days: [mon]\n  open: 9:00\n  close: 17:30\n")
    assert loaded.data["office"] == {"days": ["mon"], "open": 540, "close": 1050}
    data = {**POLICY, "business_hours": loaded.data}
    policy = Policy.from_data(data, "Europe/Berlin")
    assert policy.teams["support"] == BusinessHours(BERLIN, frozenset({0}), 540, 1050)


# --- findings -------------------------------------------------------------------------

BROKEN = """\
timezone: Mars/Olympus_Mons
business_hours:
  office: {days: [mon], open: "09:00", close: "09:00"}
  late: {timezone: Europe/Nowhere, days: [mon], open: "09:00", close: 17, holidays: [2026-02-30]}
teams:
  support: {hours: ofice}
rules:
  - id: a
    match: {regex: "(unclosed", channels: [bsky-de, bsky-xx]}
    category: x
    action: escalate
  - id: a
    category: x
    action: offline
    team: suport
  - id: b
    match: {}
    category: x
    action: reply
    reply: nope
    respond_within: 400d
  - id: c
    category: x
    action: ignore
default: {category: other, action: ignore}
"""

FAILING_TEST = """\
tests:
  - name: t
    message: {text: hi, received_at: 2026-12-04 16:30}
    expect: {action: reply}
"""


def test_policy_findings() -> None:
    tests = doc(FAILING_TEST, "policies/tests/t.yaml")
    findings = check_responses(doc(BROKEN), [tests], {"dm"}, CHANNELS, "Europe/Berlin")
    assert codes(findings) == [
        (1, "responses.bad-zone"),
        (4, "responses.bad-zone"),
        (3, "responses.empty-hours"),
        (4, "responses.bad-time"),
        (4, "responses.bad-time"),
        (6, "responses.unknown-hours"),
        (9, "responses.bad-regex"),
        (9, "responses.unknown-channel"),
        (11, "responses.missing-team"),
        (12, "responses.duplicate-rule"),
        (15, "responses.unknown-team"),
        (14, "responses.missing-reply"),
        (16, "responses.unreachable-rule"),
        (20, "responses.unknown-reply"),
        (21, "responses.bad-duration"),
        (22, "responses.unreachable-rule"),
    ]  # and no test ran: the policy cannot route
    by_code: dict[str, Finding] = {}
    for finding in findings:
        by_code.setdefault(finding.code, finding)
    assert [f.severity for f in findings].count("warning") == 2
    assert by_code["responses.unreachable-rule"].severity == "warning"
    assert by_code["responses.unknown-team"].message == (
        'rule "a" names team "suport", which teams does not define; did you mean "support"?'
    )
    assert by_code["responses.unknown-reply"].message == (
        'rule "b" uses saved reply "nope", but policies/replies/nope.md does not exist (known: dm)'
    )
    assert by_code["responses.duplicate-rule"].message.startswith(
        'rule id "a" is already used on line 8;'
    )
    assert by_code["responses.unreachable-rule"].message.startswith(
        'rule "b" can never match: rule "a" before it has no conditions'
    )
    assert (by_code["responses.unknown-channel"].column, by_code["responses.bad-regex"].column) == (
        53, 20,
    )
    assert [f.path for f in findings if f.line == 4] == [
        "$.business_hours.late.timezone",
        "$.business_hours.late.holidays[0]",
        "$.business_hours.late.close",
    ]


def test_no_policy() -> None:
    tests = doc("# examples\n" + FAILING_TEST, "policies/tests/t.yaml")
    findings = check_responses(None, [tests], set(), CHANNELS, "UTC")
    assert [(f.file, f.line, f.code) for f in findings] == [
        ("policies/tests/t.yaml", 2, "responses.no-policy")
    ]
    assert check_responses(None, [], set(), CHANNELS, "UTC") == []


POLICY_YAML = """\
business_hours:
  office: {days: [mon, tue, wed, thu, fri], open: "09:00", close: "17:30"}
teams:
  support: {hours: office}
  pr: {}
sentiment: {negative: [broken, worst]}
rules:
  - id: press
    match: {keywords: [journalist]}
    category: press
    action: escalate
    team: pr
  - id: complaint
    match: {sentiment: negative}
    category: complaint
    action: offline
    reply: move-to-dm
    team: support
    respond_within: 2h
default: {category: other, action: like}
"""

TESTS_YAML = """\
tests:
  - name: angry customer on Friday evening
    message:
      text: "As a journalist: my order arrived broken. Worst service ever!"
      channel: bsky-xx
      received_at: 2026-12-04 16:30
    expect:
      category: complaint
      action: offline
      team: null
      due: 2026-12-07 10:00
  - name: passes
    message: {text: "broken", received_at: "2026-12-04T15:30:00Z"}
    expect: {rule: complaint, reply: move-to-dm, team: support, due: "2026-12-07T09:00:00Z"}
  - name: nothing matches
    message: {text: "hello", received_at: 2026-12-04 16:30}
    expect: {rule: complaint, due: null, reply: null}
  - name: bad times
    message: {text: "hello", received_at: 2026-12-04 16:30}
    expect: {due: 2026-03-29 02:30}
  - name: bad received
    message: {text: "hello", received_at: 2026-02-30 10:00}
    expect: {action: like}
"""


def test_policy_tests_run_like_unit_tests() -> None:
    tests = doc(TESTS_YAML, "policies/tests/routing.yaml")
    findings = check_responses(
        doc(POLICY_YAML), [tests], {"move-to-dm"}, CHANNELS, "Europe/Berlin"
    )
    assert [(f.line, f.column, f.code) for f in findings] == [
        (5, 16, "responses.unknown-channel"),
        (8, 7, "responses.test-failed"),
        (9, 7, "responses.test-failed"),
        (10, 7, "responses.test-failed"),
        (11, 7, "responses.test-failed"),
        (17, 14, "responses.test-failed"),
        (20, 19, "responses.bad-time"),
        (22, 43, "responses.bad-time"),
    ]
    name = 'policy test "angry customer on Friday evening": '
    assert [f.message for f in findings[1:5]] == [
        name + 'expected category complaint, got press (rule "press" matched first)',
        name + 'expected action offline, got escalate (rule "press" matched first)',
        name + 'expected team none, got pr (rule "press" matched first)',
        name + 'expected due 2026-12-07 10:00, got none (rule "press" matched first)',
    ]
    assert findings[5].message == (
        'policy test "nothing matches": expected rule complaint, got none '
        "(no rule matched, so the default applied)"
    )
    assert findings[6].message.startswith('policy test "bad times": 2026-03-29 02:30 does not')
    assert all(f.severity == "error" for f in findings)


def test_due_mismatch_shows_the_policy_zone() -> None:
    tests = doc(TESTS_YAML.replace("T09:00:00Z", "T10:00:00Z"), "policies/tests/routing.yaml")
    findings = check_responses(doc(POLICY_YAML), [tests], {"move-to-dm"}, CHANNELS, "Europe/Berlin")
    assert findings[5].message == (
        'policy test "passes": expected due 2026-12-07T10:00:00Z, '
        'got 2026-12-07 10:00 Europe/Berlin (rule "complaint" matched first)'
    )


# --- scaffold and schemas -------------------------------------------------------------


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((PACKAGE / "schemas" / f"{name}.schema.json").read_text())
    return schema


def _read(relative: str) -> Document:
    return doc((POLICIES / relative).read_text("utf-8"), f"policies/{relative}")


@pytest.mark.parametrize(
    ("relative", "schema"),
    [("responses.yaml", "responses"), ("tests/routing.yaml", "response-tests")],
)
def test_scaffold_matches_schema(relative: str, schema: str) -> None:
    loaded = _read(relative)
    Draft202012Validator.check_schema(_schema(schema))
    errors = [e.message for e in Draft202012Validator(_schema(schema)).iter_errors(loaded.data)]
    assert errors == []
    first_line = (POLICIES / relative).read_text("utf-8").splitlines()[0]
    prefix = "../" * relative.count("/")
    assert first_line == f"# yaml-language-server: $schema=../{prefix}schemas/{schema}.schema.json"


def test_scaffold_policy_tests_all_pass() -> None:
    replies = {p.stem for p in (POLICIES / "replies").glob("*.md")}
    tests = _read("tests/routing.yaml")
    findings = check_responses(_read("responses.yaml"), [tests], replies, CHANNELS, "UTC")
    assert findings == []
    assert 8 <= len(tests.data["tests"]) <= 12


@pytest.mark.parametrize("name", ["responses", "response-tests"])
def test_every_schema_property_is_described(name: str) -> None:
    schema = _schema(name)
    assert schema["$id"] == f"https://cmops.dev/schemas/{name}.schema.json"

    def described(spec: dict[str, Any]) -> bool:
        if "description" in spec:
            return True
        ref = spec.get("$ref", "")
        return ref.startswith("#/$defs/") and "description" in schema["$defs"][ref[8:]]

    def walk(node: Any) -> list[str]:
        missing: list[str] = []
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False
            for key, spec in (node.get("properties") or {}).items():
                if not described(spec):
                    missing.append(key)
            for value in node.values():
                missing += walk(value)
        elif isinstance(node, list):
            for value in node:
                missing += walk(value)
        return missing

    assert walk(schema) == []
