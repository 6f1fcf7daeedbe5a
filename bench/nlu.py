"""NLU benchmark: intent accuracy, out-of-scope detection, training time, parse latency, memory.

Prints ONE JSON object keyed by set, then engine:
``{"clinc150": {"builtin": {...}, "rasa": {...}}, "clinc150-ru": ..., "banking77-en": ..., "banking77-ru": ...,
"frontline": ...}``.

Protocols (data read in place from ../shared/eval; see each SOURCE.md):
- clinc150 (English, data_full.json): train on train (+ oos_train as the out_of_scope class), calibrate the
  threshold on val + oos_val, report on test + oos_test.
- clinc150-ru (clinc150_ru.json; a row without ``label`` is out of scope): calibrate on a seeded 20% of train,
  train on the rest; report on ``test`` when the file has it, else on ``validation``.
- banking77-en / banking77-ru (no out-of-scope): a seeded 10% validation carved from train; train on the rest;
  report on the test split when present (``test.csv`` beside train.csv, ``"test"`` in the JSON), else on the
  validation split.
- frontline: 5-fold cross-validation of the builtin engine on data/nlu.

Metrics: in_scope_accuracy (an in-scope row rejected as out of scope counts as an error), oos_recall and
oos_precision (null without out-of-scope rows), macro_f1 over the classes (out_of_scope included),
train_s (first training from nothing: embedding included), retrain_s (after adding one example: cached
embeddings, warm start), parse_ms p50/p95 (one text at a time, embedding included), rss_mb (this process).
``*_cpu_s``/``parse_cpu_ms`` are CPU times: on a shared machine they show the cost better than wall time.
The out-of-scope threshold is calibrated for the product's expected out-of-scope share of traffic, the setting
``FRONTLINE_NLU_OOS_PRIOR`` (``oos_prior`` in the output) — not for the share in the split reported on.

The rasa engine (``--engines builtin,rasa``) trains a Rasa model on the set's training split (subsampled to
``--rasa-per-class`` examples per intent: DIET on 15k examples does not fit the time here), serves it on a
free loopback port as our own child process, and parses the report rows over HTTP (``--rasa-max-eval``);
it is measured only when .rasa-venv exists and the server answers.

Usage: .venv/bin/python bench/nlu.py [--sets clinc150,frontline] [--set NAME=PATH] [--engines builtin,rasa]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._stats import percentiles  # noqa: E402
from core.settings import Settings  # noqa: E402
from nlu.classifier import NO_THRESHOLD, ClassifierConfig, IntentClassifier, calibrate_threshold  # noqa: E402
from nlu.embedding import Embedder, load_embedder  # noqa: E402
from nlu.engines import classifier_config  # noqa: E402
from nlu.engines.builtin import BuiltinEngine, EmbeddingCache, ModelBundle, train_bundle  # noqa: E402
from nlu.evaluation import cross_validate, intent_scores  # noqa: E402
from nlu.parse import OUT_OF_SCOPE  # noqa: E402
from nlu.training_data import Example, TrainingData, load_training_data  # noqa: E402

EVAL = Path(os.environ.get("FRONTLINE_EVAL_DIR", REPO.parent / "shared" / "eval"))
DEFAULT_PATHS: dict[str, Path] = {
    "clinc150": EVAL / "clinc150" / "data_full.json",
    "clinc150-ru": EVAL / "clinc150-ru" / "clinc150_ru.json",
    "banking77-en": EVAL / "banking77" / "train.csv",
    "banking77-ru": EVAL / "banking77" / "banking77_ru.json",
    "frontline": REPO / "data" / "nlu",
}
SEED = 0
LATENCY_SAMPLES = 300


def log(msg: str) -> None:
    print(f"[bench/nlu] {msg}", file=sys.stderr, flush=True)


@dataclass
class Split:
    train: tuple[list[str], list[str]]
    calib: tuple[list[str], list[str]] | None
    report: tuple[list[str], list[str]]
    info: dict[str, Any]


def _carve(texts: list[str], labels: list[str], share: float, seed: int) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    held: list[int] = []
    y = np.asarray(labels)
    for label in sorted(set(labels)):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        k = round(len(idx) * share)
        held.extend(idx[:k].tolist())
        keep.extend(idx[k:].tolist())
    return sorted(keep), sorted(held)


def _pick(texts: list[str], labels: list[str], idx: list[int]) -> tuple[list[str], list[str]]:
    return [texts[i] for i in idx], [labels[i] for i in idx]


def load_clinc_en(path: Path) -> Split:
    d = json.loads(path.read_text(encoding="utf-8"))

    def rows(*keys: str) -> tuple[list[str], list[str]]:
        out = [(r[0], OUT_OF_SCOPE if r[1] == "oos" else r[1]) for k in keys for r in d.get(k, [])]
        return [t for t, _ in out], [lab for _, lab in out]

    return Split(
        rows("train", "oos_train"),
        rows("val", "oos_val"),
        rows("test", "oos_test"),
        {"train": "train+oos_train", "calibration": "val+oos_val", "report": "test+oos_test"},
    )


def load_clinc_ru(path: Path) -> Split:
    d = json.loads(path.read_text(encoding="utf-8"))

    def rows(key: str) -> tuple[list[str], list[str]]:
        data = d.get(key, [])
        labels = [OUT_OF_SCOPE if r.get("label") is None else f"intent_{int(r['label'])}" for r in data]
        return [r["utterance"] for r in data], labels

    texts, labels = rows("train")
    keep, held = _carve(texts, labels, 0.2, SEED)
    report_key = "test" if d.get("test") else "validation"
    return Split(
        _pick(texts, labels, keep),
        _pick(texts, labels, held),
        rows(report_key),
        {"train": "80% of train", "calibration": "seeded 20% of train", "report": report_key},
    )


def load_banking(path: Path) -> Split:
    test: tuple[list[str], list[str]] | None = None
    if path.suffix == ".csv":
        with path.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        texts, labels = [r["text"] for r in rows], [r["category"] for r in rows]
        test_path = path.with_name("test.csv")
        if test_path.exists():
            with test_path.open(encoding="utf-8") as f:
                trows = list(csv.DictReader(f))
            test = ([r["text"] for r in trows], [r["category"] for r in trows])
    else:
        d = json.loads(path.read_text(encoding="utf-8"))
        names = {int(i["id"]): (i.get("name") or f"intent_{i['id']}") for i in d.get("intents", [])}

        def rows_of(key: str) -> tuple[list[str], list[str]]:
            data = d.get(key, [])
            return [r["utterance"] for r in data], [names.get(int(r["label"]), str(r["label"])) for r in data]

        texts, labels = rows_of("train")
        if d.get("test"):
            test = rows_of("test")
    keep, held = _carve(texts, labels, 0.1, SEED)
    validation = _pick(texts, labels, held)
    return Split(
        _pick(texts, labels, keep),
        validation,
        test if test is not None else validation,
        {"train": "90% of train", "calibration": "seeded 10% of train", "report": "test" if test else "validation"},
    )


LOADERS: dict[str, Callable[[Path], Split]] = {
    "clinc150": load_clinc_en,
    "clinc150-ru": load_clinc_ru,
    "banking77-en": load_banking,
    "banking77-ru": load_banking,
}


# ---------------------------------------------------------------- metrics


def rss_mb(pid: int | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
    return out


def scores(expected: list[str], predicted: list[str]) -> dict[str, Any]:
    y = np.asarray(expected)
    p = np.asarray(predicted)
    in_scope = y != OUT_OF_SCOPE
    oos = ~in_scope
    flagged = p == OUT_OF_SCOPE
    result: dict[str, Any] = {
        "in_scope_accuracy": round(float((p[in_scope] == y[in_scope]).mean()), 4) if in_scope.any() else None,
        "oos_recall": None,
        "oos_precision": None,
    }
    if oos.any():
        tp = int((flagged & oos).sum())
        result["oos_recall"] = round(tp / int(oos.sum()), 4)
        result["oos_precision"] = round(tp / int(flagged.sum()), 4) if flagged.any() else 0.0
    _, macro = intent_scores(expected, predicted)
    result["macro_f1"] = round(macro, 4)
    result["report_rows"] = len(expected)
    return result


# ---------------------------------------------------------------- builtin


def bench_builtin(split: Split, embedder: Embedder, config: ClassifierConfig) -> dict[str, Any]:
    cache = EmbeddingCache(embedder, None, memo=False)  # cold: the first training embeds everything
    t0 = time.perf_counter()
    c0 = time.process_time()
    train_emb, _ = cache.embed(split.train[0])
    calib = None
    if split.calib is not None:
        calib_emb, _ = cache.embed(split.calib[0])
        calib = (split.calib[0], split.calib[1], calib_emb)
    embed_s = time.perf_counter() - t0
    clf = IntentClassifier.train(
        split.train[0], split.train[1], train_emb, oos_label=OUT_OF_SCOPE, config=config, calibration_set=calib
    )
    train_s = time.perf_counter() - t0
    train_cpu_s = time.process_time() - c0
    log(f"  builtin trained in {train_s:.1f} s (embedding {embed_s:.1f} s), threshold {clf.threshold:.3f}")
    # Retraining after a small change: one new example; unchanged embeddings come from the cache.
    t1 = time.perf_counter()
    c1 = time.process_time()
    texts2 = [*split.train[0], split.train[0][0] + " please"]
    labels2 = [*split.train[1], split.train[1][0]]
    emb2, _ = cache.embed(texts2)
    if calib is not None:
        calib = (calib[0], calib[1], cache.embed(calib[0])[0])
    IntentClassifier.train(
        texts2, labels2, emb2, oos_label=OUT_OF_SCOPE, config=config, calibration_set=calib, previous=clf
    )
    retrain_s = time.perf_counter() - t1
    retrain_cpu_s = time.process_time() - c1
    report_emb, _ = cache.embed(split.report[0])
    predicted = [p.intent for p in clf.predict(split.report[0], report_emb)]
    result = scores(split.report[1], predicted)
    engine = BuiltinEngine.from_bundle(
        embedder, ModelBundle(clf, TrainingData(), "bench", embedder.name, "bench"), default_language="en"
    )
    result.update(
        train_s=round(train_s, 2),
        train_cpu_s=round(train_cpu_s, 2),
        embed_s=round(embed_s, 2),
        retrain_s=round(retrain_s, 2),
        retrain_cpu_s=round(retrain_cpu_s, 2),
        threshold=round(clf.threshold, 4),
        **_latency(engine.parse_sync, split.report[0]),
        **rss_mb(),
    )
    return result


def _latency(parse: Callable[[str], Any], texts: list[str]) -> dict[str, dict[str, float]]:
    """Wall-clock and CPU milliseconds of one parse (CPU time shows the cost when the machine is shared)."""
    rng = np.random.default_rng(SEED)
    sample = [texts[i] for i in rng.choice(len(texts), min(LATENCY_SAMPLES, len(texts)), replace=False)]
    for t in sample[:5]:
        parse(t)  # warm-up
    ms, cpu = [], []
    for t in sample:
        started, cpu0 = time.perf_counter(), time.process_time()
        parse(t)
        ms.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu0) * 1000)
    return {"parse_ms": percentiles(ms), "parse_cpu_ms": percentiles(cpu)}


def bench_frontline(path: Path, embedder: Embedder, config: ClassifierConfig) -> dict[str, Any]:
    data = load_training_data(path)
    cache = EmbeddingCache(embedder, None, memo=False)
    t0, c0 = time.perf_counter(), time.process_time()
    engine = BuiltinEngine(embedder, path, None, config=config, embedding_cache=cache)  # cold, in memory
    engine.load_or_train()
    train_s, train_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    t1, c1 = time.perf_counter(), time.process_time()
    extra = Example(text=data.examples[0].text + " пожалуйста", intent=data.examples[0].intent)
    bigger = TrainingData([*data.examples, extra], data.synonyms, data.regexes, data.lookups, data.files)
    assert engine.bundle is not None
    train_bundle(bigger, cache, config, engine.bundle)
    retrain_s, retrain_cpu_s = time.perf_counter() - t1, time.process_time() - c1
    cv = cross_validate(data, cache, folds=5, config=config)
    texts = [e.text for e in data.examples]
    result: dict[str, Any] = {
        "protocol": "5-fold cross-validation",
        "accuracy": round(cv.accuracy, 4),
        "macro_f1": round(cv.macro_f1, 4),
    }
    oos = next((s for s in cv.intents if s.intent == OUT_OF_SCOPE), None)
    in_scope = [s for s in cv.intents if s.intent != OUT_OF_SCOPE]
    result["in_scope_accuracy"] = round(
        sum(s.recall * s.support for s in in_scope) / max(1, sum(s.support for s in in_scope)), 4
    )
    result["oos_recall"] = round(oos.recall, 4) if oos else None
    result["oos_precision"] = round(oos.precision, 4) if oos else None
    result["confusions"] = [f"{a} -> {b}: {n}" for a, b, n, _ in cv.confusions[:5]]
    result.update(
        train_s=round(train_s, 2),
        train_cpu_s=round(train_cpu_s, 2),
        retrain_s=round(retrain_s, 2),
        retrain_cpu_s=round(retrain_cpu_s, 2),
        **_latency(engine.parse_sync, texts),
        **rss_mb(),
    )
    return result


# ---------------------------------------------------------------- rasa

RASA_BIN = REPO / ".rasa-venv" / "bin" / "rasa"
RASA_CONFIG = REPO / "nlu" / "rasa" / "config.yml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rasa_yaml(texts: list[str], labels: list[str]) -> str:
    by: dict[str, list[str]] = {}
    for t, lab in zip(texts, labels, strict=True):
        by.setdefault(lab, []).append(t)
    lines = ['version: "3.1"', "nlu:"]
    for lab, items in sorted(by.items()):
        lines.append(f"- intent: {lab}")
        lines.append("  examples: |")
        for t in items:
            clean = " ".join(t.replace("[", "(").replace("]", ")").split())
            lines.append(f"    - {clean}")
    return "\n".join(lines) + "\n"


def _rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RASA_TELEMETRY_ENABLED="false", SQLALCHEMY_SILENCE_UBER_WARNING="1", TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _rasa_parse(url: str, text: str) -> dict[str, Any]:
    req = urllib.request.Request(
        url + "/model/parse", data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return dict(json.loads(resp.read()))


def bench_rasa(split: Split, per_class: int, max_eval: int, workdir: Path, oos_prior: float | None) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    texts, labels = split.train
    idx: list[int] = []
    y = np.asarray(labels)
    for lab in sorted(set(labels)):
        members = np.flatnonzero(y == lab)
        rng.shuffle(members)
        idx.extend(members[:per_class].tolist())
    sub_t, sub_l = _pick(texts, labels, sorted(idx))
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "nlu.yml").write_text(_rasa_yaml(sub_t, sub_l), encoding="utf-8")
    log(f"  rasa: training on {len(sub_t)} examples ({per_class} per intent)")
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(RASA_BIN), "train", "nlu", "--config", str(RASA_CONFIG), "--nlu", str(data_dir), "--out",
         str(workdir / "models"), "--fixed-model-name", "bench"],
        cwd=workdir, env=_rasa_env(), capture_output=True, timeout=3600, check=False,
    )  # fmt: skip
    train_s = time.perf_counter() - t0
    if done.returncode != 0:
        return {"error": "rasa train failed: " + done.stderr.decode(errors="replace")[-500:]}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    logf = (workdir / "rasa.log").open("wb")
    proc = subprocess.Popen(
        [str(RASA_BIN), "run", "--enable-api", "-i", "127.0.0.1", "--port", str(port), "-m",
         str(workdir / "models" / "bench.tar.gz")],
        cwd=workdir, env=_rasa_env(), stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    return {"error": "rasa server exited during start-up"}
                time.sleep(1)
        else:
            return {"error": "rasa server did not answer"}
        log(f"  rasa: trained in {train_s:.0f} s, serving; parsing")

        def predict(rows: tuple[list[str], list[str]]) -> tuple[list[str], list[str], np.ndarray, list[float]]:
            sel = rng.choice(len(rows[0]), min(max_eval, len(rows[0])), replace=False)
            t, gold = [rows[0][i] for i in sel], [rows[1][i] for i in sel]
            names, conf, ms = [], [], []
            for text in t:
                started = time.perf_counter()
                ans = _rasa_parse(url, text)
                ms.append((time.perf_counter() - started) * 1000)
                ranking = [r for r in ans.get("intent_ranking", []) if r.get("name") != "nlu_fallback"]
                top = ranking[0] if ranking else ans["intent"]
                names.append(str(top.get("name") or OUT_OF_SCOPE))
                conf.append(float(top.get("confidence") or 0.0))
            return gold, names, np.asarray(conf, dtype=np.float32), ms

        threshold = NO_THRESHOLD
        if split.calib is not None and OUT_OF_SCOPE in split.calib[1]:
            gold_c, names_c, conf_c, _ = predict(split.calib)
            in_scope = [n if n != OUT_OF_SCOPE else "?" for n in names_c]
            explicit = np.asarray([n == OUT_OF_SCOPE for n in names_c])
            # Rasa's own out_of_scope intent counts as the lowest in-scope confidence.
            threshold = calibrate_threshold(
                np.where(explicit, -1.0, conf_c), in_scope, gold_c, OUT_OF_SCOPE, 0.9, oos_prior, explicit=explicit
            ).threshold
        gold, names, conf, ms = predict(split.report)
        decided = [
            OUT_OF_SCOPE if (c < threshold if threshold > NO_THRESHOLD else n == OUT_OF_SCOPE) else n
            for n, c in zip(names, conf, strict=True)
        ]
        result = scores(gold, decided)
        result.update(
            train_s=round(train_s, 1),
            train_examples=len(sub_t),
            threshold=round(threshold, 4),
            parse_ms=percentiles(ms),
            rss_mb=rss_mb(proc.pid).get("rss_mb"),
            note=f"Rasa DIET on {per_class} examples per intent; {len(gold)} report rows sampled",
        )
        return result
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        logf.close()


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(DEFAULT_PATHS), help="comma-separated set names")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=PATH", help="override a set's file")
    parser.add_argument("--engines", default="builtin", help="builtin,rasa")
    parser.add_argument("--embedder", default=os.environ.get("FRONTLINE_EMBEDDING_MODEL", "use"))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("FRONTLINE_EMBEDDING_THREADS", "2")))
    parser.add_argument("--rasa-per-class", type=int, default=20)
    parser.add_argument("--rasa-max-eval", type=int, default=600)
    args = parser.parse_args(argv)

    paths = dict(DEFAULT_PATHS)
    for item in args.set:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"--set expects NAME=PATH, got {item!r}")
        paths[name] = Path(path)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    # The product's own classifier settings, out-of-scope prior included (FRONTLINE_NLU_OOS_PRIOR): the figures
    # are those of what ships, never tuned to the share of out-of-scope rows in the split they are reported on.
    config = classifier_config(Settings())
    t = time.perf_counter()
    embedder = load_embedder(args.embedder, args.threads)
    log(f"embedder {embedder.name} loaded in {time.perf_counter() - t:.1f} s")
    out: dict[str, Any] = {}
    for name in names:
        path = paths[name]
        out[name] = {}
        log(f"{name}: {path}")
        if name == "frontline" or path.is_dir():
            if "builtin" in engines:
                out[name]["builtin"] = bench_frontline(path, embedder, config)
            continue
        loader = LOADERS.get(name) or (load_banking if "banking" in name else load_clinc_en)
        split = loader(path)
        out[name]["split"] = split.info
        if "builtin" in engines:
            out[name]["builtin"] = bench_builtin(split, embedder, config)
            log(f"  builtin: {json.dumps(out[name]['builtin'])}")
        if "rasa" in engines:
            if not RASA_BIN.exists():
                log("  rasa: .rasa-venv missing, skipped (make rasa)")
                continue
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-rasa-{name}-"))
            try:
                out[name]["rasa"] = bench_rasa(
                    split, args.rasa_per_class, args.rasa_max_eval, workdir, config.oos_prior
                )
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            log(f"  rasa: {json.dumps(out[name]['rasa'])}")
    out["embedder"] = embedder.name
    out["oos_prior"] = config.oos_prior
    out["config"] = repr(config)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
