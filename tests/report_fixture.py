"""A workspace with a campaign that has happened: the example from ``cmops init`` plus a few
posts, hand-written receipts (state/) and metric snapshots (metrics/), for the report tests.

What is in it (report time ``AT``: Friday 2026-12-11 12:00 in Berlin, 11:00Z):

===================================  =========  ==========================================
post                                 channel    what happened
===================================  =========  ==========================================
de/2026-12-01-winter-launch          bsky-de    2-part thread out; both parts measured
de/2026-12-01-winter-launch          masto      2-part thread out; measured (no bookmarks)
de/2026-12-01-winter-launch          news       out (a feed: no counts)
de/2026-12-05-feed-only              news       out, feed only
de/2026-12-08-tipp-offline           bsky-de    out, measured
us/2026-12-01-winter-launch          bsky-us    out; measured at 1h and 1d (1d counts)
us/2026-12-08-tip-dark-theme         bsky-us    out, measured
us/2026-12-08-tip-dark-theme         masto      out, measured at 1h, then gone (deleted)
us/2026-12-10-partner-webinar        bsky-us    missed
us/2026-12-10-partner-webinar        news       out
us/2026-12-15-holiday-tips           bsky-us    pending (scheduled after AT)
us/2026-12-22-late                   bsky-us    outside the campaign window: not counted
de/drafts-year-review                bsky-de…   a draft: not counted
===================================  =========  ==========================================
"""

from __future__ import annotations

import json
from typing import Any

from conftest import Ws

AT = "2026-12-11T12:00:00+01:00"
SPRING_NAME = "Spring <script>alert(1)</script> | teaser"

CALENDAR = f"""\
campaigns:
  winter-launch:
    name: Winter launch
    start: 2026-12-01
    end: 2026-12-20
    goals:
      - {{ metric: posts, target: 6 }}
      - {{ metric: engagements, target: 500 }}
      - {{ metric: likes, target: 150, channel: bsky-de }}
      - {{ metric: replies, target: 20, territory: de }}
      - {{ metric: quotes, target: 4, territory: America/New_York }}
      - {{ metric: likes, target: 10, channel: news }}
  spring-teaser:
    name: "{SPRING_NAME}"
    start: 2027-02-01
    end: 2027-02-28
    goals:
      - {{ metric: posts, target: 2 }}
"""

BSKY_DE = "https://bsky.app/profile/acme-de.bsky.social/post/"
BSKY_US = "https://bsky.app/profile/acme-us.bsky.social/post/"
MASTO = "https://mastodon.social/@acme/"

#: (post, channel, part, published at) of every part that went out, with its URL.
PUBLISHED: list[tuple[str, str, int, str, str | None]] = [
    ("de/2026-12-01-winter-launch", "bsky-de", 0, "2026-12-01T08:30:00.500Z", BSKY_DE + "de1a"),
    ("de/2026-12-01-winter-launch", "bsky-de", 1, "2026-12-01T08:30:01.200Z", BSKY_DE + "de1b"),
    ("de/2026-12-01-winter-launch", "masto", 0, "2026-12-01T08:30:02.000Z", MASTO + "1001"),
    ("de/2026-12-01-winter-launch", "masto", 1, "2026-12-01T08:30:02.400Z", MASTO + "1002"),
    ("de/2026-12-01-winter-launch", "news", 0, "2026-12-01T08:30:03.000Z", None),
    ("de/2026-12-01-winter-launch", "news", 1, "2026-12-01T08:30:03.000Z", None),
    ("us/2026-12-01-winter-launch", "bsky-us", 0, "2026-12-01T14:30:00.400Z", BSKY_US + "us1"),
    ("de/2026-12-05-feed-only", "news", 0, "2026-12-05T11:00:00.300Z", None),
    ("de/2026-12-08-tipp-offline", "bsky-de", 0, "2026-12-08T09:00:00.200Z", BSKY_DE + "de2"),
    ("us/2026-12-08-tip-dark-theme", "masto", 0, "2026-12-08T09:00:00.600Z", MASTO + "1003"),
    ("us/2026-12-08-tip-dark-theme", "bsky-us", 0, "2026-12-08T15:00:00.300Z", BSKY_US + "us2"),
    ("us/2026-12-10-partner-webinar", "news", 0, "2026-12-10T12:00:00.200Z", None),
]

#: (post, channel, part, mark, counts); counts None: gone from the platform.
SNAPSHOTS: list[tuple[str, str, int, str, dict[str, int] | None]] = [
    ("de/2026-12-01-winter-launch", "bsky-de", 0, "1d",
     {"likes": 30, "reposts": 5, "replies": 8, "quotes": 2, "bookmarks": 1}),
    ("de/2026-12-01-winter-launch", "bsky-de", 1, "1d",
     {"likes": 6, "reposts": 0, "replies": 4, "quotes": 0, "bookmarks": 0}),
    ("de/2026-12-01-winter-launch", "masto", 0, "1d", {"likes": 12, "reposts": 4, "replies": 2, "quotes": 0}),
    ("de/2026-12-01-winter-launch", "masto", 1, "1d", {"likes": 3, "reposts": 1, "replies": 0, "quotes": 0}),
    ("us/2026-12-01-winter-launch", "bsky-us", 0, "1h",
     {"likes": 5, "reposts": 1, "replies": 0, "quotes": 0, "bookmarks": 0}),
    ("us/2026-12-01-winter-launch", "bsky-us", 0, "1d",
     {"likes": 20, "reposts": 6, "replies": 3, "quotes": 1, "bookmarks": 2}),
    ("de/2026-12-08-tipp-offline", "bsky-de", 0, "1d",
     {"likes": 9, "reposts": 1, "replies": 2, "quotes": 0, "bookmarks": 0}),
    ("us/2026-12-08-tip-dark-theme", "bsky-us", 0, "1d",
     {"likes": 4, "reposts": 0, "replies": 1, "quotes": 0, "bookmarks": 0}),
    ("us/2026-12-08-tip-dark-theme", "masto", 0, "1h", {"likes": 2, "reposts": 1, "replies": 0, "quotes": 0}),
    ("us/2026-12-08-tip-dark-theme", "masto", 0, "1d", None),
]

#: More bsky-us posts for the best-time tests: (post, published at, engagements). With the two
#: above, bsky-us then has five measured posts; in New York time they went out on
#: Tue 09:30 (32), Tue 10:00 (5), Wed 09:45 (20), Thu 22:30 (50) and Fri 22:10 (30). The best
#: hour there is 22:00 (mean 40) and the best weekday Thursday; in UTC or Berlin time the same
#: posts fall at 03:00/04:00 on Friday and Saturday.
MORE_US: list[tuple[str, str, int]] = [
    ("us/2026-12-02-extra-a", "2026-12-02T14:45:00.000Z", 20),
    ("us/2026-12-03-extra-b", "2026-12-04T03:30:00.000Z", 50),
    ("us/2026-12-04-extra-c", "2026-12-05T03:10:00.000Z", 30),
]

#: When the snapshots were taken (all before AT; the report uses the latest mark, not the latest time).
TAKEN = {"1h": "2026-12-10T10:00:00Z", "1d": "2026-12-11T10:00:00Z"}


def _post(ws: Ws, name: str, channels: str, when: str, tags: str, body: str) -> None:
    ws.post(name, f'channels: [{channels}]\npublish_at: "{when}"\ncampaign: winter-launch\ntags: [{tags}]\n',
            body)


def build(ws: Ws, *, snapshots: bool = True) -> Ws:
    """Turn the example workspace into the campaign described in the module docstring."""
    ws.write("content/calendars/winter.yaml", CALENDAR)
    _post(ws, "de/2026-12-05-feed-only", "news", "2026-12-05 12:00", "blog", "Neu im Blog: Datensicherung.\n")
    _post(ws, "us/2026-12-15-holiday-tips", "bsky-us", "2026-12-15 10:00", "tips", "Sync first.\n")
    _post(ws, "us/2026-12-22-late", "bsky-us", "2026-12-22 10:00", "tips", "After the campaign.\n")
    receipts = Receipts()
    for post, channel, part, at, url in PUBLISHED:
        receipts.published(post, channel, part, at, url)
    receipts.add("2026-12-11T10:50:00.000Z", "missed", "us/2026-12-10-partner-webinar", channel="bsky-us",
                 **{"for": "2026-12-10T18:00:00.000Z"})
    receipts.write(ws, "state/receipts/2026/12/20261201T083000Z-a1b2c3.jsonl")
    if snapshots:
        lines = [snapshot(*line) for line in SNAPSHOTS]
        write_snapshots(ws, "metrics/snapshots/2026/12.jsonl", lines)
    return ws


def add_more_us_posts(ws: Ws, count: int = len(MORE_US)) -> None:
    """``count`` more measured bsky-us posts from MORE_US (all three: five in all)."""
    receipts = Receipts(seq=1000)
    lines = []
    for name, at, engagements in MORE_US[:count]:
        _post(ws, name, "bsky-us", at, "extra", "More.\n")
        receipts.published(name, "bsky-us", 0, at, BSKY_US + name[-1])
        lines.append(snapshot(name, "bsky-us", 0, "1d", {"likes": engagements, "reposts": 0, "replies": 0,
                                                           "quotes": 0, "bookmarks": 0}))
    receipts.write(ws, "state/receipts/2026/12/20261205T000000Z-d4e5f6.jsonl")
    write_snapshots(ws, "metrics/snapshots/2026/12b.jsonl", lines)


class Receipts:
    """Receipt lines in the format ``cmops publish`` writes (see cmops.ledger)."""

    def __init__(self, seq: int = 0) -> None:
        self.seq = seq
        self.lines: list[dict[str, Any]] = []

    def add(self, at: str, event: str, post: str, **fields: Any) -> None:
        self.seq += 1
        self.lines.append({"at": at, "seq": self.seq, "run": "test-run", "event": event, "post": post,
                           **fields})

    def published(self, post: str, channel: str, part: int, at: str, url: str | None) -> None:
        key = f"{post}|{channel}|{part}"
        self.add(at, "intent", post, channel=channel, part=part, key=key)
        self.add(at, "published", post, channel=channel, part=part, key=key, id=f"id:{key}", url=url)

    def write(self, ws: Ws, rel: str) -> None:
        ws.write(rel, "".join(json.dumps({k: v for k, v in line.items() if v is not None}) + "\n"
                              for line in self.lines))


def snapshot(post: str, channel: str, part: int, mark: str, counts: dict[str, int] | None) -> dict[str, Any]:
    """A snapshot line as ``cmops metrics snapshot`` writes it (see cmops.metrics): the age
    comes from the mark, the publication time from the receipts, engagements are summed on
    reading."""
    record: dict[str, Any] = {"post": post, "channel": channel, "part": part,
                              "id": f"id:{post}|{channel}|{part}", "mark": mark, "taken_at": TAKEN[mark]}
    if counts is None:
        record["gone"] = True
    else:
        record.update(counts)
    return record


def write_snapshots(ws: Ws, rel: str, lines: list[dict[str, Any]]) -> None:
    ws.write(rel, "".join(json.dumps(line) + "\n" for line in lines))
