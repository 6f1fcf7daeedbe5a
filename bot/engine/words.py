"""Typed words that stand for a button: ``data/bot/words.yml`` and the matching rules.

Customers type "нет, не помогло", "срочно", "5" or "отмена" instead of pressing a button. Matching is exact on
normalised text — a list of phrases, not a classifier — so a description like "нет интернета" is never
mistaken for "нет": a message matches a list only when it is made of that list's phrases and filler words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator

from core.datafiles import Strict, read_yaml, validate

__all__ = ["Words", "load_words", "normalise"]

_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, ё → е, punctuation and emoji dropped, spaces collapsed: "КАК ОПЛАТИТЬ!!!" → "как оплатить"."""
    lowered = text.lower().replace("ё", "е").replace("’", "").replace("'", "")
    return " ".join(_NOT_WORD.sub(" ", lowered).replace("_", " ").split())


def _phrase(value: object) -> str:
    """YAML reads a bare 5 as a number (fine: "5") and a bare no as False (not fine: quote it)."""
    if isinstance(value, bool):
        raise ValueError('yes/no/on/off are booleans in YAML: quote them ("no")')
    if not isinstance(value, (str, int)):
        raise ValueError("a phrase is text")
    return str(value)


Phrase = Annotated[str, BeforeValidator(_phrase)]
Phrases = tuple[Phrase, ...]


class Words(Strict):
    filler: Phrases
    cancel: Phrases
    affirm: Phrases
    deny: Phrases
    helped: Phrases
    not_helped: Phrases
    edit: Phrases
    urgency: dict[str, Phrases]
    ordinals: dict[int, Phrases]
    ratings: dict[int, Phrases]
    leave_queue: Phrases
    create_ticket: Phrases
    open_ticket_instead: Phrases
    question_cues: Phrases
    link_request: Phrases = ()  # "связать с телеграмом": ask for a code that links two channels
    notices_off: Phrases = ()  # "не присылайте уведомления": stop non-urgent notices
    notices_on: Phrases = ()  # "присылайте уведомления": get them again

    def matches(self, text: str, *phrase_lists: tuple[str, ...]) -> bool:
        """The message is made only of these phrases (at least one) and filler words."""
        words = normalise(text).split()
        phrases = _phrase_words(phrase_lists)
        filler = _filler(self.filler)
        found, i = False, 0
        while i < len(words):
            for phrase in phrases:
                if tuple(words[i : i + len(phrase)]) == phrase:
                    i += len(phrase)
                    found = True
                    break
            else:
                if words[i] not in filler:
                    return False
                i += 1
        return found

    def mentions(self, text: str, phrases: tuple[str, ...]) -> bool:
        """One of the phrases occurs in the message as whole words."""
        padded = f" {normalise(text)} "
        return any(padded_phrase in padded for padded_phrase in _padded(phrases))

    def is_cancel(self, text: str) -> bool:
        return self.matches(text, self.cancel)

    def rating(self, text: str) -> int | None:
        for value, phrases in self.ratings.items():
            if self.matches(text, phrases):
                return value
        return None


# The word lists are fixed once loaded, and a turn asks about them dozens of times: their normal forms are
# computed once per list, not once per question (that was a few hundred normalise() calls per turn).
@lru_cache(maxsize=256)
def _phrase_words(phrase_lists: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    """The phrases as word tuples, longest first (the order :meth:`Words.matches` tries them in)."""
    return sorted(
        {tuple(normalise(p).split()) for phrases in phrase_lists for p in phrases} - {()}, key=len, reverse=True
    )


@lru_cache(maxsize=16)
def _filler(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise(w) for w in words)


@lru_cache(maxsize=256)
def _padded(phrases: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f" {normalise(p)} " for p in phrases)


@lru_cache(maxsize=4)
def load_words(path: Path) -> Words:
    return validate(path, Words, read_yaml(path))
