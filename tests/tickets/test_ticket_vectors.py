"""Ticket and incident vectors: computed off the event loop under the embedder's lock, or before the transaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import select

from core.db import SessionFactory, transaction
from core.templates import Templates
from kb import gaps
from nlu.embedding import Embedder
from nlu.vectors import read
from tests.support.embedders import Probe
from tests.support.people import person, uow
from tickets.desk import TicketDesk
from tickets.models import TicketVector

PROBLEMS = [
    "Нет интернета с утра, роутер мигает красным",
    "Не работает телевидение, пишет нет сигнала",
    "Списали абонентскую плату дважды",
    "Wi-Fi постоянно отключается на втором этаже",
]


class Refusing:
    """An embedder that must not be called."""

    def __init__(self, like: Embedder) -> None:
        self.name, self.dim = like.name, like.dim

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[type-arg]
        raise AssertionError("embedded inside the unit of work")

    embed_passages = embed_queries


async def test_tickets_incidents_and_gaps_embed_off_the_loop_one_call_at_a_time(
    sessions: SessionFactory, desk_data: Path, templates: Templates, embedder: Embedder, teams: dict[str, int]
) -> None:
    probe = Probe(embedder, hold=0.005)
    desk = TicketDesk.load(desk_data, templates, lambda: probe)
    people = [await person(sessions, f"Клиент {i}") for i in range(len(PROBLEMS))]
    async with transaction(sessions) as session:
        for text in PROBLEMS:
            await gaps.record_gap(session, text, "ru", "telegram", None)

    async def open_ticket(i: int) -> None:
        async with uow(sessions) as work:
            await desk.open_ticket(work, people[i].customer, people[i].conversation, description=PROBLEMS[i])

    async def open_incident() -> None:
        async with uow(sessions) as work:
            await desk.incidents.create(work, title="Авария в Заречном районе", operator_id=None)

    loop_thread = threading.get_ident()
    await asyncio.gather(
        *(open_ticket(i) for i in range(len(PROBLEMS))), open_incident(), gaps.group_gaps(sessions, probe)
    )
    assert len(probe.batches) >= len(PROBLEMS) + 2
    assert probe.most_at_once == 1, "two callers ran the model at once"
    assert loop_thread not in probe.threads, "the event loop waited for the model"


async def test_a_ticket_opens_with_its_text_embedded_before_the_unit_of_work(
    sessions: SessionFactory, desk_data: Path, templates: Templates, embedder: Embedder
) -> None:
    before = TicketDesk.load(desk_data, templates, lambda: embedder)
    embedded = await before.embed_ticket(PROBLEMS[0])
    during = TicketDesk.load(desk_data, templates, lambda: Refusing(embedder))
    anna = await person(sessions)
    async with uow(sessions) as work:
        opened = await during.open_ticket(
            work, anna.customer, anna.conversation, description=PROBLEMS[0], embedded=embedded
        )
    async with transaction(sessions) as session:
        stored = (await session.execute(select(TicketVector))).scalar_one()
    assert stored.ticket_id == opened.ticket.id
    vector = read(stored, embedder)
    assert vector is not None
    np.testing.assert_array_equal(vector, embedded.vector)
    assert embedded.text == PROBLEMS[0], "the text open_ticket would have embedded"
