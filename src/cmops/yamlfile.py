"""Safe YAML with positions: every value keeps the line and column it came from.

PyYAML's C composer gives us nodes with marks; we build plain Python data from them
ourselves so that duplicate keys, unknown tags, alias bombs and absurd nesting become
findings instead of silent overwrites, exponential blow-ups or a crashed interpreter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from cmops.findings import Finding, Severity, json_path

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_DEPTH = 64
MAX_NODES = 200_000
#: The C composer recurses per nesting level and overflows the C stack near 100k levels;
#: a document with fewer opening characters than this cannot nest dangerously deep.
_CHEAP_NESTING = 5_000

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}
_MERGE = "tag:yaml.org,2002:merge"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SAFE = yaml.constructor.SafeConstructor()

Path_ = tuple[str | int, ...]


class _Stop(Exception):
    def __init__(self, finding: Finding) -> None:
        self.finding = finding


@dataclass
class Document:
    """Parsed YAML plus the node tree, so any JSON path can be traced back to a line."""

    file: str
    data: Any
    node: yaml.Node | None
    line_offset: int = 0

    def where(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the value at ``path``, or of the nearest parent.

        With ``key=True`` and a mapping key as last element, point at the key itself.
        """
        node = self.node
        if node is None:
            return 1 + self.line_offset, 1
        mark = node.start_mark
        for part in path:
            found: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                for knode, vnode in node.value:  # the first of duplicate keys is the one kept
                    if isinstance(knode, yaml.ScalarNode) and knode.value == part:
                        found = vnode
                        if key and part == path[-1]:
                            kmark = knode.start_mark
                            return kmark.line + 1 + self.line_offset, kmark.column + 1
                        break
            elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
                  and 0 <= part < len(node.value)):
                found = node.value[part]
            if found is None:
                break
            node = found
            mark = node.start_mark
        return mark.line + 1 + self.line_offset, mark.column + 1

    def text_line(self, path: Sequence[str | int]) -> int:
        """The line where the text of the scalar at ``path`` starts: for a block scalar
        (``|`` or ``>``) that is the line after the indicator."""
        line, _ = self.where(path)
        node = self.node
        for part in path:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                node = None
        if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            return line + 1
        return line

    def finding(
        self,
        path: Sequence[str | int],
        code: str,
        message: str,
        severity: Severity = "error",
        *,
        key: bool = False,
    ) -> Finding:
        line, column = self.where(path, key=key)
        return Finding(self.file, line, column, json_path(tuple(path)), code, severity, message)


def load(text: str, file: str, line_offset: int = 0) -> tuple[Document | None, list[Finding]]:
    """Parse one YAML document. Returns ``None`` plus findings when it cannot be used."""
    findings: list[Finding] = []
    try:
        if _possible_depth(text) > _CHEAP_NESTING:
            _check_depth(text, file, line_offset)
        node = yaml.compose(text, Loader=_Loader)
        doc = Document(file, None, node, line_offset)
        if node is not None:
            doc.data = _Builder(doc, findings).build(node)
        return doc, findings
    except _Stop as stop:
        return None, [stop.finding]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1 if mark is not None else 1) + line_offset
        column = mark.column + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}, {exc.problem}"
        return None, [Finding(file, line, column, "$", "yaml.syntax", "error", f"YAML syntax: {problem}")]
    except yaml.YAMLError as exc:
        return None, [Finding(file, 1 + line_offset, 1, "$", "yaml.syntax", "error", f"YAML: {exc}")]


def _possible_depth(text: str) -> int:
    return text.count("[") + text.count("{") + text.count("- ") + text.count("? ")


def _check_depth(text: str, file: str, line_offset: int) -> None:
    """Walk the event stream (iterative in libyaml) before composing recursively."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                start = event.start_mark
                line, column = (start.line, start.column) if start else (0, 0)
                raise _Stop(_too_deep(file, line + 1 + line_offset, column + 1))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _too_deep(file: str, line: int, column: int) -> Finding:
    return Finding(
        file, line, column, "$", "yaml.too-deep", "error",
        f"YAML nests deeper than {MAX_DEPTH} levels; flatten the structure",
    )


class _Builder:
    def __init__(self, doc: Document, findings: list[Finding]) -> None:
        self.doc = doc
        self.findings = findings
        self.memo: dict[int, Any] = {}
        self.nodes = 0

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        if type(node) is yaml.ScalarNode:
            # The common case, kept cheap: scalars need no memo (an aliased scalar is one value).
            self.nodes += 1
            if self.nodes > MAX_NODES:
                self._check_size(node)
            if node.tag == _STR:
                return node.value
            return self._scalar(node)
        memo = self.memo.get(id(node))
        if memo is not None:
            # An alias: the value is shared, but it still counts as expanded size,
            # because everything downstream (schema, checks) walks the expansion.
            self.nodes += memo[1]
            self._check_size(node)
            return memo[0]
        before = self.nodes
        value = self._build(node, depth)
        self.memo[id(node)] = (value, self.nodes - before)
        return value

    def _check_size(self, node: yaml.Node) -> None:
        if self.nodes > MAX_NODES:
            mark = node.start_mark
            raise _Stop(
                Finding(
                    self.doc.file, mark.line + 1 + self.doc.line_offset, mark.column + 1, "$",
                    "yaml.too-complex", "error",
                    f"YAML expands to more than {MAX_NODES} values (alias bomb?); "
                    "remove the repeated anchors/aliases",
                )
            )

    def _build(self, node: yaml.Node, depth: int) -> Any:
        """Build a collection; ``depth`` 0 is the outermost one, as in ``_check_depth``."""
        self.nodes += 1
        self._check_size(node)
        if depth >= MAX_DEPTH:
            mark = node.start_mark
            raise _Stop(_too_deep(self.doc.file, mark.line + 1 + self.doc.line_offset, mark.column + 1))
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _SEQ)
            return [self.build(item, depth + 1) for item in node.value]
        assert isinstance(node, yaml.MappingNode)
        self._check_tag(node, _MAP)
        return self._mapping(node, depth)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):
            # Times stay text: cmops interprets them in the channel's zone, not UTC.
            return node.value
        if tag in _SCALAR_TAGS:
            return _SAFE.yaml_constructors[tag](_SAFE, node)
        self._bad_tag(node)
        return node.value

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            self._bad_tag(node)

    def _bad_tag(self, node: yaml.Node) -> None:
        mark = node.start_mark
        raise _Stop(
            Finding(
                self.doc.file, mark.line + 1 + self.doc.line_offset, mark.column + 1, "$",
                "yaml.unsupported-tag", "error",
                f"YAML tag {node.tag!r} is not supported; use plain values",
            )
        )

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for knode, vnode in node.value:
            if knode.tag == _MERGE:
                merged = self.build(vnode, depth + 1)
                sources = merged if isinstance(merged, list) else [merged]
                for source in sources:
                    if isinstance(source, dict):
                        for k, v in source.items():
                            result.setdefault(k, v)
                continue
            if not isinstance(knode, yaml.ScalarNode):
                mark = knode.start_mark
                raise _Stop(
                    Finding(
                        self.doc.file, mark.line + 1 + self.doc.line_offset, mark.column + 1,
                        "$", "yaml.complex-key", "error",
                        "mapping keys must be plain text, not lists or mappings",
                    )
                )
            key = knode.value
            if key in seen:
                mark = knode.start_mark
                self.findings.append(
                    Finding(
                        self.doc.file, mark.line + 1 + self.doc.line_offset, mark.column + 1,
                        "$", "yaml.duplicate-key", "error",
                        f"duplicate key {key!r} (first defined on line "
                        f"{seen[key] + 1 + self.doc.line_offset}); the second would silently win",
                    )
                )
                continue
            seen[key] = knode.start_mark.line
            result[key] = self.build(vnode, depth + 1)
        return result
