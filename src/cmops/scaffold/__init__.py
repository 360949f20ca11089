"""``cmops init``: a working example workspace, plus the JSON Schemas for editors."""

from __future__ import annotations

import json
import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from cmops import __version__
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


#: The placeholder in the workflow templates for what ``pip install`` installs.
PIP_PLACEHOLDER = b"cmops==@CMOPS_VERSION@"
_SAFE_SPEC = re.compile(r"[A-Za-z0-9_.:/@+=<>!~,\[\] -]+")


def default_pip_spec() -> str:
    return f"cmops=={__version__}"


def template_files(pip_spec: str | None = None) -> dict[str, bytes]:
    """Every file ``init`` writes, by workspace-relative path. The workflows install
    ``pip_spec`` (default: this version of cmops from PyPI)."""
    spec = pip_spec or default_pip_spec()
    if not _SAFE_SPEC.fullmatch(spec):
        raise UsageError(f"--pip-spec {spec!r}: only a pip requirement such as 'cmops==1.2.0' or "
                         "'cmops @ git+https://github.com/OWNER/cmops@COMMIT' (no quotes or $)")
    base = resources.files("cmops.scaffold").joinpath("workspace")
    files = {name: item.read_bytes() for name, item in _walk(base)}
    for name, data in files.items():
        if name.startswith(".github/workflows/"):
            files[name] = data.replace(PIP_PLACEHOLDER, spec.encode("utf-8"))
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


def write_workspace(directory: Path, *, force: bool = False, pip_spec: str | None = None) -> list[str]:
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
        for name, data in template_files(pip_spec).items():
            target = directory / name
            if target.exists() or target.is_symlink():  # never write through a link
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(name)
    except OSError as exc:
        raise UsageError(f"cannot write the workspace into {directory}: {exc.strerror or exc}") from None
    return written
