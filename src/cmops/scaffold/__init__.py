"""``cmops init``: a working example workspace, plus the JSON Schemas for editors."""

from __future__ import annotations

import json
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from cmops.errors import UsageError
from cmops.schema import SCHEMAS, schema_text


def _walk(node: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    items = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        name = f"{prefix}{child.name}"
        if child.is_dir():
            items.extend(_walk(child, name + "/"))
        elif child.name != "__pycache__" and not child.name.endswith(".pyc"):
            items.append((name, child))
    return items


def template_files() -> dict[str, bytes]:
    """Every file ``init`` writes, by workspace-relative path."""
    base = resources.files("cmops.scaffold").joinpath("workspace")
    files = {name: item.read_bytes() for name, item in _walk(base)}
    for name in SCHEMAS:
        files[f"schemas/{name}.schema.json"] = schema_text(name).encode("utf-8")
    files[".vscode/settings.json"] = _vscode_settings().encode("utf-8")
    files["state/.gitkeep"] = b""
    files["metrics/.gitkeep"] = b""
    return files


def _vscode_settings() -> str:
    """Red Hat's YAML extension maps schemas to files; this gives autocompletion and hover help."""
    mapping = {f"./schemas/{name}.schema.json": glob for name, glob in SCHEMAS.items()
               if not glob.endswith(".md")}
    return json.dumps({"yaml.schemas": mapping}, indent=2) + "\n"


def write_workspace(directory: Path, *, force: bool = False) -> list[str]:
    """Write the example workspace. Never overwrites a file; refuses a non-empty folder
    unless ``force``, and then only adds the files that are missing."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder")
    if directory.is_dir() and not force and any(directory.iterdir()):
        raise UsageError(
            f"{directory} is not empty; choose a new folder, or add --force to add only the "
            "missing example files (existing files are never overwritten)"
        )
    written = []
    try:
        for name, data in template_files().items():
            target = directory / name
            if target.exists() or target.is_symlink():  # never write through a link
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(name)
    except OSError as exc:
        raise UsageError(f"cannot write the workspace into {directory}: {exc.strerror or exc}") from None
    return written
