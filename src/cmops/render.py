"""The one place findings become text: plain, JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence

from cmops.findings import Finding


def render(findings: Sequence[Finding], fmt: str, *, color: bool = False, prefix: str = "") -> str:
    """``prefix`` is the workspace's folder inside the git repository (GitHub annotations
    name files from the repository root)."""
    if fmt == "json":
        return json.dumps([f.as_dict() for f in findings], indent=2, ensure_ascii=False)
    if fmt == "github":
        return "\n".join(_github(f, prefix) for f in findings)
    return "\n".join(_text(f, color) for f in findings)


def summary(findings: Sequence[Finding], checked: int) -> str:
    errors = sum(f.is_error for f in findings)
    warnings = len(findings) - errors
    files = len({f.file for f in findings})
    if not findings:
        return f"All good: {checked} files checked, no problems found."
    return (f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')} in "
            f"{_plural(files, 'file')} ({checked} files checked).")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _text(f: Finding, color: bool) -> str:
    label: str = f.severity
    if color:
        label = f"\x1b[{'31' if f.is_error else '33'}m{label}\x1b[0m"
    return f"{f.file}:{f.line}:{f.column}: {label} [{f.code}] {f.message}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(f: Finding, prefix: str) -> str:
    props = (f"file={_escape_property(prefix + f.file)},line={f.line},col={f.column},"
             f"title={_escape_property(f.code)}")
    return f"::{f.severity} {props}::{_escape_data(f.message)}"
