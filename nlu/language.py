"""Which language a message is in: Russian or English; and Russian typed in Latin letters back in Cyrillic.

Cyrillic letters mean Russian, Latin letters English, unless the Latin text reads as Russian written in Latin
letters ("ne rabotaet internet"), which is common in chats. The channel's hint (the customer's language)
decides when the text alone cannot: no letters at all (emoji, digits), or a tie between the scripts.

Latin text is weighed word by word: frequent chat words of Russian, letter clusters typical of
transliteration, and longer words whose Cyrillic reading is a Russian word in pymorphy3's dictionary count for
Russian; English function words count for English, and so (weakly) do longer words that read as nothing in
Russian. Words spelt the same in both languages (``internet``, ``router``, ``status``) count for neither.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

__all__ = ["LANGUAGES", "detect_language", "detransliterate", "is_transliterated_russian"]

LANGUAGES = ("ru", "en")


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_WORD = re.compile(r"[a-z']+", re.IGNORECASE)

# Frequent chat words of Russian in Latin letters that are not English words.
_TRANSLIT_WORDS = _words(
    """
    ne net da eto chto chto-to shto kak gde kogda pochemu zachem kto mne menya moy moya moe moi moey moyu
    u nas vas vy ty on ona oni my mozhno nelzya nuzhno nuzhen nuzhna hochu khochu hotel khotel
    privet zdravstvuyte zdravstvujte zdrasti zdraste dobriy dobryy dobryi den vecher utro spasibo spasib
    pozhaluysta pojaluysta pozhalujsta poka dosvidaniya svidaniya
    rabotaet rabotayet rabotaut rabotayut slomalsya slomalos propal propala propalo tormozit lagaet
    internet inet internetom interneta zayavka zayavki zayavku zayavkoy zayavke nomer nomera status
    operator operatora operatorom chelovek cheloveka pozovite soedinite svyazhite pomogite pomosch pomoshch
    ochen uzhe eshche esche seychas segodnya vchera zavtra deneg dengi oplata oplatil oplatila tarif tarifa
    schet scheta dogovor dogovora parol parolya router routera roter signal televizor
    ploho horosho khorosho otlichno uzhasno normalno ladno ok okey tak ili ili no i v na s so iz za po pro
    otmenite otmenit otmena ocenka ocenku stavlyu pyat chetyre tri dva odin zhaloba zhaluyus
    bolshe menshe skolko stoit mogu mozhete skazhite podskazhite ob svyaz svyazi
    """
)
# English words that are also common transliterated-Russian tokens above; they count for neither side.
_SHARED = frozenset({"internet", "status", "operator", "signal", "ok", "no", "i", "on", "my", "tak", "da"})
# International words whose Cyrillic reading is also a Russian word: evidence for neither language.
_NEUTRAL = _words(
    """
    internet router roter status operator signal master video audio radio bank plan sport portal server modem
    format start test text minus plus bonus super kontakt kontakta adres tarif tariff limit turbo optimal
    standart normal minimum maximum manager menedzher administrator telefon mobile smart online offline
    visit vizit problem program programma sistema system film films serial park pass mama papa
    """
)
_ENGLISH_WORDS = _words(
    """
    the a an is are was were be been am i you he she it we they my your our their me him her us them this that
    these those what where when why how who which do does did don't doesn't can can't could would should will
    won't not no yes please thanks thank hello hi hey bye goodbye to of in on at for with from by about and or
    but if so just have has had get got want need help work working works doesn't isn't my ticket problem
    """
)
# Letter clusters typical of transliterated Russian and rare in English.
_TRANSLIT_CLUSTERS = re.compile(
    r"(?:zh|kh|shch|sch|ts(?=[aeiouy])|yu|ya(?![a-z]*ing)|iy\b|yy\b|oy\b|ey\b|ye\b|aya\b|oye\b)"
)


def _counts(text: str) -> tuple[int, int]:
    return len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))


_morph_lock = threading.Lock()
_morph: Any = None


def _morphology() -> Any:
    global _morph
    if _morph is None:
        with _morph_lock:
            if _morph is None:
                import pymorphy3

                _morph = pymorphy3.MorphAnalyzer()
    return _morph


@lru_cache(maxsize=50_000)
def _reads_as_russian(word: str) -> bool:
    """Whether the Cyrillic reading of a Latin word is a word of pymorphy3's Russian dictionary."""
    return bool(_morphology().word_is_known(_detranslit_word(word)))


def _evidence(word: str) -> tuple[float, float]:
    """(Russian, English) evidence of one lower-case Latin word."""
    if word in _ENGLISH_WORDS:
        return 0.0, 1.0
    if word in _SHARED or word in _NEUTRAL:
        return 0.0, 0.0
    if word in _TRANSLIT_WORDS:
        return 1.0, 0.0
    if len(word) >= 4 and "'" not in word:
        if _reads_as_russian(word):
            return 1.0, 0.0
        if _TRANSLIT_CLUSTERS.search(word):
            return 0.5, 0.0
        return 0.0, 0.5
    return (0.5, 0.0) if _TRANSLIT_CLUSTERS.search(word) else (0.0, 0.0)


def is_transliterated_russian(text: str) -> bool:
    """Whether Latin-letter ``text`` reads as Russian ("ne rabotaet internet", "gde moya zayavka")."""
    words = [w.lower() for w in _WORD.findall(_KEEP.sub(" ", text))]
    if not words:
        return False
    ru = en = 0.0
    for word in words:
        r, e = _evidence(word)
        ru += r
        en += e
    return ru > en and ru >= 1


def detect_language(text: str, hint: str | None = None, default: str = "ru") -> str:
    """``"ru"`` or ``"en"`` for ``text``; ``hint`` (the channel's idea) wins when the text does not decide.

    An unknown hint is ignored; ``default`` applies when neither the text nor the hint decides.
    """
    fallback = hint if hint in LANGUAGES else (default if default in LANGUAGES else "ru")
    text = _KEEP.sub(" ", text)  # "T-000123", e-mails and links are in no language
    cyr, lat = _counts(text)
    if cyr == 0 and lat == 0:
        return fallback
    if cyr > lat:
        return "ru"
    if lat > cyr:
        return "ru" if cyr == 0 and is_transliterated_russian(text) else ("en" if cyr * 3 < lat else fallback)
    return fallback


# Multi-letter combinations first, so "shch" is not read as "s" + "h" + ...
_DETRANSLIT = [
    ("shch", "щ"),
    ("tsya", "тся"),
    ("tsk", "тск"),
    ("sch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ts", "ц"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("yu", "ю"),
    ("ya", "я"),
    ("yo", "ё"),
    ("ye", "е"),
    ("iy", "ий"),
    ("yy", "ый"),
    ("y", "ы"),
    ("a", "а"),
    ("b", "б"),
    ("v", "в"),
    ("g", "г"),
    ("d", "д"),
    ("e", "е"),
    ("z", "з"),
    ("i", "и"),
    ("j", "й"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("f", "ф"),
    ("h", "х"),
    ("c", "ц"),
    ("w", "в"),
    ("x", "кс"),
    ("q", "к"),
    ("'", "ь"),
]
# "y" after a vowel and before a consonant or the word's end is "й" (moy, kartoy, seychas).
_Y_AFTER_VOWEL = re.compile(r"(?<=[aeiou])y(?![aeiouy])")
_DETRANSLIT_RE = re.compile("|".join(re.escape(src) for src, _ in _DETRANSLIT))
_DETRANSLIT_MAP = dict(_DETRANSLIT)
_LATIN_WORD = re.compile(r"[a-z']+")
# Where a soft sign is usually left out in Latin letters: after these consonants, before a consonant or the end.
_SOFT_SPOT = re.compile(r"(?<=[лнтдсзрмвпбк])(?=[бвгджзклмнпрстфхцчшщ]|$)")
# Latin-letter tokens that must stay as they are (ticket numbers like T-000123, e-mails, URLs).
_KEEP = re.compile(r"\S*[@/\d]\S*|[A-Za-z]-\d+")


def detransliterate(text: str, keep: frozenset[str] = frozenset()) -> str:
    """A Cyrillic rendering of Russian typed in Latin letters ("ne rabotaet" -> "не работает").

    Tokens with digits, ``@`` or ``/`` stay untouched, and so do the lower-case words in ``keep`` (names such as
    ``wifi`` that Russian text also writes in Latin letters). A word whose plain reading is not in the
    dictionary gets the soft sign that Latin spelling usually drops, where that makes a dictionary word
    ("parol" -> "пароль", "dengi" -> "деньги").
    """
    out: list[str] = []
    pos = 0
    for m in _KEEP.finditer(text):
        out.append(_detranslit_plain(text[pos : m.start()], keep))
        out.append(m.group(0))
        pos = m.end()
    out.append(_detranslit_plain(text[pos:], keep))
    return "".join(out)


def _detranslit_plain(text: str, keep: frozenset[str]) -> str:
    return _LATIN_WORD.sub(lambda m: m.group(0) if m.group(0) in keep else _detranslit_known(m.group(0)), text.lower())


def _detranslit_word(word: str) -> str:
    word = _Y_AFTER_VOWEL.sub("j", word.lower())
    return _DETRANSLIT_RE.sub(lambda m: _DETRANSLIT_MAP[m.group(0)], word)


@lru_cache(maxsize=50_000)
def _detranslit_known(word: str) -> str:
    plain = _detranslit_word(word)
    if len(plain) < 4 or "ь" in plain:
        return plain
    morph = _morphology()
    if morph.word_is_known(plain):
        return plain
    if plain.endswith("ий") and morph.word_is_known(plain[:-2] + "ый"):  # "iy" also spells "ый" (novyy, novyi)
        return plain[:-2] + "ый"
    for spot in _SOFT_SPOT.finditer(plain):
        candidate = plain[: spot.start()] + "ь" + plain[spot.start() :]
        if morph.word_is_known(candidate):
            return candidate
    return plain
