"""What the JSON Schema cannot see in a response policy, and its policy tests run as tests.

The schema vouches for shapes; references between sections, regexes and time zones need
the whole document. The tests then go through the same :func:`cmops.responses.route` the
inbox uses, so a policy change that misroutes a complaint fails in review, not in public.
Both kinds of documents must already have passed their schema.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import yaml

from cmops.findings import Finding
from cmops.responses import (
    Message,
    Policy,
    PolicyError,
    Route,
    compile_regex,
    load_zone,
    parse_date,
    parse_duration,
    parse_time,
    parse_time_of_day,
    route,
)
from cmops.yamlfile import Document

Path_ = tuple[str | int, ...]
_EXPECTED_KEYS = {"rule": "rule_id"}


def check_responses(
    policy_doc: Document | None,
    test_docs: list[Document],
    replies: set[str],
    channels: set[str] | None,
    default_zone: str,
) -> list[Finding]:
    """Findings for the policy, then one per failing expectation of each policy test.

    Tests run only when the policy can route at all; the reasons it cannot are reported.
    """
    if policy_doc is None:
        return [
            doc.finding(
                (), "responses.no-policy",
                "policy tests need policies/responses.yaml, which is missing or did not "
                "pass its schema check; add or fix the policy",
            )
            for doc in test_docs
        ]
    data = policy_doc.data
    if not isinstance(data, dict):
        return []
    findings = _check_policy(policy_doc, data, replies, channels, default_zone)
    try:
        policy = Policy.from_data(data, default_zone)
    except ValueError as exc:
        if not any(f.is_error for f in findings):  # a safety net: each cause is checked above
            findings.append(policy_doc.finding((), "responses.invalid-policy", str(exc)))
        return findings
    for doc in test_docs:
        findings.extend(_run_tests(doc, policy, channels))
    return findings


def _check_policy(
    doc: Document, data: dict[str, Any], replies: set[str], channels: set[str] | None, default_zone: str
) -> list[Finding]:
    findings = _check_zones(doc, data, default_zone)
    calendars = data.get("business_hours") or {}
    for name, spec in calendars.items():
        findings += _check_hours(doc, ("business_hours", name), spec)
    teams = data.get("teams") or {}
    for name, spec in teams.items():
        ref = (spec or {}).get("hours")
        if ref is not None and ref not in calendars:
            findings.append(doc.finding(
                ("teams", name, "hours"), "responses.unknown-hours",
                f'team "{name}" uses business hours "{ref}", which business_hours does not '
                f"define{_hint(ref, calendars)}",
            ))
    findings += _check_rules(doc, data.get("rules") or [], teams, replies, channels)
    if isinstance(data.get("default"), dict):
        findings += _check_outcome(doc, ("default",), data["default"], teams, replies)
    return findings


def _check_zones(doc: Document, data: dict[str, Any], default_zone: str) -> list[Finding]:
    findings: list[Finding] = []
    places: list[tuple[Path_, str]] = [(("timezone",), data.get("timezone") or default_zone)]
    for name, spec in (data.get("business_hours") or {}).items():
        if isinstance(spec, dict) and spec.get("timezone"):
            places.append((("business_hours", name, "timezone"), spec["timezone"]))
    for path, zone in places:
        try:
            load_zone(zone)
        except PolicyError as exc:
            findings.append(doc.finding(path, "responses.bad-zone", str(exc)))
    return findings


def _check_hours(doc: Document, path: Path_, spec: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    for i, day in enumerate(spec.get("holidays") or []):
        try:
            parse_date(str(day))
        except ValueError as exc:
            findings.append(doc.finding((*path, "holidays", i), "responses.bad-time", str(exc)))
    for key in ("open", "close"):
        raw = _scalar_text(doc, (*path, key))
        if isinstance(spec.get(key), int) and raw is not None and ":" not in raw:
            findings.append(doc.finding(
                (*path, key), "responses.bad-time",
                f'{key}: {raw} is not a time of day; write it as "HH:MM" in quotes',
            ))
    if _same_time(spec["open"], spec["close"]):
        findings.append(doc.finding(
            path, "responses.empty-hours",
            f'business hours "{path[-1]}" open and close at the same time, so they are never '
            'open; use "00:00" to "24:00" for round the clock',
        ))
    return findings


def _same_time(opened: str | int, closed: str | int) -> bool:
    try:
        return parse_time_of_day(opened) == parse_time_of_day(closed)
    except ValueError:
        return False


def _check_rules(
    doc: Document, rules: list[dict[str, Any]], teams: Collection[str],
    replies: set[str], channels: set[str] | None,
) -> list[Finding]:
    findings: list[Finding] = []
    first_line: dict[str, int] = {}
    catch_all: str | None = None
    for i, rule in enumerate(rules):
        path: Path_ = ("rules", i)
        rule_id = str(rule.get("id"))
        line = doc.where((*path, "id"))[0]
        if rule_id in first_line:
            findings.append(doc.finding(
                (*path, "id"), "responses.duplicate-rule",
                f'rule id "{rule_id}" is already used on line {first_line[rule_id]}; '
                "ids must be unique so tests and the inbox can name the rule",
            ))
        first_line.setdefault(rule_id, line)
        if catch_all is not None:
            findings.append(doc.finding(
                path, "responses.unreachable-rule",
                f'rule "{rule_id}" can never match: rule "{catch_all}" before it has no '
                "conditions and matches every message", "warning",
            ))
        match = rule.get("match") or {}
        if not match and catch_all is None:
            catch_all = rule_id
        findings += _check_match(doc, (*path, "match"), match, channels)
        findings += _check_outcome(doc, path, rule, teams, replies)
    return findings


def _check_match(
    doc: Document, path: Path_, match: dict[str, Any], channels: set[str] | None
) -> list[Finding]:
    findings: list[Finding] = []
    if match.get("regex") is not None:
        try:
            compile_regex(str(match["regex"]))
        except PolicyError as exc:
            findings.append(doc.finding((*path, "regex"), "responses.bad-regex", str(exc)))
    for i, channel in enumerate(match.get("channels") or []):
        if channels is not None and channel not in channels:
            findings.append(_unknown_channel(doc, (*path, "channels", i), channel, channels))
    return findings


def _check_outcome(
    doc: Document, path: Path_, spec: dict[str, Any], teams: Collection[str], replies: set[str]
) -> list[Finding]:
    findings: list[Finding] = []
    action, team, reply = spec.get("action"), spec.get("team"), spec.get("reply")
    where = "the default" if path == ("default",) else f'rule "{spec.get("id")}"'
    if team is not None and team not in teams:
        findings.append(doc.finding(
            (*path, "team"), "responses.unknown-team",
            f'{where} names team "{team}", which teams does not define{_hint(team, teams)}',
        ))
    if action == "escalate" and team is None:
        findings.append(doc.finding(
            (*path, "action"), "responses.missing-team",
            f"{where} escalates but names no team; add team: <name>",
        ))
    if action in ("reply", "offline") and reply is None:
        findings.append(doc.finding(
            (*path, "action"), "responses.missing-reply",
            f"{where} has action {action} but no saved reply; add reply: <name>",
        ))
    if reply is not None and reply not in replies:
        findings.append(doc.finding(
            (*path, "reply"), "responses.unknown-reply",
            f'{where} uses saved reply "{reply}", but policies/replies/{reply}.md does not '
            f"exist{_hint(reply, replies)}",
        ))
    if spec.get("respond_within") is not None:
        try:
            parse_duration(str(spec["respond_within"]))
        except ValueError as exc:
            findings.append(
                doc.finding((*path, "respond_within"), "responses.bad-duration", str(exc))
            )
    return findings


def _run_tests(doc: Document, policy: Policy, channels: set[str] | None) -> list[Finding]:
    findings: list[Finding] = []
    tests = doc.data.get("tests") if isinstance(doc.data, dict) else None
    for i, test in enumerate(tests or []):
        findings += _run_test(doc, ("tests", i), test, policy, channels)
    return findings


def _run_test(
    doc: Document, path: Path_, test: dict[str, Any], policy: Policy, channels: set[str] | None
) -> list[Finding]:
    name = str(test.get("name"))
    spec = test.get("message") or {}
    try:
        received = parse_time(str(spec.get("received_at")), policy.zone)
    except ValueError as exc:
        return [doc.finding(
            (*path, "message", "received_at"), "responses.bad-time",
            f'policy test "{name}": {exc}',
        )]
    findings: list[Finding] = []
    channel = spec.get("channel")
    if channel is not None and channels is not None and channel not in channels:
        findings.append(_unknown_channel(doc, (*path, "message", "channel"), channel, channels))
    got = route(policy, Message(str(spec.get("text", "")), channel, spec.get("author"), received))
    for key, want in (test.get("expect") or {}).items():
        try:
            failure = _compare(key, want, got, policy)
        except ValueError as exc:
            findings.append(doc.finding(
                (*path, "expect", key), "responses.bad-time", f'policy test "{name}": {exc}'
            ))
            continue
        if failure is not None:
            findings.append(doc.finding(
                (*path, "expect", key), "responses.test-failed",
                f'policy test "{name}": {failure}', key=True,
            ))
    return findings


def _compare(key: str, want: Any, got: Route, policy: Policy) -> str | None:
    """A unit-test style complaint about one expectation, or ``None`` when it holds."""
    if key == "due":
        expected = None if want is None else parse_time(str(want), policy.zone)
        if expected == got.due:
            return None
        shown = _show_time(got.due, policy) if got.due is not None else "none"
    else:
        actual = getattr(got, _EXPECTED_KEYS.get(key, key))
        if actual == want:
            return None
        shown = "none" if actual is None else str(actual)
    why = (
        f'rule "{got.rule_id}" matched first'
        if got.rule_id is not None
        else "no rule matched, so the default applied"
    )
    wanted = "none" if want is None else str(want)
    return f"expected {key} {wanted}, got {shown} ({why})"


def _show_time(moment: datetime, policy: Policy) -> str:
    return f"{moment.astimezone(policy.zone):%Y-%m-%d %H:%M} {policy.zone.key}"


def _unknown_channel(doc: Document, path: Path_, channel: str, channels: set[str]) -> Finding:
    return doc.finding(
        path, "responses.unknown-channel",
        f'channel "{channel}" is not a channel of this workspace{_hint(channel, channels)}',
    )


def _hint(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        return f'; did you mean "{close[0]}"?'
    if not known:
        return " (none are defined)"
    return f" (known: {', '.join(sorted(known))})"


def _scalar_text(doc: Document, path: Sequence[str | int]) -> str | None:
    """The value as written, which tells unquoted 17:30 (YAML 1.1: 1050) from 1050."""
    node = doc.node
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((v for k, v in reversed(node.value) if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
        else:
            return None
    return node.value if isinstance(node, yaml.ScalarNode) else None
