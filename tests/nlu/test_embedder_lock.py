"""One lock per embedder: calls never overlap, whoever makes them, and async callers never embed on the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from nlu.embedding import (
    ASYNC_BATCH,
    LockedEmbedder,
    embed_passages,
    embed_queries,
    embedder_lock,
    locked,
    shared_embedder,
)
from tests.support.embedders import Probe


async def test_calls_from_tasks_and_threads_never_overlap_and_never_run_on_the_loop() -> None:
    probe = Probe(hold=0.01)
    loop_thread = threading.get_ident()
    wrapped = locked(probe)
    await asyncio.gather(
        *(embed_queries(probe, [f"question {i}"]) for i in range(5)),
        *(embed_passages(probe, [f"passage {i}", "more"]) for i in range(5)),
        *(asyncio.to_thread(wrapped.embed_queries, ["from a worker thread"]) for _ in range(5)),
        *(asyncio.to_thread(LockedEmbedder(probe).embed_passages, ["another wrapper"]) for _ in range(5)),
    )
    assert len(probe.batches) == 20
    assert probe.most_at_once == 1, "two calls ran the model at once"
    assert loop_thread not in probe.threads, "a call ran on the event loop"


async def test_long_jobs_go_in_batches_so_others_get_the_lock_in_between() -> None:
    probe = Probe()
    texts = [f"text {i}" for i in range(2 * ASYNC_BATCH + 5)]
    vectors = await embed_passages(probe, texts)
    assert vectors.shape == (len(texts), probe.dim)
    assert probe.batches == [ASYNC_BATCH, ASYNC_BATCH, 5]
    assert (await embed_queries(probe, [])).shape == (0, probe.dim)
    assert probe.batches == [ASYNC_BATCH, ASYNC_BATCH, 5], "nothing to embed, no call"
    with pytest.raises(TypeError):
        await embed_queries(probe, "one string is not a list of texts")


def test_every_wrapper_of_one_model_shares_its_one_lock() -> None:
    probe, other = Probe(), Probe()
    assert locked(probe).lock is LockedEmbedder(probe).lock is embedder_lock(probe)
    assert locked(locked(probe)).inner is probe, "wrapping twice does not stack locks"
    assert embedder_lock(other) is not embedder_lock(probe)


def test_the_shared_embedder_is_one_locked_instance_per_process(embedder: LockedEmbedder) -> None:
    assert shared_embedder("use", 1) is embedder
    assert isinstance(embedder, LockedEmbedder)
    assert embedder.lock is embedder_lock(embedder.inner)
