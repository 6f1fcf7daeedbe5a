"""Editable YAML files under ``data/``: read strictly, refused with the file and the dotted key at fault.

A bad edit (a typo'd key, a duplicate key, a wrong type) fails when the file is loaded — at start-up —
with a pointer to what to fix, never later in the middle of a customer's turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["DataFileError", "Strict", "read_yaml", "validate"]

_M = TypeVar("_M", bound=BaseModel)


class DataFileError(ValueError):
    """A bad data file; ``file`` and ``key`` point at the offending entry."""

    def __init__(self, file: Path, key: str, reason: str) -> None:
        super().__init__(f"{file}: {key or '<root>'}: {reason}")
        self.file = file
        self.key = key
        self.reason = reason


class Strict(BaseModel):
    """The base of every data-file model: unknown keys are typos until proven otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except OSError as exc:
        raise DataFileError(path, "", f"cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise DataFileError(path, "", f"invalid YAML: {exc}") from exc


def validate(path: Path, model: type[_M], data: Any) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        # Pydantic prefixes our own ValueError messages; the file and key already say what failed.
        reason = first["msg"].removeprefix("Value error, ")
        if exc.error_count() > 1:
            reason += f" (+{exc.error_count() - 1} more)"
        raise DataFileError(path, key, reason) from exc
