"""The command line as a user meets it: help, init, the three output formats of validate,
--strict, narrowing by path and by git history, and start-up imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cmops.cli import cli
from cmops.scaffold import template_files
from conftest import MakeWs, Ws, git, invoke, run_process

SUMMARY_CLEAN = re.compile(r"All good: \d+ files checked, no problems found\.\n")


def summary(errors: str, warnings: str, files: str) -> re.Pattern[str]:
    return re.compile(rf"{errors}, {warnings} in {files} \(\d+ files checked\)\.\n")


# --- help -----------------------------------------------------------------------------------

def walk(command: click.Command,
         path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


COMMANDS = list(walk(cli))


def first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def test_the_walk_finds_every_documented_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "init", "validate", "preview", "calendar"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "cmops" for p, _ in COMMANDS])
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help is not None and command.help.strip(), f"'cmops {' '.join(path)}' has no docstring"
    outcome = invoke([*path, "--help"])
    assert outcome.code == 0
    assert first_paragraph(command.help) in " ".join(outcome.stdout.split())
    assert re.match(rf"Usage: \S+{''.join(' ' + re.escape(p) for p in path)} ", outcome.stdout)
    short = invoke([*path, "-h"])
    assert (short.code, short.stdout) == (0, outcome.stdout)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) or "cmops" for p, _ in COMMANDS])
def test_every_option_has_help(path: tuple[str, ...], command: click.Command) -> None:
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help", "version"):
            assert param.help, f"'cmops {' '.join(path)}' option {param.opts} has no help text"


def test_version() -> None:
    outcome = run_process(["--version"])
    assert (outcome.code, outcome.stdout) == (0, "cmops, version 0.1.0\n")


def test_unknown_command_and_option_exit_2() -> None:
    assert invoke(["publsh"]).code == 2
    assert invoke(["validate", "--format", "xml"]).code == 2
    outcome = run_process(["validate", "--nope"])
    assert (outcome.code, outcome.stdout) == (2, "")
    assert "No such option '--nope'" in outcome.stderr


def test_importing_the_cli_stays_light() -> None:
    """What keeps 'cmops --help' fast: the heavy libraries load inside commands only."""
    heavy = ("jsonschema", "yaml", "httpx", "markdown", "icalendar")
    code = (
        "import json, sys\n"
        "import cmops.cli\n"
        "first = sorted(m for m in HEAVY if m in sys.modules)\n"
        "for args in (['--help'], ['validate', '--help'], ['preview', '--help'],\n"
        "             ['calendar', '--help'], ['init', '--help']):\n"
        "    try:\n"
        "        cmops.cli.cli.main(args=args, prog_name='cmops')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps([first, sorted(m for m in HEAVY if m in sys.modules)]))\n"
    ).replace("HEAVY", repr(heavy))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    after_import, after_help = json.loads(done.stdout.splitlines()[-1])
    assert after_import == []
    assert after_help == []


# --- init -----------------------------------------------------------------------------------

def test_init_then_validate_is_all_good(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    created = invoke(["init", str(target)])
    assert created.code == 0
    assert created.stdout == (
        f"Created a cmops workspace in {target} ({len(template_files())} files).\n"
        "Next: cd into it, run 'cmops validate', then 'cmops preview <post id>'.\n"
    )
    outcome = invoke(["--root", str(target), "validate"])
    assert outcome.code == 0
    assert SUMMARY_CLEAN.fullmatch(outcome.stdout), outcome.output
    assert outcome.stderr == ""


def test_init_then_validate_as_subprocesses(tmp_path: Path) -> None:
    assert run_process(["init", "demo"], cwd=tmp_path).code == 0
    outcome = run_process(["validate", "--format", "json"], cwd=tmp_path / "demo" / "content")
    assert (outcome.code, outcome.json()) == (0, [])
    assert (tmp_path / "demo" / "content/posts/de/2026-12-01-winter-launch.md").is_file()


def test_init_without_directory_uses_the_current_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert invoke(["init"]).code == 0
    assert (tmp_path / "cmops.yaml").is_file()
    assert SUMMARY_CLEAN.fullmatch(invoke(["validate"]).stdout)


def test_init_refuses_a_folder_with_files(tmp_path: Path) -> None:
    sentinel = tmp_path / "notes.txt"
    sentinel.write_text("mine\n")
    outcome = invoke(["init", str(tmp_path)])
    assert outcome.code == 2
    assert "is not empty" in outcome.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert sentinel.read_text() == "mine\n"


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    outcome = invoke(["init", str(target)])
    assert outcome.code == 2
    assert target.read_text() == "x"


def test_init_force_adds_missing_files_and_never_overwrites(tmp_path: Path) -> None:
    sentinel = tmp_path / "cmops.yaml"
    sentinel.write_text("# mine, not the example's\n")
    post = tmp_path / "content/posts/de/2026-12-01-winter-launch.md"
    post.parent.mkdir(parents=True)
    post.write_text("my own post\n")
    outcome = invoke(["init", str(tmp_path), "--force"])
    assert outcome.code == 0
    assert f"({len(template_files()) - 2} files)" in outcome.stdout
    assert sentinel.read_text() == "# mine, not the example's\n"
    assert post.read_text() == "my own post\n"
    assert (tmp_path / "content/calendars/winter.yaml").is_file()
    again = invoke(["init", str(tmp_path), "--force"])
    assert again.code == 0
    assert "(0 files)" in again.stdout
    assert sentinel.read_text() == "# mine, not the example's\n"


# --- validate: formats ----------------------------------------------------------------------

BROKEN = """\
title: Broken
channels:
  - news
  - bksy
  - masto
"""
BROKEN_MESSAGE = "unknown channel 'bksy'; cmops.yaml defines: bsky-de, bsky-us, masto, news"


def test_json_format_is_one_exact_array(ws: Ws) -> None:
    rel = ws.post("broken", BROKEN, "Hello from a broken post.\n")
    outcome = ws.cli("validate", "--format", "json")
    assert outcome.code == 1
    assert outcome.stderr == ""
    data = json.loads(outcome.stdout)
    assert data == [{
        "file": rel,
        "line": 5,
        "column": 5,
        "path": "$.channels[1]",
        "code": "post.unknown-channel",
        "severity": "error",
        "message": BROKEN_MESSAGE,
    }]
    assert list(data[0]) == ["file", "line", "column", "path", "code", "severity", "message"]


def test_github_format(ws: Ws) -> None:
    rel = ws.post("broken", BROKEN, "Hello from a broken post.\n")
    outcome = ws.cli("validate", "--format", "github")
    assert (outcome.code, outcome.stderr) == (1, "")
    assert outcome.stdout == (
        f"::error file={rel},line=5,col=5,title=post.unknown-channel::{BROKEN_MESSAGE}\n"
    )


def test_github_format_escapes_properties(ws: Ws) -> None:
    ws.post("a,b", "channels: [bksy]", "Comma in the file name.\n")
    outcome = ws.cli("validate", "--format", "github")
    assert outcome.code == 1
    assert outcome.stdout.startswith(
        "::error file=content/posts/a%2Cb.md,line=2,col=12,title=post.unknown-channel::")


def test_text_format(ws: Ws) -> None:
    rel = ws.post("broken", BROKEN, "Hello from a broken post.\n")
    outcome = ws.cli("validate")
    assert outcome.code == 1
    assert outcome.stdout == f"{rel}:5:5: error [post.unknown-channel] {BROKEN_MESSAGE}\n"
    assert summary("1 error", "0 warnings", "1 file").fullmatch(outcome.stderr), outcome.stderr
    plain = ws.cli("--no-color", "validate")
    assert (plain.code, plain.stdout) == (1, outcome.stdout)


def test_formats_on_a_clean_workspace(ws: Ws) -> None:
    assert ws.cli("validate", "--format", "json").stdout == "[]\n"
    github = ws.cli("validate", "--format", "github")
    assert (github.code, github.stdout, github.stderr) == (0, "", "")


def test_findings_are_sorted_by_file_and_line(ws: Ws) -> None:
    ws.post("b", "channels: [nope]", "B.\n")
    ws.post("a", "channels: [news]\ntitle: x\nchannels: [news]", "A.\n")
    ws.post("a2", "channels:\n  - news\n  - nope1\n  - nope2", "A2.\n")
    assert ws.findings() == [
        ("content/posts/a.md", 4, 1, "yaml.duplicate-key"),
        ("content/posts/a2.md", 4, 5, "post.unknown-channel"),
        ("content/posts/a2.md", 5, 5, "post.unknown-channel"),
        ("content/posts/b.md", 2, 12, "post.unknown-channel"),
    ]


# --- validate: --strict ---------------------------------------------------------------------

UNUSED_VARIANT = """\
channels: [news]
variants:
  masto:
    text: Only for Mastodon.
"""


def test_warnings_fail_only_with_strict(ws: Ws) -> None:
    rel = ws.post("variant", UNUSED_VARIANT, "For the feed.\n")
    line = f"{rel}:4:3: warning [post.unused-variant] variant for 'masto', but the post's channels " \
           "do not include it\n"
    relaxed = ws.cli("validate")
    assert (relaxed.code, relaxed.stdout) == (0, line)
    assert summary("0 errors", "1 warning", "1 file").fullmatch(relaxed.stderr)
    strict = ws.cli("validate", "--strict")
    assert (strict.code, strict.stdout) == (1, line)
    assert ws.cli("validate", "--strict", "--format", "json").code == 1
    github = ws.cli("validate", "--format", "github")
    assert (github.code, github.stdout) == (
        0, f"::warning file={rel},line=4,col=3,title=post.unused-variant::variant for 'masto', "
           "but the post's channels do not include it\n")


def test_strict_on_a_clean_workspace_passes(ws: Ws) -> None:
    assert ws.cli("validate", "--strict").code == 0


# --- validate PATH ----------------------------------------------------------------------------

def test_validate_path_reports_only_that_file(ws: Ws) -> None:
    a = ws.post("sel/a", "channels: [nope]", "A.\n")
    b = ws.post("sel/b", "channels: [nope]", "B.\n")
    assert ws.findings(str(ws.path(a))) == [(a, 2, 12, "post.unknown-channel")]
    assert ws.findings(str(ws.path(b))) == [(b, 2, 12, "post.unknown-channel")]
    assert ws.findings(str(ws.path("content/posts/sel"))) == [
        (a, 2, 12, "post.unknown-channel"), (b, 2, 12, "post.unknown-channel")]
    clean = ws.cli("validate", str(ws.path("content/posts/de")))
    assert clean.code == 0
    assert SUMMARY_CLEAN.fullmatch(clean.stdout)


def test_validate_path_relative_to_the_current_folder(ws: Ws, monkeypatch: pytest.MonkeyPatch) -> None:
    a = ws.post("sel/a", "channels: [nope]", "A.\n")
    ws.post("sel/b", "channels: [nope]", "B.\n")
    monkeypatch.chdir(ws.path("content/posts"))
    assert ws.findings("sel/a.md") == [(a, 2, 12, "post.unknown-channel")]


def test_validate_settings_path_reports_everything(ws: Ws) -> None:
    a = ws.post("sel/a", "channels: [nope]", "A.\n")
    b = ws.post("sel/b", "channels: [nope]", "B.\n")
    assert ws.findings(str(ws.path("cmops.yaml"))) == [
        (a, 2, 12, "post.unknown-channel"), (b, 2, 12, "post.unknown-channel")]


def test_validate_path_keeps_cross_file_findings_it_takes_part_in(ws: Ws) -> None:
    # 30 minutes before the example's 10:00 tip on bsky-de: the cadence rule (min_gap 2h)
    # flags the later post, which is not the file asked about.
    clash = ws.post("de/clash", "channels: [bsky-de]\npublish_at: 2026-12-08 09:30", "Early.\n")
    tip = "content/posts/de/2026-12-08-tipp-offline.md"
    assert ws.findings(str(ws.path(clash))) == [(tip, 4, 13, "post.cadence-min-gap")]


@pytest.mark.parametrize(("path", "message"), [
    ("/etc/passwd", "is outside the workspace"),
    ("content/posts/missing.md", "no such file or directory"),
])
def test_validate_bad_path_exits_2(ws: Ws, monkeypatch: pytest.MonkeyPatch, path: str, message: str) -> None:
    monkeypatch.chdir(ws.root)
    outcome = ws.cli("validate", path)
    assert outcome.code == 2
    assert message in outcome.stderr


# --- validate --changed-since -----------------------------------------------------------------

def commit_all(repo: Path) -> None:
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "workspace")


def _break_three(ws: Ws) -> tuple[str, str, str]:
    """One broken post committed, then one broken by hand and one new untracked broken post."""
    old = ws.post("old-broken", "channels: [nope]", "Broken before the commit.\n")
    commit_all(ws.root)
    changed = "content/posts/de/2026-12-08-tipp-offline.md"
    ws.replace(changed, "channels: [bsky-de]", "channels: [bsky-dee]")
    new = ws.post("new-broken", "channels: [nope]", "Broken and untracked.\n")
    return old, changed, new


def test_changed_since_reports_changed_and_untracked_files_only(ws: Ws) -> None:
    old, changed, new = _break_three(ws)
    outcome = ws.validate("--changed-since", "HEAD")
    assert outcome.code == 1
    assert outcome.where() == [
        (changed, 3, 12, "post.unknown-channel"),
        (new, 2, 12, "post.unknown-channel"),
    ]
    assert old not in {w[0] for w in outcome.where()}
    assert ws.findings() == [
        (changed, 3, 12, "post.unknown-channel"),
        (new, 2, 12, "post.unknown-channel"),
        (old, 2, 12, "post.unknown-channel"),
    ]


def test_changed_since_with_nothing_changed_is_clean(ws: Ws) -> None:
    ws.post("old-broken", "channels: [nope]", "Broken before the commit.\n")
    commit_all(ws.root)
    outcome = ws.cli("validate", "--changed-since", "HEAD")
    assert outcome.code == 0
    assert SUMMARY_CLEAN.fullmatch(outcome.stdout)


def test_changed_since_a_settings_change_reports_everything(ws: Ws) -> None:
    old, changed, new = _break_three(ws)
    ws.replace("cmops.yaml", "name: Acme Community", "name: Acme Community  # renamed")
    assert ws.findings("--changed-since", "HEAD") == [
        (changed, 3, 12, "post.unknown-channel"),
        (new, 2, 12, "post.unknown-channel"),
        (old, 2, 12, "post.unknown-channel"),
    ]


def test_changed_since_with_the_workspace_in_a_subfolder_of_the_repo(tmp_path: Path, make_ws: MakeWs) -> None:
    repo = tmp_path / "repo"
    ws = make_ws("repo/social")
    (repo / "README.md").write_text("monorepo\n")
    commit_all(repo)
    changed = "content/posts/de/2026-12-08-tipp-offline.md"
    ws.replace(changed, "channels: [bsky-de]", "channels: [bsky-dee]")
    assert ws.findings("--changed-since", "HEAD") == [(changed, 3, 12, "post.unknown-channel")]


def test_changed_since_with_paths_narrows_further(ws: Ws) -> None:
    _, changed, _ = _break_three(ws)
    found = ws.findings("--changed-since", "HEAD", str(ws.path("content/posts/de")))
    assert found == [(changed, 3, 12, "post.unknown-channel")]


def test_changed_since_a_ref_that_does_not_exist_exits_2(ws: Ws) -> None:
    commit_all(ws.root)
    outcome = ws.cli("validate", "--changed-since", "no-such-branch")
    assert (outcome.code, outcome.stdout) == (2, "")
    assert "--changed-since no-such-branch: no such commit or branch here" in outcome.stderr
    process = ws.proc("validate", "--changed-since", "origin/main")
    assert (process.code, process.stdout) == (2, "")
    assert process.stderr.startswith("cmops: --changed-since origin/main: no such commit or branch here")


def test_changed_since_outside_a_git_repository_exits_2(ws: Ws) -> None:
    outcome = ws.proc("validate", "--changed-since", "HEAD",
                      env={"GIT_CEILING_DIRECTORIES": str(ws.root.parent)})
    assert (outcome.code, outcome.stdout) == (2, "")


def test_github_annotations_name_files_from_the_repository_root(tmp_path: Path, make_ws: MakeWs) -> None:
    repo = tmp_path / "repo"
    ws = make_ws("repo/social")
    commit_all(repo)
    changed = "content/posts/de/2026-12-08-tipp-offline.md"
    ws.replace(changed, "channels: [bsky-de]", "channels: [bsky-dee]")
    outcome = ws.cli("validate", "--format", "github")
    assert outcome.code == 1
    assert outcome.stdout.startswith(
        f"::error file=social/{changed},line=3,col=12,title=post.unknown-channel::")
