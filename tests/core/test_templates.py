"""User-facing texts: every key in every language, placeholders that render."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.templates import LANGUAGES, TemplateError, Templates


def test_every_language_has_every_key(templates: Templates) -> None:
    assert templates.missing() == {}


def test_every_text_renders_without_unknown_syntax(templates: Templates) -> None:
    for language in LANGUAGES:
        for key in templates.keys(language):
            value = templates.raw(key, language)
            if isinstance(value, str):
                templates._env.parse(value)  # a syntax error is a test failure, not a runtime surprise


def test_render_fills_placeholders_and_falls_back_to_default_language(tmp_path: Path) -> None:
    for lang, text in (("ru", "Заявка {{ number }}"), ("en", "Ticket {{ number }}")):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "t.yml").write_text(f"ticket.created: '{text}'\n", encoding="utf-8")
    templates = Templates.load(tmp_path)
    assert templates.render("ticket.created", "en", number="T-000001") == "Ticket T-000001"
    assert templates.render("ticket.created", "de", number="T-000001") == "Заявка T-000001"
    with pytest.raises(TemplateError):
        templates.render("ticket.missing", "en")
    with pytest.raises(Exception, match="number"):
        templates.render("ticket.created", "en")


def test_a_key_missing_in_one_language_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ru").mkdir()
    (tmp_path / "en").mkdir()
    (tmp_path / "ru" / "a.yml").write_text("greeting: 'Привет'\nbye: 'Пока'\n", encoding="utf-8")
    (tmp_path / "en" / "a.yml").write_text("greeting: 'Hi'\n", encoding="utf-8")
    assert Templates.load(tmp_path).missing() == {"en": {"bye"}}


def test_a_key_written_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    """Two edits of one text in one file once shadowed each other silently (the later copy won)."""
    for lang in ("ru", "en"):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "t.yml").write_text("a.b: 'one'\na.b: 'two'\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="defined twice"):
        Templates.load(tmp_path)
