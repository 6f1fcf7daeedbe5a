"""Questions as customers type them: transliteration, slang variants, misspellings, off-topic names, bad input.

The demo knowledge base with its shipped word lists (data/kb/variants.yml, off_topic.yml) and the real default
embedder; calibrated like the shipped thresholds (both tuning files).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.datafiles import DataFileError
from core.settings import ROOT
from kb.search.calibration import calibrate
from kb.search.index import Band, Document, SearchIndex
from kb.search.query import Lexicon, Vocabulary, edit_distance
from nlu.embedding import Embedder, load_embedder
from tests.kb.test_search import demo_questions, load_demo

KB = ROOT / "data" / "kb"
TUNES = [ROOT / "data" / "eval" / "kb_demo_tune.yml", ROOT / "data" / "eval" / "kb_colloquial_tune.yml"]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder("use", threads=1)


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return load_demo()


@pytest.fixture(scope="module")
def index(embedder: Embedder, docs: list[Document]) -> SearchIndex:
    idx = SearchIndex(embedder, lexicon=Lexicon.load(KB))
    idx.upsert_many(docs)
    in_scope: list[tuple[str, str, int]] = []
    off_topic: list[tuple[str, str]] = []
    for path in TUNES:
        i, o = demo_questions(path, docs)
        in_scope += i
        off_topic += o
    idx.thresholds = calibrate(idx, in_scope, off_topic)
    return idx


def top_slug(index: SearchIndex, docs: list[Document], query: str, language: str) -> str | None:
    hits = index.search(query, language, k=3)
    if not hits:
        return None
    return next(d.key for d in docs if d.article_id == hits[0].article_id)


# --- transliteration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latin", "cyrillic", "slug"),
    [
        ("inet propal chto delat", "инет пропал что делать", "internet-not-working"),
        ("kak oplatit kartoy", "как оплатить картой", "pay-by-card"),
        ("zabyl parol ot lichnogo kabineta", "забыл пароль от личного кабинета", "reset-password"),
        ("dengi spisali dva raza", "деньги списали два раза", "double-charge"),
    ],
)
def test_transliterated_russian_is_searched_as_the_cyrillic_it_stands_for(
    index: SearchIndex, docs: list[Document], latin: str, cyrillic: str, slug: str
) -> None:
    analysed = index.analyse(latin)
    assert analysed is not None
    assert analysed.transliterated
    assert analysed.tokens == index.analyse(cyrillic).tokens  # type: ignore[union-attr]  # the same words for BM25
    assert top_slug(index, docs, latin, "ru") == top_slug(index, docs, cyrillic, "ru") == slug


def test_latin_words_of_the_russian_articles_stay_latin(index: SearchIndex) -> None:
    analysed = index.analyse("wifi postoyanno otvalivaetsya")
    assert analysed is not None
    assert analysed.transliterated
    assert analysed.text.startswith("wifi "), analysed.text  # the Russian articles write Wi-Fi in Latin letters
    assert "отключается" in analysed.text  # "отваливается" read through the variants list


@pytest.mark.parametrize("english", ["my internet is down", "how to change my tarif", "net's super laggy tonight"])
def test_english_latin_text_stays_english(index: SearchIndex, docs: list[Document], english: str) -> None:
    analysed = index.analyse(english)
    assert analysed is not None
    assert not analysed.transliterated
    assert not any("а" <= ch <= "я" for ch in analysed.text), analysed.text


# --- slang, misspellings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "slug"),
    [
        ("инет лагает весь вечер", "slow-internet-speed"),
        ("вафля отваливается каждые полчаса", "wifi-keeps-dropping"),
        ("не работаит интырнет", "internet-not-working"),
        ("забыл пороль от личного кабинетта", "reset-password"),
        ("ПОЧЕМУ НЕТ ИНТЕРНЕТА УЖЕ ВТОРОЙ ДЕНЬ", "internet-not-working"),
        ("forgot my pasword for the acount", "reset-password"),
    ],
)
def test_slang_misspellings_and_caps_find_the_article(
    index: SearchIndex, docs: list[Document], question: str, slug: str
) -> None:
    assert top_slug(index, docs, question, "ru" if any("а" <= c <= "я" for c in question.lower()) else "en") == slug


def test_misspellings_are_corrected_towards_the_knowledge_bases_own_words(index: SearchIndex) -> None:
    analysed = index.analyse("не работаит интырнет")
    assert analysed is not None
    assert dict(analysed.corrected) == {"работаит": "работает", "интырнет": "интернет"}
    # dictionary words and words of the word lists are never "corrected"
    same = index.analyse("reset my apple id password")
    assert same is not None
    assert same.corrected == ()


def test_a_new_articles_words_are_correction_targets_at_once(embedder: Embedder) -> None:
    idx = SearchIndex(embedder)
    assert idx.analyse("шумоподавлитель").corrected == ()  # type: ignore[union-attr]
    idx.upsert(Document(1, "ru", "Шумоподавитель для линии", ("как включить шумоподавитель",), "", "noise"))
    assert idx.analyse("шумоподавлитель").corrected == (("шумоподавлитель", "шумоподавитель"),)  # type: ignore[union-attr]
    idx.remove(1)
    assert idx.analyse("шумоподавлитель").corrected == ()  # type: ignore[union-attr]


def test_edit_distance_counts_a_swap_as_one_edit() -> None:
    assert edit_distance("интернет", "интренет", 2) == 1
    assert edit_distance("пароль", "пороль", 2) == 1
    assert edit_distance("роутер", "телевизор", 2) == 3  # past the limit: limit + 1
    vocabulary = Vocabulary()
    vocabulary.add(["тариф", "тарифы", "пароль"])
    assert vocabulary.nearest("тарив") == "тариф"
    assert vocabulary.nearest("zzzz") is None


def test_variants_are_read_from_the_editors_file(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "variants.yml").write_text("ru:\n  шайтан-коробка: роутер\n", encoding="utf-8")
    idx = SearchIndex(embedder, lexicon=Lexicon.load(tmp_path))
    analysed = idx.analyse("Шайтан-коробка мигает")
    assert analysed is not None
    assert analysed.text == "роутер мигает"


@pytest.mark.parametrize(
    ("file", "content", "key"),
    [
        ("variants.yml", "ru:\n  инет: интернет\nde:\n  netz: internet\n", "de"),
        ("variants.yml", "ru:\n  инет: ''\n", "ru"),
        ("off_topic.yml", "organisations: [мтс]\ncompetitors: [билайн]\n", "competitors"),
    ],
)
def test_a_bad_word_list_is_refused_with_the_file_and_key(tmp_path: Path, file: str, content: str, key: str) -> None:
    (tmp_path / file).write_text(content, encoding="utf-8")
    with pytest.raises(DataFileError) as err:
        Lexicon.load(tmp_path)
    assert err.value.file == tmp_path / file
    assert err.value.key.startswith(key)
    if file == "variants.yml" and key == "ru":
        assert "инет" in err.value.reason


# --- off-topic honesty ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("как отключить подписку яндекс плюс", "ru"),
        ("ростелеком не присылает мастера уже неделю", "ru"),
        ("reset my apple id password", "en"),
        ("установите домофон в подъезде", "ru"),
        ("can I buy a sim card with mobile data from you", "en"),
    ],
)
def test_other_companies_and_services_we_do_not_offer_are_not_answered(
    index: SearchIndex, question: str, language: str
) -> None:
    hits = index.search(question, language)
    assert not hits or hits[0].band is not Band.ANSWER, (question, hits[:1])


def test_a_name_the_article_itself_mentions_is_not_held_against_it(index: SearchIndex, docs: list[Document]) -> None:
    analysed = index.analyse("есть ли у вас приложение на андроид")
    assert analysed is not None
    assert analysed.foreign
    app = next(d for d in docs if d.key == "mobile-app" and d.language == "ru")
    slot = index.slot_of(app.article_id)
    assert slot is not None
    scored = index.score_analysed(index.embedder.embed_queries([analysed.text])[0], analysed)
    assert index.foreign_terms(scored, slot) == 0  # ... but the app article is about it (as "Android")


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", " ", "?", "🙂", "👍🏻🔥🔥", "…!!!"])
def test_empty_one_character_and_emoji_questions_find_nothing(index: SearchIndex, query: str) -> None:
    hits = index.search(query, "ru")
    assert hits == [] or hits[0].band is not Band.ANSWER


def test_a_question_in_a_third_language_is_not_answered_confidently(index: SearchIndex) -> None:
    for query, language in [("Mein Internet funktioniert seit gestern nicht", "en"), ("我的网络坏了", "ru")]:
        hits = index.search(query, language)
        assert not hits or hits[0].band is not Band.ANSWER, (query, hits[:1])


def test_sixteen_thousand_characters_of_pasted_log_are_cut_and_searched_quickly(index: SearchIndex) -> None:
    line = "2026-12-07T04:13:51Z ERROR pppoe: LCP timeout, link down (retry 3/5) eth0 rx=0 tx=1532\n"
    log = "не работает интернет, вот лог:\n" + line * (16_000 // len(line))
    assert len(log) >= 15_000
    started = time.perf_counter()
    hits = index.search(log, "ru")
    assert time.perf_counter() - started < 2.0
    assert hits
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)


@pytest.mark.parametrize("query", ["интернetт не работает", "wi-fiшка пропала", "rоутер мигает"])
def test_mixed_scripts_in_one_word_are_searched(index: SearchIndex, query: str) -> None:
    analysed = index.analyse(query)
    assert analysed is not None
    assert not analysed.transliterated
    hits = index.search(query, "ru")
    assert hits
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)
