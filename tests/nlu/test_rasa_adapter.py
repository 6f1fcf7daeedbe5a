"""The Rasa adapter against a stand-in server on loopback.

A real Rasa server cannot be made to answer 500, hang, or send malformed JSON on demand, so this small
aiohttp server plays those failure modes (its good answer is a captured real Rasa 3.6 /model/parse
body). The real server is exercised in test_rasa_server.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from nlu.engines.builtin import BuiltinEngine
from nlu.engines.rasa import CircuitBreaker, CircuitState, RasaEngine

# Captured from `rasa run --enable-api` 3.6.21 with our model (trimmed ranking).
RASA_ANSWER: dict[str, Any] = {
    "text": "где моя заявка T-000123",
    "intent": {"name": "ticket_status", "confidence": 0.9981},
    "entities": [
        {
            "entity": "ticket_number",
            "start": 15,
            "end": 23,
            "confidence_entity": 0.99,
            "value": "T-000123",
            "extractor": "DIETClassifier",
        },
        {"entity": "ticket_number", "start": 15, "end": 23, "value": "T-000123", "extractor": "RegexEntityExtractor"},
    ],
    "text_tokens": [[0, 3], [4, 7], [8, 14], [15, 23]],
    "intent_ranking": [
        {"name": "ticket_status", "confidence": 0.9981},
        {"name": "add_to_ticket", "confidence": 0.0012},
    ],
}


class StandIn:
    """Answers /model/parse the way ``mode`` says; counts calls."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        self.app = web.Application()
        self.app.router.add_post("/model/parse", self.parse)

    async def parse(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        body = await request.json()
        if self.mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "slow":
            await asyncio.sleep(5)
        if self.mode == "garbage":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if self.mode == "wrong_json":
            return web.json_response({"intent": "ticket_status", "entities": "none"})
        if self.mode == "fallback":
            return web.json_response(
                {"text": body["text"], "intent": {"name": "nlu_fallback", "confidence": 0.55}, "entities": []}
            )
        answer = dict(RASA_ANSWER, text=body["text"])
        return web.json_response(answer)


@pytest.fixture
async def stand_in(aiohttp_server: Any) -> tuple[StandIn, str]:
    s = StandIn()
    server = await aiohttp_server(s.app, host="127.0.0.1")
    return s, str(server.make_url("")).rstrip("/")


def _counter() -> Counter:
    return Counter("nlu_fallbacks", "test", ["reason"], registry=CollectorRegistry())


async def test_good_answer_is_mapped(stand_in: tuple[StandIn, str], builtin: BuiltinEngine) -> None:
    server, url = stand_in
    engine = RasaEngine(url, builtin, timeout=1.0)
    parse = await engine.parse("где моя заявка T-000123")
    assert parse.intent.name == "ticket_status"
    assert parse.language == "ru"
    # The span found by both DIET and the regex comes back once, from the regex extractor.
    assert [(e.entity, e.value, e.extractor) for e in parse.entities] == [
        ("ticket_number", "T-000123", "RegexEntityExtractor")
    ]
    assert engine.fallbacks == 0
    assert server.calls == 1
    await engine.close()


async def test_nlu_fallback_is_out_of_scope(stand_in: tuple[StandIn, str], builtin: BuiltinEngine) -> None:
    server, url = stand_in
    server.mode = "fallback"
    engine = RasaEngine(url, builtin, timeout=1.0)
    parse = await engine.parse("сколько будет дважды два")
    assert parse.intent.name == "out_of_scope"
    assert engine.fallbacks == 0
    await engine.close()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("500", "http_status"), ("slow", "timeout"), ("garbage", "bad_json"), ("wrong_json", "bad_json")],
)
async def test_failures_fall_back_to_builtin(
    stand_in: tuple[StandIn, str], builtin: BuiltinEngine, mode: str, reason: str
) -> None:
    server, url = stand_in
    server.mode = mode
    counter = _counter()
    engine = RasaEngine(url, builtin, timeout=0.3, fallback_counter=counter)
    parse = await engine.parse("позовите оператора")
    assert parse.intent.name == "talk_to_human"  # answered by the builtin engine
    assert engine.fallbacks == 1
    assert counter.labels(reason=reason)._value.get() == 1
    await engine.close()


async def test_connection_refused_falls_back(builtin: BuiltinEngine, unused_tcp_port: int) -> None:
    engine = RasaEngine(f"http://127.0.0.1:{unused_tcp_port}", builtin, timeout=0.5)
    parse = await engine.parse("где моя заявка T-000123")
    assert parse.intent.name == "ticket_status"
    assert parse.entity("ticket_number") is not None
    assert engine.fallbacks == 1
    await engine.close()


async def test_circuit_opens_then_half_opens(stand_in: tuple[StandIn, str], builtin: BuiltinEngine) -> None:
    server, url = stand_in
    server.mode = "500"
    counter = _counter()
    engine = RasaEngine(url, builtin, timeout=0.5, fallback_counter=counter)
    # A clock of the test's own: on a loaded machine the fallback parses alone could outlast a real cooldown.
    now = [0.0]
    engine.breaker = CircuitBreaker(failure_threshold=2, cooldown=30, clock=lambda: now[0])
    for _ in range(4):
        await engine.parse("привет")
    # Two failures opened the circuit; the next two parses did not call Rasa at all.
    assert server.calls == 2
    assert engine.breaker.state is CircuitState.OPEN
    assert counter.labels(reason="circuit_open")._value.get() == 2
    now[0] = 30.0
    server.mode = "ok"
    parse = await engine.parse("где моя заявка T-000123")  # the trial call succeeds and closes the circuit
    assert server.calls == 3
    assert parse.intent.name == "ticket_status"
    assert engine.breaker.state is CircuitState.CLOSED
    await engine.close()


async def test_empty_text_does_not_call_rasa(stand_in: tuple[StandIn, str], builtin: BuiltinEngine) -> None:
    server, url = stand_in
    engine = RasaEngine(url, builtin)
    parse = await engine.parse("  ")
    assert (parse.intent.name, parse.intent.confidence) == ("out_of_scope", 0.0)
    assert server.calls == 0
    await engine.close()


def test_breaker_failed_trial_reopens() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, cooldown=10, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state is CircuitState.OPEN
    now[0] = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failures == 0
