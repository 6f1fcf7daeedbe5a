"""What a customer's question becomes before it is searched: one text for the embedder, tokens for BM25.

Messenger questions are not written in the articles' words. In order:

1. **Case and width** — NFKC, lower case, ``ё`` → ``е`` (``ИНТЕРНЕТ НЕ РАБОТАЕТ`` is embedded as the lower-case
   text; the embedders read capitals as other words).
2. **Transliteration** — Latin text that reads as Russian (:func:`nlu.language.is_transliterated_russian`) is
   searched as the Cyrillic it stands for; Latin words that the Russian articles themselves use (``wifi``,
   ``los``, ``sbp``) stay as they are. English stays English.
3. **Variants** — customers' words from ``data/kb/variants.yml`` (slang, short forms) are read as the articles'
   words (``инет`` → ``интернет``); editors extend the file, not the code.
4. **Spelling** — a word that is neither in the knowledge base's own vocabulary nor in a dictionary
   (pymorphy3's Russian one for Cyrillic words, pyspellchecker's English word list for Latin ones) is
   replaced by the nearest vocabulary word within one or two edits (two from 7 letters on), the more frequent
   on a tie. The vocabulary follows the index (:class:`Vocabulary`), so a new article's words are corrected
   towards at once.
5. **Foreign terms** — names of other companies and services the company does not offer
   (``data/kb/off_topic.yml``; an entry may list aliases separated by commas: ``андроид, android``), matched by
   lemmas before spelling correction; the index passes those that the top article does not mention (under
   any alias) to the confidence model. Words of the lexicon are never "corrected".
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, field_validator

from core.datafiles import Strict, read_yaml, validate
from kb.search.text import MAX_QUERY_CHARS, has_words, is_known_english, is_known_russian, normalize, tokenize
from nlu.language import detransliterate, is_transliterated_russian

__all__ = ["Analysed", "Lexicon", "QueryAnalyser", "Vocabulary", "edit_distance"]

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_CYRILLIC = re.compile(r"[а-я]")
_LATIN = re.compile(r"[a-z]")
MIN_CORRECTED = 4
"""Shorter words are never corrected: too many real words lie one edit apart."""
MAX_VOCABULARY_WORD = 30


def _phrase(value: str) -> str:
    text = " ".join(normalize(value).split())
    if not text:
        raise ValueError("must not be empty")
    return text


class _Variants(Strict):
    ru: dict[str, str] = Field(default_factory=dict)
    en: dict[str, str] = Field(default_factory=dict)

    @field_validator("ru", "en")
    @classmethod
    def _clean(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for k, v in value.items():
            if not normalize(k).strip() or not normalize(v).strip():
                raise ValueError(f"{k!r}: a variant and what it means must not be empty")
            out[_phrase(k)] = _phrase(v)
        return out


class _OffTopic(Strict):
    organisations: list[str] = Field(default_factory=list)
    not_offered: list[str] = Field(default_factory=list)

    @field_validator("organisations", "not_offered")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        return [_phrase(v) for v in value]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The editable word lists: customers' variants per language and the off-topic terms."""

    variants: dict[str, str] = field(default_factory=dict)  # phrase -> the articles' words (both languages)
    foreign: tuple[tuple[str, ...], ...] = ()  # organisations and services not offered: each with its aliases

    @classmethod
    def load(cls, folder: Path) -> Lexicon:
        """``variants.yml`` and ``off_topic.yml`` from ``folder`` (a missing file is an empty list)."""
        variants: dict[str, str] = {}
        foreign: list[tuple[str, ...]] = []
        path = folder / "variants.yml"
        if path.exists():
            v = validate(path, _Variants, read_yaml(path) or {})
            variants = {**v.en, **v.ru}
        path = folder / "off_topic.yml"
        if path.exists():
            o = validate(path, _OffTopic, read_yaml(path) or {})
            entries = [*o.organisations, *o.not_offered]
            foreign = [tuple(a.strip() for a in entry.split(",") if a.strip()) for entry in entries]
        return cls(variants, tuple(foreign))


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours is one edit); ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class Vocabulary:
    """The words of the indexed articles (by how many articles use them) and a one-delete index for corrections.

    Words are added as articles come in and counted down as they go; the delete index only grows (a word whose
    count fell to zero is skipped), so an edit never rebuilds it.
    """

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self._deletes: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def add(self, words: Iterable[str]) -> None:
        with self._lock:
            for word in set(words):
                if self.count[word] == 0 and MIN_CORRECTED <= len(word) <= MAX_VOCABULARY_WORD:
                    self._deletes.setdefault(word, set()).add(word)
                    for d in _deletes(word):
                        self._deletes.setdefault(d, set()).add(word)
                self.count[word] += 1

    def remove(self, words: Iterable[str]) -> None:
        with self._lock:
            for word in set(words):
                if self.count[word] > 1:
                    self.count[word] -= 1
                else:
                    self.count.pop(word, None)

    def __contains__(self, word: object) -> bool:
        return word in self.count

    def nearest(self, word: str) -> str | None:
        """The closest known word within the allowed edits, or None."""
        limit = 1 if len(word) < 7 else 2
        keys = {word, *_deletes(word)}
        with self._lock:
            candidates = {c for k in keys for c in self._deletes.get(k, ())}
            scored = []
            for c in candidates:
                n = self.count.get(c, 0)
                if n <= 0 or bool(_CYRILLIC.search(c)) != bool(_CYRILLIC.search(word)):
                    continue
                d = edit_distance(word, c, limit)
                if d <= limit:
                    scored.append((d, -n, c))
        return min(scored)[2] if scored else None


def words_of(text: str) -> list[str]:
    """Normalised words of a text, hyphenated words kept whole (``wi-fi``, ``сим-карта``)."""
    return _WORD.findall(normalize(text))


@dataclass(frozen=True, slots=True)
class Analysed:
    """A question as searched."""

    text: str  # for the embedder
    tokens: list[str]  # for BM25
    foreign: tuple[tuple[tuple[str, ...], ...], ...] = ()  # off-topic terms named: each alias as lemmas
    transliterated: bool = False
    corrected: tuple[tuple[str, str], ...] = ()  # (as written, as searched)


class QueryAnalyser:
    """Turns a question into :class:`Analysed` with the lexicon and the index's vocabulary (see module doc)."""

    def __init__(self, lexicon: Lexicon, vocabulary: Vocabulary, keep_latin: Vocabulary) -> None:
        self.lexicon = lexicon
        self.vocabulary = vocabulary
        self.keep_latin = keep_latin  # Latin words of the Russian articles
        phrases = sorted(lexicon.variants, key=len, reverse=True)
        self._variants = (
            re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![\w-])") if phrases else None
        )
        # an alias reduced to a one-letter token ("at&t" -> "t") would match ticket numbers: left out
        self._foreign: list[tuple[tuple[str, ...], ...]] = []
        for aliases in lexicon.foreign:
            lemmas = tuple(t for t in (tuple(tokenize(a)) for a in aliases) if t and all(len(w) > 1 for w in t))
            if lemmas:
                self._foreign.append(lemmas)
        self._protected = frozenset(
            w for phrase in [*lexicon.variants, *(a for al in lexicon.foreign for a in al)] for w in words_of(phrase)
        )

    def analyse(self, query: str) -> Analysed | None:
        """The question as searched, or None when it has no letters or digits."""
        text = normalize(query.strip()[:MAX_QUERY_CHARS])
        if not has_words(text):
            return None
        transliterated = False
        if not _CYRILLIC.search(text) and is_transliterated_russian(text):
            keep = frozenset(w for w in set(words_of(text)) if w in self.keep_latin)
            text = detransliterate(text, keep)
            transliterated = True
        if self._variants is not None:
            text = self._variants.sub(lambda m: self.lexicon.variants[m.group(0)], text)
        before = tokenize(text)
        named = set(before)
        foreign = tuple(term for term in self._foreign if any(_contains(before, a, named) for a in term))
        corrected: list[tuple[str, str]] = []

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            if (
                len(word) < MIN_CORRECTED
                or word in self.vocabulary
                or word in self._protected
                or not (_CYRILLIC.search(word) or _LATIN.search(word))
                or any(ch.isdigit() for ch in word)
                or (is_known_russian(word) if _CYRILLIC.search(word) else is_known_english(word))
            ):
                return word
            better = self.vocabulary.nearest(word)
            if better is None:
                return word
            corrected.append((word, better))
            return better

        text = _WORD.sub(fix, text)
        tokens = tokenize(text) if corrected else before
        return Analysed(text, tokens, foreign, transliterated, tuple(corrected))


def _contains(tokens: list[str], term: tuple[str, ...], found: set[str]) -> bool:
    if not all(t in found for t in term):
        return False
    n = len(term)
    return any(tuple(tokens[i : i + n]) == term for i in range(len(tokens) - n + 1))
