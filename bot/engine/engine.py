"""The conversation engine: store the message, then take the bot's turn — once, on any worker.

A turn has two transactions. The first stores the inbound message (deduplicated by the channel's id) and
commits before anything acts on it. The second locks the conversation, checks the message has not been
handled yet, decides, stores the replies in the outbox and marks the message handled — all or nothing.
So a redelivered update gets one reply, two workers never answer the same message twice, and a worker
that dies between the two leaves the message to :meth:`ConversationEngine.recover`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.engine import answer, portal, tickets
from bot.engine.ports import Desk, Knowledge, Parser
from bot.engine.state import DialogState
from bot.engine.turn import Turn
from core.db import SessionFactory, for_update
from core.events import EventBus
from core.models import (
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    utcnow,
)
from core.settings import Settings
from core.store import CustomerDefaults, InboundMessage, add_outbound, record_inbound
from core.templates import Templates
from core.uow import UnitOfWork
from handoff.csat import parse_csat_payload, record_csat
from handoff.inbox import estimate_wait, hand_off, wait_text
from nlu.parse import Parse
from sla import SlaPolicy
from tickets.models import Ticket
from tickets.notify import TICKET_CSAT

log = logging.getLogger(__name__)

CONFIDENT = 0.5  # below this an intent does not interrupt a running flow
CSAT_WINDOW = timedelta(days=2)  # a rating typed as text counts for a conversation closed this recently
SMALL_TALK = {"greet": "bot.greet", "thanks": "bot.thanks", "goodbye": "bot.goodbye"}


@dataclass(frozen=True, slots=True)
class Received:
    message_id: int
    conversation_id: int
    duplicate: bool


class ConversationEngine:
    def __init__(
        self,
        sessions: SessionFactory,
        bus: EventBus,
        templates: Templates,
        nlu: Parser,
        kb: Knowledge,
        desk: Desk,
        sla: SlaPolicy,
        settings: Settings,
        account_categories: frozenset[str] = frozenset(),
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.templates = templates
        self.nlu = nlu
        self.kb = kb
        self.desk = desk
        self.sla = sla
        self.settings = settings
        self.account_categories = account_categories
        self.defaults = CustomerDefaults(settings.default_language, settings.default_timezone, settings.default_plan)

    # --- the two phases ------------------------------------------------------------------------------

    async def receive(self, inbound: InboundMessage) -> Received:
        """Phase one: store the message. Channels acknowledge the update only after this returns."""
        async with UnitOfWork(self.sessions, self.bus) as uow:
            stored = await record_inbound(uow, inbound, self.defaults, self.settings.max_message_chars)
            return Received(stored.message.id, stored.conversation.id, stored.duplicate)

    async def process(self, inbound: InboundMessage) -> Received:
        """Store the message and take the turn (a duplicate is answered only if it never was)."""
        received = await self.receive(inbound)
        await self.handle(received.message_id)
        return received

    async def handle(self, message_id: int) -> bool:
        """Phase two: the bot's turn for one stored message. Returns False when there was nothing to do.

        Turns of one conversation are taken in message order: an earlier message still waiting for its turn
        (its own task is slower, or its worker died) is handled first, so two quick messages are never
        answered the other way round. Whoever locks the conversation first takes a turn; the other finds
        it handled and moves on.
        """
        for earlier in await self._earlier_unhandled(message_id):
            await self._take_turn(earlier)
        return await self._take_turn(message_id)

    async def _earlier_unhandled(self, message_id: int) -> list[int]:
        async with self.sessions() as session:
            message = await session.get(Message, message_id)
            if message is None or message.handled_at is not None:
                return []
            rows = await session.execute(
                select(Message.id)
                .where(
                    Message.conversation_id == message.conversation_id,
                    Message.direction == Direction.INBOUND,
                    Message.handled_at.is_(None),
                    Message.seq < message.seq,
                )
                .order_by(Message.seq)
            )
            return list(rows.scalars())

    async def _take_turn(self, message_id: int) -> bool:
        async with self.sessions() as session:
            message = await session.get(Message, message_id)
            if message is None or message.handled_at is not None or message.direction is not Direction.INBOUND:
                return False
            conversation = await session.get_one(Conversation, message.conversation_id)
            language = conversation.language
            text = message.text
        parse = await self._parse(text, language) if text else None
        async with UnitOfWork(self.sessions, self.bus) as uow:
            conversation = await self._lock(uow, message.conversation_id)
            message = await uow.session.get_one(Message, message_id)
            await uow.session.refresh(message)
            if message.handled_at is not None:
                return False  # another worker took this turn while we were parsing
            customer = await uow.session.get_one(Customer, conversation.customer_id)
            message.handled_at = utcnow()
            if conversation.status in (ConversationStatus.WAITING, ConversationStatus.ASSIGNED):
                return True  # a human holds the conversation: the inbox shows the message, the bot is silent
            state = DialogState.model_validate(conversation.dialog_state or {})
            turn = Turn(
                uow=uow,
                conversation=conversation,
                customer=customer,
                message=message,
                parse=parse,
                state=state,
                language=self._language(parse, conversation, message),
                templates=self.templates,
            )
            try:
                await self._turn(turn)
            except Exception:
                # Never dump the chat on a human silently: say what happened and offer the choices.
                log.exception("bot turn failed", extra={"message_id": message_id})
                turn.replies.clear()
                turn.say("bot.error", [turn.button("button.ticket", "t"), turn.button("button.human", "o")])
            if turn.parse is not None or turn.band is not None:
                # What the turn understood and how the knowledge base answered: the reports count these.
                stamp = {"intent": turn.intent} if turn.parse is not None else {}
                message.meta = {**(message.meta or {}), **stamp, **({"band": turn.band} if turn.band else {})}
            conversation.dialog_state = turn.state.model_dump(mode="json")
            conversation.language = turn.language
            for reply in turn.replies:
                await add_outbound(
                    uow,
                    conversation,
                    reply.text,
                    author=Author.BOT,
                    buttons=reply.buttons,
                    meta={"in_reply_to": message_id, **reply.meta},
                )
        for effect in turn.later:
            try:
                await effect()
            except Exception:
                log.exception("a turn's after-commit effect failed", extra={"message_id": message_id})
        return True

    async def recover(self, older_than: timedelta = timedelta(seconds=0)) -> int:
        """Take the turns a dead worker left behind (stored, never handled). Safe to run on every worker."""
        cutoff = utcnow() - older_than
        async with self.sessions() as session:
            rows = await session.execute(
                select(Message.id)
                .where(
                    Message.direction == Direction.INBOUND,
                    Message.handled_at.is_(None),
                    Message.created_at <= cutoff,
                )
                .order_by(Message.id)
                .limit(1000)
            )
            ids = list(rows.scalars())
        handled = 0
        for message_id in ids:
            handled += int(await self.handle(message_id))
        return handled

    # --- helpers ------------------------------------------------------------------------------------

    async def _parse(self, text: str, language: str) -> Parse | None:
        try:
            return await self.nlu.parse(text, language)
        except Exception:
            log.exception("nlu parse failed; answering from the knowledge base")
            return None

    async def _lock(self, uow: UnitOfWork, conversation_id: int) -> Conversation:
        stmt = for_update(select(Conversation).where(Conversation.id == conversation_id), uow.session)
        return (await uow.session.execute(stmt)).scalar_one()

    @staticmethod
    def _language(parse: Parse | None, conversation: Conversation, message: Message) -> str:
        if parse is not None and parse.language in ("ru", "en") and any(c.isalpha() for c in message.text):
            return parse.language
        return conversation.language

    # --- deciding -----------------------------------------------------------------------------------

    async def _turn(self, turn: Turn) -> None:
        if await portal.portal_link(turn, self.settings):
            return
        payload = turn.message.meta.get("payload")
        if isinstance(payload, str):
            await self._button(turn, payload)
            return
        if not turn.text:
            turn.say("bot.sticker" if turn.message.meta.get("kind") == "sticker" else "bot.unsupported_attachment")
            return
        if turn.message.meta.get("stored_with", {}).get("truncated_from"):
            turn.say("bot.truncated")
        if await self._flow(turn):
            return
        await self._intent(turn)

    async def _flow(self, turn: Turn) -> bool:
        """Continue a running flow; a confident request for a human or a new topic interrupts it."""
        state = turn.state
        if state.flow is None:
            if turn.intent == "rate" or turn.text.strip() in {"1", "2", "3", "4", "5"}:
                return await self._late_rating(turn)
            return False
        confident = turn.confidence >= CONFIDENT
        if confident and turn.intent == "talk_to_human":
            state.reset_flow()
            return False
        if state.flow == "intake":
            await tickets.intake_text(turn, self.desk, self.kb, self.account_categories)
            return True
        if state.flow == "add":
            await tickets.add_flow_text(turn, self.desk)
            return True
        if state.flow == "cancel":
            if turn.intent in ("affirm", "deny"):
                await tickets.cancel_answer(turn, self.desk, yes=turn.intent == "affirm")
                return True
            state.reset_flow()
            return False
        if state.flow == "csat_comment":
            target = state.csat_for
            state.reset_flow()
            state.csat_for = None
            if target is not None and turn.intent not in ("greet", "ask_question", "report_problem", "ticket_status"):
                await self._csat_comment(turn, target)
                return True
            return False
        return False

    async def _intent(self, turn: Turn) -> None:
        intent = turn.intent
        if intent in SMALL_TALK and turn.confidence >= CONFIDENT:
            turn.say(SMALL_TALK[intent], name=turn.customer.name)
            return
        if intent == "talk_to_human":
            await self._hand_off(turn)
        elif intent == "report_problem":
            tickets.start_intake(turn, turn.text)
            await tickets.continue_intake(turn, self.desk, self.kb, self.account_categories)
        elif intent == "ticket_status":
            await tickets.ticket_status(turn, self.desk)
        elif intent == "add_to_ticket":
            await tickets.add_to_ticket(turn, self.desk)
        elif intent == "cancel_ticket":
            await tickets.cancel_ticket(turn, self.desk)
        elif intent == "change_language":
            turn.language = "en" if turn.language == "ru" else "ru"
            if turn.parse is not None and turn.parse.language != turn.conversation.language:
                turn.language = turn.parse.language
            turn.customer.language = turn.language
            turn.say("bot.language_changed")
        elif intent in ("affirm", "deny", "rate"):
            turn.say("bot.anything_else")
        else:  # ask_question, complaint, out_of_scope and anything unsure: the knowledge base decides
            await answer.answer_question(turn, self.kb, turn.text, out_of_scope=intent == "out_of_scope")

    async def _button(self, turn: Turn, payload: str) -> None:
        csat = parse_csat_payload(payload)
        if csat is not None:
            await self._csat_button(turn, *csat)
            return
        parts = payload.split(":")
        if len(parts) == 3 and parts[0] == TICKET_CSAT:
            await self._ticket_rating(turn, parts[1], parts[2])
            return
        if len(parts) != 3 or parts[2] != turn.state.nonce:
            log.warning(
                "forged or stale button", extra={"conversation_id": turn.conversation.id, "payload": payload[:64]}
            )
            turn.say("bot.stale_button")
            return
        action, arg = parts[0], parts[1]
        if action == "h" and len(arg) > 1 and arg[0] in "yn" and arg[1:].isdigit():
            article_id = int(arg[1:])
            if article_id != turn.state.last_article:
                turn.say("bot.stale_button")
            elif arg[0] == "y":
                await answer.helpful(turn, self.kb, article_id)
            else:
                await answer.not_helpful(turn, self.kb, article_id)
        elif action == "s" and arg.isdigit():
            await answer.pick_suggestion(turn, self.kb, int(arg))
        elif action in ("u", "c"):
            await tickets.intake_button(turn, self.desk, self.kb, self.account_categories, action, arg)
        elif action == "x" and arg in ("yes", "no") and turn.state.flow == "cancel":
            await tickets.cancel_answer(turn, self.desk, yes=arg == "yes")
        elif action == "t":
            tickets.start_intake(turn, turn.state.last_question)
            await tickets.continue_intake(turn, self.desk, self.kb, self.account_categories)
        elif action == "o":
            await self._hand_off(turn)
        else:
            turn.say("bot.stale_button")

    async def _hand_off(self, turn: Turn) -> None:
        turn.state.reset_flow()
        if turn.conversation.status is not ConversationStatus.BOT:
            turn.say("handoff.already")
            return
        await hand_off(turn.uow, turn.conversation)
        estimate = await estimate_wait(turn.uow.session, turn.conversation, turn.customer, self.sla)
        if estimate.back_at is not None:
            turn.say_text(wait_text(estimate, turn.customer, self.templates), [turn.button("button.ticket", "t")])
        else:
            turn.say_text(wait_text(estimate, turn.customer, self.templates))

    # --- CSAT ---------------------------------------------------------------------------------------

    async def _closed_conversation(self, turn: Turn, conversation_id: int) -> Conversation | None:
        closed = await turn.uow.session.get(Conversation, conversation_id)
        if closed is None or closed.customer_id != turn.customer.id or closed.status is not ConversationStatus.CLOSED:
            return None
        return closed

    async def _csat_button(self, turn: Turn, conversation_id: int, rating: int, nonce: str) -> None:
        closed = await self._closed_conversation(turn, conversation_id)
        pending: Any = closed.dialog_state.get("csat") if closed is not None else None
        if closed is None or not isinstance(pending, dict) or pending.get("nonce") != nonce:
            log.warning("forged or stale rating button", extra={"conversation_id": conversation_id})
            turn.say("bot.stale_button")
            return
        await self._rate(turn, closed, rating)

    async def _late_rating(self, turn: Turn) -> bool:
        """A rating typed as text after a close: it counts for the customer's latest closed conversation."""
        value = turn.entity("rating") or turn.text.strip()
        try:
            rating = int(value)
        except (TypeError, ValueError):
            return False
        if not 1 <= rating <= 5:
            return False
        closed = (
            await turn.uow.session.execute(
                select(Conversation)
                .where(
                    Conversation.customer_id == turn.customer.id,
                    Conversation.status == ConversationStatus.CLOSED,
                    Conversation.closed_at > utcnow() - CSAT_WINDOW,
                )
                .order_by(Conversation.closed_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if closed is None or not isinstance(closed.dialog_state.get("csat"), dict):
            return False
        await self._rate(turn, closed, rating)
        return True

    async def _rate(self, turn: Turn, closed: Conversation, rating: int) -> None:
        pending = dict(closed.dialog_state.get("csat") or {})
        if pending.get("rating") is not None:
            turn.say("csat.already")
            return
        await record_csat(turn.uow.session, rating=rating, comment=None, conversation_id=closed.id)
        pending["rating"] = rating
        closed.dialog_state = {**closed.dialog_state, "csat": pending}
        turn.state.flow = "csat_comment"
        turn.state.csat_for = closed.id
        turn.say("csat.thanks")

    async def _ticket_rating(self, turn: Turn, ticket_id: str, rating: str) -> None:
        """A rating button under a ticket's "resolved" notice; only the ticket's own customer may rate it."""
        ticket = await turn.uow.session.get(Ticket, int(ticket_id)) if ticket_id.isdigit() else None
        if ticket is None or ticket.customer_id != turn.customer.id or rating not in {"1", "2", "3", "4", "5"}:
            log.warning("forged ticket rating button", extra={"payload_ticket": ticket_id[:16]})
            turn.say("bot.stale_button")
            return
        await record_csat(turn.uow.session, rating=int(rating), comment=None, ticket_id=ticket.id)
        turn.say("csat.ticket_thanks")

    async def _csat_comment(self, turn: Turn, conversation_id: int) -> None:
        closed = await self._closed_conversation(turn, conversation_id)
        rating = closed.dialog_state.get("csat", {}).get("rating") if closed is not None else None
        if closed is None or not isinstance(rating, int):
            return
        await record_csat(turn.uow.session, rating=rating, comment=turn.text[:2000], conversation_id=closed.id)
        turn.say("csat.comment_thanks")
