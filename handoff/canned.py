"""Canned responses: replies operators insert by shortcut, one text per language, with placeholders.

Placeholders are Jinja2 expressions rendered in a sandbox: ``{{ name }}`` (the customer's name),
``{{ operator }}`` (the operator's name), ``{{ ticket }}`` and ``{{ eta }}`` (the customer's newest open
ticket and what they were promised for it; empty when there is none). A text that does not parse, or names
another placeholder, is refused when an admin saves it, so operators never meet a broken one.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput, NotFound
from core.store import clean_text
from handoff.models import CannedResponse

PLACEHOLDERS = ("name", "operator", "ticket", "eta")
LANGUAGES = ("ru", "en")
_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@dataclass(frozen=True, slots=True)
class Rendered:
    shortcut: str
    title: str
    text: str


def _check(body: str) -> None:
    try:
        names = meta.find_undeclared_variables(_env.parse(body))
    except TemplateError as exc:
        raise InvalidInput(f"the text has a broken placeholder: {exc}", field="body") from None
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        raise InvalidInput("unknown placeholders", field="body", unknown=unknown, known=list(PLACEHOLDERS))


async def save(
    session: AsyncSession, *, shortcut: str, language: str, title: str, body: str, canned_id: int | None = None
) -> CannedResponse:
    shortcut = shortcut.strip().lstrip("/").lower()
    if not shortcut or len(shortcut) > 40 or not all(c.isalnum() or c in "-_" for c in shortcut):
        raise InvalidInput("a shortcut is 1-40 letters, digits, '-' or '_'", field="shortcut")
    if language not in LANGUAGES:
        raise InvalidInput("language is ru or en", field="language")
    title = clean_text(title, 200)[0]
    body = clean_text(body, 4000)[0]
    if not title or not body:
        raise InvalidInput("a canned response needs a title and a text", field="body")
    _check(body)
    clash = await session.scalar(
        select(CannedResponse.id).where(CannedResponse.shortcut == shortcut, CannedResponse.language == language)
    )
    if clash is not None and clash != canned_id:
        raise Conflict("this shortcut already exists in this language", shortcut=shortcut, language=language)
    if canned_id is None:
        row = CannedResponse(shortcut=shortcut, language=language, title=title, body=body)
        session.add(row)
    else:
        found = await session.get(CannedResponse, canned_id)
        if found is None:
            raise NotFound("no such canned response", id=canned_id)
        row = found
        row.shortcut, row.language, row.title, row.body = shortcut, language, title, body
    await session.flush()
    return row


async def delete(session: AsyncSession, canned_id: int) -> None:
    row = await session.get(CannedResponse, canned_id)
    if row is None:
        raise NotFound("no such canned response", id=canned_id)
    await session.delete(row)


async def all_responses(session: AsyncSession) -> list[CannedResponse]:
    stmt = select(CannedResponse).order_by(CannedResponse.shortcut, CannedResponse.language)
    return list((await session.execute(stmt)).scalars())


async def search(session: AsyncSession, query: str, language: str, limit: int = 10) -> list[CannedResponse]:
    """By shortcut or title, in the conversation's language."""
    text = query.strip().lstrip("/").lower()[:40]
    stmt = select(CannedResponse).where(CannedResponse.language == language)
    if text:
        like = f"%{text.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(CannedResponse.shortcut.like(like), CannedResponse.title.ilike(like)))
    return list((await session.execute(stmt.order_by(CannedResponse.shortcut).limit(limit))).scalars())


def render(row: CannedResponse, values: dict[str, str]) -> Rendered:
    filled = {name: values.get(name, "") for name in PLACEHOLDERS}
    return Rendered(shortcut=row.shortcut, title=row.title, text=_env.from_string(row.body).render(**filled))
