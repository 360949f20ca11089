"""Committing what a publish run wrote, and pushing it without ever losing a receipt.

Receipts are new files with unique names, so replaying our commit on a main that moved can
only conflict in derived files (the Atom feed). Those are rebuilt from the merged receipts
after the rebase, never merged by hand.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from cmops.errors import CmopsError

PUSH_ATTEMPTS = 5


class GitError(CmopsError):
    exit_code = 1


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=300,
                              check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"git {args[0]} could not run: {exc}") from None
    if check and done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    return done


def identity(root: Path) -> list[str]:
    """``-c`` options naming cmops as the author when git has no identity configured (a fresh
    CI runner), so committing receipts never fails for that reason."""
    if git(root, "config", "user.email", check=False).stdout.strip():
        return []
    return ["-c", "user.name=cmops", "-c", "user.email=cmops@users.noreply.github.com"]


def commit(root: Path, paths: Sequence[str], message: str) -> bool:
    """Commit ``paths`` (workspace-relative) only; False when there was nothing to commit."""
    existing = [p for p in paths if (root / p).exists()]
    if not existing:
        return False
    git(root, "add", "--", *existing)
    staged = git(root, "diff", "--cached", "--quiet", "--", *existing, check=False)
    if staged.returncode == 0:
        return False
    git(root, *identity(root), "commit", "--quiet", "-m", message, "--", *existing)
    return True


def sync(root: Path, say: Callable[[str], None], derived: Sequence[str], state: str) -> None:
    """Bring the branch up to date before publishing, so a run that started from an old
    checkout sees the receipts other runs pushed meanwhile (and does not redo their work).

    A run killed before its commit leaves receipts and a rebuilt feed behind: the receipts
    are committed first (never dropped), derived files are reset (they are rebuilt anyway)."""
    branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    upstream = git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}",
                   check=False).stdout.strip()
    if not branch or not upstream:
        return
    tracked = [p for p in derived
               if git(root, "ls-files", "--error-unmatch", "--", p, check=False).returncode == 0]
    if tracked:
        git(root, "checkout", "--", *tracked, check=False)
    if commit(root, [state], "cmops: receipts of an interrupted publish run"):
        say("committed receipts an interrupted run had left uncommitted")
    done = git(root, *identity(root), "pull", "--quiet", "--rebase", check=False)
    if done.returncode != 0:
        git(root, "rebase", "--abort", check=False)
        raise GitError(f"could not update {branch} from {upstream} before publishing: "
                       f"{(done.stderr or done.stdout).strip()}")
    say(f"up to date with {upstream}")


def push(root: Path, rebuild: Callable[[], list[str]], say: Callable[[str], None]) -> None:
    """Push the current branch; when the remote moved, rebase onto it (derived files are
    rebuilt, receipts never conflict) and try again, a bounded number of times."""
    branch = git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if not branch:
        raise GitError("cannot push: HEAD is detached; check out the branch to publish from")
    remote = git(root, "config", f"branch.{branch}.remote", check=False).stdout.strip() or "origin"
    for attempt in range(1, PUSH_ATTEMPTS + 1):
        done = git(root, "push", "--quiet", remote, f"HEAD:refs/heads/{branch}", check=False)
        if done.returncode == 0:
            return
        say(f"push rejected (attempt {attempt} of {PUSH_ATTEMPTS}); rebasing onto {remote}/{branch}")
        git(root, "fetch", "--quiet", remote, branch)
        _rebase(root, f"{remote}/{branch}" if _has_ref(root, f"{remote}/{branch}") else "FETCH_HEAD",
                rebuild)
    raise GitError(f"could not push to {remote} after {PUSH_ATTEMPTS} attempts; the receipts are "
                   f"committed locally on {branch}: push them by hand, never delete them")


def _has_ref(root: Path, ref: str) -> bool:
    return git(root, "rev-parse", "--verify", "--quiet", ref, check=False).returncode == 0


def _rebase(root: Path, onto: str, rebuild: Callable[[], list[str]]) -> None:
    """Rebase, preferring our side in derived files, then rebuild them from all receipts."""
    done = git(root, *identity(root), "rebase", "--quiet", "-X", "theirs", onto, check=False)
    if done.returncode != 0:
        git(root, "rebase", "--abort", check=False)
        raise GitError(f"rebasing the receipts onto {onto} failed: {(done.stderr or done.stdout).strip()}")
    changed = rebuild()
    if changed:
        commit(root, changed, "cmops: rebuild the feed from all receipts after rebasing")
