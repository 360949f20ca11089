"""Benchmark deciding metric snapshots, and measure how fast metrics/ grows.

Usage::

    python benchmarks/metrics_bench.py [--posts 10000] [--lines 100000] [--repeat 5] [--growth-days 30]

1. *Deciding*: a workspace-free setup of 10,000 posts published on 3 channels (30,000 parts:
   one receipt file per simulated day with ``intent`` + ``published`` lines) and about 100,000
   snapshot lines under ``metrics/snapshots/YYYY/MM.jsonl`` (the 1h, 1d, 7d and 30d marks of
   the older parts). It times, in one process, alternately:

   * the *baseline*: reading every receipt and snapshot file and ``json.loads`` of its lines;
   * *decide*: ``ledger.read`` + ``metrics.read`` + ``published_parts`` + ``decide``, i.e. all
     of ``metrics snapshot`` before the first network call.

   Target: under 1 s. Printed as medians and as a ratio to the baseline (noisy machines).

2. *Growth*: 10 posts a day on 3 measurable channels, each part snapshotted at 1h, 1d, 7d and
   30d, as the hourly workflow appends them: the raw bytes a year of lines takes, and the real
   growth of a git repository that commits each hourly run for ``--growth-days`` days (then
   ``git gc``), scaled to a year. Target: under 2 MB a year.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cmops import ledger, metrics

CHANNELS = ("bsky-de", "bsky-us", "masto")
PLATFORMS = {"bsky-de": "bluesky", "bsky-us": "bluesky", "masto": "mastodon"}
START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
MARKS = metrics.marks_of(None)


def platform_id(channel: str, n: int) -> str:
    if channel.startswith("bsky"):
        return f"at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3lbx{n:09d}aa"
    return str(113_500_000_000_000_000 + n)


def write_receipts(root: Path, posts: int, per_day: int) -> datetime:
    """Receipts for ``posts`` posts, ``per_day`` a day on every channel; returns the last time."""
    when = START
    seq = 0
    for day in range(0, posts, per_day):
        when = START + timedelta(days=day // per_day)
        run = f"{when:%Y%m%dT%H%M%SZ}-bench"
        folder = root / "state" / "receipts" / f"{when:%Y}" / f"{when:%m}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for n in range(day, min(day + per_day, posts)):
            at = when + timedelta(minutes=n % per_day)
            for channel in CHANNELS:
                seq += 1
                base = {"at": ledger.iso(at), "seq": seq, "run": run, "post": f"2025/post-{n:05d}",
                        "channel": channel, "part": 0, "parts": 1}
                lines.append(json.dumps({**base, "event": "intent", "key": f"k{n}"}))
                seq += 1
                lines.append(json.dumps({**base, "seq": seq, "event": "published",
                                         "id": platform_id(channel, n), "url": f"https://example.social/{n}",
                                         "hash": "h" * 64}))
        (folder / f"{run}.jsonl").write_text("\n".join(lines) + "\n")
    return when


def write_snapshots(root: Path, now: datetime, parts: list[metrics.PublishedPart], limit: int) -> int:
    """Snapshot lines for every mark each part has passed by ``now``, oldest parts first, up
    to ``limit`` lines. Returns how many were written."""
    by_shard: dict[str, list[dict[str, object]]] = {}
    written = 0
    for part in parts:
        for mark in MARKS:
            taken = part.published_at + mark.after + timedelta(minutes=17)
            if taken > now or written >= limit:
                continue
            due = metrics.Due(part, mark)
            record = metrics.record_for(due, taken, {"likes": 3, "reposts": 1, "replies": 0, "quotes": 0})
            by_shard.setdefault(f"{taken:%Y}/{taken:%m}", []).append(record)
            written += 1
    for shard, records in by_shard.items():
        path = root / metrics.SNAPSHOTS_DIR / f"{shard}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    return written


def baseline(root: Path) -> int:
    count = 0
    for folder in ("state", "metrics"):
        for dirpath, _, files in os.walk(root / folder):
            for name in files:
                if name.endswith(".jsonl"):
                    with open(os.path.join(dirpath, name), "rb") as handle:  # noqa: PTH118, PTH123
                        count += len([json.loads(line) for line in handle.read().splitlines() if line])
    return count


def decide_all(root: Path, now: datetime) -> int:
    book = ledger.read(root)
    snaps = metrics.read(root)
    return len(metrics.decide(metrics.published_parts(book, PLATFORMS), snaps, now, MARKS))


def bench_decide(posts: int, lines: int, repeat: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="cmops-metrics-bench-"))
    try:
        last = write_receipts(root, posts, per_day=30)
        now = last + timedelta(hours=2)
        parts = metrics.published_parts(ledger.read(root), PLATFORMS)
        written = write_snapshots(root, now, parts, lines)
        print(f"setup: {posts} posts x {len(CHANNELS)} channels = {len(parts)} parts, "
              f"{written} snapshot lines, now {now:%Y-%m-%d %H:%M}Z")
        base_times, decide_times = [], []
        due = 0
        for _ in range(repeat):
            started = time.perf_counter()
            baseline(root)
            base_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            due = decide_all(root, now)
            decide_times.append(time.perf_counter() - started)
        b, d = statistics.median(base_times), statistics.median(decide_times)
        print(f"baseline (read + json.loads every line): median {b:.3f} s")
        print(f"decide (ledger + metrics + decide):      median {d:.3f} s  ({d / b:.2f}x baseline), "
              f"{due} snapshot(s) due; target < 1 s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
                   cwd=cwd, check=True, capture_output=True)


def repo_size(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / ".git").rglob("*") if p.is_file())


def bench_growth(days: int) -> None:
    per_day = 10
    root = Path(tempfile.mkdtemp(prefix="cmops-metrics-growth-"))
    try:
        git(root, "init", "--quiet", "--initial-branch=main")
        (root / "README").write_text("bench\n")
        git(root, "add", ".")
        git(root, "commit", "--quiet", "-m", "start")
        git(root, "gc", "--quiet", "--aggressive")
        empty = repo_size(root)
        parts = [metrics.PublishedPart(f"2026/{d:03d}-campaign-post-{i}", c, 0,
                                       platform_id(c, d * per_day + i),
                                       START + timedelta(days=d, hours=9 + i))
                 for d in range(days + 31) for i in range(per_day) for c in CHANNELS]
        snaps = metrics.Snapshots()
        rng = random.Random(7)
        raw = 0
        first = START + timedelta(days=31)  # a steady state: a month of posts already running
        for p in parts:  # ... whose marks so far were taken before the measured period
            if p.published_at < first:
                snaps.taken[p.key] = {int(m.after.total_seconds()) for m in MARKS
                                      if p.published_at + m.after <= first}
        for hour in range(days * 24):
            now = first + timedelta(hours=hour)
            live = [p for p in parts if p.published_at <= now]
            due = metrics.decide(live, snaps, now, MARKS)
            # Counts as varied as real ones (constant counts would compress unrealistically well).
            records = [metrics.record_for(d, now, {"likes": rng.randrange(400), "reposts": rng.randrange(60),
                                                   "replies": rng.randrange(40), "quotes": rng.randrange(10)})
                       for d in due]
            for d in due:
                snaps.taken.setdefault(d.part.key, set()).add(int(d.mark.after.total_seconds()))
            if records:
                metrics.append(root, records, now)
                raw += sum(len(json.dumps(r, ensure_ascii=False, separators=(",", ":"))) + 1 for r in records)
                git(root, "add", "metrics")
                git(root, "commit", "--quiet", "-m", f"metrics {now:%Y-%m-%d %H}")
        git(root, "gc", "--quiet", "--aggressive")
        grown = repo_size(root) - empty
        packed = sum(len(zlib.compress(p.read_bytes(), 9))
                     for p in (root / metrics.SNAPSHOTS_DIR).rglob("*.jsonl"))
        year = 365 / days
        print(f"growth over {days} days of hourly runs (10 posts/day on 3 channels, 4 marks):")
        lines = sum(len(p.read_text().splitlines()) for p in (root / metrics.SNAPSHOTS_DIR).rglob("*.jsonl"))
        print(f"  {lines} lines, {raw / max(lines, 1):.0f} bytes each")
        print(f"  raw lines: {raw / 1e6:.2f} MB -> {raw * year / 1e6:.2f} MB a year")
        print(f"  the lines compressed as git stores them (zlib): {packed / 1e6:.3f} MB -> "
              f"{packed * year / 1e6:.2f} MB a year (target < 2 MB)")
        print(f"  the whole git repository after gc, with one commit per hourly run: {grown / 1e6:.2f} MB -> "
              f"{grown * year / 1e6:.2f} MB a year")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--growth-days", type=int, default=30)
    args = parser.parse_args()
    bench_decide(args.posts, args.lines, args.repeat)
    if args.growth_days:
        bench_growth(args.growth_days)


if __name__ == "__main__":
    main()
