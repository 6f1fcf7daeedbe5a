"""Hybrid search over the knowledge base with the real default embedder (no database).

The demo knowledge base (data/kb, parsed here with PyYAML) is indexed once per module; tests that change an
index build their own small one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from core.settings import ROOT
from kb.search.calibration import calibrate, choose_thresholds
from kb.search.index import Band, Document, SearchIndex, Thresholds
from nlu.embedding import Embedder

KB = ROOT / "data" / "kb"
TUNE = ROOT / "data" / "eval" / "kb_demo_tune.yml"

OFF_TOPIC = [
    ("какая завтра погода в Москве", "ru"),
    ("посоветуй рецепт борща", "ru"),
    ("who won the football world cup in 2018", "en"),
    ("how do I bake sourdough bread", "en"),
]


def load_demo() -> list[Document]:
    docs = []
    for i, path in enumerate(sorted(KB.glob("*.md"))):
        _, front, body = path.read_text(encoding="utf-8").split("---", 2)
        meta = yaml.safe_load(front)
        if meta.get("status", "published") != "published":
            continue
        docs.append(
            Document(i + 1, meta["language"], meta["title"], tuple(meta["questions"]), body.strip(), meta["slug"])
        )
    return docs


def demo_questions(path: Path, docs: list[Document]) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]]]:
    ids = {(d.key, d.language): d.article_id for d in docs}
    in_scope, off_topic = [], []
    for q in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]:
        if q["article"] is None:
            off_topic.append((q["text"], q["language"]))
        else:
            in_scope.append((q["text"], q["language"], ids[(q["article"], q["language"])]))
    return in_scope, off_topic


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return load_demo()


@pytest.fixture(scope="module")
def index(embedder: Embedder, docs: list[Document]) -> SearchIndex:
    idx = SearchIndex(embedder)
    idx.upsert_many(docs)
    in_scope, off_topic = demo_questions(TUNE, docs)
    idx.thresholds = calibrate(idx, in_scope, off_topic)
    return idx


def slug(index: SearchIndex, docs: list[Document], article_id: int) -> tuple[str, str]:
    doc = next(d for d in docs if d.article_id == article_id)
    return doc.key, doc.language


def small_docs() -> list[Document]:
    return [
        Document(
            1,
            "ru",
            "Как оплатить картой",
            ("как заплатить картой", "оплата банковской картой", "можно ли оплатить картой онлайн"),
            "Оплатите услуги картой в личном кабинете: раздел «Оплата», введите сумму и данные карты.",
            "pay-by-card",
        ),
        Document(
            2,
            "ru",
            "Не работает интернет",
            ("пропал интернет", "нет подключения к сети", "интернет не работает что делать"),
            "Перезагрузите роутер: выключите его на 30 секунд. Проверьте баланс и аварии на странице статуса.",
            "internet-down",
        ),
        Document(
            3,
            "en",
            "Returning the router",
            ("how do I return the router", "give back rented equipment", "where to return the modem"),
            "Bring the router, power supply and cable to any of our offices within 14 days after the contract ends.",
            "return-router",
        ),
    ]


@pytest.fixture
def small(embedder: Embedder) -> SearchIndex:
    idx = SearchIndex(embedder)
    idx.upsert_many(small_docs())
    return idx


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [
        ("инет не пашет со вчерашнего вечера", "ru", ("internet-not-working", "ru")),
        ("как пополнить счёт банковской картой", "ru", ("pay-by-card", "ru")),
        ("хочу сменить пароль от вайфая", "ru", ("change-wifi-password", "ru")),
        ("my internet connection is dead since yesterday", "en", ("internet-not-working", "en")),
        ("can I top up my balance with a bank card", "en", ("pay-by-card", "en")),
    ],
)
def test_a_paraphrase_finds_the_right_article_in_the_customers_language(
    index: SearchIndex, docs: list[Document], query: str, language: str, expected: tuple[str, str]
) -> None:
    hits = index.search(query, language)
    assert hits, query
    assert slug(index, docs, hits[0].article_id) == expected
    assert hits[0].band is not Band.UNKNOWN


def test_an_article_in_another_language_is_found_across_languages(small: SearchIndex) -> None:
    hits = small.search("как вернуть роутер после расторжения договора", "ru")
    assert hits[0].article_id == 3  # only exists in English


def test_translations_fold_into_one_hit_in_the_customers_language(embedder: Embedder) -> None:
    idx = SearchIndex(embedder)
    ru, en = (
        Document(
            10, "ru", "Смена тарифа", ("как поменять тариф",), "В личном кабинете выберите новый тариф.", "tariff"
        ),
        Document(
            11, "en", "Changing your plan", ("how to change my plan",), "Choose a new plan in your account.", "tariff"
        ),
    )
    idx.upsert_many([ru, en])
    assert [h.article_id for h in idx.search("how do I switch to another plan", "en")] == [11]
    assert [h.article_id for h in idx.search("how do I switch to another plan", "ru")] == [10]
    assert [h.article_id for h in idx.search("хочу другой тариф", "ru")] == [10]


@pytest.mark.parametrize(("query", "language"), OFF_TOPIC)
def test_an_off_topic_question_comes_back_unknown(index: SearchIndex, query: str, language: str) -> None:
    hits = index.search(query, language)
    assert all(h.band is Band.UNKNOWN for h in hits)


def test_the_shipped_thresholds_answer_in_scope_and_refuse_off_topic(index: SearchIndex) -> None:
    calibrated = index.thresholds
    index.thresholds = Thresholds.load(KB / "thresholds.yml", "use")
    try:
        assert index.thresholds != Thresholds()  # the file has an entry for the default embedder
        assert index.search("не работает интернет", "ru")[0].band is Band.ANSWER
        for query, language in OFF_TOPIC:
            assert index.search(query, language)[0].band is Band.UNKNOWN
    finally:
        index.thresholds = calibrated


def test_only_the_top_hit_can_be_an_answer(index: SearchIndex) -> None:
    hits = index.search("не работает интернет", "ru", k=5)
    assert len(hits) == 5
    assert all(h.band is not Band.ANSWER for h in hits[1:])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_removed_article_is_no_longer_found(small: SearchIndex) -> None:
    assert small.search("пропал интернет, что делать", "ru")[0].article_id == 2
    small.remove(2)
    assert len(small) == 2
    assert all(h.article_id != 2 for h in small.search("пропал интернет, что делать", "ru"))
    small.remove(2)  # removing twice is harmless


def test_an_edited_article_changes_the_results(small: SearchIndex) -> None:
    query = "как подключить статический ip адрес"
    assert small.search(query, "ru")[0].article_id != 1
    before = small.search("оплата банковской картой", "ru")[0]
    assert (before.article_id, round(before.dense, 2)) == (1, 1.0)  # a verbatim variant
    edited = Document(
        1,
        "ru",
        "Статический IP-адрес",
        ("как подключить статический ip", "нужен белый постоянный ip адрес"),
        "Статический IP подключается в личном кабинете в разделе «Услуги».",
        "pay-by-card",
    )
    small.upsert(edited)
    hits = small.search(query, "ru")
    assert hits[0].article_id == 1
    assert len(small) == 3
    # the old variants are gone with the old revision
    assert all(h.dense < 0.95 for h in small.search("оплата банковской картой", "ru") if h.article_id == 1)


def test_the_later_of_two_versions_in_one_batch_wins(embedder: Embedder) -> None:
    idx = SearchIndex(embedder)
    first, second = small_docs()[0], small_docs()[1]
    idx.upsert_many([first, Document(1, "ru", second.title, second.questions, second.body, "x"), small_docs()[2]])
    assert len(idx) == 2
    assert idx.search("пропал интернет", "ru")[0].article_id == 1


def test_precomputed_vectors_are_used_and_checked(embedder: Embedder) -> None:
    idx = SearchIndex(embedder)
    doc = small_docs()[0]
    vectors = embedder.embed_passages(idx.passages(doc))
    idx.upsert(doc, vectors)
    assert idx.search("оплата картой", "ru")[0].article_id == 1
    with pytest.raises(ValueError, match="vectors"):
        idx.upsert(doc, vectors[:-1])


def test_calibration_moves_thresholds_when_the_data_changes(index: SearchIndex, docs: list[Document]) -> None:
    in_scope, off_topic = demo_questions(TUNE, docs)
    base = calibrate(index, in_scope, off_topic)
    # Off-topic questions that share words with the articles are harder to refuse: the unknown band must grow.
    tricky = [
        ("интернет магазин одежды доставка", "ru"),
        ("роутер для машины купить на авито", "ru"),
        ("оплата картой в ресторане не прошла", "ru"),
        ("tv series to watch tonight", "en"),
        ("card game rules for poker", "en"),
        ("router table for woodworking", "en"),
    ]
    harder = calibrate(index, in_scope, off_topic + tricky)
    assert (harder.answer, harder.suggest) != (base.answer, base.suggest)
    assert harder.info["off_topic"] == base.info["off_topic"] + len(tricky)
    fewer = calibrate(index, in_scope[: len(in_scope) // 2], off_topic[:5])
    assert (fewer.answer, fewer.suggest) != (base.answer, base.suggest)


def test_threshold_rule_on_known_confidences() -> None:
    # 4 off-topic at the bottom, then in-scope; one wrong in-scope hit at 0.55
    conf = [0.05, 0.1, 0.15, 0.2, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97]
    off = [True] * 4 + [False] * 8
    correct = [False] * 4 + [True, False] + [True] * 6
    answer, suggest = choose_thresholds(conf, correct, off, answer_precision=0.95, min_support=3, z=0.0)
    assert 0.55 < answer <= 0.6  # above it every hit is right
    assert 0.2 < suggest <= 0.5  # no in-scope question below it, every off-topic one
    # The uncertain middle (the right hit at 0.5, the wrong one at 0.55) is suggested, not answered.
    assert suggest < 0.5 < answer
    assert suggest < 0.55 < answer
    # With the precision's lower confidence bound, six right answers are too few to trust: answer less.
    cautious_answer, _ = choose_thresholds(conf, correct, off, answer_precision=0.95, min_support=3, z=1.0)
    assert cautious_answer > answer
    # Allowing an eighth of the in-scope questions to go unknown moves the unknown boundary up past one of them.
    _, bolder_suggest = choose_thresholds(conf, correct, off, max_unknown=0.125, min_support=3, z=0.0)
    assert 0.5 < bolder_suggest <= 0.55


def test_suggest_band_separates_answer_from_unknown_on_real_questions(index: SearchIndex) -> None:
    """Regression: answer and suggest thresholds coincided (0.46), so the suggest band was never used."""
    th = index.thresholds
    assert th.suggest < th.answer


def test_thresholds_round_trip_and_default_when_absent(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yml"
    assert Thresholds.load(path, "use") == Thresholds()
    th = Thresholds(0.7, 0.3, {"cent": 1.0, "bm25": 0.5}, {"bias": -2.0, "score": 0.4}, {"in_scope": 80})
    th.save(path, "use")
    Thresholds(0.9, 0.5).save(path, "e5")
    assert Thresholds.load(path, "use") == th
    assert Thresholds.load(path, "e5").answer == 0.9
    assert Thresholds.load(path, "minilm") == Thresholds()
    assert Thresholds.load(path, "use-multilingual") == th  # Embedder.name finds the spec's entry


@pytest.mark.parametrize("query", ["", "   \n", "🙂🔥💳", "?!...", "😀 !!! 🙏"])
def test_empty_or_letterless_queries_return_nothing(index: SearchIndex, query: str) -> None:
    assert index.search(query, "ru") == []


def test_huge_and_mixed_script_queries_are_answered(index: SearchIndex, docs: list[Document]) -> None:
    huge = "не работает интернет " * 1000  # 21,000 characters
    assert len(huge) > 20_000
    hits = index.search(huge, "ru")
    assert slug(index, docs, hits[0].article_id)[0] == "internet-not-working"
    mixed = "wifi роутер не раздает internet"
    hits = index.search(mixed, "ru", k=3)
    assert len(hits) == 3
    assert all(np.isfinite(h.score) and 0.0 <= h.confidence <= 1.0 for h in hits)


def test_search_on_an_empty_index_and_k_zero(embedder: Embedder, index: SearchIndex) -> None:
    assert SearchIndex(embedder).search("не работает интернет") == []
    assert index.search("не работает интернет", "ru", k=0) == []
