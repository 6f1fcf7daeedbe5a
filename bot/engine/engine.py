"""The conversation engine: store the message, then take the bot's turn — once, on any worker.

A turn has two transactions. The first stores the inbound message (deduplicated by the channel's id) and
commits before anything acts on it. The second locks the conversation, checks the message has not been
handled yet, decides, stores the replies in the outbox and marks the message handled — all or nothing.
So a redelivered update gets one reply, two workers never answer the same message twice, and a worker
that dies between the two leaves the message to :meth:`ConversationEngine.recover`.

Parsing and the turn's likely knowledge-base search happen between the two, with no transaction open. A turn
whose dialogs raise is rolled back to a savepoint and answered with the error reply (a person, the customer's
tickets, another try); its message is marked ``turn_failed`` and counted, never retried behind the customer's back.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.engine import answer, csat, handoff, intake, link, notices, portal, status
from bot.engine.commands import Command, menu, parse_command, ticket_in_payload
from bot.engine.knowledge import TurnKnowledge
from bot.engine.ports import Desk, Parser, SearchAhead
from bot.engine.state import DialogState
from bot.engine.timing import PhaseClock, TimedDesk
from bot.engine.turn import Turn
from bot.engine.typed import typed_button
from bot.engine.words import load_words, normalise
from core.buttons import Action, ButtonPayload
from core.db import SessionFactory, for_update, reading_sessions
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
from core.store import CustomerDefaults, InboundMessage, Outbound, add_outbound, add_outbounds, record_inbound
from core.templates import Templates
from core.uow import UnitOfWork
from core.web.metrics import Metrics
from handoff.csat import parse_csat_payload
from nlu.parse import Parse
from sla import SlaPolicy

log = logging.getLogger(__name__)

CONFIDENT = 0.5  # below this an intent does not interrupt a running flow
SMALL_TALK = {"greet": "bot.greet", "thanks": "bot.thanks", "goodbye": "bot.goodbye"}
# Requests of their own: they end an add-comment step and are never taken as a reply to a pending ticket.
ELSEWHERE = frozenset(
    {
        "ask_question",
        "ticket_status",
        "talk_to_human",
        "report_problem",
        "cancel_ticket",
        "portal_link",
        "change_language",
    }
)
WORDS_FILE = ("bot", "words.yml")
MAX_TURN_ATTEMPTS = 3
"""Tries of a turn whose own transaction fails before its message is marked failed and given the error reply."""
_TARGET = aliased(Message)  # made once: an alias proxies every column, a few ms of CPU each time it is made


@dataclass(frozen=True, slots=True)
class Received:
    message_id: int
    conversation_id: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class _Pending:
    """A stored message waiting for its turn, with what the turn reads before its transaction opens."""

    message_id: int
    conversation_id: int
    text: str
    language: str
    created_at: datetime
    retry_text: str | None  # a "try again" press: the failed message's text, parsed in its place
    press: bool  # a button press (its payload decides, not its text)


def _retry_target(message: Message) -> int | None:
    """The failed message a "try again" press names, or None for any other message."""
    payload = (message.meta or {}).get("payload")
    button = ButtonPayload.unpack(payload) if isinstance(payload, str) else None
    if button is None or button.action is not Action.RETRY or not button.arg.isdigit():
        return None
    return int(button.arg)


def _aware(moment: datetime) -> datetime:
    """SQLite hands stored times back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ConversationEngine:
    def __init__(
        self,
        sessions: SessionFactory,
        bus: EventBus,
        templates: Templates,
        nlu: Parser,
        kb: SearchAhead,
        desk: Desk,
        sla: SlaPolicy,
        settings: Settings,
        account_categories: frozenset[str] = frozenset(),
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.reading = reading_sessions(sessions)
        self.bus = bus
        self.templates = templates
        self.nlu = nlu
        self.clock = PhaseClock(metrics.turn_phases if metrics is not None else None)
        self.kb = TurnKnowledge(kb, self.clock)
        self.desk: Desk = TimedDesk(desk, self.clock)
        self.failures: Counter = (
            metrics.turn_failures
            if metrics is not None
            else Counter("frontline_turn_failures", "Turns that raised", registry=None)
        )
        self.sla = sla
        self.settings = settings
        self.account_categories = account_categories
        self.words = load_words(settings.data_dir.joinpath(*WORDS_FILE))
        self.defaults = CustomerDefaults(settings.default_language, settings.default_timezone, settings.default_plan)

    # --- the two phases ------------------------------------------------------------------------------

    async def receive(self, inbound: InboundMessage) -> Received:
        """Phase one: store the message. Channels acknowledge the update only after this returns."""
        with self.clock.phase("store"):
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
        async with self.reading() as session:
            pending = await self._pending(session, message_id)
        if not pending:
            return False
        for earlier in pending[:-1]:
            await self._take_turn(earlier)
        return await self._take_turn(pending[-1])

    async def _pending(self, session: AsyncSession, message_id: int) -> list[_Pending]:
        """The message and the earlier unhandled ones of its conversation, in order; [] when it was handled.

        One query (every turn asks it): the unhandled inbound messages of the message's conversation up to it,
        with the conversation's language. The message itself is among them only when it is inbound and unhandled.
        """
        target = _TARGET
        rows = (
            await session.execute(
                select(Message, Conversation.language)
                .join(target, (target.conversation_id == Message.conversation_id) & (target.id == message_id))
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Message.direction == Direction.INBOUND,
                    Message.handled_at.is_(None),
                    Message.seq <= target.seq,
                )
                .order_by(Message.seq)
            )
        ).all()
        if not rows or rows[-1][0].id != message_id:
            return []
        messages = [row[0] for row in rows]
        language = rows[-1][1]
        retried = await self._retry_texts(session, messages)
        return [
            _Pending(
                m.id,
                m.conversation_id,
                retried.get(m.id, m.text),
                str(language),
                m.created_at,
                retried.get(m.id),
                isinstance((m.meta or {}).get("payload"), str),
            )
            for m in messages
        ]

    async def _retry_texts(self, session: AsyncSession, messages: list[Message]) -> dict[int, str]:
        """For each "try again" press among ``messages``: the text of the failed message it asks to retry."""
        wanted: dict[int, int] = {}
        for m in messages:
            target = _retry_target(m)
            if target is not None:
                wanted[m.id] = target
        if not wanted:
            return {}
        rows = await session.execute(select(Message.id, Message.text).where(Message.id.in_(set(wanted.values()))))
        texts = {row.id: row.text for row in rows}
        return {press: texts[target] for press, target in wanted.items() if target in texts}

    async def _take_turn(self, pending: _Pending) -> bool:
        message_id = pending.message_id
        self.clock.observe("wait", (utcnow() - _aware(pending.created_at)).total_seconds())
        text = pending.text
        parse: Parse | None = None
        parse_failed = False
        with self.clock.phase("parse"):
            try:
                parse = await self.nlu.parse(text, pending.language) if text else None
            except Exception:
                # Engines answer any input (the builtin never raises, Rasa falls back to it): one that raises
                # is a fault, and the customer is told so rather than answered as if nothing was understood.
                log.exception("nlu parse failed", extra={"message_id": message_id})
                parse_failed = True
        prepared = (
            await self.kb.prepare(
                normalise(pending.text) or pending.text,  # what answer.py and _answerable search with
                self._language(parse, pending.language, pending.text),
                answer.MAX_SUGGESTIONS + 1,
            )
            if self._may_search(pending, parse)
            else None
        )
        try:
            with self.kb.using(prepared):
                return await self._decide(pending, parse, parse_failed=parse_failed)
        except Exception:
            # The turn's own transaction failed (a lost connection, a fault while storing the replies): it rolled
            # back and the message stays unhandled. Count the attempt; turn recovery tries again, a few times.
            if await self._attempt_failed(message_id):
                raise
            return True

    def _may_search(self, pending: _Pending, parse: Parse | None) -> bool:
        """Whether this turn is likely to search: typed text that is neither a command nor confident small talk.

        A guess only: a turn that searches anyway searches inside its transaction, one that does not wasted a
        search made outside it.
        """
        if parse is None or not pending.text or (pending.press and pending.retry_text is None):
            return False
        if parse_command(pending.text) is not None:
            return False
        return not (parse.intent.name in SMALL_TALK and parse.intent.confidence >= CONFIDENT)

    async def _decide(self, pending: _Pending, parse: Parse | None, *, parse_failed: bool = False) -> bool:
        message_id = pending.message_id
        async with UnitOfWork(self.sessions, self.bus) as uow:
            with self.clock.phase("lock"):
                conversation = await self._lock(uow, pending.conversation_id)
            # A fresh session: this reads the row as it is now, after the conversation lock was taken.
            message = await uow.session.get_one(Message, message_id)
            if message.handled_at is not None:
                return False  # another worker took this turn while we were parsing
            customer = await uow.session.get_one(Customer, conversation.customer_id)
            state = DialogState.model_validate(conversation.dialog_state or {})
            if conversation.status is ConversationStatus.ASSIGNED:
                message.handled_at = utcnow()
                # An operator holds the conversation: the inbox shows the message, the bot is silent, and any
                # flow the bot had running is over (it must not resume when the chat comes back to the bot).
                if state.flow is not None or state.suspended is not None:
                    state.reset_flow()
                    state.suspended = None
                    conversation.dialog_state = state.model_dump(mode="json")
                return True
            subject = await self._retried(uow, message, pending, state)
            turn = Turn(
                uow=uow,
                conversation=conversation,
                customer=customer,
                message=subject,
                parse=parse,
                state=state,
                language=self._language(parse, conversation.language, subject.text),
                templates=self.templates,
            )
            with self.clock.phase("decide"):
                if parse_failed:
                    turn = await self._failed(uow, conversation, customer, message, subject)
                else:
                    try:
                        # A savepoint: a turn that raises leaves nothing half-written (a ticket without its reply).
                        async with uow.session.begin_nested():
                            await self._turn(turn)
                    except Exception:
                        log.exception("bot turn failed", extra={"message_id": message_id})
                        turn = await self._failed(uow, conversation, customer, message, subject)
            # Marked handled here, after the dialogs, so the mark and the stamp below are one UPDATE of the row.
            message.handled_at = utcnow()
            if turn.parse is not None or turn.band is not None:
                # What the turn understood and how the knowledge base answered: the reports count these.
                stamp = {"intent": turn.intent} if turn.parse is not None else {}
                stamped = turn.message
                stamped.meta = {**(stamped.meta or {}), **stamp, **({"band": turn.band} if turn.band else {})}
            storing = time.perf_counter()
            why = _why(turn)
            conversation.dialog_state = turn.state.model_dump(mode="json")
            conversation.language = turn.language
            await add_outbounds(
                uow,
                conversation,
                [
                    Outbound(
                        reply.text,
                        buttons=reply.buttons,
                        meta={"in_reply_to": message_id, **({"why": why} if why else {}), **reply.meta},
                    )
                    for reply in turn.replies
                ],
            )
        self.clock.observe("reply_store", time.perf_counter() - storing)  # the commit included
        with self.clock.phase("after"):
            for effect in turn.later:
                try:
                    await effect()
                except Exception:
                    log.exception("a turn's after-commit effect failed", extra={"message_id": message_id})
        if turn.failed:
            self.failures.inc()
        return True

    async def _retried(self, uow: UnitOfWork, message: Message, pending: _Pending, state: DialogState) -> Message:
        """The message this turn answers: a "try again" press answers the failed message it names, once."""
        target = _retry_target(message)
        if target is None or pending.retry_text is None:
            return message
        button = ButtonPayload.unpack(str(message.meta.get("payload")))
        original = await uow.session.get(Message, target)
        if (
            button is None
            or button.nonce != state.nonce
            or original is None
            or original.conversation_id != message.conversation_id
            or original.direction is not Direction.INBOUND
            or not original.meta.get("turn_failed")
            or original.meta.get("retried")
        ):
            return message  # answered as a stale button
        original.meta = {**original.meta, "retried": True}
        return original

    async def _failed(
        self, uow: UnitOfWork, conversation: Conversation, customer: Customer, message: Message, subject: Message
    ) -> Turn:
        """The turn raised and its savepoint rolled back: a fresh turn that says so and offers the way on."""
        for row in {id(r): r for r in (conversation, customer, message, subject)}.values():
            await uow.session.refresh(row)  # the rollback expired what the failed turn had touched
        message.meta = {**(message.meta or {}), "turn_failed": True}
        if subject is not message:
            subject.meta = {**(subject.meta or {}), "turn_failed": True, "retried": False}
        return self._error_turn(uow, conversation, customer, message, retry=subject if subject.text else None)

    def _error_turn(
        self,
        uow: UnitOfWork,
        conversation: Conversation,
        customer: Customer,
        message: Message,
        retry: Message | None,
    ) -> Turn:
        """ "Something went wrong": the message is kept; a person, the customer's tickets or another try."""
        turn = Turn(
            uow=uow,
            conversation=conversation,
            customer=customer,
            message=message,
            parse=None,
            state=DialogState.model_validate(conversation.dialog_state or {}),
            language=conversation.language,
            templates=self.templates,
            failed=True,
        )
        buttons = [turn.button("button.human", Action.OPERATOR), turn.button("button.my_tickets", Action.MY_TICKETS)]
        if retry is not None:
            buttons.append(turn.button("button.retry", Action.RETRY, str(retry.id)))
        turn.say("bot.error", buttons)
        return turn

    async def _attempt_failed(self, message_id: int) -> bool:
        """Count a turn whose own transaction failed; True when turn recovery should try it again.

        After :data:`MAX_TURN_ATTEMPTS` the message is marked failed and handled with the error reply, so a fault
        that is not going away (unlike a database restart, where this write fails too) cannot loop for ever.
        """
        gave_up = False
        try:
            async with UnitOfWork(self.sessions, self.bus) as uow:
                message = await uow.session.get(Message, message_id)
                if message is None or message.handled_at is not None:
                    return False
                conversation = await self._lock(uow, message.conversation_id)
                await uow.session.refresh(message)
                if message.handled_at is not None:
                    return False
                attempts = int((message.meta or {}).get("turn_attempts", 0)) + 1
                message.meta = {**(message.meta or {}), "turn_attempts": attempts}
                if attempts < MAX_TURN_ATTEMPTS:
                    return True
                customer = await uow.session.get_one(Customer, conversation.customer_id)
                message.handled_at = utcnow()
                message.meta = {**message.meta, "turn_failed": True}
                turn = self._error_turn(uow, conversation, customer, message, retry=message if message.text else None)
                for reply in turn.replies:
                    await add_outbound(
                        uow,
                        conversation,
                        reply.text,
                        author=Author.BOT,
                        buttons=reply.buttons,
                        meta={"in_reply_to": message_id},
                    )
                gave_up = True
        except Exception:
            log.exception(
                "could not record a failed turn; turn recovery will try it again", extra={"message_id": message_id}
            )
            return True
        if gave_up:
            log.error(
                "a turn failed %d times; the message is marked failed",
                MAX_TURN_ATTEMPTS,
                extra={"message_id": message_id},
            )
            self.failures.inc()
        return False

    async def recover(self, older_than: timedelta = timedelta(seconds=0)) -> int:
        """Take the turns a dead worker left behind (stored, never handled). Safe to run on every worker."""
        cutoff = utcnow() - older_than
        async with self.reading() as session:
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

    async def _lock(self, uow: UnitOfWork, conversation_id: int) -> Conversation:
        stmt = for_update(select(Conversation).where(Conversation.id == conversation_id), uow.session)
        return (await uow.session.execute(stmt)).scalar_one()

    @staticmethod
    def _language(parse: Parse | None, conversation_language: str, text: str) -> str:
        if parse is not None and parse.language in ("ru", "en") and any(c.isalpha() for c in text):
            return parse.language
        return conversation_language

    # --- deciding -----------------------------------------------------------------------------------

    async def _turn(self, turn: Turn) -> None:
        if await self._linking(turn):
            return
        if await portal.portal_link(turn, self.settings):
            return
        payload = turn.message.meta.get("payload")
        if isinstance(payload, str):
            await self._button(turn, payload)
            return
        if not turn.text:
            await self._attachment(turn)
            return
        if turn.message.meta.get("stored_with", {}).get("truncated_from"):
            turn.say("bot.truncated")
        command = parse_command(turn.text)
        if command is not None:
            await self._command(turn, command)
            return
        if await notices.typed_choice(turn, self.words):
            return
        typed = await typed_button(turn, self.words)
        if typed is not None:
            await self._button(turn, typed)
            return
        if self.words.is_cancel(turn.text):
            await self._cancel(turn)
            return
        if turn.conversation.status is ConversationStatus.WAITING:
            await self._waiting(turn)
            return
        put_aside = turn.state.suspended is not None
        if await self._flow(turn):
            return
        if await self._pending_reply(turn):
            return
        await self._intent(turn)
        if not put_aside:  # offered once, right after the new question is answered
            intake.offer_resume(turn)

    async def _attachment(self, turn: Turn) -> None:
        """A sticker, a file or a voice message: say we read text, and repeat the question a flow is waiting on."""
        turn.say("bot.sticker" if turn.message.meta.get("kind") == "sticker" else "bot.unsupported_attachment")
        if turn.state.flow == "intake" and turn.state.intake is not None:
            await intake.continue_intake(turn, self.desk, self.kb, self.account_categories)

    async def _command(self, turn: Turn, command: Command) -> None:
        name = command.name
        if name == "cancel":
            await self._cancel(turn)
        elif name == "operator":
            await handoff.to_human(turn, self.sla, self.templates)
        elif name == "tickets":
            await status.ticket_status(turn, self.desk)
        elif name == "start":
            number = ticket_in_payload(command.payload)
            if number is not None:
                await status.ticket_status(turn, self.desk, number=number)
                return
            turn.say("bot.greet", name=turn.customer.name)
            await status.open_tickets_brief(turn, self.desk)
            if turn.conversation.status is ConversationStatus.WAITING:
                await handoff.acknowledge(turn, self.sla, self.templates, force=True)
        elif name == "notices_off":
            await notices.notices_off(turn)
        elif name == "notices_on":
            await notices.notices_on(turn)
        elif name in ("help", "menu"):
            menu(turn, "bot.help")
        else:
            menu(turn, "bot.unknown_command")

    async def _linking(self, turn: Turn) -> bool:
        """Link codes come first: "/start link_…" or "link my telegram" must not read as the portal link request."""
        if "payload" in turn.message.meta or not turn.text:
            return False
        command = parse_command(turn.text)
        code = link.normalise_code(turn.text, bare=True) if command is None else None
        if command is not None and (
            command.name == "link" or (command.name == "start" and command.payload.startswith(link.DEEP_LINK_PREFIX))
        ):
            turn.language = turn.conversation.language  # a command or a code says nothing about the language
            await self._link(turn, command.payload)
            return True
        if code is not None:  # "KQ7M-3XPA" alone: a link code from the other chat
            turn.language = turn.conversation.language
            await link.redeem(turn, code)
            return True
        if command is None and turn.state.flow is None and self.words.mentions(turn.text, self.words.link_request):
            await link.issue(turn, self.settings)
            return True
        return False

    async def _link(self, turn: Turn, payload: str) -> None:
        """/link asks for a code; /link CODE (or the deep link /start link_CODE) spends one."""
        if not payload:
            await link.issue(turn, self.settings)
            return
        code = link.normalise_code(payload)
        if code is None:
            turn.say("link.unknown")
            return
        await link.redeem(turn, code)

    async def _cancel(self, turn: Turn) -> None:
        """ "Отмена", "стоп", /cancel: leave whatever is running and say what was dropped."""
        state = turn.state
        if await handoff.leave_queue(turn):
            return
        if state.flow == "intake" or (state.flow is None and state.suspended is not None):
            intake.cancel_intake(turn)
        elif state.flow == "add":
            number = state.ticket
            state.reset_flow()
            turn.say("ticket.add_dropped", number=number or "")
        elif state.flow == "cancel":
            await status.cancel_answer(turn, self.desk, yes=False)
        else:
            state.reset_flow()
            state.csat_for = None
            turn.say("bot.nothing_to_cancel")

    async def _waiting(self, turn: Turn) -> None:
        """A customer waiting for a human: answer what the bot can, keep the place, say where they stand."""
        if self.words.mentions(turn.text, self.words.create_ticket):
            await handoff.leave_queue(turn, quiet=True)
            await self._create_ticket(turn)
            return
        if turn.intent in ("ask_question", "report_problem") and await self._answerable(turn):
            await answer.answer_question(turn, self.kb, turn.text)
            turn.say("handoff.place_kept")
            return
        await handoff.acknowledge(turn, self.sla, self.templates)

    async def _flow(self, turn: Turn) -> bool:
        """Continue a running flow; a request for a human or a new question interrupts it."""
        state = turn.state
        if state.flow is None:
            if turn.intent == "rate" or turn.text.strip() in {"1", "2", "3", "4", "5"}:
                rating = _rating(turn) or self.words.rating(turn.text)
                return rating is not None and await csat.late_rating(turn, rating)
            return False
        confident = turn.confidence >= CONFIDENT
        if confident and turn.intent == "talk_to_human":
            state.reset_flow()
            return False
        if state.flow == "intake":
            return await self._intake_text(turn)
        if state.flow == "add":
            if state.ticket is not None and confident and turn.intent in ELSEWHERE:
                state.reset_flow()  # a new request, not the comment we asked for
                return False
            await status.add_flow_text(turn, self.desk)
            return True
        if state.flow == "cancel":
            state.reset_flow()
            return False
        if state.flow == "csat_comment":
            target = state.csat_for
            state.reset_flow()
            state.csat_for = None
            if self.words.rating(turn.text) is not None:
                turn.say("csat.already")  # "ставлю 4 из 5" after rating is no comment
                return True
            if target is not None and turn.intent not in ("greet", "ask_question", "report_problem", "ticket_status"):
                await csat.comment(turn, target)
                return True
            return False
        return False

    async def _intake_text(self, turn: Turn) -> bool:
        assert turn.state.intake is not None
        question = self._questionish(turn)
        describing = turn.state.intake.step == "description"
        if not (describing and question and await self._answerable(turn)) and await intake.intake_text(
            turn, self.desk, self.kb, self.account_categories, question=question
        ):
            return True
        # Not an answer to what the intake asked: put it aside, treat the message as new, offer to resume.
        intake.suspend(turn)
        return False

    async def _intent(self, turn: Turn) -> None:
        intent = turn.intent
        if self.words.mentions(turn.text, self.words.create_ticket):
            await self._create_ticket(turn)
            return
        if intent in SMALL_TALK and turn.confidence >= CONFIDENT:
            turn.say(SMALL_TALK[intent], name=turn.customer.name)
            return
        if not normalise(turn.text) or (intent in ("affirm", "deny", "rate") and turn.state.last_question is None):
            turn.say("bot.how_can_help")  # "ок" or an emoji to start with: nothing was asked, nothing to look up
            return
        if intent == "complaint" and turn.confidence >= CONFIDENT and not await self._answerable(turn):
            # "бот тупой" is feedback, not a question for the editors: apologise and offer a person.
            turn.say(
                "bot.sorry",
                [turn.button("button.human", Action.OPERATOR), turn.button("button.ticket", Action.TICKET)],
            )
            return
        if intent == "talk_to_human":
            await handoff.to_human(turn, self.sla, self.templates)
        elif intent == "report_problem":
            forwarded = bool(turn.message.meta.get("forwarded"))  # a notice passed on, not the customer's fault report
            if forwarded or (self._questionish(turn) and await self._answerable(turn)):
                await answer.answer_question(turn, self.kb, turn.text)  # a how-to question, not a fault report
                return
            intake.start_intake(turn, turn.text)
            await intake.continue_intake(turn, self.desk, self.kb, self.account_categories)
        elif intent == "ticket_status":
            await status.ticket_status(turn, self.desk)
        elif intent == "add_to_ticket":
            await status.add_to_ticket(turn, self.desk)
        elif intent == "cancel_ticket":
            await status.cancel_ticket(turn, self.desk)
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

    async def _create_ticket(self, turn: Turn) -> None:
        """ "Хочу оставить заявку": a new ticket, never a cancel or an addition; the request is no description."""
        description = turn.text
        for phrase in sorted(
            self.words.create_ticket, key=len, reverse=True
        ):  # "open a new ticket" before "new ticket"
            description = re.sub(rf"(?i)\b{re.escape(phrase)}\b", " ", description)
        intake.start_intake(turn, description.strip(" .,:;-—!?"))
        await intake.continue_intake(turn, self.desk, self.kb, self.account_categories)

    def _questionish(self, turn: Turn) -> bool:
        """Worded as a question ("что делать", "положен ли", "how do I", a question mark)."""
        return turn.text.rstrip().endswith("?") or self.words.mentions(turn.text, self.words.question_cues)

    async def _answerable(self, turn: Turn) -> bool:
        """The knowledge base has a confident answer to this message."""
        hits = await self.kb.search(normalise(turn.text) or turn.text, turn.language, k=1)
        return bool(hits) and str(hits[0].band) == "answer"

    async def _pending_reply(self, turn: Turn) -> bool:
        """A ticket waits for the customer's answer: their next message (not a request of its own) goes to it."""
        # The answer can look like anything ("я дома после 18:00" reads as a fault report); only requests of
        # their own, small talk and questions worded as questions are kept out of the ticket.
        requests = {
            "talk_to_human",
            "ticket_status",
            "cancel_ticket",
            "portal_link",
            "change_language",
            "add_to_ticket",
        }
        small_talk = {"greet", "thanks", "goodbye", "affirm", "deny"}
        if turn.confidence >= CONFIDENT and turn.intent in requests | small_talk:
            return False
        if self.words.mentions(turn.text, self.words.create_ticket):
            return False
        if turn.intent == "ask_question" and self._questionish(turn):
            return False
        views = await self.desk.customer_tickets(turn.uow.session, turn.customer.id, open_only=True)
        pending = [v for v in views if str(v.status) == "pending"]
        if len(pending) != 1:
            return False
        view = await self.desk.add_to_ticket(turn.uow, turn.customer.id, str(pending[0].number), turn.text)
        turn.say("ticket.reply_added", number=view.number)
        return True

    async def _button(self, turn: Turn, payload: str) -> None:
        button = ButtonPayload.unpack(payload)
        if button is not None and button.action is Action.CSAT:
            rated = parse_csat_payload(payload)
            if rated is not None:
                await csat.conversation_button(turn, *rated)
                return
        if button is not None and button.action is Action.TICKET_CSAT:
            await csat.ticket_button(turn, button)
            return
        if button is not None and button.action is Action.NOTICES_OFF:
            # Sent under notices, outside any turn, so it carries no nonce: pressing it only changes the
            # presser's own choice.
            await notices.notices_off(turn)
            return
        if button is None or button.nonce != turn.state.nonce:
            log.warning(
                "forged or stale button", extra={"conversation_id": turn.conversation.id, "payload": payload[:64]}
            )
            turn.say("bot.stale_button")
            return
        action, arg = button.action, button.arg
        if action is Action.HELPFUL and len(arg) > 1 and arg[0] in "yn" and arg[1:].isdigit():
            article_id = int(arg[1:])
            if article_id != turn.state.last_article:
                turn.say("bot.stale_button")
            elif arg[0] == "y":
                await answer.helpful(turn, self.kb, article_id)
            else:
                await answer.not_helpful(turn, self.kb, article_id)
        elif action is Action.SUGGESTION and arg.isdigit():
            await answer.pick_suggestion(turn, self.kb, int(arg))
        elif action in (Action.URGENCY, Action.INTAKE):
            await intake.intake_button(turn, self.desk, self.kb, self.account_categories, action, arg)
        elif action is Action.RESUME and arg in ("yes", "no"):
            await intake.resume(turn, self.desk, self.kb, self.account_categories, yes=arg == "yes")
        elif action is Action.CANCEL_TICKET and arg in ("yes", "no") and turn.state.flow == "cancel":
            await status.cancel_answer(turn, self.desk, yes=arg == "yes")
        elif action is Action.TICKET:
            await handoff.leave_queue(turn, quiet=True)  # a ticket instead of waiting for a human
            intake.start_intake(turn, turn.state.last_question)
            await intake.continue_intake(turn, self.desk, self.kb, self.account_categories)
        elif action is Action.OPERATOR:
            await handoff.to_human(turn, self.sla, self.templates)
        elif action is Action.LEAVE_QUEUE:
            if not await handoff.leave_queue(turn):
                turn.say("bot.stale_button")
        elif action is Action.MY_TICKETS:
            await status.ticket_status(turn, self.desk)
        else:
            turn.say("bot.stale_button")


def _why(turn: Turn) -> dict[str, Any]:
    """Why the bot replied as it did: what it understood (intent and its confidence), how the knowledge base
    answered (band, articles), and whether the question became a gap. Empty for a turn with neither."""
    why: dict[str, Any] = {}
    if turn.parse is not None:
        why["intent"] = turn.intent
        why["confidence"] = round(turn.confidence, 2)
    if turn.band is not None:
        why["band"] = turn.band
    return {**why, **turn.why}


def _rating(turn: Turn) -> int | None:
    value = turn.entity("rating") or turn.text.strip()
    try:
        rating = int(value)
    except (TypeError, ValueError):
        return None
    return rating if 1 <= rating <= 5 else None
