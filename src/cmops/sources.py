"""Reading files safely: size limits, binary and encoding problems become findings."""

from __future__ import annotations

import os
from pathlib import Path

from cmops.findings import Finding

#: Larger text files are refused unread: nobody writes a 2 MB post, but a hostile PR might.
MAX_TEXT_BYTES = 2 * 1024 * 1024


def read_text(path: Path | str, rel: str, limit: int = MAX_TEXT_BYTES) -> tuple[str | None, list[Finding]]:
    """Return the file's text, or ``None`` and a finding that says what is wrong with it."""
    try:
        size = os.stat(path).st_size  # noqa: PTH116
    except OSError as exc:
        return None, [_file_finding(rel, 1, "file.unreadable", f"cannot read file: {exc.strerror}")]
    if size > limit:
        return None, [
            _file_finding(
                rel,
                1,
                "file.too-large",
                f"file is {size / 1024 / 1024:.1f} MB; cmops reads text files up to "
                f"{limit // 1024 // 1024} MB (split it, or move media to content/media/)",
            )
        ]
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - also takes plain strings, cheaply
            # Read what stat promised (plus one byte, to notice growth), not the whole limit:
            # a 2 MB buffer per file was a visible cost over 10,000 posts.
            data = handle.read(size + 1)
            if len(data) > size:  # it grew since stat: read on, up to the limit
                data += handle.read(limit + 1 - len(data))
    except OSError as exc:
        return None, [_file_finding(rel, 1, "file.unreadable", f"cannot read file: {exc.strerror}")]
    if len(data) > limit:
        return None, [_file_finding(rel, 1, "file.too-large", f"file grew past {limit // 1024 // 1024} MB "
                                    "while being read")]
    return decode_text(data, rel)


def decode_text(data: bytes, rel: str) -> tuple[str | None, list[Finding]]:
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return None, [
            _file_finding(rel, line, "file.binary", "file contains NUL bytes: it is binary, not text")
        ]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        return None, [
            Finding(
                rel,
                line,
                column,
                "$",
                "file.encoding",
                "error",
                f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8",
            )
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n"), []


def _file_finding(rel: str, line: int, code: str, message: str) -> Finding:
    return Finding(rel, line, 1, "$", code, "error", message)
