"""The validate use case: load, check, and narrow findings to what the user asked about."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cmops.errors import UsageError
from cmops.findings import Finding

#: Files whose change can affect every post: a change to one of them re-checks everything.
GLOBAL_PREFIXES = ("cmops.yaml", "content/calendars/", "policies/")


@dataclass
class Result:
    findings: list[Finding]
    checked: int

    def failed(self, strict: bool) -> bool:
        return any(f.is_error or strict for f in self.findings)


def run(root: Path, only: Iterable[str] | None = None) -> Result:
    """Validate the whole workspace; with ``only`` (workspace-relative paths or folders), keep
    findings in those files and the whole-workspace ones they take part in."""
    from cmops import checks, workspace

    with workspace.gc_paused():
        space, findings = workspace.load(root)
        findings.extend(checks.run_all(space))
    checked = space.files_checked
    if only is not None:
        selected = list(only)
        if not any(s == "." or s.startswith(GLOBAL_PREFIXES) for s in selected):
            findings = [f for f in findings if _selected(f, selected)]
    return Result(sorted(set(findings)), checked)


def _selected(finding: Finding, selected: list[str]) -> bool:
    return any(under_any(name, selected) for name in (finding.file, *finding.related))


def under_any(name: str, selection: Iterable[str]) -> bool:
    """Whether workspace-relative ``name`` is one of, or inside one of, the selected paths."""
    for raw in selection:
        selected = raw.rstrip("/")
        if selected in ("", ".") or name == selected or name.startswith(selected + "/"):
            return True
    return False


def relative_paths(root: Path, paths: Iterable[str]) -> list[str]:
    """Command-line paths (relative to the current directory) as workspace-relative paths."""
    result = []
    for raw in paths:
        path = Path(raw).resolve()
        if not path.exists():
            raise UsageError(f"{raw}: no such file or directory")
        if not path.is_relative_to(root):
            raise UsageError(f"{raw} is outside the workspace {root}")
        result.append(path.relative_to(root).as_posix() or ".")
    return result


def repo_prefix(root: Path) -> str:
    """The workspace's folder inside its git repository ("" at the top or outside git)."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-prefix"],
                              capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def changed_since(root: Path, ref: str) -> list[str]:
    """Files changed since ``ref`` (committed, staged, unstaged and untracked)."""
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"--changed-since needs git: {exc}") from None
        if done.returncode != 0:
            raise UsageError(f"--changed-since {ref}: git says: {done.stderr.strip()}")
        return done.stdout

    try:
        git("rev-parse", "--verify", "--quiet", ref + "^{commit}")
    except UsageError:
        raise UsageError(
            f"--changed-since {ref}: no such commit or branch here (in CI, fetch it first, "
            "e.g. actions/checkout with fetch-depth: 0)"
        ) from None
    # -z: names exactly as they are (otherwise git quotes non-ASCII ones: "tipp-f\303\274r.md").
    # Compare with where the branch left REF (as a pull request does), not with REF's tip:
    # files changed on main since then are not this change's.
    try:
        base = git("merge-base", ref, "HEAD").strip() or ref
    except UsageError:
        base = ref
    names = git("diff", "-z", "--name-only", "--relative", base, "--").split("\0")
    names += git("ls-files", "-z", "--others", "--exclude-standard").split("\0")
    return sorted({name for name in names if name})
