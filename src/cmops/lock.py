"""One publish at a time per clone: an exclusive ``flock`` on a file git never sees.

Overlapping cron jobs on one machine wait for each other (bounded); the second one then
reads the receipts the first wrote and finds nothing left to do. Runs on different machines
are kept apart by the CI's ``concurrency`` group, by per-run receipt files that cannot
conflict in git, and by the platforms' idempotency (deterministic keys).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cmops.errors import CmopsError


class Busy(CmopsError):
    exit_code = 1


def lock_path(root: Path) -> Path:
    """Inside ``.git`` when the workspace is a git checkout (never committed), else beside it."""
    from cmops.gitops import GitError, git

    try:
        done = git(root, "rev-parse", "--absolute-git-dir", check=False)
    except GitError:
        done = None
    if done is not None and done.returncode == 0 and done.stdout.strip():
        return Path(done.stdout.strip()) / "cmops-publish.lock"
    return root / ".cmops-publish.lock"


@contextmanager
def exclusive(root: Path, timeout: float, on_wait: object = None) -> Iterator[None]:
    """Hold the publish lock; wait at most ``timeout`` seconds for another run to finish."""
    path = lock_path(root)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy(f"another 'cmops publish' is still running here (lock {path}); "
                               f"waited {timeout:.0f} s. It will publish what is due.") from None
                if not told and callable(on_wait):
                    on_wait()
                    told = True
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
