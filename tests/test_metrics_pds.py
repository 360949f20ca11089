"""Metric snapshots against a real Bluesky network on loopback (PLC + PDS + AppView): cmops
publishes, a second account likes, reposts, replies and quotes, and ``metrics snapshot``
must record exactly the counts the AppView gives, in as few calls as the batch size allows."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cmops import metrics, publishing
from conftest import invoke
from factory import make_space
from pds_network import BskyAccount, PdsNetwork

pytestmark = pytest.mark.pds

PUBLISHED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POSTS = 26  # two getPosts calls: 25 + 1


def _xrpc(account: BskyAccount, nsid: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{account.service}/xrpc/{nsid}", json=body,
                          headers={"Authorization": f"Bearer {account.access_jwt}"}, timeout=30)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _create(account: BskyAccount, collection: str, record: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return _xrpc(account, "com.atproto.repo.createRecord",
                 {"repo": account.did, "collection": collection, "record": {**record, "createdAt": now}})


def _appview_counts(network: PdsNetwork, uris: list[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for start in range(0, len(uris), 25):
        response = httpx.get(f"{network.appview}/xrpc/app.bsky.feed.getPosts",
                             params={"uris": uris[start:start + 25]}, timeout=30)
        assert response.status_code == 200, response.text
        for view in response.json()["posts"]:
            found[view["uri"]] = {"likes": view["likeCount"], "reposts": view["repostCount"],
                                  "replies": view["replyCount"], "quotes": view["quoteCount"]}
    return found


def _wait_for(network: PdsNetwork, uris: list[str], expected: dict[str, dict[str, int]]) -> None:
    """Poll the AppView until it has indexed everything (never a fixed sleep)."""
    deadline = time.monotonic() + 60
    while True:
        counts = _appview_counts(network, uris)
        if len(counts) == len(uris) and all(counts[u] == expected.get(u, counts[u]) for u in uris):
            return
        assert time.monotonic() < deadline, f"the AppView did not index in 60 s: {counts}"
        time.sleep(0.2)


def test_snapshots_hold_exactly_the_appviews_counts(tmp_path: Path, pds_network: PdsNetwork,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    brand, fan = pds_network.create_account("brand"), pds_network.create_account("fan")
    settings = (f"name: Test brand\ntimezone: Europe/Berlin\nchannels:\n  bsky:\n    platform: bluesky\n"
                f"    service: {brand.service}\n    handle: {brand.handle}\n"
                "    password_env: TEST_BSKY_PASSWORD\n")
    space = make_space(tmp_path / "ws", settings)
    for i in range(POSTS):
        space.post(f"p{i:02d}", "channels: [bsky]\npublish_at: 2026-12-01 10:00", f"Winter post number {i}.")
    requests: list[httpx.Request] = []
    monkeypatch.setattr(publishing, "CLIENT_FACTORY",
                        lambda: httpx.Client(timeout=30, event_hooks={"request": [requests.append]}))
    env = {"TEST_BSKY_PASSWORD": brand.password}

    def run(*args: str, at: datetime) -> str:
        done = invoke(["--root", str(space.root), *args], {**env, "CMOPS_NOW": at.isoformat()})
        assert done.code == 0, done.output
        return done.output

    run("publish", at=PUBLISHED)
    posts = {r["value"]["text"]: r for r in brand.list_posts()}
    assert len(posts) == POSTS
    first, second, third = (posts[f"Winter post number {i}."] for i in range(3))

    # The fan engages: two likes' worth across posts, a repost, a reply and a quote.
    ref = {"uri": first["uri"], "cid": first["cid"]}
    _create(fan, "app.bsky.feed.like", {"subject": ref})
    _create(fan, "app.bsky.feed.repost", {"subject": ref})
    _create(fan, "app.bsky.feed.post", {"text": "Love it!", "reply": {"root": ref, "parent": ref}})
    _create(fan, "app.bsky.feed.post", {"text": "Look at this",
                                        "embed": {"$type": "app.bsky.embed.record", "record": ref}})
    _create(fan, "app.bsky.feed.like", {"subject": {"uri": second["uri"], "cid": second["cid"]}})
    _create(brand, "app.bsky.feed.like", {"subject": {"uri": second["uri"], "cid": second["cid"]}})
    uris = [r["uri"] for r in posts.values()]
    expected = {first["uri"]: {"likes": 1, "reposts": 1, "replies": 1, "quotes": 1},
                second["uri"]: {"likes": 2, "reposts": 0, "replies": 0, "quotes": 0},
                third["uri"]: {"likes": 0, "reposts": 0, "replies": 0, "quotes": 0}}
    _wait_for(pds_network, uris, expected)
    truth = _appview_counts(pds_network, uris)

    requests.clear()
    run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=1, minutes=2))
    lines = _lines(space.root)
    assert len(lines) == POSTS
    for line in lines:
        assert line["mark"] == "1h"
        got = {k: line[k] for k in ("likes", "reposts", "replies", "quotes")}
        assert got == truth[str(line["id"])], line
    latest = metrics.read(space.root).latest
    by_uri = {record["id"]: record for record in latest.values()}
    assert by_uri[first["uri"]]["engagements"] == 4 + int(by_uri[first["uri"]].get("bookmarks", 0))
    # Calls: one session, then ceil(26 / 25) = 2 getPosts; nothing else.
    paths = [r.url.path for r in requests]
    assert paths.count("/xrpc/com.atproto.server.createSession") == 1
    assert paths.count("/xrpc/app.bsky.feed.getPosts") == math.ceil(POSTS / 25)
    assert len(paths) == 1 + math.ceil(POSTS / 25)

    # The same time again: nothing to do, nothing asked.
    requests.clear()
    out = run("metrics", "snapshot", at=PUBLISHED + timedelta(hours=1, minutes=2))
    assert "No snapshot is due" in out and requests == []
    assert len(_lines(space.root)) == POSTS

    # A day later, after one more like: exactly the 1d mark is added, with the new count.
    _create(fan, "app.bsky.feed.like", {"subject": {"uri": third["uri"], "cid": third["cid"]}})
    _wait_for(pds_network, uris, {third["uri"]: {"likes": 1, "reposts": 0, "replies": 0, "quotes": 0}})
    run("metrics", "snapshot", at=PUBLISHED + timedelta(days=1, minutes=5))
    new = _lines(space.root)[POSTS:]
    assert len(new) == POSTS and {line["mark"] for line in new} == {"1d"}
    assert next(line for line in new if line["id"] == third["uri"])["likes"] == 1
    snaps = metrics.read(space.root)
    assert snaps.latest[("p02", "bsky", 0)]["likes"] == 1 and snaps.findings == []


def _lines(root: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((root / metrics.SNAPSHOTS_DIR).rglob("*.jsonl")):
        found.extend(json.loads(line) for line in path.read_text().splitlines())
    return found
