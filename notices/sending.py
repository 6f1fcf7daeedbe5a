"""Storing a notice, sending it once, and its fan-out into the outbox in batches.

``create`` stores a draft under the compose form's one-time key (the same form posted twice gives the same
notice). ``start`` is one conditional update ``draft → sending``: of two clicks on "Send", one wins. The
fan-out (``NoticeSender``, a periodic task on every worker) then takes the audience in customer id order,
``batch`` customers per transaction — each gets a recipient row and, unless a non-urgent notice meets an
opt-out, one outbox message in their latest conversation, in their language — and moves the notice's cursor.
The notice row is locked for each batch, so two workers never add the same customers; the recipient row is
unique per customer besides. Delivery is the outbox's: its deliverers, retries and rate limits.
"""

from __future__ import annotations

import logging
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.buttons import Action, ButtonPayload
from core.db import SessionFactory, for_update
from core.errors import InvalidInput
from core.events import EventBus
from core.models import Author, Conversation, ConversationStatus, Customer, utcnow
from core.outbox import BROADCAST_KEY
from core.periodic import PeriodicTask
from core.store import Button, add_outbound, open_conversation
from core.templates import Templates
from core.uow import UnitOfWork
from notices.audience import Audience, AudienceKind, DueSource, Target, check_incident, targets
from notices.models import Notice, NoticeKind, NoticeRecipient, NoticeState, RecipientState

__all__ = ["NOTICES_OFF", "NoticeDraft", "NoticeSender", "create", "fan_out", "notice_text", "start"]

log = logging.getLogger(__name__)
MAX_TEXT = 3500  # one Telegram message (4096) with room for the customer's name
NOTICES_OFF = ButtonPayload(action=Action.NOTICES_OFF).pack()


class NoticeDraft(BaseModel):
    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    kind: NoticeKind
    title: str = Field(default="", max_length=200)
    text_ru: str = Field(min_length=1, max_length=MAX_TEXT)
    text_en: str = Field(min_length=1, max_length=MAX_TEXT)
    audience: Audience
    key: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_:.-]+$")

    @classmethod
    def read(cls, data: dict[str, object]) -> NoticeDraft:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise InvalidInput(f"the notice is not valid: {reasons}") from None


async def create(session: AsyncSession, draft: NoticeDraft, operator_id: int | None) -> Notice:
    """Store the draft, or return the notice this form's key already stored."""
    existing = await session.scalar(select(Notice).where(Notice.idempotency_key == draft.key))
    if existing is not None:
        return existing
    await check_incident(session, draft.audience)
    if draft.kind is NoticeKind.REMINDER:
        raise InvalidInput("reminders are written by the daily run, not composed")
    notice = Notice(
        kind=draft.kind,
        state=NoticeState.DRAFT,
        title=draft.title,
        text_ru=draft.text_ru,
        text_en=draft.text_en,
        audience=draft.audience.model_dump(mode="json"),
        idempotency_key=draft.key,
        created_by=operator_id,
        cursor=0,
    )
    session.add(notice)
    await session.flush()
    return notice


async def start(session: AsyncSession, notice_id: int, operator_id: int | None) -> bool:
    """``draft → sending`` in one conditional update; False when it was not a draft (sent already, or unknown)."""
    result = await session.execute(
        update(Notice)
        .where(Notice.id == notice_id, Notice.state == NoticeState.DRAFT)
        .values(state=NoticeState.SENDING, sending_at=utcnow(), sent_by=operator_id)
    )
    return bool(getattr(result, "rowcount", 0))


def notice_text(notice: Notice, language: str, name: str) -> str:
    """The notice in the customer's language, ``{name}`` replaced by their name (plain replacement, no template
    engine: an admin's text is never evaluated)."""
    text = notice.text_en if language == "en" else notice.text_ru
    return text.replace("{name}", name.strip() or "")


async def _reach(uow: UnitOfWork, target: Target) -> Conversation:
    """The target's latest conversation, or a new one on the same channel and chat when it is closed."""
    conversation = await uow.session.get_one(Conversation, target.conversation_id)
    if conversation.status is not ConversationStatus.CLOSED:
        return conversation
    customer = await uow.session.get_one(Customer, target.customer_id)
    return await open_conversation(uow.session, customer, conversation.channel, conversation.chat_id)


async def fan_out(
    uow: UnitOfWork,
    notice_id: int,
    templates: Templates,
    *,
    batch: int,
    sources: dict[AudienceKind, DueSource] | None = None,
    today: date | None = None,
) -> bool:
    """Store the next batch of the notice's recipients and outbox messages; True while more remain."""
    session = uow.session
    notice = (await session.execute(for_update(select(Notice).where(Notice.id == notice_id), session))).scalar_one()
    if notice.state is not NoticeState.SENDING:
        return False
    audience = Audience.model_validate(notice.audience)
    batch_targets = await targets(session, audience, after=notice.cursor, limit=batch, sources=sources, today=today)
    # The batch's conversations in one query: each recipient's lookup below is then served from the session.
    wanted = [t.conversation_id for t in batch_targets if not (t.opted_out and not notice.kind.urgent)]
    if wanted:
        (await session.scalars(select(Conversation).where(Conversation.id.in_(wanted)))).all()
    for target in batch_targets:
        if target.opted_out and not notice.kind.urgent:
            session.add(
                NoticeRecipient(
                    notice_id=notice.id,
                    customer_id=target.customer_id,
                    channel=target.channel,
                    state=RecipientState.OPTED_OUT,
                )
            )
            continue
        conversation = await _reach(uow, target)
        language = templates.language(target.language)
        buttons = (
            []
            if notice.kind.urgent
            else [Button(label=templates.render("notices.off_button", language), payload=NOTICES_OFF)]
        )
        message = await add_outbound(
            uow,
            conversation,
            notice_text(notice, language, target.name),
            author=Author.SYSTEM,
            buttons=buttons,
            meta={BROADCAST_KEY: notice.id, "notice_kind": notice.kind.value},
        )
        session.add(
            NoticeRecipient(
                notice_id=notice.id,
                customer_id=target.customer_id,
                channel=conversation.channel,
                message_id=message.id,
                state=RecipientState.QUEUED,
            )
        )
    if batch_targets:
        notice.cursor = batch_targets[-1].customer_id
    if len(batch_targets) < batch:
        notice.state = NoticeState.SENT
        notice.sent_at = utcnow()
        log.info("notice fanned out", extra={"notice_id": notice.id})
        return False
    return True


class NoticeSender:
    """The fan-out loop: every worker runs one; the notice row lock keeps their batches apart."""

    def __init__(
        self,
        factory: SessionFactory,
        bus: EventBus,
        templates: Templates,
        *,
        batch: int,
        sources: dict[AudienceKind, DueSource] | None = None,
        interval: float = 5.0,
    ) -> None:
        self._factory = factory
        self._bus = bus
        self._templates = templates
        self._batch = batch
        self._sources = sources or {}
        self._loop = PeriodicTask("notice-fan-out", self.step, interval)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def wake(self) -> None:
        self._loop.wake()

    async def step(self) -> bool:
        """One batch of the oldest notice being sent; True when there was one (so the loop goes on at once)."""
        async with self._factory() as session:
            notice_id = await session.scalar(
                select(Notice.id).where(Notice.state == NoticeState.SENDING).order_by(Notice.id).limit(1)
            )
        if notice_id is None:
            return False
        async with UnitOfWork(self._factory, self._bus) as uow:
            await fan_out(uow, notice_id, self._templates, batch=self._batch, sources=self._sources)
        return True

    async def drain(self) -> None:
        """Fan out every notice being sent, now (tests, the CLI)."""
        while await self.step():
            pass
