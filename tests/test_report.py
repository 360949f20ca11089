"""cmops report: the campaign report against hand-computed numbers, in every format.

The workspace is tests/report_fixture.py (its docstring has the table of what happened). Every
expected number below is worked out by hand from that table, not copied from cmops's output.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import MakeWs, Ws
from report_fixture import AT, BSKY_DE, BSKY_US, MASTO, SPRING_NAME, add_more_us_posts, build

NOTE = ("No platform exposes impressions, so there is no engagement rate: engagements are the sum of "
        "likes, reposts, replies, quotes and bookmarks.")
DAYS = [f"2026-12-{d:02d}" for d in range(1, 12)]
DE1, US1 = "de/2026-12-01-winter-launch", "us/2026-12-01-winter-launch"
FEED, TIPP = "de/2026-12-05-feed-only", "de/2026-12-08-tipp-offline"
DARK, WEBINAR = "us/2026-12-08-tip-dark-theme", "us/2026-12-10-partner-webinar"


@pytest.fixture
def rws(make_ws: MakeWs) -> Ws:
    return build(make_ws("ws"))


def report(ws: Ws, *args: str) -> Any:
    outcome = ws.cli("report", *args, "--format", "json", "--at", AT)
    assert (outcome.code, outcome.stderr) == (0, ""), outcome.output
    return outcome.json()


# Window: 2026-12-01 00:00 to 2026-12-21 00:00 in Berlin (20 days); AT is 2026-12-11 12:00 Berlin,
# so 10.5 of 20 days are over: elapsed 0.525, and 10 days are left counting today (11th-20th).
ELAPSED = 0.525


def goal(metric: str, target: int, actual: int | None, status: str, *, channel: str | None = None,
         territory: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"metric": metric, "target": target, "channel": channel, "territory": territory,
                           "actual": actual, "days_left": 10, "expected_by_now": round(target * ELAPSED, 2),
                           "status": status}
    if actual is None:
        return {**row, "progress": None, "remaining": None, "pace_needed_per_day": None, "on_track": None}
    remaining = max(target - actual, 0)
    return {**row, "progress": round(actual / target, 4), "remaining": remaining,
            "pace_needed_per_day": round(remaining / 10, 2) if remaining else None,
            "on_track": actual >= target * ELAPSED}


def published(post: str, channel: str, at: str, local: str, parts: int, url: str | None,
              engagements: int | None, gone: list[int] | None = None) -> dict[str, Any]:
    """A published entry; ``local`` is the time of day in the channel's zone, on the same day."""
    return {"post": post, "channel": channel, "scheduled": at, "scheduled_local": f"{at[:10]} {local}",
            "published_at": at, "parts": parts, "url": url, "gone_parts": gone or [],
            "engagements": engagements}


def counts(likes: int | None, reposts: int | None, replies: int | None, quotes: int | None,
           bookmarks: int | None, engagements: int | None) -> dict[str, int | None]:
    return {"likes": likes, "reposts": reposts, "replies": replies, "quotes": quotes, "bookmarks": bookmarks,
            "engagements": engagements}


WINTER: dict[str, Any] = {
    "id": "winter-launch",
    "name": "Winter launch",
    "window": {"from": "2026-12-01", "to": "2026-12-20", "timezone": "Europe/Berlin"},
    "metrics": "measured",
    # bsky-de 3 parts, masto 3 (the gone one keeps its 1h counts), bsky-us 2.
    "measured_parts": 8,
    "goals": [
        # 9 (post, channel) pairs have a published part.
        goal("posts", 6, 9, "reached"),
        # de-launch 46+10 (bsky-de) + 18+4 (masto), us-launch 32 (1d, not the 1h 6), tipp 12,
        # dark theme 5 (bsky-us) + 3 (masto, gone after 1h): 130.
        goal("engagements", 500, 130, "behind"),
        # bsky-de likes: 30 + 6 + 9.
        goal("likes", 150, 45, "behind", channel="bsky-de"),
        # territory "de" is bsky-de only (masto is in Europe/Berlin but speaks en): 8 + 4 + 2.
        goal("replies", 20, 14, "on track", territory="de"),
        # territory "America/New_York" is bsky-us: us-launch 1, dark theme 0.
        goal("quotes", 4, 1, "behind", territory="America/New_York"),
        goal("likes", 10, None, "not measured", channel="news"),
    ],
    "posts": {
        "planned": 11, "published": 9, "missed": 1, "pending": 1,
        "lists": {
            "published": [
                published(DE1, "bsky-de", "2026-12-01 08:30Z", "09:30 CET", 2, BSKY_DE + "de1a", 56),
                published(DE1, "masto", "2026-12-01 08:30Z", "09:30 CET", 2, MASTO + "1001", 22),
                published(DE1, "news", "2026-12-01 08:30Z", "09:30 CET", 2, None, None),
                published(FEED, "news", "2026-12-05 11:00Z", "12:00 CET", 1, None, None),
                published(TIPP, "bsky-de", "2026-12-08 09:00Z", "10:00 CET", 1, BSKY_DE + "de2", 12),
                published(US1, "bsky-us", "2026-12-01 14:30Z", "09:30 EST", 1, BSKY_US + "us1", 32),
                published(DARK, "bsky-us", "2026-12-08 15:00Z", "10:00 EST", 1, BSKY_US + "us2", 5),
                published(DARK, "masto", "2026-12-08 09:00Z", "10:00 CET", 1, MASTO + "1003", 3, gone=[0]),
                published(WEBINAR, "news", "2026-12-10 12:00Z", "13:00 CET", 1, None, None),
            ],
            "missed": [{"post": "us/2026-12-10-partner-webinar", "channel": "bsky-us",
                        "scheduled": "2026-12-10 18:00Z", "scheduled_local": "2026-12-10 13:00 EST",
                        "missed_for": "2026-12-10 18:00Z"}],
            "pending": [{"post": "us/2026-12-15-holiday-tips", "channel": "bsky-us",
                         "scheduled": "2026-12-15 15:00Z", "scheduled_local": "2026-12-15 10:00 EST"}],
        },
    },
    "channels": {
        "bsky-de": {"platform": "bluesky", "territory": "de", "timezone": "Europe/Berlin", "measured": True,
                    "planned": 2, "published": 2, **counts(45, 6, 14, 2, 1, 68),
                    "engagements_per_post": 34.0},
        "bsky-us": {"platform": "bluesky", "territory": "en", "timezone": "America/New_York",
                    "measured": True, "planned": 4, "published": 2, **counts(24, 6, 4, 1, 2, 37),
                    "engagements_per_post": 18.5},
        # Mastodon gives no bookmarks: no number, not a zero.
        "masto": {"platform": "mastodon", "territory": "en", "timezone": "Europe/Berlin", "measured": True,
                  "planned": 2, "published": 2, **counts(17, 6, 2, 0, None, 25),
                  "engagements_per_post": 12.5},
        "news": {"platform": "feed", "territory": "en", "timezone": "Europe/Berlin", "measured": False,
                 "planned": 3, "published": 3, **counts(None, None, None, None, None, None),
                 "engagements_per_post": None},
    },
    "territories": {
        "de": {"channels": ["bsky-de"], "published": 2, **counts(45, 6, 14, 2, 1, 68),
               "engagements_per_post": 34.0},
        # 62 engagements over the 4 posts published on measured channels (the feed's 3 do not count).
        "en": {"channels": ["bsky-us", "masto", "news"], "published": 7, **counts(41, 12, 6, 1, 2, 62),
               "engagements_per_post": 15.5},
    },
    "engage_most": [
        {"channel": "bsky-de", "territory": "de", "engagements_per_post": 34.0},
        {"channel": "bsky-us", "territory": "en", "engagements_per_post": 18.5},
        {"channel": "masto", "territory": "en", "engagements_per_post": 12.5},
    ],
    "top": [
        {"post": DE1, "engagements": 78, "channels": ["bsky-de", "masto"], "url": BSKY_DE + "de1a"},
        {"post": US1, "engagements": 32, "channels": ["bsky-us"], "url": BSKY_US + "us1"},
        {"post": TIPP, "engagements": 12, "channels": ["bsky-de"], "url": BSKY_DE + "de2"},
    ],
    # Four measured posts: the bottom list holds the ones not already on top.
    "bottom": [
        {"post": DARK, "engagements": 8, "channels": ["bsky-us", "masto"], "url": BSKY_US + "us2"},
    ],
    "tags": {
        "blog": {"posts": 1, "engagements": None},
        "event": {"posts": 1, "engagements": None},
        "launch": {"posts": 2, "engagements": 110},
        "partner": {"posts": 1, "engagements": None},
        "product": {"posts": 2, "engagements": 110},
        # tipp 12 + dark theme 8; the pending holiday tip is not published.
        "tips": {"posts": 2, "engagements": 20},
    },
    "best_times": {"bsky-de": "not enough data", "bsky-us": "not enough data", "masto": "not enough data"},
    # Days in Berlin: the 1st has 56 + 22 + 32 = 110, the 8th 12 + 5 + 3 = 20.
    "series": {"days": DAYS, "engagements": [110] * 7 + [130] * 4, "goal": 500},
}


def test_json_is_the_hand_computed_report(rws: Ws) -> None:
    data = report(rws, "winter-launch")
    assert data["campaigns"][0] == WINTER
    assert {k: v for k, v in data.items() if k != "campaigns"} == {
        "generated_at": "2026-12-11 11:00Z", "timezone": "Europe/Berlin", "note": NOTE,
        "not_measured": {"news": "feed"}, "snapshots": 10, "warnings": []}


def test_json_is_stable_sorted_and_keeps_integers(rws: Ws) -> None:
    first = rws.cli("report", "winter-launch", "--format", "json", "--at", AT).stdout
    assert rws.cli("report", "winter-launch", "--format", "json", "--at", AT).stdout == first
    assert '"likes": 45,' in first and '"engagements_per_post": 34.0,' in first
    assert first.index('"best_times"') < first.index('"bottom"') < first.index('"channels"')


def test_every_campaign_without_a_name_in_order_of_start(rws: Ws) -> None:
    data = report(rws)
    assert [c["id"] for c in data["campaigns"]] == ["winter-launch", "spring-teaser"]
    assert data["campaigns"][0] == WINTER
    spring = data["campaigns"][1]
    assert spring["name"] == SPRING_NAME
    assert spring["goals"] == [{"metric": "posts", "target": 2, "channel": None, "territory": None,
                                "actual": 0, "days_left": 28, "expected_by_now": 0.0, "progress": 0.0,
                                "remaining": 2, "pace_needed_per_day": 0.07, "on_track": None,
                                "status": "not started"}]
    assert spring["posts"] == {"planned": 0, "published": 0, "missed": 0, "pending": 0,
                               "lists": {"published": [], "missed": [], "pending": []}}
    assert spring["series"] == {"days": [], "engagements": None, "goal": None}


def test_from_and_to_narrow_the_window(rws: Ws) -> None:
    data = report(rws, "winter-launch", "--from", "2026-12-05", "--to", "2026-12-09")
    (c,) = data["campaigns"]
    assert c["window"] == {"from": "2026-12-05", "to": "2026-12-09", "timezone": "Europe/Berlin"}
    assert [(i["post"], i["channel"]) for i in c["posts"]["lists"]["published"]] == [
        ("de/2026-12-05-feed-only", "news"), ("de/2026-12-08-tipp-offline", "bsky-de"),
        ("us/2026-12-08-tip-dark-theme", "bsky-us"), ("us/2026-12-08-tip-dark-theme", "masto")]
    engagements = c["goals"][1]
    # 12 + 5 + 3; the window is over (it ended on the 9th): no days left, no pace.
    assert (engagements["actual"], engagements["days_left"], engagements["pace_needed_per_day"],
            engagements["status"], engagements["on_track"]) == (20, 0, None, "not reached", False)
    assert c["series"] == {"days": ["2026-12-05", "2026-12-06", "2026-12-07", "2026-12-08", "2026-12-09"],
                           "engagements": [0, 0, 0, 20, 20], "goal": 500}


def test_after_the_campaign_nothing_is_left_to_pace(rws: Ws) -> None:
    outcome = rws.cli("report", "winter-launch", "--format", "json", "--at", "2026-12-28T10:00:00+01:00")
    goals = outcome.json()["campaigns"][0]["goals"]
    assert [(g["metric"], g["days_left"], g["pace_needed_per_day"], g["status"]) for g in goals] == [
        ("posts", 0, None, "reached"), ("engagements", 0, None, "not reached"),
        ("likes", 0, None, "not reached"), ("replies", 0, None, "not reached"),
        ("quotes", 0, None, "not reached"), ("likes", 0, None, "not measured")]
    assert outcome.json()["campaigns"][0]["series"]["days"][-1] == "2026-12-20"


def test_no_snapshots_says_no_metrics_yet_instead_of_zeros(rws: Ws) -> None:
    shutil.rmtree(rws.path("metrics"))
    (c,) = report(rws, "winter-launch")["campaigns"]
    assert c["metrics"] == "no metrics yet"
    assert [(g["metric"], g["actual"], g["progress"], g["status"]) for g in c["goals"]] == [
        ("posts", 9, 1.5, "reached"), ("engagements", None, None, "no metrics yet"),
        ("likes", None, None, "no metrics yet"), ("replies", None, None, "no metrics yet"),
        ("quotes", None, None, "no metrics yet"), ("likes", None, None, "not measured")]
    assert c["channels"]["bsky-de"]["engagements"] is None
    assert (c["top"], c["bottom"], c["best_times"], c["engage_most"]) == ([], [], {}, [])
    assert c["series"]["engagements"] is None
    text = rws.cli("report", "winter-launch", "--at", AT).stdout
    assert "No metrics yet: no snapshot covers this campaign's posts" in text
    assert any(re.fullmatch(r"  engagements +\[-{20}\] +— +— +500 +— +10 +— +no metrics yet", line)
               for line in text.splitlines())
    markdown = rws.cli("report", "winter-launch", "--format", "markdown", "--at", AT).stdout
    assert "**No metrics yet: no snapshot covers this campaign's posts" in markdown
    assert "```mermaid" not in markdown


def test_best_hour_and_weekday_in_the_channels_own_zone(rws: Ws) -> None:
    add_more_us_posts(rws)
    (c,) = report(rws, "winter-launch")["campaigns"]
    # New York: Tue 09:30 (32), Tue 10:00 (5), Wed 09:45 (20), Thu 22:30 (50), Fri 22:10 (30).
    # In UTC the two late ones would be 03:xx on Friday and Saturday.
    assert c["best_times"] == {
        "bsky-de": "not enough data",
        "bsky-us": {"measured_posts": 5, "timezone": "America/New_York",
                    "best_hour": {"hour": 22, "label": "22:00–22:59", "mean_engagements": 40.0, "posts": 2},
                    "best_weekday": {"weekday": "Thursday", "mean_engagements": 50.0, "posts": 1}},
        "masto": "not enough data",
    }
    text = rws.cli("report", "winter-launch", "--at", AT).stdout
    assert ("  bsky-us  22:00–22:59 (40 on average, 2 post(s))  Thursday (50 on average, 1 post(s))"
            in text.splitlines())


def test_four_measured_posts_are_not_enough(rws: Ws) -> None:
    add_more_us_posts(rws, count=2)
    assert report(rws, "winter-launch")["campaigns"][0]["best_times"]["bsky-us"] == "not enough data"


def test_text_reads_like_a_status_update(rws: Ws) -> None:
    outcome = rws.cli("report", "winter-launch", "--at", AT)
    assert (outcome.code, outcome.stderr) == (0, "")
    lines = outcome.stdout.splitlines()
    assert lines[:3] == ["Report at 2026-12-11 11:00Z; days in Europe/Berlin.", NOTE,
                         "Not measured (these platforms give no counts): news (feed)."]
    assert lines[4:6] == ["== Winter launch ==",
                          "winter-launch · 2026-12-01 to 2026-12-20, days in Europe/Berlin"]
    goals = lines[lines.index("Goals:") + 1:lines.index("Goals:") + 8]
    assert goals == [
        "  Goal                        Progress                     Actual  Target  Remaining  Days left  "
        "Needed per day  Status",
        "  posts                       [####################] 150%       9       6          0         10  "
        "             —  reached",
        "  engagements                 [#####---------------]  26%     130     500        370         10  "
        "            37  behind",
        "  likes on bsky-de            [######--------------]  30%      45     150        105         10  "
        "          10.5  behind",
        "  replies in de               [##############------]  70%      14      20          6         10  "
        "           0.6  on track",
        "  quotes in America/New_York  [#####---------------]  25%       1       4          3         10  "
        "           0.3  behind",
        "  likes on news               [--------------------]    —       —      10          —         10  "
        "             —  not measured",
    ]
    assert "Posts: 11 planned, 9 published, 1 missed, 1 pending:" in lines
    assert ("  missed     us/2026-12-10-partner-webinar  bsky-us  2026-12-10 18:00Z            —"
            in lines)
    top = r"  de/2026-12-01-winter-launch +78 +bsky-de, masto +" + re.escape(BSKY_DE + "de1a")
    assert any(re.fullmatch(top, line) for line in lines)
    assert "  2026-12-08      130  ##########" in lines
    assert "Cumulative engagements (goal 500):" in lines


def test_markdown_has_tables_and_a_mermaid_chart(rws: Ws) -> None:
    outcome = rws.cli("report", "--format", "markdown", "--at", AT)
    assert outcome.code == 0
    md = outcome.stdout
    block = re.search(r"```mermaid\n(.*?)\n```", md, re.DOTALL)
    assert block is not None
    assert block.group(1).splitlines() == [
        "xychart-beta",
        '    title "Cumulative engagements"',
        "    x-axis [" + ", ".join(f'"{d[5:]}"' for d in DAYS) + "]",
        '    y-axis "Engagements" 0 --> 500',
        "    line [110, 110, 110, 110, 110, 110, 110, 130, 130, 130, 130]",
        "    line [500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500]",
    ]
    assert "| engagements | 26% | 130 | 500 | 370 | 10 | 37 | behind |" in md
    assert "| bsky-de | bluesky | de | 2 | 45 | 6 | 14 | 2 | 1 | 68 | 34 |" in md
    assert "| news | feed | en | 3 | — | — | — | — | — | — | not measured |" in md
    assert f"| de/2026-12-01-winter-launch | 78 | bsky-de, masto | {BSKY_DE}de1a |" in md
    assert "| tips | 2 | 20 |" in md
    # The campaign name is user data: its pipe cannot break a table, its tag is shown as text.
    assert "### Spring &lt;script&gt;alert(1)&lt;/script&gt; \\| teaser" in md
    assert "<script>" not in md


def test_html_is_one_self_contained_escaped_page(rws: Ws, tmp_path: Path) -> None:
    page = rws.cli("report", "--format", "html", "--at", AT).stdout
    assert page.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                           "style-src 'unsafe-inline'; img-src data:\">")
    assert "<script" not in page.lower()
    assert "<h2>Spring &lt;script&gt;alert(1)&lt;/script&gt; | teaser</h2>" in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg"') == 2
    assert ">Cumulative engagements</text>" in page
    # Nothing to fetch: no external reference of any kind.
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!https://(?:bsky\.app|mastodon\.social)/)""", page)
    assert "@import" not in page and "url(" not in page
    assert rws.cli("report", "--format", "html", "--at", AT).stdout == page, "the same report, the same bytes"


def test_out_writes_the_file(rws: Ws, tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    outcome = rws.cli("report", "winter-launch", "--format", "markdown", "--out", str(target), "--at", AT)
    assert (outcome.code, outcome.stdout) == (0, f"wrote {target}\n")
    expected = rws.cli("report", "winter-launch", "--format", "markdown", "--at", AT).stdout
    assert target.read_text(encoding="utf-8") == expected


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "no campaign 'nope'; known campaigns: spring-teaser, winter-launch"),
    (["--from", "2026-02-30"], "--from: '2026-02-30' is not a date; write YYYY-MM-DD"),
    (["--to", "12/20/2026"], "--to: '12/20/2026' is not a date; write YYYY-MM-DD"),
    (["--from", "2026-12-10", "--to", "2026-12-09"], "--to 2026-12-09 is before --from 2026-12-10"),
    (["winter-launch", "--from", "2027-01-01"],
     "campaign 'winter-launch' has no days between --from and --to"),
    (["--at", "tomorrow"], "--at: 'tomorrow' is not an ISO 8601 time with offset"),
])
def test_usage_problems_exit_2_with_a_message(rws: Ws, args: list[str], message: str) -> None:
    outcome = rws.cli("report", *args)
    assert outcome.code == 2
    assert outcome.stdout == ""
    assert message in outcome.stderr


def test_a_workspace_without_campaigns_reports_that_instead_of_failing(rws: Ws) -> None:
    """The weekly job in metrics.yml runs ``cmops report --format markdown`` everywhere."""
    rws.path("content/calendars/winter.yaml").unlink()
    outcome = rws.cli("report", "--format", "markdown", "--at", AT)
    assert outcome.code == 0
    assert "No campaigns yet: define them under campaigns: in content/calendars/*.yaml." in outcome.stdout
    assert report(rws)["campaigns"] == []
    named = rws.cli("report", "winter-launch")
    assert named.code == 2
    assert named.stderr.strip().endswith(
        "no campaign 'winter-launch'; known campaigns: none (define them under campaigns: in "
        "content/calendars/*.yaml)")
