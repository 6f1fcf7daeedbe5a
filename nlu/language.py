"""Which language a message is in: Russian or English.

Cyrillic letters mean Russian, Latin letters English, unless the Latin text reads as Russian written in Latin
letters ("ne rabotaet internet"), which is common in chats. The channel's hint (the customer's language)
decides when the text alone cannot: no letters at all (emoji, digits), or a tie between the scripts.
"""

from __future__ import annotations

import re

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


def is_transliterated_russian(text: str) -> bool:
    """Whether Latin-letter ``text`` reads as Russian ("ne rabotaet internet", "gde moya zayavka")."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return False
    ru: float = sum(1 for w in words if w in _TRANSLIT_WORDS and w not in _SHARED)
    en = sum(1 for w in words if w in _ENGLISH_WORDS)
    ru += 0.5 * sum(1 for w in words if w not in _ENGLISH_WORDS and _TRANSLIT_CLUSTERS.search(w))
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
_DETRANSLIT_RE = re.compile("|".join(re.escape(src) for src, _ in _DETRANSLIT))
_DETRANSLIT_MAP = dict(_DETRANSLIT)
# Latin-letter tokens that must stay as they are (ticket numbers like T-000123, e-mails, URLs).
_KEEP = re.compile(r"\S*[@/\d]\S*|[A-Za-z]-\d+")


def detransliterate(text: str) -> str:
    """A rough Cyrillic rendering of Russian typed in Latin letters ("ne rabotaet" -> "не работает").

    Good enough for an embedder to recognise the words; tokens with digits, ``@`` or ``/`` stay untouched.
    """
    out: list[str] = []
    pos = 0
    for m in _KEEP.finditer(text):
        out.append(_detranslit_plain(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_detranslit_plain(text[pos:]))
    return "".join(out)


def _detranslit_plain(text: str) -> str:
    return _DETRANSLIT_RE.sub(lambda m: _DETRANSLIT_MAP[m.group(0)], text.lower())
