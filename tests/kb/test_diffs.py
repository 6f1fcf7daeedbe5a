"""The revisions page's diff: changed lines side by side, insertions and removals, long unchanged runs folded."""

from __future__ import annotations

from kb.diffs import CONTEXT, diff_lines


def test_a_changed_line_is_paired_and_additions_and_removals_stand_alone() -> None:
    rows = diff_lines(["a", "b", "c"], ["a", "B", "c", "d"])  # short runs are shown whole
    assert [(r.kind, r.old, r.new) for r in rows] == [
        ("same", "a", "a"),
        ("changed", "b", "B"),
        ("same", "c", "c"),
        ("added", "", "d"),
    ]
    removed = diff_lines(["a", "b"], ["a"])
    assert [(r.kind, r.old, r.new) for r in removed] == [("same", "a", "a"), ("removed", "b", "")]


def test_long_unchanged_runs_fold_to_one_row_with_the_count() -> None:
    old = [f"line {n}" for n in range(20)]
    new = [*old[:10], "inserted", *old[10:]]
    rows = diff_lines(old, new)
    folds = [r for r in rows if r.kind == "fold"]
    assert [f.old for f in folds] == [str(10 - CONTEXT), str(10 - CONTEXT)]
    assert [r.new for r in rows if r.kind == "added"] == ["inserted"]
    assert [r.old for r in rows if r.kind == "same"] == [*old[10 - CONTEXT : 10], *old[10 : 10 + CONTEXT]]
    assert rows[0].kind == "fold"
    assert rows[-1].kind == "fold"
