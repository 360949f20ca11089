"""Finding and loading the workspace's files. Everything wrong becomes a finding."""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from cmops import schedule, schema, yamlfile
from cmops.errors import ConfigError
from cmops.findings import Finding
from cmops.model import (
    DEFAULT_GRACE,
    DEFAULT_LOOKAHEAD,
    Blackout,
    Cadence,
    Campaign,
    Channel,
    Settings,
    Slot,
    Workspace,
)
from cmops.posts import POSTS_DIR, load_post, post_id
from cmops.sources import read_text
from cmops.yamlfile import Document

SETTINGS_FILE = "cmops.yaml"
CALENDARS_DIR = "content/calendars"
POLICIES = {"voice": "policies/voice.yaml", "approvals": "policies/approvals.yaml",
            "responses": "policies/responses.yaml"}
REPLIES_DIR = "policies/replies"
POLICY_TESTS_DIR = "policies/tests"
#: Files that look like posts but are not read as posts (a post silently never going out
#: is the failure users hate most, so these get a warning).
LOOKALIKE_SUFFIXES = (".MD", ".Md", ".mD", ".markdown", ".mdown", ".txt")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while loading.

    Loading keeps every file's YAML node tree (for line numbers) and creates no reference
    cycles; with the collector running, its repeated full passes over that growing heap
    took more time than parsing itself. Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # Move what loading made to the oldest generation first; otherwise the first
            # collection after enabling scans all of it as "young" objects at once.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding cmops.yaml."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / SETTINGS_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {SETTINGS_FILE} found in {start} or above; run 'cmops init' to create a workspace, "
        "or pass --root DIR"
    )


class Source(NamedTuple):
    """A file to read: absolute path, workspace-relative POSIX name, and whether a link is
    involved (only then is the costly real-path containment check needed)."""

    path: str
    name: str
    linked: bool


def files(root: Path, folder: str, suffixes: tuple[str, ...], recursive: bool) -> list[Source]:
    """Files with these suffixes under ``folder``, in a stable order. Plain strings and
    ``os.scandir`` on purpose: pathlib's overhead was a visible share of validating
    10,000 posts."""
    base = root / folder
    found: list[Source] = []
    # Any link on the way to the folder (content/ itself may be one) marks all its files.
    pending = [(str(base), folder, _through_link(base))]
    while pending:
        directory, prefix, linked = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            name = f"{prefix}/{entry.name}"
            is_link = linked or entry.is_symlink()
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    pending.append((entry.path, name, is_link))
            elif entry.name.endswith(suffixes) and entry.is_file():
                found.append(Source(entry.path, name, is_link))
    found.sort(key=lambda source: source.name)
    return found


def read_inside(root: Path, source: Source) -> tuple[str | None, list[Finding]]:
    """Read a workspace file, refusing links that lead out of the workspace."""
    if source.linked and not Path(os.path.realpath(source.path)).is_relative_to(os.path.realpath(root)):
        return None, [Finding(source.name, 1, 1, "$", "file.outside-workspace", "error",
                              "this is a link to a file outside the workspace; cmops does not read it")]
    return read_text(source.path, source.name)


def load_yaml_file(root: Path, source: Source, schema_name: str) -> tuple[Document | None, list[Finding]]:
    """Read, parse and schema-check one YAML file; ``None`` unless it is schema-valid."""
    text, findings = read_inside(root, source)
    if text is None:
        return None, findings
    doc, findings = yamlfile.load(text, source.name)
    if doc is None:
        return None, findings
    if doc.data is None:
        doc.data = {}
    schema_findings = schema.validate(doc, schema_name)
    findings.extend(schema_findings)
    return (None if schema_findings else doc), findings


def single(root: Path, name: str) -> Source:
    path = root / name
    return Source(str(path), name, _through_link(path))


def _through_link(path: Path) -> bool:
    """Whether any part of ``path`` is a symbolic link (the root itself may be one)."""
    return os.path.realpath(path) != os.path.abspath(path)  # noqa: PTH100 - no link resolution wanted here


def load(root: Path, settled: Mapping[str, str] | None = None) -> tuple[Workspace, list[Finding]]:
    """Load the workspace. ``settled`` (post id -> hash of its file, from the receipts) lets
    the planner skip parsing post files that had nothing left to do and are unchanged since."""
    settings, findings = _read_settings(root)
    workspace = Workspace(root=root, settings=settings, files_checked=1)
    for source in files(root, POSTS_DIR, (".md", *LOOKALIKE_SUFFIXES), recursive=True):
        if not source.name.endswith(".md"):
            findings.append(Finding(
                source.name, 1, 1, "$", "post.ignored-file", "warning",
                "only files ending in '.md' are posts; this one is never published: rename it",
            ))
            continue
        workspace.files_checked += 1
        text, found = read_inside(root, source)
        findings.extend(found)
        if text is not None and settled and _unchanged(settled, source.name, text):
            workspace.settled_unparsed += 1
            continue
        if text is not None:
            post, found = load_post(text, source.name, settings)
            findings.extend(found)
            if post is not None:
                workspace.posts.append(post)
    zone = settings.zone if settings else schedule.zone("UTC")
    assert zone is not None
    for source in files(root, CALENDARS_DIR, (".yaml", ".yml"), recursive=False):
        workspace.files_checked += 1
        doc, found = load_yaml_file(root, source, "calendar")
        findings.extend(found)
        if doc is not None:
            findings.extend(_add_calendar(workspace, doc, zone))
    for attr, name in POLICIES.items():
        if (root / name).is_file():
            workspace.files_checked += 1
            doc, found = load_yaml_file(root, single(root, name), attr)
            findings.extend(found)
            setattr(workspace, attr, doc)
    for source in files(root, POLICY_TESTS_DIR, (".yaml", ".yml"), recursive=False):
        workspace.files_checked += 1
        doc, found = load_yaml_file(root, source, "response-tests")
        findings.extend(found)
        if doc is not None:
            workspace.response_tests.append(doc)
    replies = files(root, REPLIES_DIR, (".md",), recursive=False)
    workspace.replies = {source.name.rsplit("/", 1)[1][:-3] for source in replies}
    return workspace, findings


def _read_settings(root: Path) -> tuple[Settings | None, list[Finding]]:
    settings_path = root / SETTINGS_FILE
    if not settings_path.is_file():
        raise ConfigError(f"{settings_path} does not exist; run 'cmops init {root}' to create one")
    doc, findings = load_yaml_file(root, single(root, SETTINGS_FILE), "cmops")
    if doc is None:
        return None, findings
    settings, found = build_settings(doc)
    return settings, [*findings, *found]


def load_settings(root: Path) -> Settings:
    """Only cmops.yaml, for work that needs the channels but not the posts."""
    settings, findings = _read_settings(root)
    if settings is None:
        raise _unusable_settings(findings)
    return settings


def _unusable_settings(findings: list[Finding]) -> ConfigError:
    from cmops.render import render

    problems = render([f for f in findings if f.file == SETTINGS_FILE], "text")
    return ConfigError(f"{SETTINGS_FILE} has problems; fix them first:\n{problems}")


def _unchanged(settled: Mapping[str, str], name: str, text: str) -> bool:
    known = settled.get(post_id(name))
    return known is not None and known == hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_settings(doc: Document) -> tuple[Settings, list[Finding]]:
    findings: list[Finding] = []
    data: dict[str, Any] = doc.data
    default_zone = _zone(doc, ["timezone"], data["timezone"], findings)
    channels = {}
    for channel_id, options in data["channels"].items():
        zone = default_zone
        if "timezone" in options:
            zone = _zone(doc, ["channels", channel_id, "timezone"], options["timezone"], findings)
        channels[channel_id] = Channel(
            channel_id, options["platform"], zone,
            options.get("language", data.get("language")), options,
        )
    publishing = data.get("publishing", {})
    durations = []
    for key, default in (("lookahead", DEFAULT_LOOKAHEAD), ("grace", DEFAULT_GRACE)):
        value = default
        if key in publishing:
            try:
                value = schedule.parse_duration(publishing[key])
            except schedule.TimeProblem as problem:
                findings.append(doc.finding(["publishing", key], problem.code, str(problem)))
        durations.append(value)
    settings = Settings(
        data["name"], default_zone, data.get("language"), channels, durations[0], durations[1], doc
    )
    return settings, findings


def _zone(doc: Document, path: list[str | int], name: str, findings: list[Finding]) -> Any:
    zone = schedule.zone(name)
    if zone is None:
        findings.append(
            doc.finding(
                path, "zone.invalid",
                f"{name!r} is not an IANA time zone; use a name like Europe/Berlin, "
                "America/New_York or UTC",
            )
        )
        zone = schedule.zone("UTC")
    return zone


def _add_calendar(workspace: Workspace, doc: Document, zone: Any) -> list[Finding]:
    findings: list[Finding] = []
    data: dict[str, Any] = doc.data

    def instant(path: list[str | int], value: str, end: bool = False) -> Any:
        try:
            return schedule.parse_instant(str(value), zone, end_of_day=end)
        except schedule.TimeProblem as problem:
            findings.append(doc.finding(path, problem.code, str(problem)))
            return None

    for cid, item in data.get("campaigns", {}).items():
        if cid in workspace.campaigns:
            other = workspace.campaigns[cid].doc.file
            findings.append(
                doc.finding(["campaigns", cid], "calendar.duplicate-campaign",
                            f"campaign {cid!r} is also defined in {other}", key=True)
            )
            continue
        start = instant(["campaigns", cid, "start"], item["start"])
        end = instant(["campaigns", cid, "end"], item["end"], end=True)
        if start and end and end <= start:
            findings.append(doc.finding(["campaigns", cid, "end"], "calendar.bad-window",
                                        f"campaign {cid!r} ends before it starts"))
        workspace.campaigns[cid] = Campaign(
            cid, item.get("name", cid), start, end, item.get("channels"), item.get("goals", []), doc
        )
    for index, item in enumerate(data.get("blackouts", [])):
        start = instant(["blackouts", index, "start"], item["start"])
        end = instant(["blackouts", index, "end"], item["end"], end=True)
        if start and end:
            if end <= start:
                findings.append(doc.finding(["blackouts", index, "end"], "calendar.bad-window",
                                            "blackout ends before it starts"))
            name = item.get("name") or item.get("reason") or f"blackout {index + 1}"
            workspace.blackouts.append(Blackout(name, start, end, item.get("channels"), index, doc))
    for index, item in enumerate(data.get("cadence", [])):
        gap = None
        if "min_gap" in item:
            try:
                gap = schedule.parse_duration(item["min_gap"])
            except schedule.TimeProblem as problem:
                findings.append(doc.finding(["cadence", index, "min_gap"], problem.code, str(problem)))
        workspace.cadence.append(Cadence(item.get("channels"), item.get("max_per_day"), gap,
                                         item.get("severity", "error"), index, doc))
    for item in data.get("slots", []):
        workspace.slots.append(Slot(item["name"], item["weekdays"], item["time"], item.get("channels")))
    return findings


def load_for_command(root: Path, settled: Mapping[str, str] | None = None) -> tuple[Workspace, list[Finding]]:
    """Load for commands other than validate: unusable settings stop the command (exit 2)."""
    with gc_paused():
        space, findings = load(root, settled)
    if space.settings is None:
        raise _unusable_settings(findings)
    return space, findings
