"""Findings are plain data: every check creates them, exactly one place renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


def json_path(path: tuple[str | int, ...]) -> str:
    """Render a document path the way check-jsonschema does: ``$.channels[0]``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{escaped}']"
    return out


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in one place. ``file`` is a POSIX path relative to the workspace root."""

    file: str
    line: int
    column: int
    path: str
    code: str
    severity: Severity
    message: str
    #: Other files involved (cadence, duplicates); lets --changed-since keep findings a
    #: changed file causes elsewhere. Not part of the rendered output.
    related: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }
