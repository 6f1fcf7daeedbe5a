"""Entity extraction: the training data's regexes and lookup tables, synonyms, and rules for dates, times, ratings.

Values are normalised so the conversation engine never parses them again:

* ``ticket_number`` -> ``"T-000123"`` (from "T-000123", "т-123", "№123", "заявка 123");
* ``rating`` -> ``int`` 1..5 (digits, words via the data's synonyms such as "пятёрка" -> "5", or ⭐ counted);
* ``phone`` -> ``"+7XXXXXXXXXX"`` for Russian numbers (``+`` and the digits otherwise);
* ``plan`` -> the synonym's canonical value (``standard``/``premium``);
* ``email`` lower-cased; ``account_number``, ``date``, ``time`` keep the matched text (synonyms applied).

A rating is kept only when the intent is ``rate`` (or unknown): "хорошо" is also a yes, "2" also "2 days".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nlu.parse import Entity
from nlu.training_data import TrainingData

__all__ = [
    "RATING_INTENT",
    "EntityExtractor",
    "normalise_phone",
    "normalise_ticket_number",
]

REGEX_EXTRACTOR = "RegexEntityExtractor"
RULE_EXTRACTOR = "FrontlineRules"
RATING_INTENT = "rate"

# When two matches overlap, the longer wins; on equal length, the entity earlier in this list.
_PRIORITY = ["email", "ticket_number", "phone", "account_number", "date", "time", "plan", "rating"]

_RU_MONTHS = (
    r"января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
    r"|янв|фев|мар|апр|июн|июл|авг|сен|сент|окт|ноя|дек"
)
_EN_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_RU_WEEKDAYS = r"понедельник[аеу]?|вторник[аеу]?|сред[аеуы]|четверг[аеу]?|пятниц[аеуы]|суббот[аеуы]|воскресень[еяю]"
_EN_WEEKDAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"

_DATE_RULES = [
    r"\d{4}-\d{1,2}-\d{1,2}",
    r"(?<![\d.])\d{1,2}\.\d{2}(?:\.\d{2,4})?(?![\d.]\d)",
    r"(?<![\d/])\d{1,2}/\d{1,2}/\d{2,4}(?![\d/])",
    rf"(?<!\d)\d{{1,2}}(?:-?(?:го|е|ое))?\s+(?:{_RU_MONTHS})\b(?:\s+\d{{4}})?",
    rf"\b(?:{_EN_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?",
    rf"(?<!\d)\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_EN_MONTHS})\b(?:\s+\d{{4}})?",
    r"\b(?:сегодня|вчера|завтра|позавчера|послезавтра)\b",
    r"\b(?:сегодняшн|вчерашн|завтрашн)\w*(?:\s+(?:утра|вечера|дня|ночи))?",
    r"\b(?:the\s+day\s+(?:before\s+yesterday|after\s+tomorrow)|today|yesterday|tomorrow|tonight)\b",
    r"\b(?:this|yesterday|tomorrow)\s+(?:morning|afternoon|evening)\b",
    rf"\b(?:(?:next|last|this)\s+)?(?:{_EN_WEEKDAYS})\b",
    rf"\b(?:(?:следующ|прошл|эт)\w*\s+)?(?:{_RU_WEEKDAYS})\b",
    r"\b(?:на\s+)?(?:этой|прошлой|следующей)\s+неделе\b",
    r"\b(?:this|last|next)\s+week\b",
]
_TIME_RULES = [
    r"\b(?:с|from)\s+\d{1,2}(?::\d{2})?\s*(?:am|pm)?\s+(?:до|по|to|till|until)\s+\d{1,2}(?::\d{2})?\s*(?:am|pm)?\b",
    r"\b(?:после|до|к|около|примерно\s+в|after|before|by|around|at)\s+\d{1,2}(?::\d{2}|\s*(?:am|pm))(?:\s*(?:am|pm))?\b",
    r"(?<![\d:.])\d{1,2}:\d{2}(?:\s*(?:am|pm))?(?![\d:])",
    r"(?<![\d:.])\d{1,2}\s*(?:am|pm)\b",
    r"\b(?:в|к)\s+\d{1,2}\s+(?:утра|вечера|дня|ночи)\b",
    r"\b(?:noon|midnight|полдень|полночь)\b",
]
_RATING_DIGIT = re.compile(r"(?<![\w.,:/+\-№#])([1-5])(?![\w%₽$]|[.,:/\-]\d)")
_RATING_DENOMINATOR = re.compile(r"(?:из|out\s+of|/)\s*$", re.IGNORECASE)
_STARS = re.compile(r"(?:⭐|★|🌟)(?:\ufe0f)?")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class _Match:
    entity: str
    start: int
    end: int
    text: str
    extractor: str


def normalise_ticket_number(text: str) -> str | None:
    """ "T-000123", "т-123", "№ 123", "123" -> "T-000123"; None when there are no digits."""
    digits = "".join(_DIGITS.findall(text))
    if not digits:
        return None
    return f"T-{int(digits):06d}"


def normalise_phone(text: str) -> str:
    """ "8 (916) 123-45-67", "+7 916 1234567", "9161234567" -> "+79161234567"; other countries: "+" and digits."""
    digits = "".join(_DIGITS.findall(text))
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] == "9":
        return "+7" + digits
    return "+" + digits


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so "пятёрочку" wins over "пятёр..."; whole words only.
    unique = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
    if not unique:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in unique) + r")(?!\w)", re.IGNORECASE)


class EntityExtractor:
    """Extractors built from one :class:`TrainingData`; ``extract`` is pure and thread-safe."""

    def __init__(self, data: TrainingData) -> None:
        self.synonyms = dict(data.synonyms)
        self._regexes: list[tuple[str, re.Pattern[str]]] = [
            (r.name, re.compile(r.pattern, re.IGNORECASE)) for r in data.regexes
        ]
        self._lookups: list[tuple[str, re.Pattern[str]]] = []
        for name, values in sorted(data.lookups.items()):
            pattern = _words_pattern(values)
            if pattern is not None:
                self._lookups.append((name, pattern))
        self._dates = [re.compile(p, re.IGNORECASE) for p in _DATE_RULES]
        self._times = [re.compile(p, re.IGNORECASE) for p in _TIME_RULES]
        rating_words = [k for k, v in self.synonyms.items() if v in {"1", "2", "3", "4", "5"}]
        self._rating_words = _words_pattern(rating_words)
        self._known = {r.name for r in data.regexes} | set(data.lookups)

    def extract(self, text: str, intent: str | None = None) -> list[Entity]:
        matches: list[_Match] = []
        for name, pattern in self._regexes:
            matches.extend(_find(pattern, text, name, REGEX_EXTRACTOR))
        for name, pattern in self._lookups:
            matches.extend(_find(pattern, text, name, REGEX_EXTRACTOR))
        if "date" not in self._known:
            for pattern in self._dates:
                matches.extend(_find(pattern, text, "date", RULE_EXTRACTOR))
        if "time" not in self._known:
            for pattern in self._times:
                matches.extend(_find(pattern, text, "time", RULE_EXTRACTOR))
        if intent is None or intent == RATING_INTENT:
            matches.extend(self._ratings(text))
        entities: list[Entity] = []
        for m in _resolve_overlaps(matches):
            value = self._value(m)
            if value is None:
                continue
            entities.append(
                Entity(entity=m.entity, start=m.start, end=m.end, value=value, extractor=m.extractor, confidence=1.0)
            )
        return _one_rating(entities)

    def _ratings(self, text: str) -> list[_Match]:
        found: list[_Match] = []
        for m in _RATING_DIGIT.finditer(text):
            if _RATING_DENOMINATOR.search(text[: m.start()]):
                continue  # "5 из 5": the second 5 is the scale
            found.append(_Match("rating", m.start(1), m.end(1), m.group(1), RULE_EXTRACTOR))
        if self._rating_words is not None:
            found.extend(_find(self._rating_words, text, "rating", RULE_EXTRACTOR))
        if not found:
            stars = list(_STARS.finditer(text))
            if 1 <= len(stars) <= 5:
                start, end = stars[0].start(), stars[-1].end()
                found.append(_Match("rating", start, end, text[start:end], RULE_EXTRACTOR))
        return found

    def _value(self, m: _Match) -> str | int | None:
        if m.entity == "ticket_number":
            return normalise_ticket_number(m.text)
        if m.entity == "phone":
            return normalise_phone(m.text)
        if m.entity == "email":
            return m.text.lower()
        if m.entity == "rating":
            return _rating_value(m.text, self.synonyms)
        mapped = self.synonyms.get(m.text.lower())
        if m.entity == "plan":
            return (mapped or m.text).lower()
        return mapped if mapped is not None else m.text


def _rating_value(text: str, synonyms: dict[str, str]) -> int | None:
    if text.isdigit():
        value = int(text)
    elif _STARS.match(text):
        value = len(_STARS.findall(text))
    else:
        mapped = synonyms.get(text.lower(), "")
        if not mapped.isdigit():
            return None
        value = int(mapped)
    return value if 1 <= value <= 5 else None


def _find(pattern: re.Pattern[str], text: str, entity: str, extractor: str) -> Iterable[_Match]:
    for m in pattern.finditer(text):
        if m.end() > m.start():
            yield _Match(entity, m.start(), m.end(), m.group(0), extractor)


def _rank(m: _Match) -> tuple[int, int, int]:
    prio = _PRIORITY.index(m.entity) if m.entity in _PRIORITY else len(_PRIORITY)
    return (-(m.end - m.start), prio, m.start)


def _resolve_overlaps(matches: list[_Match]) -> list[_Match]:
    kept: list[_Match] = []
    for m in sorted(matches, key=_rank):
        if all(m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: (m.start, m.end))


def _one_rating(entities: list[Entity]) -> list[Entity]:
    """A message carries one rating: keep the first ("пять, 5 звёзд" is one 5, not two)."""
    out: list[Entity] = []
    seen_rating = False
    for e in entities:
        if e.entity == "rating":
            if seen_rating:
                continue
            seen_rating = True
        out.append(e)
    return out
