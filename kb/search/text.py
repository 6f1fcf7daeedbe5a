"""Text normalisation and lemmatisation for the lexical side of the search.

Every word is lemmatised by its own script, so mixed-script texts need no language detection:
Cyrillic words by pymorphy3 (normal form), Latin words by the Snowball English stemmer (PyStemmer).
Numbers are kept as tokens; stop words (bm25s's English and Russian lists) are dropped.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = [
    "MAX_QUERY_CHARS",
    "has_words",
    "is_known_english",
    "is_known_russian",
    "markdown_to_text",
    "normalize",
    "split_chunks",
    "tokenize",
]

MAX_QUERY_CHARS = 2000
"""Queries are cut to this many characters: longer texts are not questions, and the cut bounds the cost."""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CYRILLIC = re.compile(r"[а-яё]")
_LATIN = re.compile(r"[a-z]")

_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_URL = re.compile(r"https?://\S+")
_MD_TAG = re.compile(r"<[^>]{0,200}>")
_MD_MARK = re.compile(r"[*_`#>|~]+")
_SPACES = re.compile(r"[ \t]+")

_lock = threading.Lock()
_morph: Any = None
_stemmer: Any = None
_stop: frozenset[str] | None = None
_english: frozenset[str] | None = None


def normalize(text: str) -> str:
    """NFKC, lower case, ``ё`` → ``е``: the form both the lexical and the dense side see."""
    return unicodedata.normalize("NFKC", text).lower().replace("ё", "е")


def has_words(text: str) -> bool:
    """True when the text holds at least one letter or digit (not only emoji, punctuation, spaces)."""
    return _WORD.search(text) is not None


def markdown_to_text(md: str) -> str:
    """Plain text of a Markdown answer: link texts kept, URLs, tags and emphasis marks dropped."""
    text = _MD_LINK.sub(r"\1", md)
    text = _MD_URL.sub(" ", text)
    text = _MD_TAG.sub(" ", text)
    text = _MD_MARK.sub(" ", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(lines).strip()


def split_chunks(text: str, max_chars: int = 400) -> list[str]:
    """Split plain text into chunks of whole paragraphs (or sentences of a long paragraph), ≤ ``max_chars`` each."""
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n|\n(?=\s*(?:\d+[.)]|[-•]) )", text):
        para = " ".join(para.split())
        if not para:
            continue
        if len(para) <= max_chars:
            pieces.append(para)
            continue
        pieces.extend(s for s in re.split(r"(?<=[.!?])\s+", para) if s)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        piece = piece[: max_chars * 2]
        if current and len(current) + 1 + len(piece) > max_chars:
            chunks.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def _tools() -> tuple[Any, Any, frozenset[str]]:
    global _morph, _stemmer, _stop
    if _stop is None:
        with _lock:
            if _stop is None:
                import bm25s.stopwords
                import pymorphy3
                import Stemmer

                _morph = pymorphy3.MorphAnalyzer()
                _stemmer = Stemmer.Stemmer("english")
                _stop = frozenset(bm25s.stopwords.STOPWORDS_EN) | frozenset(bm25s.stopwords.STOPWORDS_RUSSIAN)
    return _morph, _stemmer, _stop


def is_known_english(word: str) -> bool:
    """Whether a lower-case Latin word is in pyspellchecker's English word list (loaded once, ~1 s)."""
    global _english
    if _english is None:
        with _lock:
            if _english is None:
                from spellchecker import SpellChecker

                _english = frozenset(SpellChecker(language="en", distance=1).word_frequency.dictionary)
    return word in _english


@lru_cache(maxsize=200_000)
def is_known_russian(word: str) -> bool:
    """Whether a lower-case Cyrillic word is in pymorphy3's dictionary (any form of a known word)."""
    morph, _, _ = _tools()
    return bool(morph.word_is_known(word))


@lru_cache(maxsize=200_000)
def _lemma(word: str) -> str:
    morph, stemmer, _ = _tools()
    if _CYRILLIC.search(word):
        return str(morph.parse(word)[0].normal_form).replace("ё", "е")
    if _LATIN.search(word):
        return str(stemmer.stemWord(word))
    return word


def tokenize(text: str) -> list[str]:
    """Lemmatised tokens of ``text`` without stop words (empty for emoji/punctuation-only text)."""
    _, _, stop = _tools()
    out: list[str] = []
    for word in _WORD.findall(normalize(text)):
        if word in stop or len(word) > 40:
            continue
        lemma = _lemma(word)
        if lemma not in stop:
            out.append(lemma)
    return out
