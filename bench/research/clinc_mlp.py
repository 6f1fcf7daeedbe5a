"""Part C: small torch classifiers (linear / MLP) over cached sentence embeddings, with OOS.

Usage: clinc_mlp.py en|ru|bank-en|bank-ru [emb models joined by +, default use]
- en: CLINC150 English, train (+oos_train as class 150) -> threshold on val+oos_val -> test+oos_test.
- ru: CLINC150-ru, train (250 OOS rows = class 150); threshold from a seeded 10% hold-out of train;
  report on validation.
- bank-en / bank-ru: BANKING77 train, seeded (0) 80/20 split, accuracy only.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from clinc_c import pick_threshold, report
from common import THREADS, banking, clinc_en, clinc_ru, embed, minilm
from sklearn.covariance import LedoitWolf

torch.set_num_threads(THREADS)


def train_mlp(
    X: np.ndarray,
    y: np.ndarray,
    n_cls: int,
    hidden: int = 0,
    epochs: int = 15,
    lr: float = 2e-3,
    wd: float = 1e-4,
    drop: float = 0.2,
    ls: float = 0.1,
    seed: int = 0,
) -> torch.nn.Module:
    torch.manual_seed(seed)
    d = X.shape[1]
    if hidden:
        net: torch.nn.Module = torch.nn.Sequential(
            torch.nn.Dropout(drop),
            torch.nn.Linear(d, hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(drop),
            torch.nn.Linear(hidden, n_cls),
        )
    else:
        net = torch.nn.Sequential(torch.nn.Dropout(drop), torch.nn.Linear(d, n_cls))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=wd)
    Xt = torch.from_numpy(X * np.sqrt(d).astype(np.float32))  # unit-norm rows -> unit-variance-ish features
    yt = torch.from_numpy(y.astype(np.int64))
    n = len(y)
    steps = epochs * ((n + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    lossf = torch.nn.CrossEntropyLoss(label_smoothing=ls)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, 128):
            b = perm[i : i + 128]
            opt.zero_grad()
            loss = lossf(net(Xt[b]), yt[b])
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return net


def logits(net: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(X * np.float32(np.sqrt(X.shape[1])))).numpy()


def conf_signals(lg: np.ndarray, n_in: int) -> dict[str, np.ndarray]:
    from scipy.special import logsumexp, softmax

    p = softmax(lg, axis=1)
    return {
        "maxprob": p[:, :n_in].max(1),
        "energy": logsumexp(lg[:, :n_in], axis=1),
        "maxlogit": lg[:, :n_in].max(1),
        "maxprob-minus-oos": p[:, :n_in].max(1) - (p[:, n_in] if lg.shape[1] > n_in else 0),
    }


class Mahalanobis:
    def __init__(self, X: np.ndarray, y: np.ndarray, n_cls: int) -> None:
        self.mu = np.stack([X[y == c].mean(0) for c in range(n_cls)])
        cov = LedoitWolf().fit(X - self.mu[y]).covariance_
        self.P = np.linalg.inv(cov)

    def score(self, X: np.ndarray) -> np.ndarray:
        """Negative min Mahalanobis distance (higher = more in-scope)."""
        XP = X @ self.P
        d = (XP * X).sum(1)[:, None] - 2 * XP @ self.mu.T + ((self.mu @ self.P) * self.mu).sum(1)[None, :]
        return -d.min(1)


def main() -> None:
    task = sys.argv[1]
    models = (sys.argv[2] if len(sys.argv) > 2 else "use").split("+")
    configs = [a for a in sys.argv[3:]] or ["lin", "mlp1024"]

    def E(texts: list[str]) -> np.ndarray:
        return np.hstack([minilm(texts) if m == "minilm" else embed(m, texts, verbose=False) for m in models])

    if task.startswith("bank"):
        texts, labels, _, _ = banking(task[-2:])
        y = np.asarray(labels)
        perm = np.random.default_rng(0).permutation(len(y))
        ntr = int(0.8 * len(y))
        X = E(texts)
        tr, te = perm[:ntr], perm[ntr:]
        for cfg in configs:
            t0 = time.perf_counter()
            net = train_mlp(X[tr], y[tr], 77, hidden=int(cfg[3:]) if cfg.startswith("mlp") else 0)
            acc = (logits(net, X[te]).argmax(1) == y[te]).mean()
            print(f"{task} {'+'.join(models)} {cfg}: acc {acc:.4f} (fit {time.perf_counter() - t0:.1f}s)")
        return

    if task == "en":
        d = clinc_en()
        intents = sorted(set(d["train"][1]))
        li = {n: i for i, n in enumerate(intents)}
        Xtr = E(d["train"][0] + d["oos_train"][0])
        ytr = np.r_[[li[x] for x in d["train"][1]], np.full(len(d["oos_train"][0]), 150)]
        cal_in, cal_oos = E(d["val"][0]), E(d["oos_val"][0])
        ycal = np.array([li[x] for x in d["val"][1]])
        ev_in, ev_oos = E(d["test"][0]), E(d["oos_test"][0])
        yev = np.array([li[x] for x in d["test"][1]])
        prior = 1000 / 5500
    else:
        r = clinc_ru()
        X_all = E(r["train"][0])
        y_all = np.array(r["train"][1])
        y_all[y_all < 0] = 150
        perm = np.random.default_rng(0).permutation(len(y_all))
        ncal = len(y_all) // 10
        cal, trn = perm[:ncal], perm[ncal:]
        Xtr, ytr = X_all[trn], y_all[trn]
        cal_in, cal_oos = X_all[cal][y_all[cal] < 150], X_all[cal][y_all[cal] == 150]
        ycal = y_all[cal][y_all[cal] < 150]
        ev_split = "test" if "test" in r else "validation"
        Xv = E(r[ev_split][0])
        yv = np.array(r[ev_split][1])
        ev_in, ev_oos, yev = Xv[yv >= 0], Xv[yv < 0], yv[yv >= 0]
        prior = (yv < 0).mean()
        print(
            f"ru: fit {len(ytr)} rows, calibrate on {len(ycal)}+{len(cal_oos)}, report {ev_split} "
            f"{len(yev)}+{len(ev_oos)}"
        )
    for cfg in configs:
        no_oos = cfg.endswith("-nooos")
        base = cfg.removesuffix("-nooos")
        keep = ytr < 150 if no_oos else np.ones(len(ytr), bool)
        t0 = time.perf_counter()
        net = train_mlp(
            Xtr[keep], ytr[keep], 150 if no_oos else 151, hidden=int(base[3:]) if base.startswith("mlp") else 0
        )
        t_fit = time.perf_counter() - t0
        maha = Mahalanobis(Xtr[ytr < 150], ytr[ytr < 150], 150)
        t_maha = time.perf_counter() - t0 - t_fit
        out = {}
        for nm, X in (("cal_in", cal_in), ("cal_oos", cal_oos), ("ev_in", ev_in), ("ev_oos", ev_oos)):
            lg = logits(net, X)
            s = conf_signals(lg, 150)
            s["mahalanobis"] = maha.score(X)
            z = lg[:, :150]
            out[nm] = (z.argmax(1), s, (lg.argmax(1) == 150) if not no_oos else np.zeros(len(X), bool))
        print(f"--- {task} {'+'.join(models)} {cfg}: fit {t_fit:.1f}s (+mahalanobis {t_maha:.1f}s)")
        for sig in out["cal_in"][1]:
            thr = pick_threshold(out["cal_in"][1][sig], out["cal_oos"][1][sig], prior=prior)
            print(
                "   eval "
                + report(
                    sig,
                    out["ev_in"][0],
                    yev,
                    out["ev_in"][1][sig],
                    out["ev_oos"][1][sig],
                    thr,
                    out["ev_in"][2],
                    out["ev_oos"][2],
                )
            )
            othr = pick_threshold(out["ev_in"][1][sig], out["ev_oos"][1][sig], prior=None)
            print(
                "   orcl "
                + report(
                    sig + " (oracle thr)",
                    out["ev_in"][0],
                    yev,
                    out["ev_in"][1][sig],
                    out["ev_oos"][1][sig],
                    othr,
                    out["ev_in"][2],
                    out["ev_oos"][2],
                )
            )
        print(
            "   no-threshold acc (argmax over 151, oos class counts as reject): "
            + report(
                "argmax",
                out["ev_in"][0],
                yev,
                np.ones(len(yev)),
                np.ones(len(ev_oos)),
                0.0,
                out["ev_in"][2],
                out["ev_oos"][2],
            )
        )


if __name__ == "__main__":
    main()
