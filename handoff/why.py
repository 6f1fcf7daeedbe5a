"""Why the bot said a message, as the conversation view shows it under the bot's messages.

The engine stamps every bot reply with ``meta["why"]`` (``bot.engine.engine._why``): intent and its
confidence, the knowledge base's band, the articles answered or offered with their calibrated confidence,
the closest article when none was good enough, and whether the question became a gap. Read defensively:
meta written by older versions, or odd, gives no line rather than an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Author, Message

BANDS = ("answer", "suggest", "unknown")  # the knowledge base's bands, each with its words in the templates


@dataclass(frozen=True, slots=True)
class WhyArticle:
    id: int
    title: str
    confidence: float | None


@dataclass(frozen=True, slots=True)
class Why:
    """Why the bot said a message, as the engine stamped it on the reply (``meta["why"]``)."""

    intent: str | None
    confidence: float | None
    band: str | None
    articles: list[WhyArticle]
    best: WhyArticle | None  # no answer: the closest article, too far to offer
    gap: bool
    picked: bool  # the customer chose the article among the offered ones


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _article(value: object) -> WhyArticle | None:
    if not isinstance(value, dict) or not isinstance(value.get("id"), int):
        return None
    return WhyArticle(int(value["id"]), str(value.get("title", "")), _number(value.get("confidence")))


def why_of(message: Message) -> Why | None:
    """The bot message's "why"; None for other messages and for bot messages stored without one."""
    raw = (message.meta or {}).get("why") if message.author is Author.BOT else None
    if not isinstance(raw, dict) or not raw:
        return None
    articles = raw.get("articles")
    return Why(
        intent=str(raw["intent"]) if raw.get("intent") else None,
        confidence=_number(raw.get("confidence")),
        band=str(raw["band"]) if raw.get("band") in BANDS else None,
        articles=[a for a in map(_article, articles if isinstance(articles, list) else []) if a is not None],
        best=_article(raw.get("best")),
        gap=bool(raw.get("gap")),
        picked=bool(raw.get("picked")),
    )
