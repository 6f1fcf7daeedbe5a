"""The Rasa engine: a Rasa server's ``POST /model/parse`` over HTTP, with a circuit breaker and a fallback.

Every failure - connection refused, a timeout, a non-200 status, a body that is not the JSON we expect - makes
this parse come from the fallback engine (the builtin one), logged and counted. After ``failure_threshold``
failures in a row the circuit opens: Rasa is not called at all for ``cooldown`` seconds; then one trial call
is let through (half-open), and its success closes the circuit again.

Rasa's answer is mapped to our :class:`~nlu.parse.Parse`: ``nlu_fallback`` (FallbackClassifier) becomes
``out_of_scope``; entity values are normalised as the builtin extractors do (ticket numbers, phones,
ratings, plans); a span reported by both DIET and the regex extractor is kept once (the regex one).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from typing import Any

import aiohttp
from pydantic import BaseModel, ValidationError

from nlu.engines import NluEngine
from nlu.engines.builtin import clean_text
from nlu.entities import RATING_INTENT, normalise_phone, normalise_ticket_number
from nlu.language import detect_language
from nlu.parse import FALLBACK_INTENT, OUT_OF_SCOPE, Entity, Intent, Parse, empty_parse

__all__ = ["CircuitBreaker", "CircuitState", "RasaEngine", "RasaError"]

log = logging.getLogger(__name__)

_EXTRACTOR_PREFERENCE = {"RegexEntityExtractor": 0, "EntitySynonymMapper": 1, "DIETClassifier": 2}


class RasaError(Exception):
    """Rasa did not give a usable answer; ``reason`` is a short label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` failures in a row -> half-open after ``cooldown`` s."""

    def __init__(self, failure_threshold: int = 3, cooldown: float = 30.0, clock: Any = time.monotonic) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def allow(self) -> bool:
        """Whether a call may go to Rasa now (in half-open state, one trial call at a time)."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self) -> None:
        self.failures += 1
        was_trial = self._trial_running
        self._trial_running = False
        if was_trial or self.failures >= self.failure_threshold:
            self._opened_at = self._clock()


class _RasaIntent(BaseModel):
    name: str | None = None
    confidence: float = 0.0


class _RasaEntity(BaseModel):
    entity: str
    start: int
    end: int
    value: Any = None
    extractor: str | None = None
    confidence_entity: float | None = None


class _RasaParse(BaseModel):
    text: str | None = None
    intent: _RasaIntent
    entities: list[_RasaEntity] = []
    intent_ranking: list[_RasaIntent] = []


class RasaEngine:
    """:class:`~nlu.engines.NluEngine` over a Rasa server; ``fallback`` answers while Rasa fails."""

    name = "rasa"

    def __init__(
        self,
        url: str,
        fallback: NluEngine,
        *,
        timeout: float = 2.0,
        token: str | None = None,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        default_language: str = "ru",
        fallback_counter: Any = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        self.fallback = fallback
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.token = token
        self.breaker = CircuitBreaker(failure_threshold, cooldown)
        self.default_language = default_language
        self.fallback_counter = fallback_counter
        self.fallbacks = 0
        self._session = session
        self._own_session = session is None

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None
        await self.fallback.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def parse(self, text: str, language: str | None = None) -> Parse:
        cleaned = clean_text(text)
        lang = detect_language(cleaned, language, self.default_language)
        if not cleaned:
            return empty_parse(cleaned, lang)
        if not self.breaker.allow():
            return await self._fall_back(cleaned, language, "circuit_open")
        try:
            raw = await self._call(cleaned)
            parse = _to_parse(raw, cleaned, lang)
        except RasaError as exc:
            self.breaker.failure()
            log.warning("Rasa failed (%s: %s); parsing with the builtin engine", exc.reason, exc)
            return await self._fall_back(cleaned, language, exc.reason)
        self.breaker.success()
        return parse

    async def _call(self, text: str) -> _RasaParse:
        params = {"token": self.token} if self.token else None
        try:
            async with self._client().post(self.url, json={"text": text}, params=params, timeout=self.timeout) as resp:
                if resp.status != 200:
                    raise RasaError("http_status", f"HTTP {resp.status} from {self.url}")
                try:
                    body = await resp.json(content_type=None)
                except ValueError as exc:
                    raise RasaError("bad_json", f"not JSON: {exc}") from exc
        except TimeoutError as exc:
            raise RasaError("timeout", f"no answer within {self.timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise RasaError("connection", f"{type(exc).__name__}: {exc}") from exc
        try:
            return _RasaParse.model_validate(body)
        except ValidationError as exc:
            raise RasaError("bad_json", f"unexpected JSON: {exc.error_count()} problem(s)") from exc

    async def _fall_back(self, text: str, language: str | None, reason: str) -> Parse:
        self.fallbacks += 1
        if self.fallback_counter is not None:
            try:
                self.fallback_counter.labels(reason=reason).inc()
            except Exception:  # metrics must never break parsing
                log.debug("fallback counter failed", exc_info=True)
        return await self.fallback.parse(text, language)


def _intent_name(name: str | None) -> str:
    return OUT_OF_SCOPE if not name or name == FALLBACK_INTENT else name


def _to_parse(raw: _RasaParse, text: str, language: str) -> Parse:
    intent = Intent(name=_intent_name(raw.intent.name), confidence=_unit(raw.intent.confidence))
    ranking: list[Intent] = []
    seen: set[str] = set()
    for r in raw.intent_ranking:
        name = _intent_name(r.name)
        if name not in seen:
            seen.add(name)
            ranking.append(Intent(name=name, confidence=_unit(r.confidence)))
    if not ranking:
        ranking = [intent]
    return Parse(
        text=text,
        intent=intent,
        intent_ranking=ranking,
        entities=_entities(raw.entities, text, intent.name),
        language=language,
    )


def _entities(raw: list[_RasaEntity], text: str, intent: str) -> list[Entity]:
    best: dict[tuple[str, int, int], _RasaEntity] = {}
    for e in raw:
        if not (0 <= e.start <= e.end <= len(text)):
            continue
        key = (e.entity, e.start, e.end)
        pref = _EXTRACTOR_PREFERENCE.get(e.extractor or "", 3)
        if key not in best or pref < _EXTRACTOR_PREFERENCE.get(best[key].extractor or "", 3):
            best[key] = e
    out: list[Entity] = []
    for (name, start, end), e in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        value = _normalise(name, e.value, text[start:end], intent)
        if value is None:
            continue
        out.append(
            Entity(
                entity=name,
                start=start,
                end=end,
                value=value,
                extractor=e.extractor or "rasa",
                confidence=None if e.confidence_entity is None else _unit(e.confidence_entity),
            )
        )
    return out


def _normalise(name: str, value: Any, span: str, intent: str) -> str | int | None:
    raw = span if value is None or isinstance(value, dict | list) else str(value)
    if name == "ticket_number":
        return normalise_ticket_number(raw)
    if name == "phone":
        return normalise_phone(raw)
    if name == "email":
        return raw.lower()
    if name == "plan":
        return raw.lower()
    if name == "rating":
        if intent != RATING_INTENT or not raw.strip().isdigit():
            return None
        n = int(raw.strip())
        return n if 1 <= n <= 5 else None
    return raw


def _unit(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


async def wait_until_up(url: str, within: float = 60.0) -> bool:
    """Whether a Rasa server at ``url`` answers ``/`` within ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(url.rstrip("/") + "/", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return True
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.5)
    return False
