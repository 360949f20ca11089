"""``cmops metrics snapshot``: fetch the counts that are due, append them under metrics/.

Deciding is :func:`cmops.metrics.decide` (pure); this module does the I/O around it: one
adapter per channel (the publish adapters, so sessions and tokens work the same), batches
of the platform's size, bounded retries, and every batch appended as soon as it arrived so
an interrupted run keeps what it fetched. One channel failing never stops the others.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cmops import ledger as ledger_mod
from cmops import metrics
from cmops.publishing import clock_for

if TYPE_CHECKING:
    from cmops.clock import Clock
    from cmops.model import Channel


class Counter(Protocol):
    COUNT_BATCH: int

    def counts(self, ids: list[str]) -> dict[str, dict[str, int]]: ...


def run_snapshot(root: Path, *, at: str | None, commit: bool, push: bool, say: Callable[[str], None],
                 env: Mapping[str, str] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Take every snapshot that is due; 0 when all were taken, 1 when some are left."""
    from cmops import lock
    from cmops.workspace import load_settings

    clock = clock_for(at)
    env = os.environ if env is None else env
    settings = load_settings(root)
    marks = metrics.marks_of((settings.doc.data.get("metrics") or {}).get("marks"))
    with lock.exclusive(root, 900.0, on_wait=lambda: say("a publish run is busy here; waiting")):
        if push:
            from cmops.gitops import sync

            sync(root, say, [], metrics.METRICS_DIR)
        ledger = ledger_mod.read(root)
        snapshots = metrics.read(root)
        platforms = {cid: ch.platform for cid, ch in settings.channels.items()}
        now = clock.now()
        due = metrics.decide(metrics.published_parts(ledger, platforms), snapshots, now, marks)
        unmeasured = sorted({c for (_, c) in ledger.tracks if platforms.get(c) not in metrics.MEASURABLE})
        if unmeasured:
            say(f"not measured (the platform gives no counts): {', '.join(unmeasured)}")
        if not due:
            say(f"No snapshot is due ({len(snapshots.taken)} part(s) measured so far).")
        taken: list[str] = []
        left: list[str] = []
        try:
            _fetch(root, settings.channels, due, clock, env, say, taken, left, progress)
        finally:
            if commit or push:
                from cmops.publishing import commit_state

                title = f"cmops metrics: {len(taken)} snapshot(s)" if taken else "cmops metrics"
                commit_state(root, [metrics.METRICS_DIR], title, [], push, say)
    for line in left:
        say(f"left undone: {line}")
    return 1 if left else 0


def _fetch(root: Path, channels: Mapping[str, Channel], due: list[metrics.Due], clock: Clock,
           env: Mapping[str, str], say: Callable[[str], None], taken: list[str], left: list[str],
           progress: Callable[[int, int], None] | None) -> None:
    from cmops import platforms
    from cmops.platforms.base import PlatformError, Setup
    from cmops.publish import RetriesExhausted, retrying

    by_channel: dict[str, list[metrics.Due]] = defaultdict(list)
    for item in due:
        by_channel[item.part.channel].append(item)
    done = 0
    from cmops import publishing

    client = publishing.CLIENT_FACTORY()  # tests put a MockTransport behind it
    try:
        for channel_id, items in sorted(by_channel.items()):
            setup = Setup(channels[channel_id], client, root, env, clock.sleep)
            fetched = 0
            try:
                adapter: Counter = platforms.adapter_for(setup)  # type: ignore[assignment]
                size = adapter.COUNT_BATCH
                for start in range(0, len(items), size):
                    batch = items[start:start + size]
                    ids = [d.part.id for d in batch]
                    found = retrying(partial(adapter.counts, ids), clock.sleep, say)
                    when = clock.now()
                    records = [metrics.record_for(d, when, found.get(d.part.id)) for d in batch]
                    metrics.append(root, records, when)
                    taken.extend(f"{d.part.post} {channel_id} part {d.part.part + 1} at {d.mark.label}"
                                 for d in batch)
                    gone = sum(1 for d in batch if d.part.id not in found)
                    done += len(batch)
                    fetched += len(batch)
                    say(f"{channel_id}: {len(batch) - gone} snapshot(s)"
                        + (f", {gone} gone from the platform" if gone else ""))
                    if progress is not None:
                        progress(done, len(due))
            except (PlatformError, RetriesExhausted) as exc:
                left.append(f"{channel_id}: {len(items) - fetched} snapshot(s): {exc}")
    finally:
        client.close()
