"""Shared fixtures for the CLI-level tests: a real example workspace written by ``cmops init``,
and two ways to run the command on it.

- ``Ws.cli`` runs ``cmops.cli.cli`` in-process with click's ``CliRunner``: fast, and an
  exception escaping a command fails the test with that exception instead of hiding behind
  exit code 1.
- ``Ws.proc`` runs ``python -m cmops`` as a real subprocess with a timeout, so a crash of the
  interpreter (a segfault is a negative return code) or a hang is observed, not suffered.

Both assert that no Python traceback reaches the user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cmops.cli import cli
from cmops.scaffold import write_workspace

pytest_plugins = ["pds_network"]

#: A finding as most assertions compare it: (file, line, column, code).
Where = tuple[str, int, int, str]

#: Long enough for a cold interpreter on a slow CI machine; a hang takes far longer.
PROCESS_TIMEOUT = 60.0


@dataclass(frozen=True)
class Outcome:
    """What a user sees: exit code, standard output and standard error."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)

    def where(self) -> list[Where]:
        """(file, line, column, code) of every finding in ``validate --format json`` output."""
        return [(f["file"], f["line"], f["column"], f["code"]) for f in self.json()]


def no_traceback(outcome: Outcome, what: str) -> Outcome:
    assert "Traceback" not in outcome.output, f"{what} showed a traceback:\n{outcome.output}"
    return outcome


def invoke(args: Sequence[str], env: Mapping[str, str] | None = None) -> Outcome:
    """Run ``cmops ARGS`` in-process. ``CMOPS_NOW`` is unset unless ``env`` sets it."""
    environment: dict[str, str | None] = {"CMOPS_NOW": None}
    environment.update(env or {})
    result = CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # Under CliRunner an internal bug looks like exit code 1, the same as "findings":
        # make it fail loudly instead.
        exc = result.exception
        raise AssertionError(f"cmops {' '.join(args)} raised {type(exc).__name__}: {exc}") from exc
    outcome = Outcome(result.exit_code, result.stdout, result.stderr)
    return no_traceback(outcome, f"cmops {' '.join(args)}")


def run_process(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = PROCESS_TIMEOUT,
) -> Outcome:
    """Run ``python -m cmops ARGS`` in a fresh interpreter; a hang or a crash fails the test."""
    environment = {k: v for k, v in os.environ.items() if k != "CMOPS_NOW"}
    environment.update(env or {})
    command = [sys.executable, "-m", "cmops", *args]
    try:
        done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace",
                              timeout=timeout, cwd=cwd, env=environment, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"cmops {' '.join(args)[:200]} hung: no exit within {timeout:.0f} s")
    assert done.returncode >= 0, (
        f"cmops crashed: killed by signal {-done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    )
    outcome = Outcome(done.returncode, done.stdout, done.stderr)
    return no_traceback(outcome, f"cmops {' '.join(args)[:200]}")


def git(cwd: Path, *args: str) -> str:
    """``git ARGS`` in a test repository, as a fixed test identity; a failure fails the test
    with git's own message. (cmops's own git calls never see this identity.)"""
    done = subprocess.run(
        ["git", "-c", "user.name=cmops test", "-c", "user.email=test@cmops.invalid",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass
class Ws:
    """A workspace written by ``cmops init``; tests write or overwrite files in it."""

    root: Path

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write(self, rel: str, text: str) -> Path:
        """Write ``text`` exactly as given (no dedent: line numbers must be obvious)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        return path

    def write_bytes(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def post(self, name: str, front: str, body: str = "Hello from a test.\n") -> str:
        """Write content/posts/NAME.md; ``front`` is dedented. Returns the workspace path.

        Line 1 is ``---``, the front matter starts on line 2.
        """
        rel = f"content/posts/{name}.md"
        front = textwrap.dedent(front).strip("\n")
        self.write(rel, f"---\n{front}\n---\n{body}")
        return rel

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def replace(self, rel: str, old: str, new: str) -> None:
        text = self.read(rel)
        assert old in text, f"{old!r} is not in {rel}"
        self.write(rel, text.replace(old, new, 1))

    def cli(self, *args: str, env: Mapping[str, str] | None = None) -> Outcome:
        """``cmops --root ROOT ARGS`` in-process."""
        return invoke(["--root", str(self.root), *args], env)

    def proc(self, *args: str, env: Mapping[str, str] | None = None,
             timeout: float = PROCESS_TIMEOUT) -> Outcome:
        """``python -m cmops --root ROOT ARGS`` as a subprocess."""
        return run_process(["--root", str(self.root), *args], env=env, timeout=timeout)

    def validate(self, *args: str) -> Outcome:
        """``validate --format json ARGS``: the findings as data, plus the exit code."""
        outcome = self.cli("validate", "--format", "json", *args)
        assert outcome.code in (0, 1), f"validate exited {outcome.code}:\n{outcome.output}"
        return outcome

    def findings(self, *args: str) -> list[Where]:
        return self.validate(*args).where()


MakeWs = Callable[[str], Ws]


@pytest.fixture
def no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Like a fresh CI runner: no global git identity (cmops must cope)."""
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def make_ws(tmp_path: Path) -> MakeWs:
    """Factory: ``make_ws("name")`` runs ``cmops init`` into ``tmp_path/name``."""

    def make(name: str) -> Ws:
        root = tmp_path / name
        write_workspace(root)
        return Ws(root)

    return make


@pytest.fixture
def ws(make_ws: MakeWs) -> Ws:
    """The example workspace in ``tmp_path/ws`` (``tmp_path`` itself stays free for files
    that must lie outside the workspace)."""
    return make_ws("ws")
