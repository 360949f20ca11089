"""Publishing to a real Bluesky PDS on loopback: the example workspace, crashes at many
points, and concurrent runs. Nothing is ever lost or doubled."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmops import ledger
from conftest import MakeWs, Outcome, run_process
from factory import make_space
from pds_network import BskyAccount, PdsNetwork

pytestmark = pytest.mark.pds

HERE = Path(__file__).resolve().parent
PASSWORD_ENV = "TEST_BSKY_PASSWORD"


def cmops(root: Path, *args: str, env: dict[str, str]) -> Outcome:
    return run_process(["--root", str(root), *args], env=env, timeout=120)


def texts(account: BskyAccount) -> list[str]:
    return sorted(r["value"]["text"] for r in account.list_posts())


def test_the_example_workspace_publishes_what_is_due_to_a_local_pds(
        make_ws: MakeWs, pds_network: PdsNetwork) -> None:
    ws = make_ws("ws")
    de, us = pds_network.create_account("de"), pds_network.create_account("us")
    ws.replace("cmops.yaml", "service: https://bsky.social\n    handle: acme-de.bsky.social",
               f"service: {de.service}\n    handle: {de.handle}")
    ws.replace("cmops.yaml", "service: https://bsky.social\n    handle: acme-us.bsky.social",
               f"service: {us.service}\n    handle: {us.handle}")
    # No Mastodon server can run here: the launch post goes to Bluesky and the feed.
    ws.replace("content/posts/de/2026-12-01-winter-launch.md", "[bsky-de, masto, news]", "[bsky-de, news]")
    env = {"CMOPS_NOW": "2026-12-01T15:20:00+01:00", "CMOPS_BSKY_DE_PASSWORD": de.password,
           "CMOPS_BSKY_US_PASSWORD": us.password}
    plan = json.loads(cmops(ws.root, "plan", "--format", "json", env=env).stdout)
    due = [(a["action"], a["post"], a["channel"]) for a in plan["actions"] if a["action"] != "later"]
    assert due == [("publish", "de/2026-12-01-winter-launch", "bsky-de"),
                   ("publish", "de/2026-12-01-winter-launch", "news"),
                   ("wait", "us/2026-12-01-winter-launch", "bsky-us")]
    out = cmops(ws.root, "publish", env=env)
    assert out.code == 0, out.output
    first, second = sorted(de.list_posts(), key=lambda r: r["value"]["createdAt"])
    text = first["value"]["text"]
    assert text.startswith("Unser Winter-Release ist da!")
    link, tag = "https://acme.example/winter", "#AcmeWinter"
    facet = "app.bsky.richtext.facet"
    assert first["value"]["facets"] == [
        {"index": _bytes(text, link), "features": [{"$type": f"{facet}#link", "uri": link}]},
        {"index": _bytes(text, tag), "features": [{"$type": f"{facet}#tag", "tag": "AcmeWinter"}]},
    ]
    [image] = first["value"]["embed"]["images"]
    assert image["alt"] == "A snowy mountain hut with the Acme logo on its door"
    assert image["image"]["mimeType"] == "image/png"
    assert first["value"]["langs"] == ["de"]
    ref = {"uri": first["uri"], "cid": first["cid"]}
    assert second["value"]["text"] == "Was ist euer Lieblings-Feature? Antwortet uns hier im Thread."
    assert second["value"]["reply"] == {"root": ref, "parent": ref}
    [morning] = us.list_posts()
    assert morning["value"]["langs"] == ["en"]
    assert morning["value"]["createdAt"] == "2026-12-01T14:30:00.000Z"  # waited, posted on the minute
    assert "Our winter release is out" in (ws.root / "public/feed.xml").read_text()
    again = cmops(ws.root, "publish", env=env)
    assert (again.code, again.stdout.strip()) == (0, "Nothing was due.")
    assert (len(de.list_posts()), len(us.list_posts())) == (2, 1)


def _bytes(text: str, found: str) -> dict[str, int]:
    start = len(text[: text.index(found)].encode("utf-8"))
    return {"byteStart": start, "byteEnd": start + len(found.encode("utf-8"))}


# -- 20 records, crashes and concurrency -------------------------------------------------------

SETTINGS = """\
name: Crash test
timezone: Europe/Berlin
language: en
channels:
  bsky:
    platform: bluesky
    service: {service}
    handle: {handle}
    password_env: TEST_BSKY_PASSWORD
"""
NOW = "2026-12-01T09:30:00+01:00"


def twenty(root: Path, account: BskyAccount) -> list[str]:
    """14 posts and two threads of three parts: 20 records. Returns every expected text."""
    space = make_space(root, SETTINGS.format(service=account.service, handle=account.handle))
    expected = []
    for n in range(14):
        minute = 10 + n
        space.post(f"p{n:02}", f"channels: [bsky]\npublish_at: 2026-12-01 09:{minute}", f"Post {n} #n{n}")
        expected.append(f"Post {n} #n{n}")
    for t in range(2):
        parts = [f"Thread {t} part {i}" for i in range(3)]
        space.post(f"thread{t}", "channels: [bsky]\npublish_at: 2026-12-01 09:05", "\n---\n".join(parts))
        expected.extend(parts)
    return sorted(expected)


def crashy(root: Path, env: dict[str, str], mode: str, at: int) -> int:
    environment = {**os.environ, **env, "CRASH_MODE": mode, "CRASH_AT": str(at)}
    done = subprocess.run([sys.executable, str(HERE / "crashy_cmops.py"), "--root", str(root), "publish"],
                          env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def assert_threads_linked(account: BskyAccount) -> None:
    by_text = {r["value"]["text"]: r for r in account.list_posts()}
    for t in range(2):
        root = by_text[f"Thread {t} part 0"]
        ref = {"uri": root["uri"], "cid": root["cid"]}
        parent = ref
        for i in (1, 2):
            record = by_text[f"Thread {t} part {i}"]
            assert record["value"]["reply"] == {"root": ref, "parent": parent}
            parent = {"uri": record["uri"], "cid": record["cid"]}


def test_sigkill_at_many_points_never_loses_or_doubles_a_post(
        tmp_path: Path, pds_network: PdsNetwork) -> None:
    account = pds_network.create_account("k")
    root = tmp_path / "ws"
    expected = twenty(root, account)
    env = {"CMOPS_NOW": NOW, PASSWORD_ENV: account.password}
    kills = 0
    # Deterministic worst moments: after the platform accepted a part but before its
    # receipt, and after the intent but before the request.
    for mode, at in [("after", 1), ("before", 2), ("after", 3), ("after", 2), ("before", 1),
                     ("after", 4), ("after", 1)]:
        code = crashy(root, env, mode, at)
        if code == -signal.SIGKILL:
            kills += 1
        assert code in (-signal.SIGKILL, 0), code
    # The last kill came after the PDS accepted a part and before its receipt: the worst case.
    pending = [(t.post, i, p.key) for t in ledger.read(root).tracks.values() for i, p in t.parts.items()
               if p.status == ledger.INTENT]
    assert len(pending) == 1
    assert account.get_record(str(pending[0][2])) is not None
    # And at random moments, as a cron host going down would.
    chance = random.Random(20261201)
    for _ in range(4):
        process = subprocess.Popen([sys.executable, "-m", "cmops", "--root", str(root), "publish"],
                                   env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(chance.uniform(0.3, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert kills >= 6
    final = cmops(root, "publish", env=env)
    assert final.code == 0, final.output
    assert texts(account) == expected
    assert_threads_linked(account)
    again = cmops(root, "publish", env=env)
    assert (again.code, again.stdout.strip(), texts(account)) == (0, "Nothing was due.", expected)


def test_two_publish_runs_started_at_once_post_everything_once(
        tmp_path: Path, pds_network: PdsNetwork) -> None:
    account = pds_network.create_account("c")
    root = tmp_path / "ws"
    expected = twenty(root, account)
    env = {**os.environ, "CMOPS_NOW": NOW, PASSWORD_ENV: account.password}
    command = [sys.executable, "-m", "cmops", "--root", str(root), "publish"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert texts(account) == expected
    assert_threads_linked(account)


def test_two_clones_publishing_at_once_without_a_shared_lock_still_post_once(
        tmp_path: Path, pds_network: PdsNetwork) -> None:
    """Two checkouts on two machines (no common lock): the deterministic record keys make
    the PDS refuse the second copy of every part, and each run finds the first one."""
    account = pds_network.create_account("m")
    first = tmp_path / "one"
    expected = twenty(first, account)
    second = tmp_path / "two"
    shutil.copytree(first, second)
    env = {**os.environ, "CMOPS_NOW": NOW, PASSWORD_ENV: account.password}
    runs = [subprocess.Popen([sys.executable, "-m", "cmops", "--root", str(root), "publish"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for root in (first, second)]
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert texts(account) == expected
    assert_threads_linked(account)
