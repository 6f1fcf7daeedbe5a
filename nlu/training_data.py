"""Rasa YAML NLU training data: intents with annotated examples, synonyms, regexes and lookup tables.

The same files feed the builtin engine and ``rasa train nlu``. Supported (Rasa 3.x):

* ``- intent: NAME`` with ``examples:`` as a block of ``- text`` lines or a list of strings / ``{text: ...}``;
* entity annotations ``[text](entity)``, ``[text](entity:value)``, ``[text]{"entity": .., "value": ..}``
  and ``[text][{...}, {...}]`` (one span, several entities);
* ``- synonym: VALUE``, ``- regex: NAME``, ``- lookup: NAME`` (lookup examples may also be given as a list).

Any problem is a :class:`TrainingDataError` naming the file and the (1-based) line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.errors import InvalidInput

__all__ = [
    "AnnotatedEntity",
    "Example",
    "RegexPattern",
    "TrainingData",
    "TrainingDataError",
    "data_files",
    "load_training_data",
    "parse_annotated",
]

_SUFFIXES = (".yml", ".yaml")
_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]\[]+?)\]"
    r"(?:\((?P<entity>[^:)\s]+?)(?::(?P<value>[^)]+))?\)"
    r"|(?P<dict>\{[^}]*\})"
    r"|(?P<list>\[\s*\{.*?\}\s*\]))"
)
_NAME = re.compile(r"^[\w.\-]+$")


class TrainingDataError(InvalidInput):
    """Malformed training data; the message starts with ``file:line:``."""

    code = "nlu_training_data"

    def __init__(self, path: Path | str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}", file=str(path), line=line)
        self.path = str(path)
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class AnnotatedEntity:
    entity: str
    start: int
    end: int
    value: str
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    """One training utterance; ``text`` has the annotation markup removed."""

    text: str
    intent: str
    entities: tuple[AnnotatedEntity, ...] = ()
    source: str = ""
    """Where it came from, ``file:line``."""


@dataclass(frozen=True)
class RegexPattern:
    name: str
    pattern: str
    source: str = ""


@dataclass
class TrainingData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    """Lower-cased variant -> canonical value."""
    regexes: list[RegexPattern] = field(default_factory=list)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    @property
    def entity_names(self) -> list[str]:
        return sorted({a.entity for e in self.examples for a in e.entities})

    def fingerprint(self) -> str:
        """A hash of the content that matters for training (not of comments or file layout)."""
        content = {
            "examples": sorted(
                [e.intent, e.text, [[a.entity, a.start, a.end, a.value, a.role, a.group] for a in e.entities]]
                for e in self.examples
            ),
            "synonyms": sorted(self.synonyms.items()),
            "regexes": sorted((r.name, r.pattern) for r in self.regexes),
            "lookups": sorted((k, sorted(v)) for k, v in self.lookups.items()),
        }
        return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()

    def merge(self, other: TrainingData) -> None:
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        self.regexes.extend(other.regexes)
        for name, values in other.lookups.items():
            self.lookups.setdefault(name, []).extend(values)
        self.files.extend(other.files)


def data_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.yml``/``*.yaml`` files directly in the folder ``path`` (sorted)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _SUFFIXES)
    return [path]


def load_training_data(paths: Path | str | Sequence[Path | str]) -> TrainingData:
    """Load every file (folders: their ``*.yml``) into one :class:`TrainingData`."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if not p.exists():
            raise TrainingDataError(p, 0, "no such file or folder")
        files.extend(data_files(p))
    if not files:
        raise TrainingDataError(items[0] if items else "?", 0, "no *.yml training data files")
    data = TrainingData()
    for f in files:
        data.merge(_load_file(f))
    if not data.examples:
        raise TrainingDataError(files[0], 0, "no intent examples in the training data")
    return data


def parse_annotated(text: str, intent: str = "", source: str = "") -> Example:
    """``"где [T-000123](ticket_number)"`` -> Example(text="где T-000123", entities=(...,)).

    Raises ``ValueError`` for a malformed annotation.
    """
    plain: list[str] = []
    entities: list[AnnotatedEntity] = []
    pos = 0
    out_len = 0
    for m in _ANNOTATION.finditer(text):
        before = text[pos : m.start()]
        plain.append(before)
        out_len += len(before)
        span = m.group("text")
        start, end = out_len, out_len + len(span)
        for spec in _annotation_specs(m):
            name = spec.get("entity")
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(f"bad entity name {name!r} in annotation {m.group(0)!r}")
            value = spec.get("value", span)
            role, group = spec.get("role"), spec.get("group")
            entities.append(
                AnnotatedEntity(
                    name,
                    start,
                    end,
                    str(value),
                    None if role is None else str(role),
                    None if group is None else str(group),
                )
            )
        plain.append(span)
        out_len = end
        pos = m.end()
    plain.append(text[pos:])
    result = "".join(plain)
    leftover = re.search(r"\[[^\]]*\]\s*[({]", result)
    if leftover:
        raise ValueError(f"unparsable entity annotation near {leftover.group(0)!r}")
    return Example(text=result, intent=intent, entities=tuple(entities), source=source)


def _annotation_specs(m: re.Match[str]) -> list[dict[str, Any]]:
    if m.group("entity"):
        spec: dict[str, Any] = {"entity": m.group("entity")}
        if m.group("value"):
            spec["value"] = m.group("value")
        return [spec]
    raw = m.group("dict") or m.group("list") or ""
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"annotation {m.group(0)!r} is not valid JSON: {exc.msg}") from exc
    specs = loaded if isinstance(loaded, list) else [loaded]
    if not specs or not all(isinstance(s, dict) for s in specs):
        raise ValueError(f"annotation {m.group(0)!r} must be a JSON object or a list of objects")
    return specs


# ---------------------------------------------------------------- YAML walking with line numbers


def _load_file(path: Path) -> TrainingData:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TrainingDataError(path, 1, f"not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise TrainingDataError(path, 0, f"cannot read: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise TrainingDataError(path, line, f"YAML syntax error: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise TrainingDataError(path, 0, f"YAML error: {exc}") from exc
    data = TrainingData(files=[path])
    if root is None:
        return data  # an empty file adds nothing
    if not isinstance(root, MappingNode):
        raise TrainingDataError(path, _line(root), "the top level must be a mapping with an `nlu:` list")
    for key_node, value_node in root.value:
        key = _scalar(path, key_node)
        if key != "nlu":
            continue  # version, rules, stories, responses...: not ours to read
        if isinstance(value_node, ScalarNode) and value_node.value in ("", "null", "~"):
            continue
        if not isinstance(value_node, SequenceNode):
            raise TrainingDataError(path, _line(value_node), "`nlu:` must be a list of items")
        for item in value_node.value:
            _load_item(path, item, data)
    return data


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _scalar(path: Path, node: Node) -> str:
    if not isinstance(node, ScalarNode):
        raise TrainingDataError(path, _line(node), "expected a plain value here")
    return str(node.value)


def _load_item(path: Path, item: Node, data: TrainingData) -> None:
    if not isinstance(item, MappingNode):
        raise TrainingDataError(path, _line(item), "an `nlu:` item must be a mapping (intent/synonym/regex/lookup)")
    fields = {_scalar(path, k): (k, v) for k, v in item.value}
    kinds = [k for k in ("intent", "synonym", "regex", "lookup") if k in fields]
    if len(kinds) != 1:
        raise TrainingDataError(path, _line(item), "an `nlu:` item needs exactly one of intent, synonym, regex, lookup")
    kind = kinds[0]
    name_node = fields[kind][1]
    name = _scalar(path, name_node).strip()
    if not name:
        raise TrainingDataError(path, _line(name_node), f"empty {kind} name")
    if "examples" not in fields:
        raise TrainingDataError(path, _line(item), f"{kind} {name!r} has no `examples:`")
    lines = list(_example_lines(path, fields["examples"][1]))
    if kind == "intent":
        if not _NAME.match(name):
            raise TrainingDataError(path, _line(name_node), f"bad intent name {name!r}")
        for text, line in lines:
            try:
                example = parse_annotated(text, name, f"{path}:{line}")
            except ValueError as exc:
                raise TrainingDataError(path, line, str(exc)) from exc
            if not example.text.strip():
                raise TrainingDataError(path, line, f"empty example in intent {name!r}")
            data.examples.append(example)
            for ent in example.entities:
                span = example.text[ent.start : ent.end]
                if ent.value != span:
                    data.synonyms[span.lower()] = ent.value
    elif kind == "synonym":
        for text, _line_no in lines:
            data.synonyms[text.lower()] = name
    elif kind == "regex":
        for text, line in lines:
            try:
                re.compile(text)
            except re.error as exc:
                raise TrainingDataError(path, line, f"regex {name!r}: {exc}") from exc
            data.regexes.append(RegexPattern(name, text, f"{path}:{line}"))
    else:
        data.lookups.setdefault(name, []).extend(text for text, _ in lines)


def _example_lines(path: Path, node: Node) -> Iterable[tuple[str, int]]:
    """(text, 1-based line) for each example of a block string or a list."""
    if isinstance(node, ScalarNode):
        # A block scalar ("|") starts on the line after its indicator; a plain one on its own line.
        first = _line(node) + (1 if node.style in ("|", ">") else 0)
        for offset, raw in enumerate(str(node.value).splitlines()):
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not stripped.startswith("- "):
                if stripped == "-":
                    raise TrainingDataError(path, first + offset, "empty example")
                raise TrainingDataError(path, first + offset, f"an example must start with '- ', got {stripped!r}")
            yield stripped[2:].strip(), first + offset
    elif isinstance(node, SequenceNode):
        for child in node.value:
            if isinstance(child, ScalarNode):
                yield str(child.value).strip(), _line(child)
            elif isinstance(child, MappingNode):
                text_nodes = [v for k, v in child.value if isinstance(k, ScalarNode) and k.value == "text"]
                if not text_nodes:
                    raise TrainingDataError(path, _line(child), "an example mapping needs `text:`")
                yield _scalar(path, text_nodes[0]).strip(), _line(text_nodes[0])
            else:
                raise TrainingDataError(path, _line(child), "an example must be a string")
    else:
        raise TrainingDataError(path, _line(node), "`examples:` must be a block of '- ' lines or a list")
