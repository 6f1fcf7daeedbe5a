"""User-facing texts per language: ``data/templates/<lang>/*.yml``, flat dotted keys, Jinja2 placeholders.

Why YAML + Jinja2 rather than gettext: editors change bot replies and canned responses without a compile
step, the same files serve operators' canned responses, and a key (not the English sentence) identifies a
text, so fixing an English typo does not orphan the Russian one. Every language must have every key:
:meth:`Templates.missing` is checked by the test suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

LANGUAGES = ("ru", "en")


class TemplateError(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key written twice in one mapping: plain YAML keeps the last copy without a word, so
    two edits of one text would silently shadow each other."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is defined twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _flatten(prefix: str, value: Any, out: dict[str, Any], source: Path) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out, source)
        return
    if prefix in out:
        raise TemplateError(f"{source}: key {prefix!r} is defined twice")
    out[prefix] = value


class Templates:
    def __init__(self, texts: dict[str, dict[str, Any]], default_language: str = "ru") -> None:
        self._texts = texts
        self.default_language = default_language
        self._env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self._compiled: dict[tuple[str, str], Any] = {}

    @classmethod
    def load(cls, directory: Path, default_language: str = "ru") -> Templates:
        texts: dict[str, dict[str, Any]] = {}
        for language in LANGUAGES:
            merged: dict[str, Any] = {}
            for path in sorted((directory / language).glob("*.yml")):
                try:
                    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}  # noqa: S506 - a SafeLoader
                except yaml.YAMLError as exc:
                    raise TemplateError(f"{path}: {exc}") from exc
                if not isinstance(data, dict):
                    raise TemplateError(f"{path}: expected a mapping of keys to texts")
                _flatten("", data, merged, path)
            texts[language] = merged
        return cls(texts, default_language)

    def language(self, language: str | None) -> str:
        return language if language in self._texts else self.default_language

    def raw(self, key: str, language: str | None) -> Any:
        lang = self.language(language)
        try:
            return self._texts[lang][key]
        except KeyError:
            raise TemplateError(f"no template {key!r} in {lang!r}") from None

    def render(self, key: str, language: str | None, /, **params: Any) -> str:
        lang = self.language(language)
        compiled = self._compiled.get((lang, key))
        if compiled is None:
            source = self.raw(key, lang)
            if not isinstance(source, str):
                raise TemplateError(f"template {key!r} in {lang!r} is not a text")
            compiled = self._env.from_string(source)
            self._compiled[(lang, key)] = compiled
        return str(compiled.render(**params)).strip()

    def keys(self, language: str) -> set[str]:
        return set(self._texts.get(language, {}))

    def missing(self) -> dict[str, set[str]]:
        """Keys some language has and another lacks, per language that lacks them."""
        every = set().union(*(self.keys(lang) for lang in LANGUAGES))
        return {lang: every - self.keys(lang) for lang in LANGUAGES if every - self.keys(lang)}
