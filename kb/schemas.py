"""The knowledge base's JSON shapes: article content (shared by the editors' API and the importer), API in/out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kb.models import ArticleStatus

Language = Literal["ru", "en"]
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?$"
_SLUG = re.compile(SLUG_PATTERN)
MAX_BODY_CHARS = 100_000
MAX_QUESTIONS = 100
MAX_QUESTION_CHARS = 500


def check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("a slug uses lowercase latin letters, digits and '-' (like internet-not-working)")
    return value


def _clean_list(values: tuple[str, ...], what: str, max_chars: int) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = value.strip()
        if not text:
            raise ValueError(f"{what} must not be empty")
        if len(text) > max_chars:
            raise ValueError(f"{what} is longer than {max_chars} characters")
        out.append(text)
    return tuple(out)


class ArticleContent(BaseModel):
    """What an editor writes: the same fields in the editors' API, Markdown front matter and CSV."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(
        max_length=120,
        description="Shared by an article's translations: lowercase latin letters, digits, -",
        json_schema_extra={"pattern": SLUG_PATTERN},
    )
    language: Language
    title: str = Field(min_length=1, max_length=300)
    questions: tuple[str, ...] = Field(default=(), max_length=MAX_QUESTIONS, description="How customers ask it")
    body: str = Field(default="", max_length=MAX_BODY_CHARS, description="The answer, Markdown")
    category: str = Field(default="", max_length=64)
    tags: tuple[str, ...] = Field(default=(), max_length=50)
    status: ArticleStatus = ArticleStatus.DRAFT

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        return check_slug(value)

    @field_validator("title", "category")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value:
            raise ValueError("the title must not be empty")
        return value

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        # Markdown ignores blank lines at either end; normalising them makes import → export → import stable.
        return value.replace("\r\n", "\n").strip("\n").rstrip()

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_list(value, "a question", MAX_QUESTION_CHARS)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _clean_list(value, "a tag", 64)


class ArticleUpdate(BaseModel):
    """Changed fields plus the ``version`` the editor read: a save over a newer version is refused (409)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    slug: str | None = Field(default=None, max_length=120, json_schema_extra={"pattern": SLUG_PATTERN})
    language: Language | None = None
    title: str | None = Field(default=None, min_length=1, max_length=300)
    questions: tuple[str, ...] | None = Field(default=None, max_length=MAX_QUESTIONS)
    body: str | None = Field(default=None, max_length=MAX_BODY_CHARS)
    category: str | None = Field(default=None, max_length=64)
    tags: tuple[str, ...] | None = Field(default=None, max_length=50)
    note: str = Field(default="", max_length=200, description="Why, shown in the revision list")

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return None if value is None else check_slug(value)


class VersionCheck(BaseModel):
    """Optionally the version the editor read; when given, a newer version on the server is a conflict."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1)


class ArticleQuery(BaseModel):
    status: ArticleStatus | None = None
    language: Language | None = None
    category: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, max_length=200, description="Words in the title, questions or body")
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class TranslationRef(BaseModel):
    id: int
    language: str
    status: ArticleStatus


class ArticleSummary(BaseModel):
    id: int
    slug: str
    language: str
    title: str
    category: str
    tags: list[str]
    status: ArticleStatus
    version: int
    views: int
    helpful: int
    not_helpful: int
    updated_at: datetime


class ArticleOut(ArticleSummary):
    questions: list[str]
    body: str
    body_html: str = Field(description="The body rendered to safe HTML")
    author_id: int | None
    created_at: datetime
    published_at: datetime | None
    translations: list[TranslationRef]


class ArticleList(BaseModel):
    items: list[ArticleSummary]
    total: int


class RevisionOut(BaseModel):
    id: int
    version: int
    title: str
    questions: list[str]
    body: str
    category: str
    tags: list[str]
    status: ArticleStatus
    author_id: int | None
    note: str
    created_at: datetime


class RevisionList(BaseModel):
    items: list[RevisionOut]


class PreviewIn(BaseModel):
    question: str = Field(max_length=20_000)
    language: Language | None = None
    k: int = Field(default=5, ge=1, le=20)


class PreviewHit(BaseModel):
    article_id: int
    slug: str
    language: str
    title: str
    band: str
    score: float
    confidence: float
    dense: float
    lexical: float


class PreviewOut(BaseModel):
    band: str = Field(description="answer / suggest / unknown: what the bot would do with the top hit")
    answer_html: str | None = Field(description="The answer the bot would give (band answer), as safe HTML")
    hits: list[PreviewHit]
    thresholds: dict[str, float]


class GapQuery(BaseModel):
    days: int = Field(default=7, ge=1, le=365)
    language: Language | None = None


class GapGroupOut(BaseModel):
    text: str = Field(description="The most typical question of the group")
    language: str
    count: int
    conversations: int = Field(description="Distinct conversations the questions came from")
    examples: list[str]
    channels: dict[str, int]
    first_seen: datetime
    last_seen: datetime
    gap_ids: list[int]


class GapGroups(BaseModel):
    days: int
    total: int
    groups: list[GapGroupOut]


class GapIds(BaseModel):
    gap_ids: list[int] = Field(min_length=1, max_length=5000)


class GapConvert(GapIds):
    title: str | None = Field(default=None, min_length=1, max_length=300)


class DismissOut(BaseModel):
    dismissed: int


class CandidateOut(BaseModel):
    text: str = Field(description="The customer's question, as written")
    language: str
    count: int = Field(description="How many times customers asked it and picked this article")
    pick_ids: list[int]
    last_seen: datetime


class CandidateList(BaseModel):
    article_id: int
    items: list[CandidateOut]


class PickIds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pick_ids: list[int] = Field(min_length=1, max_length=1000)


class PickAccept(PickIds):
    version: int = Field(ge=1, description="The article version the editor read (409 when someone saved since)")


class ImportedArticle(BaseModel):
    slug: str
    language: str
    action: Literal["created", "updated", "unchanged"]
    article_id: int


class ImportReport(BaseModel):
    created: int
    updated: int
    unchanged: int
    articles: list[ImportedArticle]


class ExportQuery(BaseModel):
    format: Literal["md", "csv"] = "md"
    status: ArticleStatus | None = None
