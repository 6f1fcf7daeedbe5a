"""Answering from the knowledge base: answer, suggest, or say honestly that we do not know."""

from __future__ import annotations

from collections.abc import Sequence

from bot.engine.ports import Hit, Knowledge
from bot.engine.turn import Turn
from bot.engine.words import normalise
from core.buttons import Action

MAX_SUGGESTIONS = 3
UNKNOWNS_BEFORE_HUMAN = 2


async def answer_question(turn: Turn, kb: Knowledge, question: str, *, out_of_scope: bool = False) -> None:
    # "КАК ОПЛАТИТЬ ИНТЕРНЕТ!!!!!!" is the same question as "как оплатить интернет".
    hits = await kb.search(normalise(question) or question, turn.language, k=MAX_SUGGESTIONS + 1)
    turn.state.last_question = question
    # The NLU's out-of-scope verdict against the knowledge base's confidence: when they disagree the customer
    # chooses among titles rather than getting a confident answer to something we may not cover.
    doubted = out_of_scope and turn.parse is not None
    if hits and str(hits[0].band) == "answer" and not doubted:
        turn.band = "answer"
        others = [h.article_id for h in hits[1:] if str(h.band) != "unknown"][: MAX_SUGGESTIONS - 1]
        give_article(turn, hits[0], others)
        turn.why["articles"] = [cited(hits[0])]
        return
    suggestions = [h for h in hits if str(h.band) in ("answer", "suggest")][:MAX_SUGGESTIONS]
    if suggestions:
        turn.band = "suggest"
        offer(turn, suggestions, "answer.suggest_intro")
        turn.why["articles"] = [cited(h) for h in suggestions]
        return
    turn.band = "unknown"
    if hits:
        turn.why["best"] = cited(hits[0])  # the closest article, too far to offer
    await unknown(turn, kb, question, out_of_scope=out_of_scope)


def cited(hit: Hit) -> dict[str, object]:
    """An article as a reply's "why" names it: id, title and the search's calibrated confidence."""
    return {"id": hit.article_id, "title": hit.title, "confidence": round(float(hit.confidence), 2)}


def give_article(turn: Turn, hit: Hit, others: list[int]) -> None:
    turn.state.unknown_streak = 0
    turn.state.last_article = hit.article_id
    turn.state.offered = others
    # Stored as Markdown; each channel renders it its own way when it delivers.
    turn.say_text(f"**{hit.title}**\n\n{hit.answer_markdown}", format="markdown")
    turn.say(
        "answer.helpful_question",
        [
            turn.button("answer.button.yes", Action.HELPFUL, f"y{hit.article_id}"),
            turn.button("answer.button.no", Action.HELPFUL, f"n{hit.article_id}"),
        ],
    )


def offer(turn: Turn, hits: Sequence[Hit], intro_key: str) -> None:
    turn.state.offered = [h.article_id for h in hits]
    buttons = [turn.button_raw(h.title, Action.SUGGESTION, str(h.article_id)) for h in hits]
    turn.say(intro_key, buttons)


async def unknown(turn: Turn, kb: Knowledge, question: str, *, out_of_scope: bool = False) -> None:
    language, channel, conversation_id = turn.language, turn.conversation.channel.value, turn.conversation.id
    turn.later.append(lambda: kb.record_gap(question, language, channel, conversation_id))
    turn.why["gap"] = True
    turn.state.unknown_streak += 1
    turn.state.offered = []
    if out_of_scope:
        turn.say("answer.out_of_scope")
    else:
        turn.say("answer.unknown")
    if turn.state.unknown_streak >= UNKNOWNS_BEFORE_HUMAN:
        turn.say(
            "answer.offer_human_after_unknowns",
            [turn.button("button.human", Action.OPERATOR), turn.button("button.ticket", Action.TICKET)],
        )
    else:
        turn.say(
            "answer.offer_help",
            [turn.button("button.ticket", Action.TICKET), turn.button("button.human", Action.OPERATOR)],
        )


async def pick_suggestion(turn: Turn, kb: Knowledge, article_id: int) -> None:
    """The customer pressed an offered title (or "no, that's not it" moved on to the next one)."""
    if article_id not in turn.state.offered and article_id != turn.state.last_article:
        turn.say("bot.stale_button")
        return
    article = kb.published(article_id)
    if article is None:  # unpublished since it was offered
        turn.say("bot.stale_button")
        return
    remaining = [a for a in turn.state.offered if a != article_id]
    question = turn.state.last_question
    if question and article_id in turn.state.offered:
        # The customer's words and the article they chose: calibration evidence and a candidate variant.
        language, channel, conversation_id = turn.language, turn.conversation.channel.value, turn.conversation.id
        turn.later.append(lambda: kb.record_pick(question, language, article_id, channel, conversation_id))
    give_article(turn, article, remaining)
    turn.why["articles"] = [{"id": article.article_id, "title": article.title}]
    turn.why["picked"] = True


async def not_helpful(turn: Turn, kb: Knowledge, article_id: int) -> None:
    question, language = turn.state.last_question, turn.language
    channel, conversation_id = turn.conversation.channel.value, turn.conversation.id
    turn.later.append(
        lambda: kb.feedback(
            article_id,
            helpful=False,
            text=question,
            language=language,
            channel=channel,
            conversation_id=conversation_id,
        )
    )
    remaining = [a for a in turn.state.offered if a != article_id]
    if remaining:
        articles = [a for a in (kb.published(i) for i in remaining[:MAX_SUGGESTIONS]) if a is not None]
        if articles:
            offer(turn, articles, "answer.next_suggestion")
            turn.why["articles"] = [{"id": a.article_id, "title": a.title} for a in articles]
            return
    turn.state.offered = []
    turn.say("answer.no_more_suggestions")
    turn.say(
        "answer.offer_human_after_unknowns",
        [turn.button("button.human", Action.OPERATOR), turn.button("button.ticket", Action.TICKET)],
    )


async def helpful(turn: Turn, kb: Knowledge, article_id: int) -> None:
    language, channel = turn.language, turn.conversation.channel.value
    turn.later.append(lambda: kb.feedback(article_id, helpful=True, language=language, channel=channel))
    turn.state.offered = []
    turn.say("answer.glad")
