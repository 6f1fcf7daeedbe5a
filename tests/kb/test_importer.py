"""Import and export: the demo knowledge base round-trips; a broken batch is reported and imports nothing."""

from __future__ import annotations

import argparse
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import SessionFactory, transaction
from core.events import Event, InProcessBus
from core.settings import Settings
from core.uow import UnitOfWork
from kb import articles, importer
from kb.cli import cmd_export, cmd_import
from kb.importer import ImportFailed, parse_files, parse_path, to_csv, to_markdown, to_zip
from kb.models import Article
from kb.schemas import ArticleContent
from tests.support.kb import demo_file

GOOD = demo_file("reset-password.ru.md").read_bytes()
BROKEN = b"---\nslug: broken\nlanguage: ru\ntitle: [unclosed\nquestions:\n  - x\n---\nbody\n"


def _key(a: ArticleContent) -> tuple[str, str]:
    return (a.slug, a.language)


async def _count(sessions: SessionFactory) -> int:
    async with transaction(sessions) as session:
        return int(await session.scalar(select(func.count()).select_from(Article)) or 0)


async def test_demo_kb_round_trips_through_the_database(
    sessions: SessionFactory, demo_articles: list[ArticleContent]
) -> None:
    assert len(demo_articles) >= 120
    events: list[Event] = []
    bus = InProcessBus()

    async def seen(event: Event) -> None:
        events.append(event)

    bus.subscribe(seen)
    async with UnitOfWork(sessions, bus) as uow:
        done = await articles.import_articles(uow, demo_articles, None)
    await bus.drain()
    assert {d.action for d in done} == {"created"}
    assert len(events) == len(demo_articles), "every new article is announced to the search indexes"

    async with transaction(sessions) as session:
        exported = [articles.content_of(a) for a in await articles.all_articles(session)]
    original = sorted(demo_articles, key=_key)
    assert sorted(exported, key=_key) == original

    # ... and through each file format again.
    markdown = parse_files([(importer.markdown_filename(a), to_markdown(a).encode()) for a in exported])
    assert sorted(markdown, key=_key) == original
    assert sorted(parse_files([("kb.csv", to_csv(exported).encode("utf-8"))]), key=_key) == original
    assert sorted(importer.parse_zip(to_zip(exported)), key=_key) == original

    async with UnitOfWork(sessions, bus) as uow:
        again = await articles.import_articles(uow, markdown, None)
    assert {d.action for d in again} == {"unchanged"}, "importing an export changes nothing"


async def test_cli_export_then_import_round_trips(
    settings: Settings, sessions: SessionFactory, sample_articles: list[ArticleContent], tmp_path: Path
) -> None:
    async with UnitOfWork(sessions, InProcessBus()) as uow:
        await articles.import_articles(uow, sample_articles, None)
    for fmt, target in (("md", tmp_path / "md"), ("csv", tmp_path / "kb.csv")):
        args = argparse.Namespace(path=target, format=fmt, status=None)
        assert await cmd_export(args, settings) == 0
        assert sorted(parse_path(target), key=_key) == sorted(sample_articles, key=_key)


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir()
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    return folder


async def test_broken_front_matter_names_file_and_line_and_imports_nothing(
    settings: Settings, sessions: SessionFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _write(tmp_path / "kb", {"a-good.ru.md": GOOD, "b-broken.ru.md": BROKEN})
    args = argparse.Namespace(path=folder, no_embed=True)
    assert await cmd_import(args, settings) == 2
    err = capsys.readouterr().err
    assert "b-broken.ru.md:5:" in err
    assert "started on line 4" in err, "the unclosed bracket on line 4 is pointed at"
    assert await _count(sessions) == 0, "the good file of a broken batch is not imported either"

    (folder / "b-broken.ru.md").unlink()
    assert await cmd_import(args, settings) == 0
    assert await _count(sessions) == 1


def test_a_file_that_is_not_utf8_is_rejected_with_its_line() -> None:
    raw = "---\nslug: cp\nlanguage: ru\ntitle: Оплата\n---\nтекст\n".encode("cp1251")
    with pytest.raises(ImportFailed) as failed:
        parse_files([("good.ru.md", GOOD), ("windows.ru.md", raw)])
    [problem] = failed.value.problems
    assert (problem.file, problem.line) == ("windows.ru.md", 4)
    assert "UTF-8" in problem.message


def test_every_problem_of_a_batch_is_reported() -> None:
    missing_close = b"---\nslug: x\nlanguage: ru\ntitle: T\n"
    wrong_fields = b"---\nslug: Bad Slug\nlanguage: de\ntitle: T\nquestion: [a]\n---\n"
    no_front = b"# Just markdown\n"
    with pytest.raises(ImportFailed) as failed:
        parse_files([("a.md", missing_close), ("b.md", wrong_fields), ("c.md", no_front), ("d.ru.md", GOOD)])
    found = {(p.file, p.line) for p in failed.value.problems}
    assert found == {("a.md", 1), ("b.md", 2), ("b.md", 3), ("b.md", 5), ("c.md", 1)}
    assert failed.value.status == 422


def test_the_same_article_twice_in_a_batch_is_a_problem() -> None:
    with pytest.raises(ImportFailed) as failed:
        parse_files([("one/reset-password.ru.md", GOOD), ("two/reset-password.ru.md", GOOD)])
    [problem] = failed.value.problems
    assert problem.file == "two/reset-password.ru.md"
    assert "one/reset-password.ru.md" in problem.message


def test_csv_problems_name_the_line_where_the_record_starts() -> None:
    raw = (
        b"slug,language,title,questions,body\n"
        b'ok,ru,Title,"first\nsecond","Body with\n\nblank lines"\n'
        b"bad slug,ru,Title,q,b\n"
    )
    with pytest.raises(ImportFailed) as failed:
        parse_files([("kb.csv", raw)])
    [problem] = failed.value.problems
    assert (problem.file, problem.line) == ("kb.csv", 6)
    good = parse_files([("kb.csv", raw.rsplit(b"bad slug", 1)[0])])
    assert good[0].questions == ("first", "second")
    assert good[0].body == "Body with\n\nblank lines"


def test_a_zip_upload_with_a_csv_and_markdown_files() -> None:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("kb/reset-password.ru.md", GOOD)
        archive.writestr("kb/more.csv", "slug,language,title\nextra,en,Extra\n")
        archive.writestr("__MACOSX/kb/._reset-password.ru.md", b"\x00\x05junk")
    parsed = importer.parse_upload(buffer.getvalue(), "application/zip")
    assert sorted(_key(a) for a in parsed) == [("extra", "en"), ("reset-password", "ru")]
