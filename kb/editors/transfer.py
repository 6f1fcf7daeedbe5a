"""Import, export and calibration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from core.db import transaction
from core.errors import FrontlineError
from core.web.auth import current_operator
from core.web.keys import SESSIONS, SETTINGS
from core.web.routes import Access, unit_of_work
from kb import articles, importer, picks
from kb.editors.common import kb_of, page, phrase, routes
from kb.models import ArticleStatus
from kb.web import recalibrated_path


def _calibration(request: web.Request) -> dict[str, Any]:
    kb = kb_of(request)
    settings = request.config_dict[SETTINGS]
    path = recalibrated_path(settings)
    if not path.exists():
        path = settings.data_dir / "kb" / "thresholds.yml"
    when = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
    return {
        "answer": kb.thresholds.answer,
        "suggest": kb.thresholds.suggest,
        "info": dict(kb.thresholds.info),
        "when": when,
        "embedder": kb.embedder.name,
        "path": str(path),
    }


async def _import_page(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    operator = current_operator(request)
    return await page(
        request,
        "kb_import.html",
        status=status,
        calibration=_calibration(request),
        is_admin=operator.role.value == "admin",
        **context,
    )


@routes.get("/import", access=Access.EDITOR, html=True)
async def import_page(request: web.Request) -> web.Response:
    """Import (Markdown + front matter, CSV, zip), export links, and the calibration status."""
    return await _import_page(request, report=None, problems=[])


@routes.post("/import", access=Access.EDITOR, html=True)
async def import_upload(request: web.Request) -> web.Response:
    """Import the uploaded file: all or nothing, with every problem's file and line."""
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _import_page(
            request, 422, report=None, problems=[], error=phrase(request, "editors.import.no_file")
        )
    raw = upload.file.read()
    if not raw:
        return await _import_page(request, 422, report=None, problems=[], error=phrase(request, "editors.import.empty"))
    try:
        contents = importer.parse_upload(raw, upload.content_type, upload.filename or "")
        async with unit_of_work(request) as uow:
            done = await articles.import_articles(uow, contents, current_operator(request).id)
    except importer.ImportFailed as exc:
        return await _import_page(request, 422, report=None, problems=exc.problems)
    except FrontlineError as exc:
        return await _import_page(request, exc.status, report=None, problems=[], error=exc.message)
    await kb_of(request).refresh([d.article_id for d in done if d.action != "unchanged"])
    return await _import_page(request, report=done, problems=[])


EVAL_SETS = ("kb_demo_tune.yml", "kb_colloquial_tune.yml")
"""The labelled questions the button calibrates on (the same sets as ``frontline kb calibrate``)."""


@routes.post("/calibrate", access=Access.ADMIN, html=True)
async def recalibrate(request: web.Request) -> web.Response:
    """Recalibrate the bands on the evaluation sets and the customers' picks; used at once and saved under
    ``var/kb/`` for the next start (the shipped ``data/kb/thresholds.yml`` is left alone)."""
    from kb.cli import load_questions

    settings = request.config_dict[SETTINGS]
    kb = kb_of(request)
    questions = [
        q for name in EVAL_SETS if (path := settings.data_dir / "eval" / name).exists() for q in load_questions(path)
    ]
    async with transaction(request.config_dict[SESSIONS]) as session:
        published = await articles.all_articles(session, ArticleStatus.PUBLISHED)
        chosen = await picks.labelled_picks(session)
    ids = {(a.slug, a.language): a.id for a in published}
    any_language = {a.slug: a.id for a in published}
    in_scope: list[tuple[str, str, int]] = []
    off_topic: list[tuple[str, str]] = []
    for text, language, slug in questions:
        if slug is None:
            off_topic.append((text, language))
        elif (article_id := ids.get((slug, language), any_language.get(slug))) is not None:
            in_scope.append((text, language, article_id))
    live = set(ids.values())
    in_scope += [(text, language, aid) for text, language, aid in chosen if aid in live]
    if not in_scope or not off_topic:
        return await _import_page(
            request, 422, report=None, problems=[], calibrated=phrase(request, "editors.calibration.failed")
        )
    thresholds = await kb.recalibrate(in_scope, off_topic)
    target = recalibrated_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    thresholds.save(target, kb.embedder.name)
    message = phrase(
        request,
        "editors.calibration.done",
        answer=f"{thresholds.answer:.4f}",
        suggest=f"{thresholds.suggest:.4f}",
        in_scope=len(in_scope),
        off_topic=len(off_topic),
    )
    return await _import_page(request, report=None, problems=[], calibrated=message)
