"""Benchmark ``cmops plan`` on 10,000 posts with 50,000 receipt lines against a read-everything floor.

Usage::

    python benchmarks/plan_bench.py [--posts N] [--receipts M] [--repeat R] [--keep DIR] [--seed S]
                                    [--profile]

The script writes the benchmark workspace of ``bench_workspace.generate`` and a realistic
receipt history for it: one ``state/receipts/YYYY/MM/<run>.jsonl`` file per simulated cron run,
``intent`` + ``published`` per thread part (keys, rendition and part hashes, platform ids and
URLs as the adapters make them), ``settled`` at the end of the run that finished a post, plus a
runner outage (posts published late or reported ``missed``), a few edits on Mastodon,
retracted posts that were deleted, and the last runs killed while sending. "Now" is chosen so
that the history has about M lines (default 50,000). A copy of the workspace without the
``settled`` lines is the cold case. It then times, alternately, each as a fresh process:

* the *baseline*: ``python -c`` that reads every post file and ``json.loads`` every receipt line;
* *steady*: ``python -m cmops --root DIR plan --at NOW --format json`` with the settled lines;
* *cold*: the same command on the copy without them (every post file is parsed);
* the *fixed cost*: the same command on a 10-post workspace with one post due, and
  ``python -c pass``;

then the same use case in-process, phase by phase. It checks that both plans have the same
actions and exits 1 if they do not. Times are printed, never asserted (target: under 1 s).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import cProfile
import gc
import hashlib
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_workspace import generate

if TYPE_CHECKING:
    from cmops.model import Post, Rendition, Workspace
    from cmops.platforms.base import Sent

DEFAULT_POSTS = 10_000
DEFAULT_RECEIPTS = 50_000
DEFAULT_REPEAT = 5
TARGET_SECONDS = 1.0
#: Bump when the generated history changes, so a kept workspace is generated again.
HISTORY_VERSION = 2
STAMP = "plan-bench.json"

#: Cron runs every 10 minutes, 5 minutes before the posts they handle (lookahead 15m).
TICK = timedelta(minutes=10)
RUN_LEAD = timedelta(minutes=5)
#: A runner outage of 36 hours at 40 % of the schedule: late posts, and missed ones.
OUTAGE = timedelta(hours=36)
OUTAGE_AT = 0.4
#: Post files are committed a week before they are due (drafts get settled then).
COMMITTED_BEFORE = timedelta(days=7)
#: Retracted posts that had gone out first (then were deleted a day later).
RETRACTED_PUBLISHED = 0.5
#: Mastodon renditions edited two hours after publishing.
EDITED_SHARE = 0.03
EDIT_AFTER = timedelta(hours=2)
#: The last runs before now were killed while sending their last part.
KILLED_RUNS = 5
#: "Now" is this long after the start of the first run not in the history (a late cron run).
NOW_AFTER_CUTOFF = timedelta(minutes=12, seconds=30)


# --------------------------------------------------------------------------------------------
# The receipt history
# --------------------------------------------------------------------------------------------


def floor_tick(instant: datetime) -> datetime:
    utc = instant.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 10, second=0, microsecond=0)


def ceil_tick(instant: datetime) -> datetime:
    tick = floor_tick(instant)
    return tick if tick == instant else tick + TICK


@dataclass
class Event:
    at: datetime
    record: dict[str, Any]  # event, post and the fields, in the order the engine writes them

    @property
    def kind(self) -> str:
        return str(self.record["event"])


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class History:
    """Receipt events by run (the tick the run was started for), written the way
    ``cmops publish`` writes them: an intent and a receipt per part, settled lines last."""

    space: Workspace
    rng: random.Random
    runs: dict[datetime, list[Event]] = field(default_factory=lambda: defaultdict(list))
    settles: dict[datetime, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    #: (commit time, post id) of drafts and never-published retracted posts.
    early: list[tuple[datetime, str]] = field(default_factory=list)
    starts: dict[datetime, datetime] = field(default_factory=dict)
    outage: tuple[datetime, datetime] = (datetime.max.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    late_in_resume: int = 0
    stats: Counter[str] = field(default_factory=Counter)

    # -- runs ---------------------------------------------------------------------------

    def started(self, tick: datetime) -> datetime:
        """When the run for ``tick`` started: 5 minutes early plus GitHub's cron lateness."""
        found = self.starts.get(tick)
        if found is None:
            found = self.starts[tick] = tick - RUN_LEAD + timedelta(seconds=self.rng.uniform(15, 90))
        return found

    def run_for(self, instant: datetime) -> datetime:
        """The run that handled something due at ``instant``: the resume run during the outage."""
        tick = floor_tick(instant)
        return self.outage[1] if self.outage[0] <= tick < self.outage[1] else tick

    def add(self, tick: datetime, at: datetime, event: str, post: str, **fields: Any) -> None:
        record: dict[str, Any] = {"event": event, "post": post}
        record.update({k: v for k, v in fields.items() if v is not None})
        self.runs[tick].append(Event(at, record))

    # -- platforms ----------------------------------------------------------------------

    def sent(self, post: Post, rendition: Rendition, index: int, key: str, at: datetime) -> Sent:
        """What the platform answered, shaped like the adapters' ``Sent`` values."""
        from cmops.platforms.base import Sent
        from cmops.platforms.feed import entry_id, entry_url

        channel = rendition.channel
        if channel.platform == "bluesky":
            handle = str(channel.options.get("handle"))
            did_hash = hashlib.sha256(handle.encode()).digest()
            did = "did:plc:" + base64.b32encode(did_hash).decode()[:24].lower()
            uri = f"at://{did}/app.bsky.feed.post/{key}"
            digest = hashlib.sha256(f"{uri}\n{rendition.parts[index].text}".encode()).digest()
            cid = "bafyrei" + base64.b32encode(digest).decode().rstrip("=").lower()
            return Sent(id=uri, uri=uri, cid=cid, url=f"https://bsky.app/profile/{handle}/post/{key}")
        if channel.platform == "mastodon":
            instance = str(channel.options.get("instance")).rstrip("/")
            snowflake = str((int(at.timestamp() * 1000) << 16) | self.rng.getrandbits(16))
            return Sent(id=snowflake, url=f"{instance}/@acme/{snowflake}",
                        uri=f"{instance}/users/acme/statuses/{snowflake}")
        site = str(channel.options.get("site_url"))
        ident = entry_id(site, post.id) + (f"#part-{index}" if index else "")
        return Sent(id=ident, url=entry_url(site, post.id))

    def key(self, post: Post, rendition: Rendition, index: int, scheduled: datetime) -> str:
        """The idempotency key each adapter derives (see ``Adapter.key``)."""
        from cmops.platforms.bluesky import tid_for

        seed = hashlib.sha256(f"{post.id}\n{rendition.channel.id}\n{index}".encode()).digest()
        if rendition.channel.platform == "bluesky":
            return tid_for(seed, scheduled)
        if rendition.channel.platform == "mastodon":
            return "cmops-" + hashlib.sha256(b"cmops/mastodon\x00" + seed).hexdigest()[:40]
        return seed.hex()

    # -- what happened to each post -----------------------------------------------------

    def publish(self, post: Post, rendition: Rendition, tick: datetime, start: datetime,
                edited_later: bool) -> tuple[datetime, list[Sent]]:
        """Intent and receipt for every part; returns when the last receipt was written."""
        from cmops.plan import part_hash

        channel = rendition.channel.id
        count = len(rendition.parts)
        digest = rendition.content_hash()
        if edited_later:  # the text at publishing time was the one before the edit
            digest = _sha(f"before the edit\n{digest}")
        scheduled = rendition.publish_at or self.started(tick)
        at = start
        sents = []
        for index in range(count):
            key = self.key(post, rendition, index, scheduled)
            at += timedelta(milliseconds=self.rng.randint(40, 400))
            self.add(tick, at, "intent", post.id, channel=channel, part=index, parts=count, key=key)
            at += timedelta(milliseconds=self.rng.randint(250, 1800))
            sent = self.sent(post, rendition, index, key, at)
            phash = part_hash(rendition, index)
            if edited_later and index == 0:
                phash = _sha(f"before the edit\n{phash}")
            self.add(tick, at, "published", post.id, channel=channel, part=index, parts=count, key=key,
                     hash=digest, part_hash=phash, id=sent.id, uri=sent.uri, cid=sent.cid, url=sent.url)
            sents.append(sent)
        self.stats["renditions published"] += 1
        return at, sents

    def post(self, post: Post, appear: datetime) -> None:
        """Everything the runs recorded for one post that is not a draft."""
        from cmops.plan import source_hash

        assert self.space.settings is not None
        grace = self.space.settings.grace
        retracted = post.status == "retracted"
        timed = [r.publish_at for r in post.renditions.values() if r.publish_at is not None]
        if retracted and (not timed or self.rng.random() >= RETRACTED_PUBLISHED):
            self.settle_when_committed(post, appear)
            self.stats["retracted, never published"] += 1
            return
        last_tick = datetime.min.replace(tzinfo=UTC)
        edit: tuple[datetime, Rendition, Sent, str, datetime] | None = None
        published: list[tuple[Rendition, list[Sent]]] = []
        for channel_id, rendition in post.renditions.items():
            instant = rendition.publish_at
            if instant is None:  # goes out with the first run after it was merged
                tick = self.run_for(ceil_tick(appear))
                start = self.started(tick) + timedelta(seconds=self.rng.uniform(3, 20))
            else:
                tick = self.run_for(instant)
                start = instant
                if tick != floor_tick(instant):  # due during the outage: late, or missed
                    resumed = self.started(tick)
                    if resumed - instant > grace:
                        self.add(tick, resumed + timedelta(seconds=2 + self.late_in_resume * 0.05), "missed",
                                 post.id, channel=channel_id, **{"for": _iso(instant)})
                        self.late_in_resume += 1
                        self.stats["missed (outage)"] += 1
                        last_tick = max(last_tick, tick)
                        continue
                    start = resumed + timedelta(seconds=5 + self.late_in_resume * 4)
                    self.late_in_resume += 1
                    self.stats["published late (outage)"] += 1
            edited = (not retracted and rendition.channel.platform == "mastodon" and instant is not None
                      and tick == floor_tick(instant) and self.rng.random() < EDITED_SHARE)
            done_at, sents = self.publish(post, rendition, tick, start, edited)
            published.append((rendition, sents))
            last_tick = max(last_tick, tick)
            if edited:
                assert instant is not None
                edit = (self.run_for(instant + EDIT_AFTER), rendition, sents[0],
                        self.key(post, rendition, 0, instant), done_at)
        src = source_hash(post)
        if retracted:  # it went out, then someone set status: retracted; the next day's run deleted it
            last_tick = max(last_tick, self.delete(post, published, max(timed) + timedelta(hours=26)))
        elif edit is not None:
            tick = self.edit(post, *edit)
            if tick > last_tick:  # settled once with the old text, then again after the edit
                self.settles[last_tick].append((post.id, _sha(f"before the edit\n{src}")))
            last_tick = max(last_tick, tick)
        self.settles[last_tick].append((post.id, src))

    def delete(self, post: Post, published: list[tuple[Rendition, list[Sent]]], when: datetime) -> datetime:
        tick = self.run_for(when)
        at = self.started(tick) + timedelta(seconds=self.rng.uniform(5, 30))
        for rendition, sents in published:
            for index in reversed(range(len(sents))):
                at += timedelta(milliseconds=self.rng.randint(200, 900))
                self.add(tick, at, "deleted", post.id, channel=rendition.channel.id, part=index,
                         id=sents[index].id)
        self.stats["retracted, published then deleted"] += 1
        return tick

    def edit(self, post: Post, tick: datetime, rendition: Rendition, sent: Sent, key: str,
             published_at: datetime) -> datetime:
        from cmops.plan import part_hash

        at = max(self.started(tick) + timedelta(seconds=self.rng.uniform(5, 30)),
                 published_at + timedelta(minutes=1))
        self.add(tick, at, "edited", post.id, channel=rendition.channel.id, part=0,
                 parts=len(rendition.parts), key=key, hash=rendition.content_hash(),
                 part_hash=part_hash(rendition, 0), id=sent.id, uri=sent.uri, cid=sent.cid, url=sent.url)
        self.stats["edited on mastodon"] += 1
        return tick

    def settle_when_committed(self, post: Post, appear: datetime) -> None:
        """Drafts and never-published retracted posts: settled by the first run that saw them
        (placed later, once every run is known)."""
        self.early.append((appear, post.id))

    def place_early_settles(self) -> None:
        """Their settled lines go into the first run at or after the commit."""
        from cmops.plan import source_hash

        ticks = sorted(self.runs)
        by_id = {p.id: p for p in self.space.posts}
        for appear, post_id in self.early:
            index = bisect.bisect_left(ticks, ceil_tick(appear))
            if index < len(ticks):
                self.settles[ticks[index]].append((post_id, source_hash(by_id[post_id])))

    def finish_runs(self) -> None:
        """The settled lines go at the end of their run, after its last receipt."""
        for tick, items in self.settles.items():
            events = self.runs[tick]
            end = max((e.at for e in events), default=self.started(tick) + timedelta(seconds=10))
            for number, (post_id, src) in enumerate(items):
                at = end + timedelta(milliseconds=300 + 2 * number)
                events.append(Event(at, {"event": "settled", "post": post_id, "src": src}))
        for events in self.runs.values():
            events.sort(key=lambda e: e.at)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_history(space: Workspace, seed: int) -> History:
    """Every run from the first post on, as if everything in the workspace had been scheduled."""
    rng = random.Random(seed + 1)
    history = History(space, rng)
    instants = sorted(r.publish_at for p in space.posts if p.status != "draft"
                      for r in p.renditions.values() if r.publish_at is not None)
    first, last = instants[0], instants[-1]
    outage_start = floor_tick(instants[int(len(instants) * OUTAGE_AT)])
    history.outage = (outage_start, outage_start + OUTAGE)
    span = (last - first).total_seconds()
    for post in space.posts:
        timed = [r.publish_at for r in post.renditions.values() if r.publish_at is not None]
        if timed:
            appear = max(first, min(timed) - COMMITTED_BEFORE)
        else:  # no publish_at: merged at some point in the history
            appear = first + timedelta(seconds=rng.uniform(0, span))
        if post.status == "draft":
            history.settle_when_committed(post, appear)
            history.stats["drafts"] += 1
        else:
            history.post(post, appear)
    history.place_early_settles()
    history.finish_runs()
    return history


@dataclass
class Cut:
    """The part of the history before "now", after killing the last runs."""

    now: datetime
    runs: list[tuple[datetime, list[Event]]]
    killed: list[str]

    @property
    def lines(self) -> int:
        return sum(len(events) for _, events in self.runs)


def cut_history(history: History, receipts: int) -> Cut:
    """The shortest prefix of runs with at least ``receipts`` lines; its last runs killed
    while sending their last part (the intent stays, the receipt and settled lines are lost)."""
    ticks = sorted(history.runs)
    total = 0
    end = len(ticks)
    for index, tick in enumerate(ticks):
        total += len(history.runs[tick])
        if total >= receipts:
            end = index + 1
            break
    cutoff = ticks[end] if end < len(ticks) else ticks[-1] + TICK
    runs = [(tick, list(history.runs[tick])) for tick in ticks[:end]]
    killed: list[str] = []
    for _, events in reversed(runs):
        if len(killed) == KILLED_RUNS:
            break
        last = max((i for i, e in enumerate(events) if e.kind == "published"), default=None)
        if last is None:
            continue
        victim = events[last].record
        killed.append(f"{victim['post']} on {victim['channel']}, part {victim['part'] + 1}/{victim['parts']}")
        events[:] = [e for i, e in enumerate(events) if i < last and e.kind != "settled"]
    return Cut(cutoff + NOW_AFTER_CUTOFF, runs, killed)


def write_receipts(root: Path, history: History, cut: Cut, with_settled: bool) -> tuple[int, int]:
    """One file per run, named and placed like ``ledger.Writer`` does. Returns (files, lines)."""
    rng = random.Random(len(cut.runs))
    files = lines = 0
    for tick, events in cut.runs:
        chosen = [e for e in events if with_settled or e.kind != "settled"]
        if not chosen:
            continue
        started = history.starts.get(tick) or tick - RUN_LEAD
        run = f"{started:%Y%m%dT%H%M%SZ}-{rng.getrandbits(24):06x}"
        path = root / "state/receipts" / f"{started:%Y}" / f"{started:%m}" / f"{run}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps({"at": _iso(e.at), "run": run, **e.record}, ensure_ascii=False,
                                  separators=(", ", ": ")) + "\n" for e in chosen)
        path.write_text(text, encoding="utf-8")
        files += 1
        lines += len(chosen)
    return files, lines


@dataclass
class Setup:
    """The two workspaces and what the history put in them (kept in the stamp file)."""

    steady: Path
    cold: Path
    #: A 10-post workspace and a time when one of them is due: the fixed cost of the command.
    tiny: Path
    tiny_now: str
    now: str
    lines: int
    lines_cold: int
    files: int
    files_cold: int
    settled: int
    killed: list[str]
    stats: dict[str, int]
    generate_seconds: float

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for name in ("steady", "cold", "tiny"):
            data[name] = str(data[name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Setup:
        values = dict(data)
        for name in ("steady", "cold", "tiny"):
            values[name] = Path(data[name])
        return cls(**values)


def make_tiny(root: Path, seed: int) -> tuple[Path, str]:
    """10 posts, no receipts, "now" one minute after the first is due: the plan has one
    publish action, so it imports and runs everything the big plan does (checks included)."""
    from cmops.workspace import load_for_command

    generate(root, 10, seed)
    space, _ = load_for_command(root)
    due = min(r.publish_at for p in space.posts if p.status == "ready"
              for r in p.renditions.values() if r.publish_at is not None)
    return root, (due + timedelta(minutes=1)).astimezone(UTC).isoformat(timespec="seconds")


def prepare(base: Path, posts: int, receipts: int, seed: int) -> Setup:
    """``base/steady`` and ``base/cold``; reused when ``base`` holds them for the same options."""
    wanted = {"posts": posts, "receipts": receipts, "seed": seed, "version": HISTORY_VERSION}
    stamp = base / STAMP
    if stamp.is_file():
        saved = json.loads(stamp.read_text(encoding="utf-8"))
        if saved.get("options") == wanted:
            print(f"reusing the workspaces in {base} (generated earlier with the same options)")
            return Setup.from_json(saved["setup"])
        raise SystemExit(f"{base} holds a plan benchmark for other options {saved.get('options')}; "
                         "remove it or pick another --keep folder")
    from cmops.plan import source_hash
    from cmops.workspace import load_for_command

    started = time.perf_counter()
    steady, cold = base / "steady", base / "cold"
    print(f"generating {posts:,} posts in {steady} ...", flush=True)
    generate(steady, posts, seed)
    print(f"  {time.perf_counter() - started:.1f} s; loading them once for the hashes ...", flush=True)
    space, findings = load_for_command(steady)
    errors = [f for f in findings if f.is_error]
    if errors:
        raise SystemExit(f"the generated workspace has {len(errors)} errors, e.g. {errors[0]}")
    print(f"  {time.perf_counter() - started:.1f} s; writing the receipt history ...", flush=True)
    history = build_history(space, seed)
    cut = cut_history(history, receipts)
    files, lines = write_receipts(steady, history, cut, with_settled=True)
    print(f"  {time.perf_counter() - started:.1f} s; copying to {cold} without the settled lines ...",
          flush=True)
    shutil.copytree(steady, cold, ignore=shutil.ignore_patterns("state"))
    files_cold, lines_cold = write_receipts(cold, history, cut, with_settled=False)
    by_id = {p.id: p for p in space.posts}
    last_src: dict[str, str] = {}
    for _, events in cut.runs:
        for event in events:
            if event.kind == "settled":
                last_src[event.record["post"]] = event.record["src"]
    settled = sum(1 for post_id, src in last_src.items() if src == source_hash(by_id[post_id]))
    tiny, tiny_now = make_tiny(base / "tiny", seed)
    setup = Setup(steady, cold, tiny, tiny_now, cut.now.isoformat(timespec="seconds"), lines, lines_cold,
                  files, files_cold, settled, cut.killed, dict(history.stats), time.perf_counter() - started)
    stamp.write_text(json.dumps({"options": wanted, "setup": setup.as_json()}, indent=2), encoding="utf-8")
    return setup


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------

#: The floor, run as ``python -c``: find and read every post file (decoded, as cmops reads it)
#: and json.loads every receipt line. No YAML, no hashing, no planning.
BASELINE = """
import json, os, sys
def walk(folder):
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            yield from walk(entry.path)
        else:
            yield entry.path
root = sys.argv[1]
posts = lines = 0
for path in walk(os.path.join(root, "content", "posts")):
    if path.endswith(".md"):
        with open(path, "rb") as handle:
            handle.read().decode("utf-8")
        posts += 1
for path in walk(os.path.join(root, "state")):
    if path.endswith(".jsonl"):
        with open(path, "rb") as handle:
            for raw in handle.read().split(b"\\n"):
                if raw.strip():
                    json.loads(raw)
                    lines += 1
print(posts, lines)
"""


def plan_command(root: Path, now: str) -> list[str]:
    return [sys.executable, "-m", "cmops", "--root", str(root), "plan", "--at", now, "--format", "json"]


def run_process(command: list[str], capture: bool = False) -> tuple[float, str]:
    """Wall time of a fresh process (start-up, imports and all); its output when ``capture``."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode("utf-8", "replace"))
        raise SystemExit(f"{' '.join(command[:6])} ... failed with exit code {done.returncode}")
    return seconds, done.stdout.decode("utf-8") if capture else ""


#: The fresh-process measurements, in the order they are printed.
SIDES = ("bare", "fixed", "baseline", "steady", "cold")
PHASES = ("receipts", "posts", "plan", "checks", "replan", "render")


def clear_caches() -> None:
    """Empty the functools caches of cmops' modules, so an in-process run does not reuse what
    the previous run computed (imports and compiled schemas stay: they are per process)."""
    for name, module in list(sys.modules.items()):
        if name == "cmops" or name.startswith("cmops."):
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()


def in_process(root: Path, now: datetime, skip_settled: bool) -> tuple[dict[str, float], dict[str, Any], int]:
    """``publishing.load_plan`` + render, step by step as it does them, each step timed.
    Returns (seconds by phase, the plan as JSON data, post files left unparsed)."""
    from cmops import ledger as ledger_mod
    from cmops.plan import make_plan
    from cmops.planview import as_data, render
    from cmops.publish import post_errors
    from cmops.workspace import gc_paused, load_for_command

    clear_caches()
    gc.collect()
    times: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    mark = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal mark
        moment = time.perf_counter()
        times[phase] = moment - mark
        mark = moment

    with gc_paused():
        ledger = ledger_mod.read(root)
    lap("receipts")
    space, findings = load_for_command(root, ledger.settled if skip_settled else None)
    lap("posts")
    first = make_plan(space, ledger, now)
    lap("plan")
    errors = post_errors(space, findings, first) if first.work() else {}
    lap("checks")
    plan = make_plan(space, ledger, now, errors) if errors else first
    lap("replan")
    render(plan, "json")
    lap("render")
    return times, as_data(plan, True), space.settled_unparsed


def profile(root: Path, now: datetime, skip_settled: bool, lines: int = 20) -> None:
    from cmops.clock import VirtualClock
    from cmops.planview import render
    from cmops.publishing import load_plan

    clear_caches()
    gc.collect()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    render(load_plan(root, VirtualClock(now), None, skip_settled=skip_settled).plan, "json")
    profiler.disable()
    wall = time.perf_counter() - start
    label = "steady (settled posts skipped)" if skip_settled else "cold (every post parsed)"
    print(f"\n##### load_plan + render, {label}, under cProfile: {wall:.2f} s")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = getattr(stats, "stats", {})
    own = [(k[0], k[1], k[2], v[1], v[2], v[3]) for k, v in table.items() if f"{os.sep}cmops{os.sep}" in k[0]]
    own.sort(key=lambda row: -row[5])
    print(f"=== cmops functions by cumulative time (top {lines}) ===")
    print(f"{'calls':>9} {'own s':>8} {'cum s':>8}  function")
    for filename, line, function, calls, tottime, cumtime in own[:lines]:
        where = filename.split(f"{os.sep}cmops{os.sep}", 1)[-1]
        print(f"{calls:>9,} {tottime:8.3f} {cumtime:8.3f}  {where}:{line}({function})")
    stats.strip_dirs()
    print(f"\n=== top {lines} by own (total) time ===")
    stats.sort_stats("tottime").print_stats(lines)


def compare(steady: dict[str, Any], cold: dict[str, Any], what: str) -> bool:
    """Whether the two plans have the same actions; prints what differs."""
    if steady["actions"] == cold["actions"] and steady["now"] == cold["now"]:
        return True
    print(f"\nPLANS DIFFER ({what}): steady {len(steady['actions'])} actions, cold {len(cold['actions'])}",
          file=sys.stderr)
    one = {json.dumps(a, sort_keys=True) for a in steady["actions"]}
    other = {json.dumps(a, sort_keys=True) for a in cold["actions"]}
    for line in sorted(one - other)[:10]:
        print(f"  only steady: {line}", file=sys.stderr)
    for line in sorted(other - one)[:10]:
        print(f"  only cold:   {line}", file=sys.stderr)
    if steady["now"] != cold["now"]:
        print(f"  now: {steady['now']} / {cold['now']}", file=sys.stderr)
    for index, (left, right) in enumerate(zip(steady["actions"], cold["actions"], strict=False)):
        if left != right:
            print(f"  first difference at action {index + 1}:\n    {left}\n    {right}", file=sys.stderr)
            break
    return False


def _stat(samples: list[float]) -> str:
    return f"{statistics.median(samples):.3f} s (min {min(samples):.3f})"


@dataclass
class Processes:
    """Fresh-process wall times (s) by side, and the two plans as ``cmops plan`` printed them."""

    samples: dict[str, list[float]]
    steady_plan: dict[str, Any]
    cold_plan: dict[str, Any]


def time_processes(setup: Setup, repeat: int) -> Processes:
    steady_cmd, cold_cmd = plan_command(setup.steady, setup.now), plan_command(setup.cold, setup.now)
    base_cmd = [sys.executable, "-c", BASELINE, str(setup.steady)]
    bare_cmd = [sys.executable, "-c", "pass"]
    tiny_cmd = plan_command(setup.tiny, setup.tiny_now)
    print("\nwarm-up (page cache, .pyc files) and the plans to compare ...", flush=True)
    _, counted = run_process(base_cmd, capture=True)
    first_steady, steady_out = run_process(steady_cmd, capture=True)
    first_cold, cold_out = run_process(cold_cmd, capture=True)
    run_process(bare_cmd)
    _, tiny_out = run_process(tiny_cmd, capture=True)
    tiny_kinds = Counter(a["action"] for a in json.loads(tiny_out)["actions"])
    if not tiny_kinds.get("publish"):
        raise SystemExit(f"the 10-post plan has no publish action ({dict(tiny_kinds)}): fix make_tiny")
    print(f"  first runs: steady {first_steady:.3f} s, cold {first_cold:.3f} s; the baseline read "
          f"{int(counted.split()[0]):,} post files and {int(counted.split()[1]):,} receipt lines")
    samples: dict[str, list[float]] = {name: [] for name in SIDES}
    commands = [("baseline", base_cmd), ("steady", steady_cmd), ("cold", cold_cmd), ("bare", bare_cmd),
                ("fixed", tiny_cmd)]
    for round_ in range(repeat):
        shift = round_ % len(commands)
        for name, command in commands[shift:] + commands[:shift]:  # a different side goes first
            samples[name].append(run_process(command)[0])
        print(f"round {round_ + 1}/{repeat}: " + ", ".join(
            f"{name} {samples[name][-1]:.3f} s" for name in SIDES),
              flush=True)
    return Processes(samples, json.loads(steady_out), json.loads(cold_out))


@dataclass
class InProcess:
    phases: dict[str, dict[str, list[float]]]
    plans: dict[str, dict[str, Any]]
    unparsed: dict[str, int]


def time_in_process(setup: Setup, repeat: int) -> InProcess:
    print("\nin-process (imports and compiled schemas warm, functools caches cleared, "
          "gc.collect() first) ...", flush=True)
    now = datetime.fromisoformat(setup.now)
    result = InProcess({"steady": defaultdict(list), "cold": defaultdict(list)}, {}, {})
    in_process(setup.steady, now, True)  # the first in-process run pays imports and schema compilation
    for _ in range(repeat):
        for side, root, skip in (("steady", setup.steady, True), ("cold", setup.cold, False)):
            times, result.plans[side], result.unparsed[side] = in_process(root, now, skip)
            for phase, seconds in times.items():
                result.phases[side][phase].append(seconds)
            result.phases[side]["total"].append(sum(times.values()))
    return result


def report(setup: Setup, posts: int, repeat: int, runs: Processes, inside: InProcess) -> None:
    samples = runs.samples
    bare, fixed, base, steady, cold = (statistics.median(samples[name]) for name in SIDES)
    kinds = Counter(a["action"] for a in runs.steady_plan["actions"])
    rows = [
        ("posts / receipt lines (steady, cold)", f"{posts:,} / {setup.lines:,}, {setup.lines_cold:,} "
         f"in {setup.files:,}, {setup.files_cold:,} run files"),
        ("now (--at)", setup.now),
        ("plan actions", ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))),
        ("post files not parsed (steady)",
         f"{inside.unparsed['steady']:,} of {posts:,} (settled and unchanged)"),
        (f"python -c pass (median of {repeat})", _stat(samples["bare"])),
        (f"fixed cost: cmops plan, 10 posts ({repeat})", _stat(samples["fixed"])),
        (f"baseline: read posts + json.loads lines ({repeat})", _stat(samples["baseline"])),
        (f"cmops plan, steady (median of {repeat})", _stat(samples["steady"])),
        ("   ratio to baseline / to python -c pass", f"{steady / base:.2f}x / {steady / bare:.0f}x "
         f"(fastest runs: {min(samples['steady']) / min(samples['baseline']):.2f}x)"),
        ("   minus the fixed cost", f"{steady - fixed:.3f} s (what the posts and receipts cost)"),
        (f"   target < {TARGET_SECONDS:g} s", "met" if steady < TARGET_SECONDS else "MISSED"),
        (f"cmops plan, cold (median of {repeat})", _stat(samples["cold"])),
        ("   ratio to baseline",
         f"{cold / base:.2f}x (fastest runs: {min(samples['cold']) / min(samples['baseline']):.2f}x)"),
        ("   the settled lines save",
         f"{cold - steady:.3f} s ({100 * (cold - steady) / cold:.0f} % of cold)"),
    ]
    print("\nall runs (s): " + " | ".join(
        f"{name} " + ", ".join(f"{t:.3f}" for t in samples[name]) for name in samples))
    print("\n" + "-" * 110)
    for label, value in rows:
        print(f"{label:<48} {value}")
    print("-" * 110)
    columns = (*PHASES, "total")
    print(f"\nin-process, median of {repeat} (s)   " + "".join(f"{p:>9}" for p in columns))
    for side in ("steady", "cold"):
        print(f"{side:<34}" + "".join(f"{statistics.median(inside.phases[side][p]):9.3f}" for p in columns))
    print("(one long-lived process with a large heap: the phases show the split, the commands above "
          "are the figures)")


def measure(setup: Setup, posts: int, repeat: int) -> int:
    runs = time_processes(setup, repeat)
    inside = time_in_process(setup, repeat)
    report(setup, posts, repeat, runs, inside)
    same = compare(runs.steady_plan, runs.cold_plan, "cmops plan --format json, fresh processes")
    same = compare(inside.plans["steady"], inside.plans["cold"], "in-process") and same
    same = compare(inside.plans["steady"], runs.steady_plan, "in-process steady vs the command") and same
    if same:
        print(f"\ncorrectness: the steady plan equals the cold plan: {len(runs.steady_plan['actions']):,} "
              "identical actions (fresh processes and in-process)")
    done_steady, done_cold = runs.steady_plan["already_done"], runs.cold_plan["already_done"]
    if done_steady != done_cold:
        print(f"note: 'already_done' differs: steady {done_steady:,}, cold {done_cold:,} (the fast path "
              "counts a settled post file as 1, the cold path counts its post/channel pairs)")
    if inside.unparsed["steady"] != setup.settled:
        print(f"FAILED: the steady run skipped {inside.unparsed['steady']:,} post files, the receipts "
              f"settle {setup.settled:,} unchanged ones", file=sys.stderr)
        same = False
    return 0 if same else 1


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS, metavar="N",
                        help=f"posts to generate (default {DEFAULT_POSTS:,})")
    parser.add_argument("--receipts", type=int, default=DEFAULT_RECEIPTS, metavar="M",
                        help=f"receipt lines in the history; picks 'now' (default {DEFAULT_RECEIPTS:,})")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, metavar="R",
                        help=f"timed runs of each side, alternating (default {DEFAULT_REPEAT})")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="generate into DIR and keep it; a later run with the same options "
                             "reuses it instead of generating again")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing, run the steady and the cold plan once each in-process "
                             "under cProfile and print where the time goes")
    args = parser.parse_args(argv)
    if args.posts < 10 or args.repeat < 1 or args.receipts < 1:
        parser.error("--posts must be at least 10, --repeat and --receipts at least 1")

    if args.keep is not None:
        base: Path = args.keep.resolve()
        if base.exists() and any(base.iterdir()) and not (base / STAMP).is_file():
            parser.error(f"--keep {args.keep}: the folder is not empty and holds no plan benchmark")
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="cmops-plan-bench-")).resolve()
    try:
        return run(base, args.posts, args.receipts, args.repeat, args.seed, args.profile)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"\nworkspaces kept in {base} (steady/, cold/)")


def run(base: Path, posts: int, receipts: int, repeat: int, seed: int, with_profile: bool) -> int:
    setup = prepare(base, posts, receipts, seed)
    print(f"workspaces ready ({setup.generate_seconds:.1f} s to generate): {setup.lines:,} receipt lines "
          f"({setup.settled:,} posts settled) in {setup.files:,} run files; now = {setup.now}")
    print("history: " + ", ".join(f"{k} {v:,}" for k, v in sorted(setup.stats.items())))
    print("killed while sending (intent without receipt): " + "; ".join(setup.killed))
    if abs(setup.lines - receipts) > receipts * 0.02:
        print(f"note: the history holds {setup.lines:,} lines, not {receipts:,} +- 2 % "
              "(too few posts for that many receipts)")
    if with_profile:
        now = datetime.fromisoformat(setup.now)
        profile(setup.steady, now, skip_settled=True)  # the first run also pays imports and schemas
        profile(setup.steady, now, skip_settled=True)
        profile(setup.cold, now, skip_settled=False)
        return 0
    return measure(setup, posts, repeat)


if __name__ == "__main__":
    sys.exit(main())
