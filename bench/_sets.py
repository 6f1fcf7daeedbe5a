"""Evaluation-set loaders shared by the benchmarks (data is read in place, never copied into the repo).

A :class:`RetrievalSet` is a list of articles (:class:`kb.search.index.Document`) plus tuning and
evaluation queries. A query's expected answer is an article *key* (the slug shared by translations),
or ``None`` for an off-topic query that must come back unknown.

Protocols
- BANKING77 as FAQ: each intent is one article (title = intent name, English in every language) whose
  question variants are 5 train utterances picked per intent with ``default_rng(0)``; the rest of
  train is permuted with ``default_rng(1)``: the first 1,500 are the tuning split, the others the
  held-out split. Reported on the test split (``test.csv`` beside the train file, or ``"test"`` in the
  Russian JSON) when present, else on the held-out part of train. Russian rows are paired with English
  ones by (label, position within the label), never by row index, so in ru→en a Russian query is never
  the translation of an English variant.
- XQuAD: each paragraph is an article (body only); questions are split by ``default_rng(2)``: a third
  for tuning, the rest reported.
- Demo KB: ``data/kb/<slug>.<lang>.md`` (YAML front matter; published articles only); tuning =
  ``kb_demo_tune.yml`` and ``kb_colloquial_tune.yml`` (paths joined by commas), reported = ``kb_demo_test.yml``
  or, pointed at it, ``kb_colloquial_test.yml`` (``questions: [{text, language, article, kind}]``).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from kb.search.index import Document

REPO = Path(__file__).resolve().parent.parent
# The public evaluation sets live beside the repository (../shared/eval), never inside it.
EVAL = Path(os.environ.get("FRONTLINE_EVAL_DIR", REPO.parent / "shared" / "eval"))

N_VARIANTS = 5
N_TUNE = 1500

DEFAULT_PATHS: dict[str, Path] = {
    "banking77-en": EVAL / "banking77" / "train.csv",
    "banking77-ru": EVAL / "banking77" / "banking77_ru.json",
    "xquad-en": EVAL / "xquad-ru-en" / "xquad.en.json",
    "xquad-ru": EVAL / "xquad-ru-en" / "xquad.ru.json",
    "demo-kb": REPO / "data" / "kb",
    # several tuning files are joined with commas: the paraphrases and the colloquial questions
    "demo-tune": Path(
        f"{REPO / 'data' / 'eval' / 'kb_demo_tune.yml'},{REPO / 'data' / 'eval' / 'kb_colloquial_tune.yml'}"
    ),
    "demo-test": REPO / "data" / "eval" / "kb_demo_test.yml",
}


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    language: str
    key: str | None  # expected article key; None = off-topic
    kind: str = ""  # how it is written (slang, typo, translit, ...) or which off-topic kind; "" when not given


@dataclass(slots=True)
class RetrievalSet:
    name: str
    docs: list[Document]
    tune: list[Query]
    test: list[Query]
    eval_split: str
    info: dict[str, object] = field(default_factory=dict)


# ------------------------------------------------------------------ BANKING77
@dataclass(slots=True)
class _Banking:
    texts: list[str]
    labels: list[int]  # index into categories.json
    within: list[int]  # position of the row within its label
    test_texts: list[str] | None
    test_labels: list[int] | None


def _within(labels: list[int]) -> list[int]:
    seen: dict[int, int] = {}
    out = []
    for lab in labels:
        out.append(seen.get(lab, 0))
        seen[lab] = seen.get(lab, 0) + 1
    return out


def _categories(path: Path) -> list[str]:
    folder = path if path.is_dir() else path.parent
    names: list[str] = json.loads((folder / "categories.json").read_text(encoding="utf-8"))
    return names


def _read_csv(path: Path, names: list[str]) -> tuple[list[str], list[int]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [names.index(r["category"]) for r in rows]


def _banking_en(path: Path) -> tuple[_Banking, list[str]]:
    names = _categories(path)
    train = path / "train.csv" if path.is_dir() else path
    texts, labels = _read_csv(train, names)
    test = train.parent / "test.csv"
    tt, tl = _read_csv(test, names) if test.exists() else (None, None)
    return _Banking(texts, labels, _within(labels), tt, tl), names


def _banking_ru(path: Path, names: list[str]) -> _Banking:
    data = json.loads(path.read_text(encoding="utf-8"))
    ru_names = [i["name"] for i in data["intents"]]

    def rows(split: str) -> tuple[list[str], list[int]]:
        return [r["utterance"] for r in data[split]], [names.index(ru_names[r["label"]]) for r in data[split]]

    texts, labels = rows("train")
    tt, tl = rows("test") if "test" in data else (None, None)
    return _Banking(texts, labels, _within(labels), tt, tl)


def _banking_split(b: _Banking) -> tuple[set[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]:
    """(variant keys, tuning keys, held-out keys); a key is (label, position within label)."""
    lab = np.asarray(b.labels)
    rng = np.random.default_rng(0)
    variants: set[tuple[int, int]] = set()
    for c in range(int(lab.max()) + 1):
        n = int((lab == c).sum())
        for j in rng.choice(n, N_VARIANTS, replace=False):
            variants.add((c, int(j)))
    rest = [(lab_, j) for lab_, j in zip(b.labels, b.within, strict=True) if (lab_, j) not in variants]
    perm = np.random.default_rng(1).permutation(len(rest))
    return variants, [rest[i] for i in perm[:N_TUNE]], [rest[i] for i in perm[N_TUNE:]]


def banking77(qlang: str, alang: str, en_path: Path, ru_path: Path) -> RetrievalSet:
    en, names = _banking_en(en_path)
    by_lang = {"en": en}
    if "ru" in (qlang, alang):
        by_lang["ru"] = _banking_ru(ru_path, names)
    art, qry = by_lang[alang], by_lang[qlang]
    # The split is drawn on the English file so every language uses the same variants and queries.
    variants, tune_keys, held_keys = _banking_split(en)
    pos_a = {(lab, j): i for i, (lab, j) in enumerate(zip(art.labels, art.within, strict=True))}
    pos_q = {(lab, j): i for i, (lab, j) in enumerate(zip(qry.labels, qry.within, strict=True))}
    docs = []
    for c, name in enumerate(names):
        qs = tuple(art.texts[pos_a[(c, j)]] for (lab, j) in sorted(variants) if lab == c)
        docs.append(Document(c + 1, alang, name.replace("_", " "), qs, "", key=str(c)))
    tune = [Query(qry.texts[pos_q[k]], qlang, str(k[0])) for k in tune_keys]
    if qry.test_texts is not None and qry.test_labels is not None:
        test = [Query(t, qlang, str(lab)) for t, lab in zip(qry.test_texts, qry.test_labels, strict=True)]
        split = "test"
    else:
        test = [Query(qry.texts[pos_q[k]], qlang, str(k[0])) for k in held_keys]
        split = "train held-out"
    return RetrievalSet(
        f"banking77-{qlang}" if qlang == alang else f"banking77-{qlang}-{alang}", docs, tune, test, split
    )


# ------------------------------------------------------------------ XQuAD
def _squad(path: Path) -> tuple[list[str], list[list[str]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    contexts: list[str] = []
    questions: list[list[str]] = []
    for art in data["data"]:
        for para in art["paragraphs"]:
            contexts.append(para["context"])
            questions.append([qa["question"] for qa in para["qas"]])
    return contexts, questions


def xquad(qlang: str, alang: str, en_path: Path, ru_path: Path) -> RetrievalSet:
    paths = {"en": en_path, "ru": ru_path}
    contexts, _ = _squad(paths[alang])
    _, questions = _squad(paths[qlang])
    if len(contexts) != len(questions):
        raise ValueError("XQuAD files are not parallel")
    docs = [Document(i + 1, alang, "", (), ctx, key=str(i)) for i, ctx in enumerate(contexts)]
    flat = [Query(q, qlang, str(i)) for i, qs in enumerate(questions) for q in qs]
    perm = np.random.default_rng(2).permutation(len(flat))
    n_tune = len(flat) // 3
    tune = [flat[i] for i in perm[:n_tune]]
    test = [flat[i] for i in perm[n_tune:]]
    name = f"xquad-{qlang}" if qlang == alang else f"xquad-{qlang}-{alang}"
    return RetrievalSet(name, docs, tune, test, "questions held-out")


# ------------------------------------------------------------------ demo KB
def parse_article(path: Path) -> tuple[dict[str, object], str]:
    """Front matter and Markdown body of ``<slug>.<lang>.md``."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise ValueError(f"{path}: no front matter")
    _, front, body = text.split("---", 2)
    meta = yaml.safe_load(front)
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: front matter is not a mapping")
    return meta, body.strip()


def demo_docs(folder: Path) -> list[Document]:
    docs = []
    for i, path in enumerate(sorted(folder.glob("*.md"))):
        meta, body = parse_article(path)
        if meta.get("status", "published") != "published":
            continue
        docs.append(
            Document(
                article_id=i + 1,
                language=str(meta["language"]),
                title=str(meta["title"]),
                questions=tuple(str(q) for q in meta.get("questions") or ()),  # type: ignore[attr-defined]
                body=body,
                key=str(meta["slug"]),
            )
        )
    return docs


def demo_queries(path: Path) -> list[Query]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Query(str(q["text"]), str(q["language"]), q.get("article"), str(q.get("kind") or "")) for q in data["questions"]
    ]


def demo(lang: str | None, kb: Path, tune: Path, test: Path) -> RetrievalSet:
    """Demo KB (both languages indexed); queries of ``lang`` (None = all)."""
    docs = demo_docs(kb)
    tq = [q for part in str(tune).split(",") for q in demo_queries(Path(part))]
    eq = [q for q in demo_queries(test) if lang is None or q.language == lang]
    return RetrievalSet(f"demo-{lang}" if lang else "demo", docs, tq, eq, "kb_demo_test.yml")
