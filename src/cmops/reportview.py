"""How a campaign report reads: JSON for tools, text for people, Markdown for GitHub, HTML to
share. Every format renders the one dict :func:`cmops.report.compute` made, through the same
:func:`tables`; none of them computes a number of its own."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from cmops.metrics import COUNTS
from cmops.report import NO_CAMPAIGNS

BAR_WIDTH = 20
STATUSES = ("published", "missed", "pending")
NO_METRICS = "No metrics yet: no snapshot covers this campaign's posts (run 'cmops metrics snapshot')."


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if fmt == "markdown":
        return markdown(data)
    if fmt == "html":
        return page(data)
    return text(data)


# -- shared wording and tables ----------------------------------------------------------------------


def number(value: Any) -> str:
    """Numbers as people read them: 1,234 and 12.5; nothing known: an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def percent(progress: float | None) -> str:
    return "—" if progress is None else f"{progress * 100:.0f}%"


def goal_label(goal: dict[str, Any]) -> str:
    where = [f"on {goal['channel']}" if goal["channel"] else "",
             f"in {goal['territory']}" if goal["territory"] else ""]
    return " ".join([goal["metric"], *(w for w in where if w)])


def best_time(entry: Any) -> list[str]:
    """[hour, weekday] as phrases, or "not enough data" twice."""
    if isinstance(entry, str):
        return [entry, entry]
    hour, day = entry["best_hour"], entry["best_weekday"]
    return [f"{hour['label']} ({number(hour['mean_engagements'])} on average, {hour['posts']} post(s))",
            f"{day['weekday']} ({number(day['mean_engagements'])} on average, {day['posts']} post(s))"]


@dataclass(frozen=True)
class Table:
    title: str
    head: list[str]
    rows: list[list[Any]]
    #: Columns to right-align.
    numeric: frozenset[int] = frozenset()
    empty: str = "None."


Cell = Callable[[Any], Any]


def tables(c: dict[str, Any], link: Cell, progress: Cell) -> list[Table]:
    """The campaign's tables; ``link`` renders a URL, ``progress`` a goal's progress."""
    no_metrics = "No metrics yet." if c["metrics"] != "measured" else "None."
    counts = (*COUNTS, "engagements")
    posts = c["posts"]
    planned = (f"Posts: {posts['planned']} planned, {posts['published']} published, "
               f"{posts['missed']} missed, {posts['pending']} pending")
    ranked = [("Top posts", c["top"]), ("Bottom posts", c["bottom"])]
    return [
        Table("Goals", ["Goal", "Progress", "Actual", "Target", "Remaining", "Days left", "Needed per day",
                        "Status"],
              [[goal_label(g), progress(g), number(g["actual"]), number(g["target"]), number(g["remaining"]),
                g["days_left"], number(g["pace_needed_per_day"]), g["status"]] for g in c["goals"]],
              frozenset({2, 3, 4, 5, 6}), "No goals set."),
        Table(planned, ["Status", "Post", "Channel", "When (UTC)", "Engagements", "Link"],
              [[status, i["post"], i["channel"],
                i.get("published_at") or i.get("missed_for") or i["scheduled"] or "when merged",
                number(i.get("engagements")), link(i.get("url"))]
               for status in STATUSES for i in posts["lists"][status]], frozenset({4}), "No posts planned."),
        Table("Channels", ["Channel", "Platform", "Territory", "Published", *(n.capitalize() for n in counts),
                           "Per post"],
              [[cid, r["platform"], r["territory"], r["published"], *(number(r[n]) for n in counts),
                number(r["engagements_per_post"]) if r["measured"] else "not measured"]
               for cid, r in c["channels"].items()],
              frozenset(range(3, 5 + len(counts)))),
        Table("Territories", ["Territory", "Channels", "Published", "Engagements", "Per post"],
              [[t, ", ".join(r["channels"]), r["published"], number(r["engagements"]),
                number(r["engagements_per_post"])] for t, r in c["territories"].items()],
              frozenset({2, 3, 4})),
        Table("Engage most (engagements per published post)", ["Channel", "Territory", "Per post"],
              [[r["channel"], r["territory"], number(r["engagements_per_post"])] for r in c["engage_most"]],
              frozenset({2}), no_metrics),
        *(Table(title, ["Post", "Engagements", "Channels", "Link"],
                [[p["post"], number(p["engagements"]), ", ".join(p["channels"]), link(p["url"])]
                 for p in rows], frozenset({1}), no_metrics) for title, rows in ranked),
        Table("Tags", ["Tag", "Published posts", "Engagements"],
              [[t, r["posts"], number(r["engagements"])] for t, r in c["tags"].items()], frozenset({1, 2})),
        Table("Best time to post (each channel's own time zone)", ["Channel", "Best hour", "Best weekday"],
              [[cid, *best_time(e)] for cid, e in c["best_times"].items()], frozenset(), no_metrics),
    ]


def _header(data: dict[str, Any]) -> list[str]:
    lines = [f"Report at {data['generated_at']}; days in {data['timezone']}.", data["note"]]
    if not data["campaigns"]:
        lines.append(f"No campaigns yet: {NO_CAMPAIGNS}.")
    if data["not_measured"]:
        lines.append("Not measured (these platforms give no counts): "
                     + ", ".join(f"{c} ({p})" for c, p in data["not_measured"].items()) + ".")
    return lines


def _window(c: dict[str, Any]) -> str:
    window = c["window"]
    return f"{c['id']} · {window['from']} to {window['to']}, days in {window['timezone']}"


# -- text -------------------------------------------------------------------------------------------


def bar(goal: dict[str, Any]) -> str:
    progress = goal["progress"]
    filled = 0 if progress is None else min(BAR_WIDTH, int(progress * BAR_WIDTH))
    return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent(progress):>4}"


def text(data: dict[str, Any]) -> str:
    lines = _header(data)
    for c in data["campaigns"]:
        lines += ["", f"== {c['name']} ==", _window(c)]
        if c["metrics"] != "measured":
            lines.append(NO_METRICS)
        for table in tables(c, lambda url: url or "", bar):
            lines += ["", f"{table.title}:", *_text_table(table)]
        lines += ["", *_text_series(c["series"])]
    if data["warnings"]:
        lines += ["", "Warnings:", *(f"  {w}" for w in data["warnings"])]
    return "\n".join(lines) + "\n"


def _text_table(table: Table) -> list[str]:
    if not table.rows:
        return [f"  {table.empty}"]
    rows = [table.head, *([str(v) for v in row] for row in table.rows)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(table.head))]
    return ["  " + "  ".join(v.rjust(w) if i in table.numeric else v.ljust(w)
                             for i, (v, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _text_series(series: dict[str, Any]) -> list[str]:
    goal = f" (goal {number(series['goal'])})" if series["goal"] is not None else ""
    lines = [f"Cumulative engagements{goal}:"]
    values = series["engagements"]
    if values is None or not series["days"]:
        return [*lines, "  no metrics yet" if values is None else "  the campaign has not started"]
    top = max([*values, series["goal"] or 0, 1])
    lines += [f"  {day}  {value:>7,}  {'#' * round(value / top * 40)}"
              for day, value in zip(series["days"], values, strict=True)]
    return lines


# -- markdown ---------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A table cell: ``|`` and line breaks would break the row; HTML is shown as text."""
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown(data: dict[str, Any]) -> str:
    lines = ["## Campaign report"]
    for line in _header(data):
        lines += ["", cell(line)]
    for c in data["campaigns"]:
        lines += ["", f"### {cell(c['name'])}", "", cell(_window(c))]
        if c["metrics"] != "measured":
            lines += ["", f"**{cell(NO_METRICS)}**"]
        for table in tables(c, lambda url: url or "", lambda g: percent(g["progress"])):
            lines += ["", f"#### {cell(table.title)}", ""]
            if not table.rows:
                lines.append(table.empty)
                continue
            rule = "".join(" ---: |" if i in table.numeric else " --- |" for i in range(len(table.head)))
            lines += ["| " + " | ".join(cell(h) for h in table.head) + " |", "|" + rule]
            lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.rows]
        lines += ["", "#### Cumulative engagements", "", *_mermaid(c["series"])]
    if data["warnings"]:
        lines += ["", "#### Warnings", "", *(f"- {cell(w)}" for w in data["warnings"])]
    return "\n".join(lines) + "\n"


def _mermaid(series: dict[str, Any]) -> list[str]:
    """A Mermaid xychart (GitHub renders it): engagements so far against the goal."""
    values, goal = series["engagements"], series["goal"]
    if values is None:
        return ["No metrics yet."]
    if not series["days"]:
        return ["The campaign has not started."]
    plain = [str(v) for v in values]
    top = max([*values, goal or 0, 1])
    lines = ["```mermaid", "xychart-beta", '    title "Cumulative engagements"',
             "    x-axis [" + ", ".join(f'"{d[5:]}"' for d in series["days"]) + "]",
             f'    y-axis "Engagements" 0 --> {top}', f"    line [{', '.join(plain)}]"]
    if goal is not None:
        lines.append(f"    line [{', '.join(str(goal) for _ in values)}]")
    lines.append("```")
    if goal is not None:
        lines += ["", f"First line: engagements so far; second line: the goal of {number(goal)}."]
    return lines


# -- html -------------------------------------------------------------------------------------------

#: Even a mistake in this file cannot make the page load anything: no scripts, no requests.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f6f7f9;
margin:0;padding:24px}
main{max-width:1100px;margin:0 auto}
h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:0 0 4px}h3{font-size:16px;margin:22px 0 8px}
.meta{color:#5b6475;margin:2px 0}
section{background:#fff;border:1px solid #dde1e8;border-radius:10px;padding:20px 24px;margin:22px 0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceef2;vertical-align:top;white-space:nowrap}
th{background:#f1f3f6;font-weight:600}.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;vertical-align:middle;background:#e6e9ef;border-radius:4px;height:10px;width:120px;
margin-right:6px;overflow:hidden}
.bar span{display:block;height:100%;background:#2f7ae5}.bar span.done{background:#2a9d58}
.empty{color:#7a5200;background:#fff6e0;border:1px solid #f0d9a0;border-radius:6px;padding:8px 12px}
.charts svg{width:100%;height:auto;margin:6px 0}
a{color:#1f5fbf;word-break:break-all;white-space:normal}
"""


class Raw(str):
    """HTML built here from escaped parts, never straight from user data."""


def _e(value: Any) -> str:
    return value if isinstance(value, Raw) else html.escape(str(value))


def _link(url: str | None) -> Raw:
    if not url or not url.startswith(("https://", "http://")):
        return Raw(_e(url or ""))
    return Raw(f'<a href="{_e(url)}" rel="noreferrer noopener">{_e(url)}</a>')


def _progress(goal: dict[str, Any]) -> Raw:
    progress = goal["progress"]
    if progress is None:
        return Raw("—")
    done = ' class="done"' if progress >= 1 else ""
    return Raw(f'<span class="bar"><span{done} style="width:{min(progress, 1.0) * 100:.1f}%"></span></span>'
               f"{percent(progress)}")


def _html_table(table: Table) -> str:
    out = [f"<h3>{_e(table.title)}</h3>"]
    if not table.rows:
        return out[0] + f"<p>{_e(table.empty)}</p>"
    out.append("<table><thead><tr>" + "".join(
        f'<th class="n">{_e(h)}</th>' if i in table.numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(table.head)) + "</tr></thead><tbody>")
    out += ["<tr>" + "".join(f'<td class="n">{_e(v)}</td>' if i in table.numeric else f"<td>{_e(v)}</td>"
                             for i, v in enumerate(row)) + "</tr>" for row in table.rows]
    return "".join(out) + "</tbody></table>"


def page(data: dict[str, Any]) -> str:
    """One self-contained HTML file: inline CSS and SVG, no script, nothing to fetch."""
    body = ["<h1>Campaign report</h1>", *(f'<p class="meta">{_e(line)}</p>' for line in _header(data))]
    for index, c in enumerate(data["campaigns"]):
        body += [f"<section><h2>{_e(c['name'])}</h2><p class=\"meta\">{_e(_window(c))}</p>"]
        if c["metrics"] != "measured":
            body.append(f'<p class="empty">{_e(NO_METRICS)}</p>')
        found = tables(c, _link, _progress)
        body.append(_html_table(found[0]))
        charts = _charts(c, index)
        if charts:
            body.append('<h3>Engagement</h3><div class="charts">' + "".join(charts) + "</div>")
        body += [*(_html_table(t) for t in found[1:]), "</section>"]
    if data["warnings"]:
        items = "".join(f"<li>{_e(w)}</li>" for w in data["warnings"])
        body.append(f"<h3>Warnings</h3><ul>{items}</ul>")
    names = ", ".join(c["name"] for c in data["campaigns"])
    title = f"Campaign report: {names}" if names else "Campaign report"
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")


def _charts(c: dict[str, Any], index: int) -> list[str]:
    """Inline SVG charts from pygal: cumulative engagements against the goal, and per channel."""
    import pygal  # type: ignore[import-untyped]

    style = pygal.style.Style(background="white", plot_background="white",
                              font_family="system-ui, sans-serif", colors=("#2f7ae5", "#e5862f"))
    options = {"js": [], "disable_xml_declaration": True, "width": 900, "height": 320, "style": style,
               "legend_at_bottom": True}
    charts = []
    series = c["series"]
    if series["engagements"] and series["days"]:
        every = -(-len(series["days"]) // 14)  # at most about 14 day labels, however long the campaign
        line = pygal.Line(title="Cumulative engagements", x_label_rotation=30, include_x_axis=True,
                          x_labels_major_every=every, show_minor_x_labels=every == 1, **options)
        line.x_labels = [d[5:] for d in series["days"]]
        line.add("Engagements", series["engagements"])
        if series["goal"] is not None:
            line.add(f"Goal ({number(series['goal'])})", [series["goal"]] * len(series["days"]))
        charts.append(_svg(line, f"c{index}-cumulative"))
    per_post = {cid: r["engagements_per_post"] for cid, r in c["channels"].items()
                if r["engagements_per_post"] is not None}
    if per_post:
        bars = pygal.Bar(title="Engagements per published post", show_legend=False, **options)
        bars.x_labels = list(per_post)
        bars.add("Engagements per post", list(per_post.values()))
        charts.append(_svg(bars, f"c{index}-channels"))
    return charts


def _svg(chart: Any, name: str) -> str:
    """Render without pygal's inline ``<script>`` (the page allows none) and its dated comments."""

    def strip(root: Any) -> Any:
        for parent in list(root.iter()):
            for child in list(parent):
                if child.tag is ElementTree.Comment or child.tag in ("script", "{http://www.w3.org/2000/svg}script"):
                    parent.remove(child)
        return root

    chart.uuid = name  # a stable element id: the same report renders to the same bytes
    chart.add_xml_filter(strip)
    return str(chart.render(is_unicode=True))
