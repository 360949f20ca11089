"""How a plan reads: text for people, JSON for tools, Markdown for a pull-request comment."""

from __future__ import annotations

import json
from typing import Any

from cmops.plan import Action, Plan
from cmops.schedule import fmt_local, fmt_utc

#: Order and wording of the kinds, as a community manager reads them.
TITLES = {
    "publish": "publish now",
    "publish-thread-rest": "finish thread",
    "wait": "wait, then publish",
    "edit": "edit",
    "delete": "delete",
    "skip-missed": "missed",
    "skip-duplicate": "skip (already published)",
    "unconfirmed": "UNCONFIRMED",
    "blocked": "blocked by errors",
    "cannot-edit": "cannot edit",
    "cannot-delete": "cannot delete",
    "later": "later",
}


def as_data(plan: Plan, with_later: bool) -> dict[str, Any]:
    return {
        "now": fmt_utc(plan.now),
        "actions": [_action(a) for a in plan.actions if with_later or a.kind != "later"],
        "already_done": plan.done,
    }


def _action(action: Action) -> dict[str, Any]:
    zone = action.channel.zone
    return {
        "action": action.kind,
        "post": action.post,
        "channel": action.channel.id,
        "platform": action.channel.platform,
        "at": fmt_utc(action.at) if action.at else None,
        "at_local": fmt_local(action.at, zone) if action.at else None,
        "timezone": zone.key,
        "parts": [i + 1 for i in action.parts],
        "reason": action.reason,
    }


def render(plan: Plan, fmt: str, with_later: bool = True) -> str:
    data = as_data(plan, with_later)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt == "markdown":
        return _markdown(data)
    return _text(data)


def _when(item: dict[str, Any]) -> str:
    if item["at"] is None:
        return "now"
    return f"{item['at']} ({item['at_local']} {item['timezone']})"


def _text(data: dict[str, Any]) -> str:
    lines = [f"Plan at {data['now']}:"]
    actions = data["actions"]
    if not actions:
        lines.append("  nothing to do.")
    width = max((len(TITLES[a["action"]]) for a in actions), default=0)
    for item in actions:
        lines.append(f"  {TITLES[item['action']]:<{width}}  {item['post']} -> {item['channel']}  "
                     f"{_when(item)}")
        lines.append(f"  {'':<{width}}  {item['reason']}")
    lines.append(f"{data['already_done']} other post(s) with nothing left to do.")
    return "\n".join(lines)


def _markdown(data: dict[str, Any]) -> str:
    lines = ["### cmops plan", ""]
    actions = data["actions"]
    if not actions:
        lines.append("Nothing to publish, edit or delete.")
    else:
        lines += ["| | Post | Channel | When (UTC) | Channel's local time | Why |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for item in actions:
            when = item["at"] or "when merged"
            local = f"{item['at_local']} {item['timezone']}" if item["at"] else ""
            lines.append(f"| {TITLES[item['action']]} | `{_cell(item['post'])}` | {_cell(item['channel'])} "
                         f"| {when} | {local} | {_cell(item['reason'])} |")
    lines += ["", f"Planned at {data['now']}. {data['already_done']} other post(s) with nothing left to do."]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
