"""A readable line diff of two article revisions, field by field, for the revisions page."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from kb.models import ArticleRevision

Kind = Literal["same", "added", "removed", "changed"]
CONTEXT = 2
"""Unchanged lines shown around each change; longer unchanged runs are folded."""


@dataclass(frozen=True, slots=True)
class DiffRow:
    kind: Kind | Literal["fold"]
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class FieldDiff:
    field: str
    rows: list[DiffRow]

    @property
    def changed(self) -> bool:
        return any(r.kind not in ("same", "fold") for r in self.rows)


def _lines(revision: ArticleRevision, field: str) -> list[str]:
    if field == "questions":
        return [str(q) for q in revision.questions]
    if field == "tags":
        return [", ".join(str(t) for t in revision.tags)] if revision.tags else []
    value = getattr(revision, field)
    return str(value.value if hasattr(value, "value") else value).split("\n")


def diff_lines(old: list[str], new: list[str]) -> list[DiffRow]:
    """Side-by-side rows: a replaced block pairs old and new lines; long unchanged runs fold to one row."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    codes = matcher.get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(codes):
        if tag == "equal":
            same = [DiffRow("same", line, line) for line in old[i1:i2]]
            # Context after the previous change and before the next one; the text's own ends need none.
            head = CONTEXT if n > 0 else 0
            tail = CONTEXT if n < len(codes) - 1 else 0
            if len(same) > head + tail + 1:
                hidden = len(same) - head - tail
                fold = DiffRow("fold", str(hidden), str(hidden))
                same = [*same[:head], fold, *(same[len(same) - tail :] if tail else [])]
            rows.extend(same)
        elif tag == "delete":
            rows.extend(DiffRow("removed", line, "") for line in old[i1:i2])
        elif tag == "insert":
            rows.extend(DiffRow("added", "", line) for line in new[j1:j2])
        else:
            olds, news = old[i1:i2], new[j1:j2]
            for n in range(max(len(olds), len(news))):
                a = olds[n] if n < len(olds) else ""
                b = news[n] if n < len(news) else ""
                kind: Kind = "changed" if n < len(olds) and n < len(news) else ("removed" if b == "" else "added")
                rows.append(DiffRow(kind, a, b))
    return rows


FIELDS = ("title", "questions", "body", "category", "tags", "status")


def diff_revisions(old: ArticleRevision, new: ArticleRevision) -> list[FieldDiff]:
    """Every field's diff, in the article's order."""
    return [FieldDiff(f, diff_lines(_lines(old, f), _lines(new, f))) for f in FIELDS]
