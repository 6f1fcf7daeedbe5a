"""What the engine needs from the other packages, as narrow interfaces (the real classes satisfy them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Conversation, Customer
from core.uow import UnitOfWork
from nlu.parse import Parse


class Parser(Protocol):
    async def parse(self, text: str, language: str | None = None) -> Parse: ...


class Hit(Protocol):
    @property
    def article_id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def answer_markdown(self) -> str: ...
    @property
    def band(self) -> str: ...
    @property
    def confidence(self) -> float: ...


class Knowledge(Protocol):
    async def search(self, query: str, language: str | None, k: int = 3) -> Sequence[Hit]: ...
    def published(self, article_id: int) -> Any | None: ...
    async def record_gap(self, text: str, language: str, channel: str, conversation_id: int | None) -> None: ...
    async def record_pick(
        self, text: str, language: str, article_id: int, channel: str, conversation_id: int | None
    ) -> None: ...
    async def feedback(
        self,
        article_id: int,
        helpful: bool,
        text: str | None = None,
        language: str | None = None,
        channel: str | None = None,
        conversation_id: int | None = None,
    ) -> None: ...


class SearchAhead(Knowledge, Protocol):
    """The knowledge base as the engine holds it: a search can be made ahead and counted when it is used."""

    async def search(
        self, query: str, language: str | None, k: int = 3, *, count_view: bool = True
    ) -> Sequence[Hit]: ...
    def served(self, hits: Sequence[Any]) -> None: ...


class Desk(Protocol):
    async def open_ticket(
        self,
        uow: UnitOfWork,
        customer: Customer,
        conversation: Conversation,
        *,
        description: str,
        subject: str | None = None,
        category: str | None = None,
        urgency: str = "medium",
        impact: str = "one",
        account_number: str | None = None,
    ) -> Any: ...
    async def customer_tickets(
        self, session: AsyncSession, customer_id: int, *, open_only: bool = True
    ) -> list[Any]: ...
    async def customer_ticket(self, session: AsyncSession, customer_id: int, number: str) -> Any: ...
    async def add_to_ticket(self, uow: UnitOfWork, customer_id: int, number: str, text: str) -> Any: ...
    async def cancel_ticket(self, uow: UnitOfWork, customer_id: int, number: str) -> Any: ...
